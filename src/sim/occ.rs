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
    Json(body).into_response()
}
