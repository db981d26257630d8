//! For operators and other services: liveness, readiness, Prometheus metrics, the JWK Set.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use super::AppState;

/// Prometheus text; the database gauges are read now.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let gauges = state.auth.gauges().await;
    // The breaker's state as of now: transitions happen on calls, time passes without them.
    state
        .metrics
        .hybris_breaker_state
        .set(match state.auth.password_login_availability() {
            crate::auth::Availability::Available => 0,
            crate::auth::Availability::Degraded => 1,
            crate::auth::Availability::Unavailable { .. } => 2,
        });
    state
        .metrics
        .read_cache_enabled
        .set(i64::from(gauges.read_cache_enabled));
    if let Some(live) = gauges.live_sessions {
        state.metrics.live_sessions.set(live);
    }
    for (path, count) in gauges.login_writes {
        // The store counts; the counter takes the larger (a concurrent scrape may be ahead).
        state
            .metrics
            .login_writes
            .get_or_create(&crate::metrics::WritePath { path })
            .inner()
            .fetch_max(count, std::sync::atomic::Ordering::Relaxed);
    }
    for (sink, counts) in gauges.outbox {
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
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.auth.ready().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(error = %format!("{error:#}"), "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

pub async fn jwks(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.auth.tokens().jwks().clone()),
    )
        .into_response()
}
