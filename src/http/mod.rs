//! HTTP: the router, the `/graphql` endpoint, health checks and the JWK Set.
//!
//! Design: the only place that reads headers. The bearer token is verified here, once, and the
//! resulting `Caller` travels with the GraphQL request; when a field that needs a user meets a
//! rejected token the response becomes an HTTP 401 with `WWW-Authenticate` (RFC 6750), which is
//! what app interceptors watch for. Operations come only as POST with a JSON body of at most
//! `MAX_BODY_BYTES`, one operation per request, within alias and root-field limits.

mod client_ip;
mod graphiql;
mod operation_limits;
mod partner;

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{ConnectInfo, DefaultBodyLimit, RawQuery, State},
    http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use tracing::Instrument;

use crate::auth::{Auth, AuthError};
use crate::graphql::{ApiSchema, Caller, ClientIp, LoginOnce, RequestId, Throttled, Unauthorized};
use crate::metrics::Metrics;
pub use client_ip::IpNetwork;

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
    pub schema: ApiSchema,
    pub settings: Arc<HttpSettings>,
    pub metrics: Arc<Metrics>,
}

pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let mut router = Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/graphiql/{name}", get(graphiql::asset))
        .route("/metrics", get(metrics))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/partner/introspect",
            axum::routing::post(partner::introspect),
        )
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ));
    if !settings.cors_allowed_origins.is_empty() {
        let origins: Vec<HeaderValue> = settings
            .cors_allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::POST])
                .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
                .max_age(std::time::Duration::from_secs(600)),
        );
    }
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // The path only: nothing secret goes in a query string, and not logging it keeps
            // it so.
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn graphql(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_json(&headers) {
        return request_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the GraphQL request as JSON with Content-Type: application/json".into(),
        );
    }
    // One operation per request: a JSON array (batch) is refused like any other bad body.
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                format!("the body is not a GraphQL request: {error}"),
            );
        }
    };
    let operation = match operation_limits::check(&request.query, &state.settings) {
        Ok(operation) => operation,
        Err(message) => return graphql_error_response(message),
    };
    let started = std::time::Instant::now();
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let caller = match bearer_token(&headers) {
        None => Caller::Anonymous,
        Some(Err(())) => Caller::Rejected(AuthError::InvalidToken),
        Some(Ok(token)) => match state.auth.authenticate(token).await {
            Ok(principal) => Caller::Authenticated(principal),
            Err(AuthError::Unexpected(error)) => {
                tracing::error!(request_id, error = %format!("{error:#}"), "authenticating a request failed");
                return internal_error(&request_id);
            }
            Err(reason) => Caller::Rejected(reason),
        },
    };
    let unauthorized = Unauthorized::default();
    let throttled = Throttled::default();
    let request = request
        .data(caller)
        .data(unauthorized.clone())
        .data(throttled.clone())
        .data(LoginOnce::default())
        .data(ClientIp(Some(client_ip::resolve(
            peer.ip(),
            &headers,
            &state.settings.trusted_proxies,
        ))))
        .data(RequestId(request_id));
    // Our own span: async-graphql's tracing extension records the query text and variables,
    // which may hold a password.
    let mut response = state
        .schema
        .execute(request)
        .instrument(tracing::info_span!("graphql.execute", operation))
        .await;
    // Parse, validation and variable errors come from async-graphql without a code: they are
    // all the client's input. Resolver errors always carry theirs (see `graphql::error`).
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    let refused_whole = response.data == async_graphql::Value::Null;
    let response = graphql_response(response, &headers);
    state
        .metrics
        .http_latency
        .get_or_create(&crate::metrics::Operation {
            operation: operation.to_owned(),
        })
        .observe(started.elapsed().as_secs_f64());
    if unauthorized.is_set() {
        return with_status(
            response,
            StatusCode::UNAUTHORIZED,
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
    }
    if let Some(seconds) = throttled.retry_after().filter(|_| refused_whole) {
        return with_status(
            response,
            StatusCode::TOO_MANY_REQUESTS,
            header::RETRY_AFTER,
            HeaderValue::from(seconds),
        );
    }
    response
}

/// The media type the client asked for (GraphQL over HTTP): `application/graphql-response+json`
/// when it accepts it, else `application/json`. With the former, a request error (the document
/// did not parse or validate, no field ran) is a 400 without a `data` entry.
fn graphql_response(response: async_graphql::Response, headers: &HeaderMap) -> Response {
    const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let wants_graphql_json = accept
        .split(',')
        .any(|media| media.split(';').next().unwrap_or("").trim() == GRAPHQL_RESPONSE_JSON);
    let request_error = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = serde_json::to_value(&response).unwrap_or_else(|_| serde_json::json!({}));
    let (status, content_type) = if wants_graphql_json {
        if request_error && let Some(object) = body.as_object_mut() {
            object.remove("data");
        }
        let status = if request_error {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        (status, GRAPHQL_RESPONSE_JSON)
    } else {
        (StatusCode::OK, "application/json")
    };
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body.to_string(),
    )
        .into_response()
}

fn with_status(
    response: Response,
    status: StatusCode,
    name: HeaderName,
    value: HeaderValue,
) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.status = status;
    parts.headers.insert(name, value);
    Response::from_parts(parts, body)
}

/// `None` without an `Authorization` header; `Err` when it is not a usable bearer token.
fn bearer_token(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 8192);
    Some(token.ok_or(()))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media_type| media_type.trim().eq_ignore_ascii_case("application/json"))
}

/// A request we could not even read as GraphQL, answered in the GraphQL error shape.
fn request_error(status: StatusCode, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({
            "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]
        })),
    )
        .into_response()
}

/// A document refused before execution (too many aliases or root fields).
fn graphql_error_response(message: String) -> Response {
    Json(serde_json::json!({
        "errors": [{"message": message, "extensions": {"code": "BAD_USER_INPUT"}}]
    }))
    .into_response()
}

fn internal_error(request_id: &str) -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(serde_json::json!({
            "errors": [{
                "message": "internal error",
                "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
            }]
        })),
    )
        .into_response()
}

/// GraphiQL for people; never an operation: GET must not execute anything, least a mutation.
async fn graphiql(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    if query.is_some_and(|q| q.split('&').any(|pair| pair.starts_with("query="))) {
        let mut response = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "operations are accepted only by POST with a JSON body".into(),
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if !state.settings.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    graphiql::page()
}

/// Prometheus text; the database gauges are read now.
async fn metrics(State(state): State<AppState>) -> Response {
    let store = state.auth.store();
    let now = state.auth.now();
    match store
        .count_live_sessions(now, now - state.auth.idle_timeout())
        .await
    {
        Ok(live) => {
            state.metrics.live_sessions.set(live);
        }
        Err(error) => tracing::warn!(%error, "counting live sessions for metrics failed"),
    }
    for sink in crate::domain::outbox::Sink::ALL {
        if let Ok(counts) = store.outbox_counts(sink).await {
            for (state_name, value) in [
                ("pending", counts.pending),
                ("retrying", counts.retrying),
                ("dead", counts.dead),
                ("delivered", counts.delivered),
            ] {
                state
                    .metrics
                    .outbox
                    .get_or_create(&crate::metrics::SinkState {
                        sink: sink.as_str(),
                        state: state_name,
                    })
                    .set(value);
            }
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.auth.store().ping().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn jwks(State(state): State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.auth.tokens().jwks().clone()),
    )
        .into_response()
}
