//! Every API error and its `extensions.code`, in one place.
//!
//! Design: async-graphql converts anything `Display` into an error without a code, so resolvers
//! never use a bare `?` on our errors: they go through `ApiError::extend`. Internal causes are
//! logged once here, with the request id that the client also receives; the client sees only
//! "internal error".

use async_graphql::{Context, ErrorExtensions};

use super::code::ErrorCode;
use super::{RequestId, Throttled};
use crate::auth::DeviceUpdateError;
use crate::auth::deletion::DeletionError;
use crate::auth::partner::PartnerError;
use crate::auth::social::SocialError;
use crate::auth::{AuthError, CodeError, LinkError, LoginError, RefreshError, SessionError};
use crate::domain::{EndReason, InactiveReason, PhoneRefusal, SocialProvider};

/// An error as the client meets it. Display is the client's message, from `ErrorCode` unless
/// the variant carries more precise words.
#[derive(Debug)]
pub enum ApiError {
    BadUserInput {
        field: &'static str,
        message: String,
    },
    InvalidCredentials,
    UpstreamUnavailable,
    /// `UPSTREAM_UNAVAILABLE` with `extensions.retryAfter`: the breaker is open.
    UpstreamUnavailableFor {
        retry_after: std::time::Duration,
    },
    /// The cause is logged with the request id, never shown.
    UpstreamDataInvalid(anyhow::Error),
    MembershipInactive(InactiveReason),
    /// A presented token was refused, or a field needs one.
    Unauthenticated(&'static str),
    /// The token's session has ended; `extensions.reason` says why while it is kept.
    SessionEnded(Option<EndReason>),
    InvalidRefreshToken,
    RefreshTokenReused,
    SessionNotFound,
    RateLimited {
        retry_after: std::time::Duration,
    },
    PartnerNotFound,
    IdentityNotLinked,
    IdentityInUse,
    /// `BAD_USER_INPUT` with `field` and `reason` (`INVALID`, `NOT_MOBILE`, `REGION_NOT_ALLOWED`).
    InvalidPhone(PhoneRefusal),
    InvalidCode {
        attempts_left: u32,
    },
    CodeAttemptsExceeded,
    SmsUnavailable {
        retry_after: std::time::Duration,
    },
    ProviderNotConfigured,
    /// `extensions.reason` says why.
    ReauthenticationRequired(&'static str),
    InvalidSocialToken(SocialProvider),
    SocialAccountNotLinked {
        provider: SocialProvider,
        link_token: String,
        expires_in: i64,
    },
    SocialAccountInUse,
    ProviderUnavailable {
        retry_after: std::time::Duration,
    },
    Internal(anyhow::Error),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadUserInput { message, .. } => f.write_str(message),
            Self::InvalidPhone(refusal) => write!(f, "{refusal}"),
            Self::Unauthenticated(message) => f.write_str(message),
            Self::SessionEnded(_) => f.write_str("the session has ended"),
            other => f.write_str(other.code().message()),
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadUserInput { .. } => ErrorCode::BadUserInput,
            Self::InvalidCredentials => ErrorCode::InvalidCredentials,
            Self::UpstreamUnavailable | Self::UpstreamUnavailableFor { .. } => {
                ErrorCode::UpstreamUnavailable
            }
            Self::UpstreamDataInvalid(_) => ErrorCode::UpstreamDataInvalid,
            Self::MembershipInactive(_) => ErrorCode::MembershipInactive,
            Self::Unauthenticated(_) | Self::SessionEnded(_) => ErrorCode::Unauthenticated,
            Self::InvalidRefreshToken => ErrorCode::InvalidRefreshToken,
            Self::RefreshTokenReused => ErrorCode::RefreshTokenReused,
            Self::SessionNotFound => ErrorCode::SessionNotFound,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::PartnerNotFound => ErrorCode::PartnerNotFound,
            Self::IdentityNotLinked => ErrorCode::IdentityNotLinked,
            Self::IdentityInUse => ErrorCode::IdentityInUse,
            Self::InvalidPhone(_) => ErrorCode::BadUserInput,
            Self::InvalidCode { .. } => ErrorCode::InvalidCode,
            Self::CodeAttemptsExceeded => ErrorCode::CodeAttemptsExceeded,
            Self::SmsUnavailable { .. } => ErrorCode::SmsUnavailable,
            Self::ProviderNotConfigured => ErrorCode::ProviderNotConfigured,
            Self::ReauthenticationRequired(_) => ErrorCode::ReauthenticationRequired,
            Self::InvalidSocialToken(_) => ErrorCode::InvalidSocialToken,
            Self::SocialAccountNotLinked { .. } => ErrorCode::SocialAccountNotLinked,
            Self::SocialAccountInUse => ErrorCode::SocialAccountInUse,
            Self::ProviderUnavailable { .. } => ErrorCode::ProviderUnavailable,
            Self::Internal(_) => ErrorCode::InternalServerError,
        }
    }

