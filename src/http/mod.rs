//! HTTP: the router, the `/graphql` endpoint, health checks and the JWK Set.
//!
//! Design: the only place that reads headers. The bearer token is verified here, once, and the
//! resulting `Caller` travels with the GraphQL request; when a field that needs a user meets a
//! rejected token the response becomes an HTTP 401 with `WWW-Authenticate` (RFC 6750), which is
//! what app interceptors watch for.

use std::{sync::Arc, time::Duration};

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::GraphQLResponse;
use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::get,
};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use crate::auth::{Auth, AuthError};
use crate::graphql::{ApiSchema, Caller, RequestId, Unauthorized};

/// Request bodies above this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone)]
pub struct AppState {
    pub auth: Arc<Auth>,
    pub schema: ApiSchema,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            // The URI is logged without its query string: nothing secret goes there, and
            // keeping it out means nothing ever can leak from it.
            tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

async fn graphql(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
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
    let request = request
        .data(caller)
        .data(unauthorized.clone())
        .data(RequestId(request_id));
    let mut response = state.schema.execute(request).await;
    // Parse, validation and variable errors come from async-graphql without a code: they are
    // all the client's input. Resolver errors always carry theirs (see `graphql::error`).
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
    let response = GraphQLResponse::from(response).into_response();
    if unauthorized.is_set() {
        let (mut parts, body) = response.into_parts();
        parts.status = StatusCode::UNAUTHORIZED;
        parts.headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer error="invalid_token""#),
        );
        return Response::from_parts(parts, body);
    }
    response
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

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
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
