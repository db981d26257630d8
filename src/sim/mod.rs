//! Simulators of the upstream services, for `login-api hybris-sim`, the embedded default and
//! the tests. This module is Hybris; [`algolia`] is the search index.
//!
//! A simulator of the two Hybris OCC endpoints login-api uses, answering as Hybris does.
//!
//! Used by `login-api hybris-sim`, by `serve` when `HYBRIS_BASE_URL` is unset, and by the tests.
//! Design: it checks what the real server checks (grant type, OAuth client, bearer token, base
//! site) and answers with Hybris' shapes: bad credentials are HTTP 400
//! `{"error":"invalid_grant","error_description":"Bad credentials"}`. `SimControl` adds latency
//! or an outage at run time, and counts token requests so tests can see what reached "Hybris".

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

pub mod algolia;

use anyhow::Context;
use axum::{
    Form, Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};

/// The embedded simulator's OAuth client, used when `HYBRIS_BASE_URL` is unset.
pub const SIMULATOR_CLIENT_ID: &str = "mobile_app";
pub const SIMULATOR_CLIENT_SECRET: &str = "simulator-secret";
pub const SIMULATOR_BASE_SITE: &str = "rcc";

/// The example members shipped with the repository (`hybris-sim/users.json`).
pub const EXAMPLE_USERS: &str = include_str!("../../hybris-sim/users.json");

/// One customer of the simulated Hybris; OCC field names as they appear on the wire.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimUser {
    pub uid: String,
    pub customer_id: String,
    pub password: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub rcc_membership_number: Option<String>,
    pub rcc_member_ship_start_date: Option<String>,
    pub rcc_member_ship_end_date: Option<String>,
    pub rcc_chapter: Option<String>,
    /// OCC's `deactivationDate`: set for a closed shop account.
    #[serde(default)]
    pub deactivation_date: Option<String>,
}

pub fn parse_users(json: &str) -> anyhow::Result<Vec<SimUser>> {
    serde_json::from_str(json).context("the simulator's users file is not a JSON array of users")
}

/// Run-time knobs and counters shared between the simulator and whoever drives it.
#[derive(Default)]
pub struct SimControl {
    latency_ms: AtomicU64,
    outage: AtomicBool,
    reject_profile_tokens: AtomicBool,
    /// Answer revocations with this status instead (an older release without the endpoint).
    revoke_status: AtomicU64,
    token_requests: AtomicUsize,
    revocations: AtomicUsize,
    live_tokens: AtomicUsize,
    /// Customers changed at run time, by lower-cased uid; they win over the configured ones.
    changed_users: Mutex<HashMap<String, SimUser>>,
}

impl SimControl {
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::SeqCst);
    }

    /// While on, every endpoint answers 503.
    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
    }

    /// While on, the profile endpoint answers `InvalidTokenError` even for tokens it has just
    /// issued (seen from SAP Commerce when its token store fails over).
    pub fn set_reject_profile_tokens(&self, on: bool) {
        self.reject_profile_tokens.store(on, Ordering::SeqCst);
    }

    /// Revocations answer `status` (e.g. 404, as releases without the endpoint do); `None`
    /// restores the endpoint.
    pub fn set_revoke_status(&self, status: Option<StatusCode>) {
        self.revoke_status
            .store(status.map_or(0, |s| s.as_u16() as u64), Ordering::SeqCst);
    }

    /// Adds a customer, or replaces the one with the same uid (e.g. an email that moved to
    /// another customer id, as happens when a shop account is re-created).
    pub fn upsert_user(&self, user: SimUser) {
        self.changed_users
            .lock()
            .expect("sim users lock")
            .insert(user.uid.to_lowercase(), user);
    }

    /// Tokens revoked so far.
    pub fn revocations(&self) -> usize {
        self.revocations.load(Ordering::SeqCst)
    }

    /// Access tokens issued and not revoked.
    pub fn live_tokens(&self) -> usize {
        self.live_tokens.load(Ordering::SeqCst)
    }

    /// Password-grant requests received so far.
    pub fn token_requests(&self) -> usize {
        self.token_requests.load(Ordering::SeqCst)
    }
}

pub struct SimConfig {
    pub users: Vec<SimUser>,
    pub client_id: String,
    pub client_secret: String,
    pub base_site: String,
}

impl SimState {
    /// The customer with this uid, run-time changes first.
    fn user(&self, uid: &str) -> Option<SimUser> {
        let uid = uid.trim().to_lowercase();
        let changed = self.control.changed_users.lock().expect("sim users lock");
        changed
            .get(&uid)
            .cloned()
            .or_else(|| self.by_uid.get(&uid).map(|&i| self.config.users[i].clone()))
    }
}

struct SimState {
    config: SimConfig,
    /// Lower-cased uid → index into `config.users`: lookups stay O(1) for large user files.
    by_uid: HashMap<String, usize>,
    control: Arc<SimControl>,
    /// access token → uid of the customer it was issued to.
    tokens: Mutex<HashMap<String, String>>,
}

pub fn router(config: SimConfig, control: Arc<SimControl>) -> Router {
    let by_uid = config
        .users
        .iter()
        .enumerate()
        .map(|(i, user)| (user.uid.to_lowercase(), i))
        .collect();
    let state = Arc::new(SimState {
        by_uid,
        config,
        control,
        tokens: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/authorizationserver/oauth/token", post(token))
        .route("/authorizationserver/oauth/revoke", post(revoke))
        .route("/occ/v2/{site}/users/current", get(current_user))
        .with_state(state)
}

/// Binds `addr` and serves the simulator in the background; returns the bound address.
pub async fn spawn(
    addr: SocketAddr,
    config: SimConfig,
    control: Arc<SimControl>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the Hybris simulator to {addr}"))?;
    let bound = listener.local_addr()?;
    let app = router(config, control);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "the Hybris simulator stopped");
        }
    });
    Ok(bound)
}

async fn disturbances(control: &SimControl) -> Option<Response> {
    let latency = control.latency_ms.load(Ordering::SeqCst);
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    control.outage.load(Ordering::SeqCst).then(|| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"errors": [{"type": "ServiceUnavailableError", "message": "Service Unavailable"}]})),
        )
            .into_response()
    })
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn token(State(state): State<Arc<SimState>>, Form(form): Form<TokenForm>) -> Response {
    state.control.token_requests.fetch_add(1, Ordering::SeqCst);
    if let Some(response) = disturbances(&state.control).await {
        return response;
    }
    let config = &state.config;
    if form.client_id.as_deref() != Some(config.client_id.as_str())
        || form.client_secret.as_deref() != Some(config.client_secret.as_str())
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Bad client credentials",
        );
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
    let user = state.user(&username).filter(|u| u.password == password);
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

#[derive(Deserialize)]
struct RevokeForm {
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 7009 as Spring Security OAuth in SAP Commerce answers it: 200 whether or not the token
/// was known; 401 for a wrong client.
async fn revoke(State(state): State<Arc<SimState>>, Form(form): Form<RevokeForm>) -> Response {
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
    if form.client_id.as_deref() != Some(config.client_id.as_str())
        || form.client_secret.as_deref() != Some(config.client_secret.as_str())
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Bad client credentials",
        );
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

async fn current_user(
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
    Json(body).into_response()
}
