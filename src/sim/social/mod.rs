//! Google and Facebook as login-api meets them, for tests and the embedded default: a Google
//! issuer (a JWKS with rotating RS256 keys and `Cache-Control`, ID tokens with chosen claims)
//! and the Facebook Graph API (`debug_token`, `/me` with `appsecret_proof` checked, Limited
//! Login JWKS and tokens).
//!
//! Routes: `GET /google/oauth2/v3/certs`; `GET /facebook/.well-known/oauth/openid/jwks/`;
//! `GET /facebook/{version}/debug_token`; `GET /facebook/{version}/me`. For trying sign-in by
//! hand: `POST /google/token` and `POST /facebook/token` mint a token for the JSON claims
//! posted (`{"sub": "…", "email": "…", "email_verified": true, "nonce": "…"}`).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
};

use aws_lc_rs::encoding::AsDer;
use axum::{
    Json, Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header, jwk::Jwk};
use serde_json::{Value, json};

/// The embedded default's Google client id and Facebook app.
mod graph;

pub const SIM_GOOGLE_CLIENT_ID: &str = "login-api-sim.apps.googleusercontent.com";
pub const SIM_FACEBOOK_APP_ID: &str = "100000000000001";
pub const SIM_FACEBOOK_APP_SECRET: &str = "simulated-facebook-app-secret";
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const FACEBOOK_ISSUER: &str = "https://www.facebook.com";

struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    jwk: Jwk,
}

impl SigningKey {
    fn generate(kid: String) -> Self {
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("an RSA key");
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).expect("PKCS#8");
        let body = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("an RSA PEM");
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256).expect("a JWK");
        jwk.common.key_id = Some(kid.clone());
        Self { kid, encoding, jwk }
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("signing")
    }
}

/// A Facebook user access token the simulated Graph knows.
#[derive(Clone)]
pub struct FacebookUser {
    pub user_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The app the token was issued to (another app's token must be refused).
    pub app_id: String,
    /// Unix seconds; 0: never.
    pub expires_at: i64,
}

/// RSA key generation is slow without optimisation: every simulator of the process starts with
/// the same first keys (key material only; each simulator's state is its own).
fn first_keys() -> (Arc<SigningKey>, Arc<SigningKey>) {
    static KEYS: std::sync::OnceLock<(Arc<SigningKey>, Arc<SigningKey>)> =
        std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        (
            Arc::new(SigningKey::generate("google-key-1".into())),
            Arc::new(SigningKey::generate("facebook-key-1".into())),
        )
    })
    .clone()
}

pub struct SocialSim {
    google_keys: Mutex<Vec<Arc<SigningKey>>>,
    facebook_key: Arc<SigningKey>,
    facebook_tokens: Mutex<HashMap<String, FacebookUser>>,
    pub google_client_id: String,
    pub facebook_app_id: String,
    pub facebook_app_secret: String,
    google_jwks_fetches: AtomicUsize,
    graph_requests: AtomicUsize,
    outage: AtomicBool,
    /// While on, Graph answers its rate-limit error (HTTP 400, code 4).
    throttled: AtomicBool,
    max_age_secs: AtomicU64,
    key_serial: AtomicUsize,
}

impl SocialSim {
    pub fn new(
        google_client_id: &str,
        facebook_app_id: &str,
        facebook_app_secret: &str,
    ) -> Arc<Self> {
        let (google, facebook) = first_keys();
        Arc::new(Self {
            google_keys: Mutex::new(vec![google]),
            facebook_key: facebook,
            facebook_tokens: Mutex::default(),
            google_client_id: google_client_id.into(),
            facebook_app_id: facebook_app_id.into(),
            facebook_app_secret: facebook_app_secret.into(),
            google_jwks_fetches: AtomicUsize::new(0),
            graph_requests: AtomicUsize::new(0),
            outage: AtomicBool::new(false),
            throttled: AtomicBool::new(false),
            max_age_secs: AtomicU64::new(21_600),
            key_serial: AtomicUsize::new(1),
        })
    }

