//! The simulated Graph API: `debug_token` (with the app token) and `/me` (with the user's
//! token and `appsecret_proof`), answering and failing as Graph does.

use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering},
};

use aws_lc_rs::hmac;
use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::SocialSim;

fn graph_error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        Json(
            json!({"error": {"message": message, "type": "OAuthException", "code": code,
                              "fbtrace_id": "Asim"}}),
        ),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// `GET /{version}/debug_token?input_token=…` with the app token.
pub(super) async fn debug_token(
    State(sim): State<Arc<SocialSim>>,
    Path(_version): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(down) = sim.down() {
        return down;
    }
    sim.graph_requests.fetch_add(1, Ordering::SeqCst);
    if sim.throttled.load(Ordering::SeqCst) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            4,
            "Application request limit reached",
        );
    }
    let app_token = format!("{}|{}", sim.facebook_app_id, sim.facebook_app_secret);
    if bearer(&headers) != Some(app_token.as_str()) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            190,
            "Invalid OAuth access token signature.",
        );
    }
    let Some(input) = query.get("input_token") else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            100,
            "The parameter input_token is required",
        );
    };
    let known = sim
        .facebook_tokens
        .lock()
        .expect("tokens lock")
        .get(input)
        .cloned();
    let data = match known {
        Some(user) => json!({
            "app_id": user.app_id, "type": "USER", "application": "Club rides",
            "expires_at": user.expires_at,
            "is_valid": user.expires_at == 0 || user.expires_at > chrono::Utc::now().timestamp(),
            "issued_at": chrono::Utc::now().timestamp() - 60,
            "scopes": ["email", "public_profile"], "user_id": user.user_id,
        }),
        None => json!({
            "is_valid": false,
            "error": {"code": 190, "message": "Invalid OAuth access token - Cannot parse access token"},
            "scopes": [],
        }),
    };
    Json(json!({ "data": data })).into_response()
}

/// `GET /{version}/me?fields=id,name,email&appsecret_proof=…` with the user's token.
pub(super) async fn me(
    State(sim): State<Arc<SocialSim>>,
    Path(_version): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(down) = sim.down() {
        return down;
    }
    sim.graph_requests.fetch_add(1, Ordering::SeqCst);
    let Some(token) = bearer(&headers) else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            2500,
            "An active access token must be used",
        );
    };
    let Some(user) = sim
        .facebook_tokens
        .lock()
        .expect("tokens lock")
        .get(token)
        .cloned()
    else {
        return graph_error(StatusCode::BAD_REQUEST, 190, "Invalid OAuth access token.");
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, sim.facebook_app_secret.as_bytes());
    let proof: String = hmac::sign(&key, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    match query.get("appsecret_proof") {
        None => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                "API calls from the server require an appsecret_proof argument",
            );
        }
        Some(given) if *given != proof => {
            return graph_error(
                StatusCode::BAD_REQUEST,
                100,
                "Invalid appsecret_proof provided in the API argument",
            );
        }
        _ => {}
    }
    let fields = query.get("fields").map(String::as_str).unwrap_or("id,name");
    let mut body = json!({ "id": user.user_id });
    if fields.contains("name") {
        body["name"] = json!(user.name);
    }
    if fields.contains("email") && user.email.is_some() {
        body["email"] = json!(user.email);
    }
    Json(body).into_response()
}