    /// The GraphQL error for the client; logs internal causes with the request id.
    pub fn extend(self, ctx: &Context<'_>) -> async_graphql::Error {
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone());
        match &self {
            Self::Internal(cause) => {
                tracing::error!(request_id, error = %format!("{cause:#}"), "internal error")
            }
            Self::UpstreamDataInvalid(cause) => {
                tracing::error!(request_id, error = %format!("{cause:#}"), "unreadable upstream data")
            }
            _ => {}
        }
        let code = self.code().as_str();
        let retry_after = match &self {
            Self::RateLimited { retry_after }
            | Self::SmsUnavailable { retry_after }
            | Self::ProviderUnavailable { retry_after }
            | Self::UpstreamUnavailableFor { retry_after } => {
                Some(retry_after.as_secs_f64().ceil() as u64)
            }
            _ => None,
        };
        if let (Some(seconds), Some(throttled)) = (retry_after, ctx.data_opt::<Throttled>()) {
            throttled.set(seconds);
        }
        self.extend_with(|_, ext| {
            if let Some(seconds) = retry_after {
                ext.set("retryAfter", seconds);
            }
            ext.set("code", code);
            match &self {
                Self::BadUserInput { field, .. } => ext.set("field", *field),
                Self::InvalidPhone(refusal) => {
                    ext.set("field", refusal.field());
                    ext.set("reason", refusal.as_str());
                }
                Self::InvalidCode { attempts_left } => ext.set("attemptsLeft", *attempts_left),
                Self::ReauthenticationRequired(reason) => ext.set("reason", *reason),
                Self::InvalidSocialToken(provider) => ext.set("provider", provider_name(*provider)),
                Self::SocialAccountNotLinked {
                    provider,
                    link_token,
                    expires_in,
                } => {
                    ext.set("provider", provider_name(*provider));
                    ext.set("linkToken", link_token.as_str());
                    ext.set("linkTokenExpiresIn", *expires_in);
                }
                Self::MembershipInactive(reason) => ext.set("reason", reason.as_str()),
                Self::SessionEnded(Some(reason)) => ext.set("reason", reason.as_str()),
                Self::Internal(_) | Self::UpstreamDataInvalid(_) => {
                    if let Some(id) = &request_id {
                        ext.set("requestId", id.as_str());
                    }
                }
                _ => {}
            }
        })
    }
}

impl From<LoginError> for ApiError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::InvalidInput(input) => Self::BadUserInput {
                field: input.field,
                message: input.to_string(),
            },
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::UpstreamUnavailable => Self::UpstreamUnavailable,
            LoginError::UpstreamCircuitOpen { retry_after } => {
                Self::UpstreamUnavailableFor { retry_after }
            }
            LoginError::UpstreamDataInvalid(e) => Self::UpstreamDataInvalid(e),
            LoginError::MembershipInactive(reason) => Self::MembershipInactive(reason),
            LoginError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            LoginError::IdentityNotLinked => Self::IdentityNotLinked,
            LoginError::ReauthenticationRequired => {
                Self::ReauthenticationRequired("MEMBERSHIP_SNAPSHOT_STALE")
            }
            LoginError::LinkInUse => Self::SocialAccountInUse,
            LoginError::LinkTokenInvalid => Self::BadUserInput {
                field: "linkToken",
                message:
                    "the link token is invalid or has expired: sign in with the provider again"
                        .into(),
            },
            LoginError::Unexpected(e) => Self::Internal(e),
        }
    }
}

