//! The OCC customer endpoint of the simulated Hybris: `GET /occ/v2/{site}/users/current`.

use std::{
    collections::HashMap,
    sync::{Arc, atomic::Ordering},
};

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::{SimState, disturbances};

pub(super) async fn current_user(
    State(state): State<Arc<SimState>>,
    Path(site): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = disturbances(&state.control).await {
        return response;
    }
    let invalid_token = || {
        (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": [{"type": "InvalidTokenError", "message": "Invalid access token"}]})),
        )
            .into_response()
    };
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return invalid_token();
    };
    let Some(uid) = state
        .tokens
        .lock()
        .expect("sim token lock")
        .get(token)
        .cloned()
        .filter(|_| !state.control.reject_profile_tokens.load(Ordering::SeqCst))
    else {
        return invalid_token();
    };
    if site != state.config.base_site {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": [{"type": "UnknownIdentifierError", "message": format!("Base site {site} doesn't exist")}]})),
        )
            .into_response();
    }
    let Some(user) = state.user(&uid) else {
        return invalid_token();
    };
    Json(customer(&user, &query)).into_response()
}

/// `GET /occ/v2/{site}/users/{uid}`: any customer for the trusted client's token, only the
/// customer's own for a customer token (else `AccessDeniedError`, 403), and
/// `UnknownIdentifierError` (400) for a uid Hybris does not know.
pub(super) async fn user_by_uid(
    State(state): State<Arc<SimState>>,
    Path((site, uid)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = disturbances(&state.control).await {
        return response;
    }
    let error = |status: StatusCode, kind: &str, message: &str| {
        (
            status,
            Json(json!({"errors": [{"type": kind, "message": message}]})),
        )
            .into_response()
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let trusted = state
        .trusted_tokens
        .lock()
        .expect("sim token lock")
        .contains(token);
    let own = state
        .tokens
        .lock()
        .expect("sim token lock")
        .get(token)
        .cloned();
    if !trusted && own.is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "InvalidTokenError",
            "Invalid access token",
        );
    }
    if site != state.config.base_site {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownIdentifierError",
            &format!("Base site {site} doesn't exist"),
        );
    }
    if !trusted && own.is_some_and(|own| !own.eq_ignore_ascii_case(&uid)) {
        return error(
            StatusCode::FORBIDDEN,
            "AccessDeniedError",
            "Access is denied",
        );
    }
    state.control.trusted_reads.fetch_add(1, Ordering::SeqCst);
    match state.user(&uid) {
        Some(user) => Json(customer(&user, &query)).into_response(),
        None => error(
            StatusCode::BAD_REQUEST,
            "UnknownIdentifierError",
            "Cannot find user with propertyValue",
        ),
    }
}

/// The customer as OCC serialises it, with the `fields` asked for.
fn customer(user: &super::SimUser, query: &HashMap<String, String>) -> Value {
    let fields = query.get("fields").map(String::as_str).unwrap_or("DEFAULT");
    let wants = |field: &str| {
        fields
            .split(',')
            .any(|f| f.trim() == field || f.trim() == "FULL")
    };
    let name = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut body = json!({
        "type": "userWsDTO",
        "uid": user.uid,
        "customerId": user.customer_id,
        "displayUid": user.uid,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "name": name,
    });
    let custom = [
        ("rccMembershipNumber", &user.rcc_membership_number),
        ("rccMemberShipStartDate", &user.rcc_member_ship_start_date),
        ("rccMemberShipEndDate", &user.rcc_member_ship_end_date),
        ("rccChapter", &user.rcc_chapter),
        ("deactivationDate", &user.deactivation_date),
    ];
    for (name, value) in custom {
        // OCC omits null fields and fields not asked for.
        if let (true, Some(value)) = (wants(name), value) {
            body[name] = Value::String(value.clone());
        }
    }
    for (name, value) in &user.extra {
        if wants(name) {
            body[name.as_str()] = value.clone();
        }
    }
    body
}
