//! The floor under a login's CPU: a server that does only what no sign-in by password can skip,
//! with the libraries login-api is built on, so that `bench/run` can set login-api's CPU per
//! login beside it in one run.
//!
//! Per `POST /graphql` (the load generator's `login` request): read the JSON body (axum,
//! serde_json); Hybris's password grant and the customer profile (reqwest, to the same simulator,
//! bodies read by serde into the fields a login uses); a refresh token (aws-lc-rs random and
//! SHA-256); the login's writes as one PostgreSQL statement on a connection pool that pings
//! nothing (sqlx, deadpool); an ES256 access token signed with the run's key, parsed once as
//! login-api parses it (aws-lc-rs; `jsonwebtoken::encode` parsed and checked the key on every
//! call: 139,000 instructions, 22 % of this server's login until 2026-12-02); the JSON answer.
//! Left out, so that the floor only errs low: GraphQL, validation and the membership rule, the
//! upstream grant's revocation, the outbox's delivery, the read cache's acknowledgements, rate
//! limits, metrics, logs and traces; the token's header has no `kid` and is encoded once.
//!
//! Two flags add what a login owes beyond its answer, each in the cheapest form that does it at
//! all, so that these floors too only err low. `--deliver`: the two outbox rows are written
//! pending and delivered by a relay of its own (`RELAY_SQL`: one statement per batch that takes
//! and deletes them; at most once and in no key order, which login-api may not be, to a sink
//! that does nothing, as login-api's sinks in `bench/run` log below its log level): the product
//! loses neither. `--revoke`: the upstream grant is revoked off the member's path (RFC 7009
//! §2.1's request, as login-api sends it). Built
//! with the release profile of login-api (`cargo build --release --example login-floor`); not
//! part of the service.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use aws_lc_rs::{digest, rand::SecureRandom};
use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use clap::Parser;
use deadpool::managed::{Manager, Metrics, Pool, RecycleResult};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sea_orm::sqlx::{
    self, ConnectOptions, Connection, PgConnection, Row, postgres::PgConnectOptions,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// Address to serve on.
    #[arg(long)]
    addr: String,
    /// The Hybris simulator login-api calls (`HYBRIS_BASE_URL`).
    #[arg(long)]
    hybris: String,
    #[arg(long, default_value = "rcc")]
    site: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    /// A database migrated as login-api's, and not login-api's own: the floor's writes would
    /// change the row versions login-api's returning-member logins rely on (`bench/run`).
    #[arg(long)]
    database_url: String,
    /// The ES256 private key (PKCS#8 PEM) login-api signs with in the same run.
    #[arg(long)]
    key_file: String,
    /// Also deliver the outbox rows (the module's doc).
    #[arg(long)]
    deliver: bool,
    /// Also revoke the upstream grant (the module's doc).
    #[arg(long)]
    revoke: bool,
}

/// The login's writes as one statement, with the values bound: the member upserted, its
/// identity touched, the session and its first refresh token, the two outbox rows (written
/// delivered unless `$16` is false: `--deliver` delivers them) and the audit row; no
/// `NOTIFY`, as a lone login-api instance sends none. No moved-email release: like
/// login-api's password login, a login whose email another member holds would take another
/// path.
const LOGIN_SQL: &str = "WITH u AS ( \
      INSERT INTO users (id, upstream_customer_id, email, first_name, last_name, \
        membership_number, membership_start_date, membership_end_date, chapter, created_at, \
        updated_at, last_login_at, roles) \
      VALUES ($1, $2, $3, $4, $5, $6, $7::date, $8::date, $9, now(), now(), now(), '[]') \
      ON CONFLICT (upstream_customer_id) DO UPDATE SET email = excluded.email, \
        first_name = excluded.first_name, last_name = excluded.last_name, \
        membership_number = excluded.membership_number, \
        membership_start_date = excluded.membership_start_date, \
        membership_end_date = excluded.membership_end_date, chapter = excluded.chapter, \
        updated_at = excluded.updated_at, last_login_at = excluded.last_login_at, \
        roles = excluded.roles \
      RETURNING id), \
    i AS ( \
      INSERT INTO identities (id, user_id, provider, subject, created_at, last_used_at, email, \
        linked_by) \
      SELECT gen_random_uuid(), u.id, 'hybris', $2, now(), now(), NULL, NULL FROM u \
      ON CONFLICT (provider, subject) DO UPDATE SET last_used_at = excluded.last_used_at), \
    s AS ( \
      INSERT INTO sessions (id, user_id, device_id, device_type, device_name, platform, \
        platform_version, app_version, push_token, auth_method, created_at, last_accessed_at, \
        last_active_at, expires_at, revoked_at, end_reason) \
      SELECT $10, u.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'password', now(), now(), \
        NULL, now() + interval '90 days', NULL, NULL FROM u RETURNING id, user_id), \
    t AS ( \
      INSERT INTO refresh_tokens (id, token_hash, session_id, parent_id, issued_at, used_at, \
        rotation_nonce, expires_at) \
      SELECT $11, $12, s.id, NULL, now(), NULL, NULL, now() + interval '30 days' FROM s), \
    o AS ( \
      INSERT INTO outbox (id, sink, message_key, payload, created_at, available_at, attempts, \
        last_error, claimed_until, claimed_by, delivered_at, dead_at, member_id) \
      SELECT gen_random_uuid(), k.sink, s.user_id::text, k.payload || s.user_id || '\"}', now(), \
        now(), 0, NULL, NULL, NULL, CASE WHEN $16 THEN now() END, NULL, s.user_id \
      FROM s, (VALUES ('algolia', $13), ('eventbridge', $14)) AS k(sink, payload)), \
    a AS ( \
      INSERT INTO auth_events (id, occurred_at, event_type, outcome, reason, method, user_id, \
        session_id, device_hash, client_ip, request_id, subject_hash, details, event_count, \
        summary_key) \
      SELECT gen_random_uuid(), now(), 'login.succeeded', 'success', NULL, 'password', \
        s.user_id, s.id, NULL, '127.0.0.1', $15, NULL, NULL, 1, NULL FROM s) \
    SELECT s.user_id FROM s";

