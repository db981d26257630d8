//! Every API error and its `extensions.code`, in one place.
//!
//! Design: async-graphql converts anything `Display` into an error without a code, so resolvers
//! never use a bare `?` on our errors: they go through `ApiError::extend`. Internal causes are
//! logged once here, with the request id that the client also receives; the client sees only
//! "internal error".

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions};

use super::code::ErrorCode;
use super::{Caller, ClientIp, LoginOnce, RequestId, Throttled, Unauthorized};
use crate::auth::DeviceUpdateError;
use crate::auth::partner::PartnerError;
use crate::auth::{
    Auth, AuthError, CodeError, LinkError, LoginError, Principal, RefreshError, SessionError,
};
use crate::domain::{EndReason, InactiveReason, PhoneRefusal};

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
            Self::UpstreamUnavailable => ErrorCode::UpstreamUnavailable,
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
            Self::RateLimited { retry_after } | Self::SmsUnavailable { retry_after } => {
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
            LoginError::UpstreamDataInvalid(e) => Self::UpstreamDataInvalid(e),
            LoginError::MembershipInactive(reason) => Self::MembershipInactive(reason),
            LoginError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            LoginError::IdentityNotLinked => Self::IdentityNotLinked,
            LoginError::ReauthenticationRequired => {
                Self::ReauthenticationRequired("MEMBERSHIP_SNAPSHOT_STALE")
            }
            LoginError::Unexpected(e) => Self::Internal(e),
        }
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

/// Maps a use-case result to the resolver's, with the code attached.
pub fn api<T, E: Into<ApiError>>(
    ctx: &Context<'_>,
    result: Result<T, E>,
) -> async_graphql::Result<T> {
    result.map_err(|e| e.into().extend(ctx))
}

/// The caller of a field that needs a user.
pub fn principal(ctx: &Context<'_>) -> async_graphql::Result<Principal> {
    match ctx.data_opt::<Caller>() {
        Some(Caller::Authenticated(principal)) => Ok(*principal),
        Some(Caller::Rejected(reason)) => {
            if let Some(flag) = ctx.data_opt::<Unauthorized>() {
                flag.set();
            }
            Err(ApiError::from(reason).extend(ctx))
        }
        _ => Err(ApiError::Unauthenticated(ErrorCode::Unauthenticated.message()).extend(ctx)),
    }
}

/// The use cases, which the served schema always carries.
pub fn auth<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Arc<Auth>> {
    ctx.data::<Arc<Auth>>().map_err(|_| {
        ApiError::Internal(anyhow::anyhow!(
            "the schema was built without its use cases"
        ))
        .extend(ctx)
    })
}

/// The client's address for rate limits.
pub fn client_ip(ctx: &Context<'_>) -> Option<std::net::IpAddr> {
    ctx.data_opt::<ClientIp>().and_then(|ip| ip.0)
}

/// Refuses every `login` after the first in one request.
pub fn first_login(ctx: &Context<'_>) -> async_graphql::Result<()> {
    match ctx.data_opt::<LoginOnce>() {
        Some(once) if !once.first() => Err(ApiError::BadUserInput {
            field: "login",
            message: "one login per request".into(),
        }
        .extend(ctx)),
        _ => Ok(()),
    }
}

/// Like [`api`], counting the outcome in `counter` (login or refresh attempts).
pub fn counted<T, E: Into<ApiError>>(
    ctx: &Context<'_>,
    counter: fn(
        &crate::metrics::Metrics,
    ) -> &prometheus_client::metrics::family::Family<
        crate::metrics::Outcome,
        prometheus_client::metrics::counter::Counter,
    >,
    result: Result<T, E>,
) -> async_graphql::Result<T> {
    let result = result.map_err(Into::into);
    if let Some(metrics) = ctx.data_opt::<Arc<crate::metrics::Metrics>>() {
        let code = result.as_ref().err().map(|e| e.code().as_str());
        counter(metrics)
            .get_or_create(&crate::metrics::Metrics::outcome(code))
            .inc();
    }
    result.map_err(|e| e.extend(ctx))
}
