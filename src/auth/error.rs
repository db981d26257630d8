//! One error type per use case: only what the caller acts on, plus `Unexpected`.
//!
//! Display strings are safe to show a client; `Unexpected` carries the cause chain for the log.

use crate::domain::{InactiveReason, InvalidInput};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("{0}")]
    InvalidInput(#[from] InvalidInput),
    /// Same message whether or not the email exists.
    #[error("the email or password is incorrect")]
    InvalidCredentials,
    #[error("the membership service is unavailable, please try again shortly")]
    UpstreamUnavailable,
    /// Hybris is known to be down: not asked, answered at once.
    #[error("the membership service is unavailable, please try again shortly")]
    UpstreamCircuitOpen { retry_after: std::time::Duration },
    /// Hybris sent member data we cannot read; the cause is for the log.
    #[error("the membership service sent data that could not be read")]
    UpstreamDataInvalid(anyhow::Error),
    #[error("the club membership is not active")]
    MembershipInactive(InactiveReason),
    /// Too many failed attempts; refused before Hybris was called.
    #[error("too many attempts, please wait")]
    RateLimited { retry_after: std::time::Duration },
    /// The verified identity is linked to no member (only Hybris creates members).
    #[error("this sign-in is not linked to a club member")]
    IdentityNotLinked,
    /// The member's membership snapshot is too old to trust and could not be re-read: a
    /// password login refreshes it.
    #[error("please log in with your password once to confirm your membership")]
    ReauthenticationRequired,
    /// The link token's account is already linked to another member.
    #[error("this account is linked to another member")]
    LinkInUse,
    /// The link token is unknown, expired or used.
    #[error("the link token is invalid or has expired")]
    LinkTokenInvalid,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Sending or checking a one-time code (phone sign-in and phone enrolment).
#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    /// Phone sign-in is off (production without `SMS_PROVIDER`).
    #[error("sign-in by phone code is not available")]
    NotConfigured,
    #[error("{0}")]
    InvalidPhone(crate::domain::PhoneRefusal),
    #[error("{0}")]
    InvalidInput(#[from] InvalidInput),
    /// One answer for a wrong code and an unknown, expired, used or unenrolled challenge.
    #[error("the code is not valid")]
    InvalidCode { attempts_left: u32 },
    /// The challenge's attempts are used up: ask for a new code.
    #[error("too many wrong codes; please ask for a new code")]
    AttemptsExceeded,
    #[error("too many attempts, please wait")]
    RateLimited { retry_after: std::time::Duration },
    /// The SMS budget is spent for now.
    #[error("text messages cannot be sent right now, please try again later")]
    SmsUnavailable { retry_after: std::time::Duration },
    /// The code was right; the sign-in itself was refused (membership, snapshot age, …).
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for CodeError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The identity is another member's.
    #[error("this account is linked to another member")]
    InUse,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// Unknown, expired, or of an ended session.
    #[error("the refresh token is invalid or has expired")]
    Invalid,
    /// Presented again after its grace window: the session has been ended.
    #[error("the refresh token was already used; the session has been ended")]
    Reused,
    #[error("the club membership is not active")]
    MembershipInactive(InactiveReason),
    #[error("too many failed refreshes, please wait")]
    RateLimited { retry_after: std::time::Duration },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Why a bearer token was not accepted. Every variant is a 401 for the client.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the access token is invalid")]
    InvalidToken,
    #[error("the access token has expired")]
    Expired,
    /// Why, when the session is still kept; `None` once it was purged.
    #[error("the session has ended")]
    SessionEnded(Option<crate::domain::EndReason>),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown, ended, or another user's: indistinguishable on purpose.
    #[error("no such session")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<StoreError> for RefreshError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<StoreError> for LinkError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}