    pub async fn spawn(self: &Arc<Self>, addr: SocketAddr) -> anyhow::Result<SocketAddr> {
        let app = Router::new()
            .route("/google/oauth2/v3/certs", get(google_jwks))
            .route("/google/token", post(mint_google))
            .route(
                "/facebook/.well-known/oauth/openid/jwks/",
                get(facebook_jwks),
            )
            .route("/facebook/{version}/debug_token", get(graph::debug_token))
            .route("/facebook/{version}/me", get(graph::me))
            .route("/facebook/token", post(mint_facebook))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the social simulator stopped");
            }
        });
        Ok(bound)
    }

    /// A Google ID token for our client id, issued now, valid an hour, with `claims` on top
    /// (any claim can be overridden: `aud`, `iss`, `exp`, `email_verified`, `nonce`, …).
    pub fn google_id_token(&self, claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({
            "iss": GOOGLE_ISSUER, "aud": self.google_client_id, "azp": self.google_client_id,
            "sub": "110000000000000000001", "iat": now, "exp": now + 3600,
        });
        merge(&mut all, claims);
        let keys = self.google_keys.lock().expect("keys lock");
        keys.last().expect("a key").sign(&all)
    }

    /// A Limited Login token for our app id (Facebook puts the nonce's SHA-256 in `nonce`).
    pub fn facebook_id_token(&self, claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({
            "iss": FACEBOOK_ISSUER, "aud": self.facebook_app_id,
            "sub": "10000000000000001", "iat": now, "exp": now + 3600,
        });
        merge(&mut all, claims);
        self.facebook_key.sign(&all)
    }

    /// A user access token the Graph API will vouch for.
    pub fn facebook_access_token(&self, user: FacebookUser) -> String {
        let token = format!("EAAsim{}", uuid::Uuid::new_v4().simple());
        self.facebook_tokens
            .lock()
            .expect("tokens lock")
            .insert(token.clone(), user);
        token
    }

    /// Publishes a new Google key; tokens are signed with it from now on.
    pub fn rotate_google_key(&self) {
        let serial = self.key_serial.fetch_add(1, Ordering::SeqCst) + 1;
        let key = SigningKey::generate(format!("google-key-{serial}"));
        self.google_keys
            .lock()
            .expect("keys lock")
            .push(Arc::new(key));
    }

    /// A token signed with a key Google never published.
    pub fn google_id_token_with_unknown_key(&self, claims: Value) -> String {
        let now = chrono::Utc::now().timestamp();
        let mut all = json!({"iss": GOOGLE_ISSUER, "aud": self.google_client_id,
                             "sub": "110000000000000000001", "iat": now, "exp": now + 3600});
        merge(&mut all, claims);
        SigningKey::generate("never-published".into()).sign(&all)
    }

    pub fn google_jwks_fetches(&self) -> usize {
        self.google_jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn graph_requests(&self) -> usize {
        self.graph_requests.load(Ordering::SeqCst)
    }

    /// While on, every endpoint answers 503.
    pub fn set_outage(&self, on: bool) {
        self.outage.store(on, Ordering::SeqCst);
    }

    /// While on, Graph answers "Application request limit reached" (code 4), as it does.
    pub fn set_throttled(&self, on: bool) {
        self.throttled.store(on, Ordering::SeqCst);
    }

    fn down(&self) -> Option<Response> {
        self.outage
            .load(Ordering::SeqCst)
            .then(|| StatusCode::SERVICE_UNAVAILABLE.into_response())
    }
}

fn merge(into: &mut Value, claims: Value) {
    if let (Some(into), Value::Object(claims)) = (into.as_object_mut(), claims) {
        for (name, value) in claims {
            if value.is_null() {
                into.remove(&name);
            } else {
                into.insert(name, value);
            }
        }
    }
}

async fn google_jwks(State(sim): State<Arc<SocialSim>>) -> Response {
    if let Some(down) = sim.down() {
        return down;
    }
    sim.google_jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let keys: Vec<Jwk> = sim
        .google_keys
        .lock()
        .expect("keys lock")
        .iter()
        .map(|k| k.jwk.clone())
        .collect();
    let max_age = sim.max_age_secs.load(Ordering::SeqCst);
    (
        [(
            header::CACHE_CONTROL,
            format!("public, max-age={max_age}, must-revalidate, no-transform"),
        )],
        Json(json!({ "keys": keys })),
    )
        .into_response()
}

async fn facebook_jwks(State(sim): State<Arc<SocialSim>>) -> Response {
    if let Some(down) = sim.down() {
        return down;
    }
    Json(json!({ "keys": [sim.facebook_key.jwk.clone()] })).into_response()
}

async fn mint_google(State(sim): State<Arc<SocialSim>>, Json(claims): Json<Value>) -> Json<Value> {
    Json(json!({ "id_token": sim.google_id_token(claims) }))
}

async fn mint_facebook(
    State(sim): State<Arc<SocialSim>>,
    Json(claims): Json<Value>,
) -> Json<Value> {
    let text = |name: &str| claims[name].as_str().map(str::to_owned);
    let user = FacebookUser {
        user_id: text("sub").unwrap_or_else(|| "10000000000000001".into()),
        name: text("name"),
        email: text("email"),
        app_id: sim.facebook_app_id.clone(),
        expires_at: chrono::Utc::now().timestamp() + 3600,
    };
    Json(json!({
        "access_token": sim.facebook_access_token(user),
        "id_token": sim.facebook_id_token(claims),
    }))
}
