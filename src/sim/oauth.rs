//! The OAuth endpoints of the simulated Hybris: the password grant (with the lockout SAP
//! Commerce applies after failed logins) and token revocation.

use std::sync::{Arc, atomic::Ordering};

use axum::{
    Form, Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::json;

use super::{SimState, disturbances};

#[derive(Deserialize)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

pub(super) fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

pub(super) async fn token(
    State(state): State<Arc<SimState>>,
    Form(form): Form<TokenForm>,
) -> Response {
    let number = state.control.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(response) = disturbances(&state.control).await {
        return response;
    }
    if state.control.fail_token_request.load(Ordering::SeqCst) == number {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"errors": [{"type": "ServiceUnavailableError", "message": "Service Unavailable"}]})),
        )
            .into_response();
    }
    let config = &state.config;
    if form.grant_type.as_deref() == Some("client_credentials") {
        return client_credentials(&state, &form);
    }
    if let Some(refused) = client_refused(config, &form.client_id, &form.client_secret) {
        return refused;
    }
    if form.grant_type.as_deref() != Some("password") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant type",
        );
    }
    let (Some(username), Some(password)) = (form.username, form.password) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing username or password",
        );
    };
    let user = state
        .user(&username)
        .filter(|u| state.control.grant(&u.customer_id, u.password == password));
    let Some(user) = user else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Bad credentials");
    };
    let access_token = uuid::Uuid::new_v4().to_string();
    state
        .tokens
        .lock()
        .expect("sim token lock")
        .insert(access_token.clone(), user.uid.clone());
    state.control.live_tokens.fetch_add(1, Ordering::SeqCst);
    Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": 43199,
        "scope": "basic openid"
    }))
    .into_response()
}

/// RFC 6749 §4.4 for the trusted client only: the mobile client has no such grant.
fn client_credentials(state: &SimState, form: &TokenForm) -> Response {
    let trusted = form.client_id.as_deref() == Some(super::SIMULATOR_TRUSTED_CLIENT_ID)
        && form.client_secret.as_deref() == Some(super::SIMULATOR_TRUSTED_CLIENT_SECRET);
    if !trusted {
        if client_refused(&state.config, &form.client_id, &form.client_secret).is_none() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "Unauthorized grant type: client_credentials",
            );
        }
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Bad client credentials",
        );
    }
    let access_token = uuid::Uuid::new_v4().to_string();
    state
        .trusted_tokens
        .lock()
        .expect("sim token lock")
        .insert(access_token.clone());
    Json(json!({
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": 43199,
        "scope": "basic openid"
    }))
    .into_response()
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7009 as Spring Security OAuth in SAP Commerce answers it: 200 whether or not the token
/// was known; 401 for a wrong client.
pub(super) async fn revoke(
    State(state): State<Arc<SimState>>,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Some(response) = disturbances(&state.control).await {
        return response;
    }
    let status = state.control.revoke_status.load(Ordering::SeqCst);
    if status != 0 {
        return StatusCode::from_u16(status as u16)
            .unwrap_or(StatusCode::NOT_FOUND)
            .into_response();
    }
    let config = &state.config;
    if let Some(refused) = client_refused(config, &form.client_id, &form.client_secret) {
        return refused;
    }
    let removed = form
        .token
        .and_then(|token| state.tokens.lock().expect("sim token lock").remove(&token));
    if removed.is_some() {
        state.control.revocations.fetch_add(1, Ordering::SeqCst);
        state.control.live_tokens.fetch_sub(1, Ordering::SeqCst);
    }
    StatusCode::OK.into_response()
}

/// `invalid_client` unless the request names the configured OAuth client and its secret.
fn client_refused(
    config: &super::SimConfig,
    client_id: &Option<String>,
    client_secret: &Option<String>,
) -> Option<Response> {
    let right = client_id.as_deref() == Some(config.client_id.as_str())
        && client_secret.as_deref() == Some(config.client_secret.as_str());
    (!right).then(|| {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Bad client credentials",
        )
    })
}
