//! What resolvers read from the request: the caller, the use cases, the client's address, the
//! one-login-per-request flag; and the one way a use-case result becomes a resolver's.

use std::sync::Arc;

use async_graphql::Context;

use super::code::ErrorCode;
use super::error::ApiError;
use super::{Caller, ClientIp, LoginOnce, Unauthorized};
use crate::auth::{Auth, Principal};

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
