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
mod oauth;
mod occ;
pub mod sms;
pub mod social;

use anyhow::Context;
use axum::{
    Json, Router,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

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
    /// Any other attribute of the customer (a roles field, say), served when `fields` asks.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
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
    /// The token request with this number (counted since the start, 1-based) answers 503:
    /// an outage in the middle of a login's tries. 0: none.
    fail_token_request: AtomicUsize,
    /// Answer revocations with this status instead (an older release without the endpoint).
    revoke_status: AtomicU64,
    token_requests: AtomicUsize,
    revocations: AtomicUsize,
    live_tokens: AtomicUsize,
    /// Customers changed at run time, by lower-cased uid; they win over the configured ones.
    changed_users: Mutex<HashMap<String, SimUser>>,
    /// 0: Hybris's usual 5; `u64::MAX`: never.
    lockout_threshold: AtomicU64,
    /// Consecutive failed password grants per customer id.
    failed_logins: Mutex<HashMap<String, u64>>,
    /// What the `log` SMS sender "sent", served at `GET /sms/inbox`.
    sms_inbox: sms::SmsInbox,
    /// Client-credentials grants and customer reads by uid (the trusted client).
    trusted_reads: AtomicUsize,
}

/// Failed logins after which SAP Commerce disables a customer, in many installations.
pub const DEFAULT_LOCKOUT_THRESHOLD: u64 = 5;

impl SimControl {
    /// A simulator whose `/sms/inbox` serves `inbox` (the `log` sender's).
    pub fn with_sms_inbox(inbox: sms::SmsInbox) -> Self {
        Self {
            sms_inbox: inbox,
            ..Self::default()
        }
    }

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

    /// Consecutive failed logins after which a customer is disabled; `None`: never.
    pub fn set_lockout_threshold(&self, threshold: Option<u64>) {
        self.lockout_threshold
            .store(threshold.unwrap_or(u64::MAX), Ordering::SeqCst);
    }

    /// Whether the customer with this id has been disabled by failed logins.
    pub fn is_locked_out(&self, customer_id: &str) -> bool {
        let failed = self.failed_logins.lock().expect("sim lockout lock");
        failed.get(customer_id).copied().unwrap_or(0) >= self.lockout_threshold()
    }

    fn lockout_threshold(&self) -> u64 {
        match self.lockout_threshold.load(Ordering::SeqCst) {
            0 => DEFAULT_LOCKOUT_THRESHOLD,
            n => n,
        }
    }

    /// Counts a password grant: a failure moves the customer towards the lockout, a success
    /// clears it. Returns whether the grant may succeed (right password, not disabled).
    fn grant(&self, customer_id: &str, password_right: bool) -> bool {
        let threshold = self.lockout_threshold();
        let mut failed = self.failed_logins.lock().expect("sim lockout lock");
        let count = failed.entry(customer_id.to_owned()).or_default();
        if *count >= threshold {
            return false; // disabled: answered exactly like a wrong password
        }
        if password_right {
            *count = 0;
        } else {
            *count += 1;
        }
        password_right
    }

    /// Tokens revoked so far.
    pub fn revocations(&self) -> usize {
        self.revocations.load(Ordering::SeqCst)
    }

    /// Access tokens issued and not revoked.
    pub fn live_tokens(&self) -> usize {
        self.live_tokens.load(Ordering::SeqCst)
    }

    /// The `nth` token request from now answers 503 (1 = the next one).
    pub fn fail_token_request(&self, nth: usize) {
        let at = self.token_requests.load(Ordering::SeqCst) + nth;
        self.fail_token_request.store(at, Ordering::SeqCst);
    }

    /// The development SMS inbox this simulator serves.
    pub fn sms_inbox(&self) -> sms::SmsInbox {
        self.sms_inbox.clone()
    }

    /// Customer profiles read by uid with the trusted client so far.
    pub fn trusted_reads(&self) -> usize {
        self.trusted_reads.load(Ordering::SeqCst)
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

/// The trusted OAuth client (`ROLE_TRUSTED_CLIENT`) every simulator knows: it may use the
/// client-credentials grant and read any customer by uid.
pub const SIMULATOR_TRUSTED_CLIENT_ID: &str = "trusted_client";
pub const SIMULATOR_TRUSTED_CLIENT_SECRET: &str = "simulator-trusted-secret";

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
    /// Access tokens of the trusted client (client-credentials grant).
    trusted_tokens: Mutex<std::collections::HashSet<String>>,
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
        trusted_tokens: Mutex::default(),
    });
    let inbox = state.control.sms_inbox();
    Router::new()
        .route("/authorizationserver/oauth/token", post(oauth::token))
        .route("/authorizationserver/oauth/revoke", post(oauth::revoke))
        .route("/occ/v2/{site}/users/current", get(occ::current_user))
        .route("/occ/v2/{site}/users/{uid}", get(occ::user_by_uid))
        .with_state(state)
        .merge(
            Router::new()
                .route("/sms/inbox", get(sms::inbox))
                .with_state(inbox),
        )
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

pub(super) async fn disturbances(control: &SimControl) -> Option<Response> {
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
