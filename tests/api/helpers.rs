//! `spawn_app()`: a server, a simulator, a database and a clock, owned by one test.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, SubsecRound, Utc};
use login_api::{
    auth::{Auth, admin::Admin},
    config::Settings,
    ports::ManualClock,
    sim::{self, SimControl, SimUser, algolia::AlgoliaSim},
    startup::Application,
    store::Store,
};
use reqwest::{StatusCode, header::HeaderMap};
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const PASSWORD: &str = "Ride-2026!";
pub const ANNA: &str = "anna.rider@example.org";

pub const GOOGLE_CLIENT_ID: &str = "android-client.apps.googleusercontent.com";
pub const FACEBOOK_APP_ID: &str = "200000000000002";
pub const FACEBOOK_APP_SECRET: &str = "test-facebook-app-secret";

pub const ALGOLIA_APP_ID: &str = "TESTAPP";
pub const ALGOLIA_API_KEY: &str = "test-algolia-admin-key";
pub const USERS_INDEX: &str = "users";

pub struct TestApp {
    pub address: String,
    /// Two Algolia hosts: the main one and a fallback.
    pub algolia: [Arc<AlgoliaSim>; 2],
    pub http: reqwest::Client,
    pub clock: ManualClock,
    pub sim: Arc<SimControl>,
    pub auth: Arc<Auth>,
    /// The operators' use cases, on the app's database and clock.
    pub admin: Admin,
    /// The app's database, for looking at rows directly.
    pub store: Store,
    /// What the `log` SMS sender "sent".
    pub sms: login_api::sim::sms::SmsInbox,
    /// Google and Facebook, simulated: mints tokens, rotates keys, counts fetches.
    pub social: Arc<login_api::sim::social::SocialSim>,
    /// The social simulator's base URL.
    pub social_base: String,
    pub database: TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    /// `errors[0].extensions.code`, or `None` when there is no error.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn error_extension(&self, name: &str) -> &Value {
        &self.body["errors"][0]["extensions"][name]
    }

    pub fn data(&self, field: &str) -> &Value {
        &self.body["data"][field]
    }
}

/// Extra members for the tests, beside the shipped examples.
fn test_users(today: chrono::NaiveDate) -> Vec<SimUser> {
    let member =
        |uid: &str, customer_id: &str, start: chrono::NaiveDate, end: chrono::NaiveDate| SimUser {
            uid: uid.into(),
            customer_id: customer_id.into(),
            password: PASSWORD.into(),
            first_name: Some("Test".into()),
            last_name: Some(customer_id.into()),
            rcc_membership_number: Some(format!("RCC-{customer_id}")),
            rcc_member_ship_start_date: Some(format!("{start}T00:00:00+0000")),
            rcc_member_ship_end_date: Some(format!("{end}T00:00:00+0000")),
            rcc_chapter: None,
            deactivation_date: None,
            extra: Default::default(),
        };
    let mut users = vec![member(
        "zoe.endstoday@example.org",
        "t-ends-today",
        today - chrono::Days::new(300),
        today,
    )];
    for i in 0..5 {
        users.push(member(
            &format!("member{i}@example.org"),
            &format!("t-member-{i}"),
            today - chrono::Days::new(10),
            today + chrono::Days::new(365),
        ));
    }
    users
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts everything; `configure` may change any setting before the app is built.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(TestDatabase::create().await, configure).await
}

