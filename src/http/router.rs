//! The routes and the layers every response passes: body limit, timeout, CORS, security
//! headers, request id and the request span.

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, Method, StatusCode, header},
    routing::get,
};
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use super::{
    AppState, MAX_BODY_BYTES, REQUEST_ID, endpoint, framework_errors, graphiql, ops, partner,
};

/// The routes under one stack of layers, outermost first: an unusable request id dropped, a
/// request id set and propagated, the request span, the security headers, CORS when origins
/// are configured, errors as JSON, the timeout and the body limit.
///
/// The stack wraps the whole router once rather than each route (`Router::layer`): axum clones
/// a route's boxed service per request, and a route under N boxed layers costs N allocations
/// per request that way (callgrind: about 54 boxed clones per GraphQL request); this stack is
/// concrete, so a request clones two boxes (the outer fallback's and its route's). Middleware
/// here runs before routing and cannot see `MatchedPath`.
pub fn router(state: AppState) -> Router {
    let settings = state.settings.clone();
    let routes = Router::new()
        .route("/graphql", get(endpoint::graphiql).post(endpoint::graphql))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/graphiql/{name}", get(graphiql::asset))
        .route("/metrics", get(ops::metrics))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/partner/introspect",
            axum::routing::post(partner::introspect),
        )
        // One shared state: axum clones it per request, and a clone of `AppState` itself
        // would touch each of its Arcs (a contended count on 2 cores).
        .with_state(std::sync::Arc::new(state));
    let cors = (!settings.cors_allowed_origins.is_empty()).then(|| {
        let origins: Vec<HeaderValue> = settings
            .cors_allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .max_age(std::time::Duration::from_secs(600))
    });
    let layered = ServiceBuilder::new()
        .layer(axum::middleware::map_request(drop_unusable_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
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
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .option_layer(cors)
        .layer(axum::middleware::map_response(
            framework_errors::errors_as_json,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            settings.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .service(routes);
    Router::new().fallback_service(layered)
}

/// A client's `x-request-id` is kept when it is an id: 1 to 128 of `A-Z a-z 0-9 - _ . :`.
/// Anything else (oversized, control characters, spaces) is dropped and a UUID given instead,
/// so it cannot flood logs, break a column, or forge log structure.
async fn drop_unusable_request_id<B>(
    mut request: axum::http::Request<B>,
) -> axum::http::Request<B> {
    let usable = request.headers().get(REQUEST_ID).is_none_or(|value| {
        let bytes = value.as_bytes();
        (1..=128).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
    });
    if !usable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}
