//! HTTP: the router, the `/graphql` endpoint, health checks, metrics and the JWK Set.
//!
//! Design: the only place that reads headers. The bearer token is verified here, once, and the
//! resulting `Caller` travels with the GraphQL request; when a field that needs a user meets a
//! rejected token the response becomes an HTTP 401 with `WWW-Authenticate` (RFC 6750), which is
//! what app interceptors watch for. Operations come only as POST with a JSON body of at most
//! `MAX_BODY_BYTES`, one operation per request, within alias and root-field limits. Every
//! error leaves in the GraphQL error shape with a code from `graphql::ErrorCode`.

mod authorization;
mod client_ip;
mod documents;
mod endpoint;
mod framework_errors;
mod graphiql;
mod operation_limits;
mod ops;
mod partner;
mod router;

use std::sync::Arc;

use axum::http::HeaderName;

pub use client_ip::IpNetwork;
pub use router::router;

use crate::auth::Auth;
use crate::graphql::ApiSchema;
use crate::metrics::Metrics;

/// Request bodies above this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the HTTP layer is told by configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<IpNetwork>,
    /// Origins allowed by CORS; empty: no cross-origin browser access.
    pub cors_allowed_origins: Vec<String>,
    pub introspection: bool,
    pub graphiql: bool,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    /// The whole request; answered 408 past it.
    pub request_timeout: std::time::Duration,
}

#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<Auth>,
    /// Parsed documents by query text.
    pub documents: Arc<documents::DocumentCache>,
    pub schema: ApiSchema,
    /// The same schema validating in fast mode, for documents that passed the full validation
    /// before (see `documents`).
    pub fast_schema: ApiSchema,
    pub settings: Arc<HttpSettings>,
    pub metrics: Arc<Metrics>,
}