/// Like [`spawn_app_with`], on a database the test prepared (for example, one an earlier
/// release's migrations and rows are in).
pub async fn spawn_app_on(
    database: TestDatabase,
    configure: impl FnOnce(&mut Settings),
) -> TestApp {
    let start: DateTime<Utc> = Utc::now().trunc_subsecs(0);
    let clock = ManualClock::new(start);

    let mut users = sim::parse_users(sim::EXAMPLE_USERS).expect("example users parse");
    users.extend(test_users(start.date_naive()));
    let control = Arc::new(SimControl::default());
    let sim_addr = sim::spawn(
        "127.0.0.1:0".parse().unwrap(),
        sim::SimConfig {
            users,
            client_id: "test-client".into(),
            client_secret: "test-client-secret".into(),
            base_site: "rcc".into(),
        },
        control.clone(),
    )
    .await
    .expect("the simulator starts");

    let algolia = [
        AlgoliaSim::new(ALGOLIA_APP_ID, ALGOLIA_API_KEY),
        AlgoliaSim::new(ALGOLIA_APP_ID, ALGOLIA_API_KEY),
    ];
    let mut algolia_hosts = Vec::new();
    for host in &algolia {
        let addr = host
            .spawn("127.0.0.1:0".parse().unwrap())
            .await
            .expect("the Algolia simulator starts");
        algolia_hosts.push(reqwest::Url::parse(&format!("http://{addr}")).unwrap());
    }

    let social = login_api::sim::social::SocialSim::new(
        GOOGLE_CLIENT_ID,
        FACEBOOK_APP_ID,
        FACEBOOK_APP_SECRET,
    );
    let social_base = format!(
        "http://{}",
        social
            .spawn("127.0.0.1:0".parse().unwrap())
            .await
            .expect("the social simulator starts")
    );

    let mut settings = Settings::from_lookup(|_| None).expect("default settings");
    settings.social.google = Some(login_api::adapters::social::GoogleSettings {
        client_ids: vec![
            "ios-client.apps.googleusercontent.com".into(),
            GOOGLE_CLIENT_ID.into(),
        ],
        jwks_url: format!("{social_base}/google/oauth2/v3/certs")
            .parse()
            .unwrap(),
        allowed_hd: None,
    });
    settings.social.facebook = Some(login_api::adapters::social::FacebookSettings {
        app_id: FACEBOOK_APP_ID.into(),
        app_secret: FACEBOOK_APP_SECRET.into(),
        jwks_url: format!("{social_base}/facebook/.well-known/oauth/openid/jwks/")
            .parse()
            .unwrap(),
        graph_url: format!("{social_base}/facebook").parse().unwrap(),
        graph_version: "v21.0".into(),
    });
    settings.listen_addr = "127.0.0.1:0".parse().unwrap();
    settings.database_url = Some(database.url.clone());
    settings.hybris = Some(login_api::config::HybrisSettings {
        base_url: format!("http://{sim_addr}"),
        client_id: "test-client".into(),
        client_secret: SecretString::from("test-client-secret"),
        base_site: "rcc".into(),
    });
    settings.hybris_timeout = Duration::from_secs(3);
    settings.algolia = Some(login_api::config::AlgoliaSettings {
        app_id: ALGOLIA_APP_ID.into(),
        api_key: SecretString::from(ALGOLIA_API_KEY),
        users_index: USERS_INDEX.into(),
        hosts: algolia_hosts,
        timeout: Duration::from_millis(500),
    });
    settings.relay.poll_interval = Duration::from_millis(50);
    configure(&mut settings);

    let app = Application::build(settings, Arc::new(clock.clone()))
        .await
        .expect("the application builds");
    let address = format!("http://{}", app.local_addr());
    let auth = app.auth();
    let (admin, store, sms) = (app.admin(), app.store(), app.sms_inbox());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));

    TestApp {
        address,
        algolia,
        http: reqwest::Client::new(),
        clock,
        sim: control,
        auth,
        admin,
        store,
        sms,
        social,
        social_base,
        database,
        shutdown: Some(shutdown),
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl TestApp {
    /// Waits until `condition` holds. The deadline is generous (a busy 2-core machine and a
    /// slow peer such as moto must not fail a test); the condition decides, never the speed.
    pub async fn eventually<F, Fut>(&self, what: &str, mut condition: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.wait_until(what, || {
            let holds = condition();
            async move {
                if holds.await {
                    Ok(())
                } else {
                    Err("the condition does not hold yet".into())
                }
            }
        })
        .await
    }

    /// Like [`eventually`](Self::eventually), for a condition that can say what it still
    /// lacks: `check` answers `Err(what is missing)` until it holds, and the last answer is in
    /// the failure.
    pub async fn wait_until<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        const DEADLINE: Duration = Duration::from_secs(90);
        let started = std::time::Instant::now();
        let mut missing = String::new();
        while started.elapsed() < DEADLINE {
            match check().await {
                Ok(()) => return,
                Err(still) => missing = still,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("still waiting for {what} after {DEADLINE:?}: {missing}");
    }

    pub async fn post_graphql(&self, body: &Value, token: Option<&str>) -> Response {
        let mut request = self
            .http
            .post(format!("{}/graphql", self.address))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        Self::read(request).await
    }

    /// A GraphQL POST as it arrives through a proxy that saw the client at `client_ip`.
    pub async fn gql_from(&self, client_ip: &str, query: &str, variables: Value) -> Response {
        let request = self
            .http
            .post(format!("{}/graphql", self.address))
            .header("x-forwarded-for", client_ip)
            .json(&json!({"query": query, "variables": variables}));
        Self::read(request).await
    }

    async fn read(request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Response {
            status,
            headers,
            body,
        }
    }

    pub async fn gql(&self, query: &str, variables: Value, token: Option<&str>) -> Response {
        self.post_graphql(&json!({"query": query, "variables": variables}), token)
            .await
    }

    pub async fn login(&self, email: &str, password: &str, device_id: Option<&str>) -> Response {
        self.gql(
            &LOGIN,
            json!({"input": {"email": email, "password": password,
                   "device": {"deviceId": device_id, "deviceType": "IOS", "deviceName": "Test phone", "appVersion": "3.2.1"}}}),
            None,
        )
        .await
    }

    /// Logs in and returns the `login` payload, failing the test if it did not succeed.
    pub async fn login_as(&self, email: &str, device_id: Option<&str>) -> Value {
        let response = self.login(email, PASSWORD, device_id).await;
        assert_eq!(response.code(), None, "login failed: {}", response.body);
        response.data("login").clone()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.gql(&REFRESH, json!({"token": refresh_token}), None)
            .await
    }

    pub async fn count(&self, table: &str) -> i64 {
        let db = Database::connect(&self.database.url)
            .await
            .expect("connect");
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await
            .expect("count query")
            .expect("a row");
        let n: i64 = row.try_get("", "n").expect("a count");
        db.close().await.ok();
        n
    }
}

pub const PAYLOAD: &str = "accessToken tokenType expiresIn refreshToken refreshTokenExpiresIn
    session { id deviceType deviceName appVersion createdAt lastAccessedAt expiresAt current }
    user { id email firstName lastName createdAt updatedAt lastLoginAt
           membership { number startDate endDate chapter active } }";

pub static LOGIN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("mutation Login($input: LoginInput!) {{ login(input: $input) {{ {PAYLOAD} }} }}")
});

