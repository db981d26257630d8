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
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
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