/// The cheapest delivery of pending outbox rows: up to `$1` of them taken and deleted in one
/// statement, their payloads returned. PostgreSQL walks one of login-api's partial indexes of
/// pending rows to find them (`EXPLAIN`: `idx_outbox_pending_by_key`, 8 buffers a row).
const RELAY_SQL: &str = "DELETE FROM outbox WHERE id IN ( \
      SELECT id FROM outbox \
      WHERE sink = ANY('{algolia,eventbridge}') AND delivered_at IS NULL AND dead_at IS NULL \
        AND available_at IS NOT NULL \
      LIMIT $1 FOR UPDATE SKIP LOCKED) \
    RETURNING payload";

/// How often the floor's relay looks for rows, and how many it takes at once: larger batches
/// than login-api's (its linger is 5 ms), so that the floor's delivery costs less per row.
const RELAY_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
const RELAY_BATCH: i64 = 2000;

/// Delivers the floor's outbox rows until the process ends: each batch's payloads are read and
/// dropped, as a sink that does nothing would.
async fn relay(options: PgConnectOptions) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect_with(&options).await?;
    loop {
        let payloads: Vec<String> = sqlx::query_scalar(RELAY_SQL)
            .bind(RELAY_BATCH)
            .fetch_all(&mut conn)
            .await?;
        if (payloads.len() as i64) < RELAY_BATCH {
            tokio::time::sleep(RELAY_EVERY).await;
        }
    }
}

struct Connector(PgConnectOptions);

impl Manager for Connector {
    type Type = PgConnection;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<PgConnection, sqlx::Error> {
        PgConnection::connect_with(&self.0).await
    }

    async fn recycle(&self, _: &mut PgConnection, _: &Metrics) -> RecycleResult<sqlx::Error> {
        Ok(())
    }
}

struct Floor {
    http: reqwest::Client,
    token_url: reqwest::Url,
    profile_url: reqwest::Url,
    /// `Some` with `--revoke`: where the grant is revoked.
    revoke_url: Option<reqwest::Url>,
    /// `--deliver`: the outbox rows are written pending, for the relay.
    deliver: bool,
    client_id: String,
    client_secret: String,
    db: Pool<Connector>,
    key: EcdsaKeyPair,
    /// The JWS header's base64url, the same for every token.
    header: String,
}

#[derive(Deserialize)]
struct Request {
    variables: Variables,
}

#[derive(Deserialize)]
struct Variables {
    i: Credentials,
}

#[derive(Deserialize)]
struct Credentials {
    email: String,
    password: String,
}

#[derive(Deserialize)]
struct Grant {
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Customer {
    uid: String,
    customer_id: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    rcc_membership_number: Option<String>,
    rcc_member_ship_start_date: Option<String>,
    rcc_member_ship_end_date: Option<String>,
    rcc_chapter: Option<String>,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: String,
    sid: String,
    iat: u64,
    exp: u64,
    jti: String,
    amr: [&'a str; 1],
    roles: [&'a str; 1],
}

type Failure = (StatusCode, String);

fn failed(what: &str) -> impl Fn(String) -> Failure + '_ {
    move |error| (StatusCode::BAD_GATEWAY, format!("{what}: {error}"))
}

async fn login(
    State(floor): State<Arc<Floor>>,
    Json(request): Json<Request>,
) -> Result<Json<Value>, Failure> {
    let Credentials { email, password } = request.variables.i;
    let grant: Grant = floor
        .http
        .post(floor.token_url.clone())
        .form(&[
            ("grant_type", "password"),
            ("username", email.as_str()),
            ("password", password.as_str()),
            ("client_id", floor.client_id.as_str()),
            ("client_secret", floor.client_secret.as_str()),
        ])
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())
        .map_err(failed("token"))?
        .json()
        .await
        .map_err(|e| e.to_string())
        .map_err(failed("token"))?;
    let customer: Customer = floor
        .http
        .get(floor.profile_url.clone())
        .bearer_auth(&grant.access_token)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())
        .map_err(failed("profile"))?
        .json()
        .await
        .map_err(|e| e.to_string())
        .map_err(failed("profile"))?;
    if let Some(url) = floor.revoke_url.clone() {
        // Off the member's path, its outcome ignored, as login-api's revocation.
        let revocation = floor.http.post(url).form(&[
            ("token", grant.access_token.as_str()),
            ("token_type_hint", "access_token"),
            ("client_id", floor.client_id.as_str()),
            ("client_secret", floor.client_secret.as_str()),
        ]);
        tokio::spawn(async move { revocation.send().await.map(drop) });
    }