pub static REFRESH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "mutation Refresh($token: String!) {{ refreshSession(refreshToken: $token) {{ {PAYLOAD} }} }}"
    )
});

/// A database of the test's own, dropped with it.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    SqliteFile(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(admin_url) => {
                let name = format!("login_api_test_{}", uuid::Uuid::new_v4().simple());
                let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                    panic!("TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}")
                });
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                admin.close().await.ok();
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(&admin_url);
                Self {
                    url: format!("{base}/{name}"),
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
            None => {
                let dir = std::env::temp_dir().join("login-api-tests");
                std::fs::create_dir_all(&dir).expect("a temp folder");
                let file = dir.join(format!("{}.sqlite", uuid::Uuid::new_v4()));
                Self {
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    cleanup: Cleanup::SqliteFile(file),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(file) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside async; a short-lived runtime on its own thread does the I/O.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async {
                        if let Ok(admin) = Database::connect(&admin_url).await {
                            let _ = admin
                                .execute_unprepared(&format!(
                                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                ))
                                .await;
                            admin.close().await.ok();
                        }
                    });
                    Ok::<_, std::io::Error>(())
                })
                .join();
            }
        }
    }
}

/// The `detail`s of the outbox events of `detail_type`, oldest first.
pub async fn events_of(app: &TestApp, detail_type: &str) -> Vec<Value> {
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT payload FROM outbox WHERE sink = 'eventbridge'",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            serde_json::from_str::<Value>(&r.try_get::<String>("", "payload").unwrap()).unwrap()
        })
        .filter(|p| p["detailType"] == detail_type)
        .map(|p| p["detail"].clone())
        .collect()
}

/// Fails unless `detail` is valid against `events/<schema_file>`.
pub fn validate(schema_file: &str, detail: &Value) {
    let path = format!("{}/events/{schema_file}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(detail)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:?}\n{detail}");
}
