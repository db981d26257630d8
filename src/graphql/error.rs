//! Every API error and its `extensions.code`, in one place.
//!
//! Design: async-graphql converts anything `Display` into an error without a code, so resolvers
//! never use a bare `?` on our errors: they go through `ApiError::extend`. Internal causes are
//! logged once here, with the request id that the client also receives; the client sees only
//! "internal error".

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions};

use super::{Caller, ClientIp, LoginOnce, RequestId, Throttled, Unauthorized};
use crate::auth::partner::PartnerError;
use crate::auth::{Auth, AuthError, LoginError, Principal, RefreshError, SessionError};
use crate::domain::InactiveReason;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadUserInput {
        field: &'static str,
        message: String,
    },
    #[error("the email or password is incorrect")]
    InvalidCredentials,
    #[error("the membership service is unavailable, please try again shortly")]
    UpstreamUnavailable,
    #[error("the club membership is not active")]
    MembershipInactive(InactiveReason),
    #[error("{0}")]
    Unauthenticated(&'static str),
    #[error("the refresh token is invalid or has expired")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; the session has been ended")]
    RefreshTokenReused,
    #[error("no such session")]
    SessionNotFound,
    #[error("too many attempts, please wait")]
    RateLimited { retry_after: std::time::Duration },
    #[error("no such partner")]
    PartnerNotFound,
    #[error("internal error")]
    Internal(anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadUserInput { .. } => "BAD_USER_INPUT",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::MembershipInactive(_) => "MEMBERSHIP_INACTIVE",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::InvalidRefreshToken => "INVALID_REFRESH_TOKEN",
            Self::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Self::SessionNotFound => "SESSION_NOT_FOUND",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::PartnerNotFound => "PARTNER_NOT_FOUND",
            Self::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The GraphQL error for the client; logs internal causes with the request id.
    pub fn extend(self, ctx: &Context<'_>) -> async_graphql::Error {
        let request_id = ctx.data_opt::<RequestId>().map(|r| r.0.clone());
        if let Self::Internal(cause) = &self {
            tracing::error!(request_id, error = %format!("{cause:#}"), "internal error");
        }
        let code = self.code();
        let retry_after = match &self {
            Self::RateLimited { retry_after } => Some(retry_after.as_secs_f64().ceil() as u64),
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
                Self::MembershipInactive(reason) => ext.set("reason", reason.as_str()),
                Self::Internal(_) => {
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
            LoginError::MembershipInactive(reason) => Self::MembershipInactive(reason),
            LoginError::RateLimited { retry_after } => Self::RateLimited { retry_after },
            LoginError::Unexpected(e) => Self::Internal(e),
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

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidToken => Self::Unauthenticated("the access token is invalid"),
            AuthError::Expired => Self::Unauthenticated("the access token has expired"),
            AuthError::SessionEnded => Self::Unauthenticated("the session has ended"),
            AuthError::Unexpected(e) => Self::Internal(e),
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
            let message = match reason {
                AuthError::Expired => "the access token has expired",
                AuthError::SessionEnded => "the session has ended",
                _ => "the access token is invalid",
            };
            Err(ApiError::Unauthenticated(message).extend(ctx))
        }
        _ => Err(ApiError::Unauthenticated(
            "this field needs an access token (Authorization: Bearer …)",
        )
        .extend(ctx)),
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
        let code = result.as_ref().err().map(ApiError::code);
        counter(metrics)
            .get_or_create(&crate::metrics::Metrics::outcome(code))
            .inc();
    }
    result.map_err(|e| e.extend(ctx))
}