    let mut secret = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| failed("random")("no randomness".into()))?;
    let refresh_token = URL_SAFE_NO_PAD.encode(secret);
    let token_hash = hex::encode(digest::digest(&digest::SHA256, refresh_token.as_bytes()));
    let session_id = Uuid::now_v7();
    let customer_id = customer.customer_id.unwrap_or_else(|| customer.uid.clone());

    let mut conn = floor
        .db
        .get()
        .await
        .map_err(|e| e.to_string())
        .map_err(failed("pool"))?;
    let row = sqlx::query(LOGIN_SQL)
        .bind(Uuid::now_v7())
        .bind(&customer_id)
        .bind(&customer.uid)
        .bind(&customer.first_name)
        .bind(&customer.last_name)
        .bind(&customer.rcc_membership_number)
        .bind(&customer.rcc_member_ship_start_date)
        .bind(&customer.rcc_member_ship_end_date)
        .bind(&customer.rcc_chapter)
        .bind(session_id)
        .bind(Uuid::now_v7())
        .bind(&token_hash)
        .bind("{\"objectID\":\"")
        .bind("{\"detailType\":\"user.login\",\"user\":\"")
        .bind(Uuid::new_v4().to_string())
        .bind(!floor.deliver)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| e.to_string())
        .map_err(failed("statement"))?;
    drop(conn);
    let user_id: Uuid = row
        .try_get(0)
        .map_err(|e| e.to_string())
        .map_err(failed("row"))?;

    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let claims = Claims {
        iss: "login-api",
        aud: "rcc-apps",
        sub: user_id.to_string(),
        sid: session_id.to_string(),
        iat,
        exp: iat + 900,
        jti: Uuid::new_v4().to_string(),
        amr: ["pwd"],
        roles: ["member"],
    };
    let payload = serde_json::to_vec(&claims).map_err(|e| failed("claims")(e.to_string()))?;
    let mut access_token = format!("{}.{}", floor.header, URL_SAFE_NO_PAD.encode(payload));
    let signature = floor
        .key
        .sign(
            &aws_lc_rs::rand::SystemRandom::new(),
            access_token.as_bytes(),
        )
        .map_err(|_| failed("signature")("the signature failed".into()))?;
    access_token.push('.');
    access_token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
    Ok(Json(json!({
        "data": {"login": {"accessToken": access_token, "refreshToken": refresh_token}}
    })))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let options: PgConnectOptions = args.database_url.parse()?;
    let options = options.disable_statement_logging();
    if args.deliver {
        let options = options.clone();
        tokio::spawn(async move {
            if let Err(error) = relay(options).await {
                eprintln!("the floor's relay stopped: {error}");
                std::process::exit(1);
            }
        });
    }
    let db = Pool::builder(Connector(options))
        .max_size(8)
        .runtime(deadpool::Runtime::Tokio1)
        .build()?;
    let floor = Arc::new(Floor {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
        token_url: format!("{}/authorizationserver/oauth/token", args.hybris).parse()?,
        profile_url: format!(
            "{}/occ/v2/{}/users/current?fields={}",
            args.hybris,
            args.site,
            login_api::adapters::hybris::PROFILE_FIELDS
        )
        .parse()?,
        revoke_url: if args.revoke {
            Some(format!("{}/authorizationserver/oauth/revoke", args.hybris).parse()?)
        } else {
            None
        },
        deliver: args.deliver,
        client_id: args.client_id,
        client_secret: args.client_secret,
        db,
        key: EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            EncodingKey::from_ec_pem(&std::fs::read(&args.key_file)?)?.as_bytes(),
        )
        .map_err(|e| anyhow::anyhow!("not a P-256 key: {e}"))?,
        header: URL_SAFE_NO_PAD.encode(serde_json::to_vec(&Header::new(Algorithm::ES256))?),
    });
    let app = Router::new()
        .route("/graphql", post(login))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