impl From<SocialError> for ApiError {
    fn from(e: SocialError) -> Self {
        match e {
            SocialError::NotConfigured => Self::ProviderNotConfigured,
            SocialError::InvalidInput(input) => Self::BadUserInput {
                field: input.field,
                message: input.to_string(),
            },
            SocialError::InvalidToken(provider) => Self::InvalidSocialToken(provider),
            SocialError::NotLinked {
                provider,
                link_token,
                expires_in,
            } => Self::SocialAccountNotLinked {
                provider,
                link_token: link_token.expose().to_owned(),
                expires_in: expires_in.num_seconds(),
            },
            SocialError::InUse => Self::SocialAccountInUse,
            SocialError::Unavailable { retry_after } => Self::ProviderUnavailable { retry_after },
            SocialError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            SocialError::Login(e) => e.into(),
            SocialError::Unexpected(e) => Self::Internal(e),
        }
    }
}

/// The contract's `SocialProvider` value.
fn provider_name(provider: SocialProvider) -> &'static str {
    match provider {
        SocialProvider::Google => "GOOGLE",
        SocialProvider::Facebook => "FACEBOOK",
    }
}

impl From<CodeError> for ApiError {
    fn from(e: CodeError) -> Self {
        match e {
            CodeError::NotConfigured => Self::ProviderNotConfigured,
            CodeError::InvalidPhone(refusal) => Self::InvalidPhone(refusal),
            CodeError::InvalidInput(input) => Self::BadUserInput {
                field: input.field,
                message: input.to_string(),
            },
            CodeError::InvalidCode { attempts_left } => Self::InvalidCode { attempts_left },
            CodeError::AttemptsExceeded => Self::CodeAttemptsExceeded,
            CodeError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            CodeError::SmsUnavailable { retry_after } => Self::SmsUnavailable { retry_after },
            CodeError::Login(e) => e.into(),
            CodeError::Unexpected(e) => Self::Internal(e),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        match e {
            RefreshError::Invalid => Self::InvalidRefreshToken,
            RefreshError::Reused => Self::RefreshTokenReused,
            RefreshError::MembershipInactive(reason) => Self::MembershipInactive(reason),
            RefreshError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            RefreshError::Unexpected(e) => Self::Internal(e),
        }
    }
}

impl From<DeletionError> for ApiError {
    fn from(e: DeletionError) -> Self {
        match e {
            DeletionError::InvalidInput(input) => Self::BadUserInput {
                field: input.field,
                message: input.to_string(),
            },
            DeletionError::RecentLoginRequired => {
                Self::ReauthenticationRequired("RECENT_LOGIN_REQUIRED")
            }
            DeletionError::NotFound => Self::SessionNotFound,
            DeletionError::Unexpected(e) => Self::Internal(e),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotFound => Self::SessionNotFound,
            SessionError::Unexpected(e) => Self::Internal(e),
        }
    }
}

impl From<PartnerError> for ApiError {
    fn from(e: PartnerError) -> Self {
        match e {
            PartnerError::NotFound => Self::PartnerNotFound,
            PartnerError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            PartnerError::Unexpected(e) => Self::Internal(e),
        }
    }
}

impl From<DeviceUpdateError> for ApiError {
    fn from(e: DeviceUpdateError) -> Self {
        match e {
            DeviceUpdateError::InvalidInput(input) => Self::BadUserInput {
                field: input.field,
                message: input.to_string(),
            },
            DeviceUpdateError::Session(e) => e.into(),
        }
    }
}

impl From<LinkError> for ApiError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::InUse => Self::IdentityInUse,
            LinkError::Unexpected(e) => Self::Internal(e),
        }
    }
}

impl From<&AuthError> for ApiError {
    fn from(e: &AuthError) -> Self {
        match e {
            AuthError::Expired => Self::Unauthenticated("the access token has expired"),
            AuthError::SessionEnded(reason) => Self::SessionEnded(*reason),
            AuthError::InvalidToken | AuthError::Unexpected(_) => {
                Self::Unauthenticated("the access token is invalid")
            }
        }
    }
}
