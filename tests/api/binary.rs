//! The `login-api` binary itself: migrate, serve from environment variables, drain on SIGTERM.

use std::{
    process::{Command, Stdio},
    sync::Arc,
    time::Duration,
};

use login_api::sim::{self, SimControl};
use serde_json::json;

use crate::helpers::{ANNA, PASSWORD};

const BINARY: &str = env!("CARGO_BIN_EXE_login-api");

#[tokio::test]
async fn sigterm_lets_an_in_flight_login_finish_and_the_logs_hold_no_secret() {
    let control = Arc::new(SimControl::default());
    let sim_addr = sim::spawn(
        "127.0.0.1:0".parse().unwrap(),
        sim::SimConfig {
            users: sim::parse_users(sim::EXAMPLE_USERS).unwrap(),
            client_id: "bin-client".into(),
            client_secret: "bin-client-secret".into(),
            base_site: "rcc".into(),
        },
        control.clone(),
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join(format!("login-api-bin-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let database_url = format!("sqlite://{}/db.sqlite?mode=rwc", dir.display());
    let port = free_port();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("LISTEN_ADDR", &format!("127.0.0.1:{port}")),
        ("HYBRIS_BASE_URL", &format!("http://{sim_addr}")),
        ("HYBRIS_CLIENT_ID", "bin-client"),
        ("HYBRIS_CLIENT_SECRET", "bin-client-secret"),
        ("HYBRIS_BASE_SITE", "rcc"),
        ("RUST_LOG", "debug,sqlx=info,hyper=info,h2=info"),
    ];

    let migrate = Command::new(BINARY)
        .current_dir(&dir)
        .arg("migrate")
        .envs(env)
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let server = Command::new(BINARY)
        .current_dir(&dir)
        .arg("serve")
        .envs(env)
        .env("RUN_MIGRATIONS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;

    // Logins, a failure, a refresh and an authenticated query: the log must hold none of the
    // secrets they carry.
    let gql = |query: &'static str, variables: serde_json::Value, token: Option<String>| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let mut request = http
                .post(format!("{base}/graphql"))
                .json(&json!({"query": query, "variables": variables}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request
                .send()
                .await
                .unwrap()
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };
    const LOGIN: &str =
        "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }";
    gql(
        LOGIN,
        json!({"i": {"email": ANNA, "password": "Wr0ng-Secret-Guess"}}),
        None,
    )
    .await;
    let first = gql(
        LOGIN,
        json!({"i": {"email": ANNA, "password": PASSWORD}}),
        None,
    )
    .await;
    let first_refresh = first["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_access = first["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let refreshed = gql(
        "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken refreshToken } }",
        json!({"t": first_refresh}),
        None,
    )
    .await;
    let second_refresh = refreshed["data"]["refreshSession"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = gql("{ me { id } }", json!({}), Some(first_access.clone())).await;
    assert!(me["data"]["me"]["id"].is_string(), "{me}");

    control.set_latency(Duration::from_millis(800));
    let login = tokio::spawn({
        let http = http.clone();
        let base = base.clone();
        async move {
            http.post(format!("{base}/graphql"))
                .json(&json!({
                    "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken refreshToken } }",
                    "variables": {"i": {"email": ANNA, "password": PASSWORD}}
                }))
                .send()
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&server);

    let response = login
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let access_token = body["data"]["login"]["accessToken"]
        .as_str()
        .expect("the login completed")
        .to_owned();
    let refresh_token = body["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let output = tokio::task::spawn_blocking(move || server.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "exit status {:?}", output.status);
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(logs.contains("draining"), "{logs}");
    // Piped output is for a file or a collector: no terminal colour codes in it.
    assert!(
        !logs.contains('\u{1b}'),
        "ANSI escape codes in piped logs: {logs}"
    );
    assert!(
        logs.contains("login succeeded") && logs.contains("invalid credentials"),
        "{logs}"
    );
    for secret in [
        PASSWORD,
        "Wr0ng-Secret-Guess",
        "bin-client-secret",
        access_token.as_str(),
        refresh_token.as_str(),
        first_access.as_str(),
        first_refresh.as_str(),
        second_refresh.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    // Nor the signature part of a token or an Authorization header.
    assert!(!logs.to_lowercase().contains("authorization: bearer"));
    assert!(!logs.contains(first_access.rsplit('.').next().unwrap()));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn production_with_nothing_configured_refuses_to_start_on_stand_ins() {
    let output = Command::new(BINARY)
        .current_dir(std::env::temp_dir())
        .arg("serve")
        .env("APP_ENV", "production")
        .env_remove("HYBRIS_BASE_URL")
        .env_remove("JWT_PRIVATE_KEY_FILE")
        .env_remove("JWT_SECRET")
        .env_remove("ALGOLIA_APP_ID")
        .env_remove("ALGOLIA_API_KEY")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_EVENTBRIDGE")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for named in [
        "HYBRIS_BASE_URL",
        "JWT_PRIVATE_KEY_FILE",
        "ALGOLIA_APP_ID",
        "AWS_REGION",
    ] {
        assert!(stderr.contains(named), "{named}: {stderr}");
    }
}

#[test]
fn a_bad_setting_stops_the_binary_with_the_variable_named() {
    let output = Command::new(BINARY)
        .current_dir(std::env::temp_dir())
        .arg("serve")
        .env("JWT_ALGORITHM", "none")
        .env("HYBRIS_CLIENT_SECRET", "do-not-print-me")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("JWT_ALGORITHM"), "{stderr}");
    assert!(!stderr.contains("do-not-print-me"));
}

#[test]
fn print_schema_prints_the_committed_schema() {
    let output = Command::new(BINARY).arg("print-schema").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), committed);
}

#[tokio::test]
async fn with_an_otlp_endpoint_the_server_exports_spans_of_the_login_flow() {
    use std::sync::Mutex;

    let received: Arc<Mutex<Vec<u8>>> = Arc::default();
    let collector = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post({
            let received = received.clone();
            move |body: axum::body::Bytes| async move {
                received.lock().unwrap().extend_from_slice(&body);
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await });

    let dir = std::env::temp_dir().join(format!("login-api-otlp-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let server = Command::new(BINARY)
        .current_dir(&dir)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{collector_addr}"),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    let response = http
        .post(format!("{base}/graphql"))
        .json(&json!({
            "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            "variables": {"i": {"email": ANNA, "password": PASSWORD}}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&server);
    let status = tokio::task::spawn_blocking(move || {
        let mut server = server;
        server.wait()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(status.success());

    let spans = String::from_utf8_lossy(&received.lock().unwrap()).into_owned();
    for name in [
        "graphql.execute",
        "login",
        "hybris.token",
        "hybris.profile",
        "db.record_login",
    ] {
        assert!(spans.contains(name), "no {name:?} span was exported");
    }
    assert!(!spans.contains(PASSWORD), "a password reached the traces");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn json_logs_carry_the_request_id_that_the_response_returns() {
    let (dir, server, base) = serve_json_logs("json", &[]).await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{base}/graphql"))
        .header("x-request-id", "req-from-the-app-42")
        .json(&json!({
            "query": "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            "variables": {"i": {"email": ANNA, "password": PASSWORD}}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-from-the-app-42");
    sigterm(&server);
    let output = tokio::task::spawn_blocking(move || server.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);

    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let login_line = lines
        .iter()
        .find(|line| line["message"] == "login succeeded")
        .expect("the login is logged");
    assert!(
        login_line.to_string().contains("req-from-the-app-42"),
        "{login_line}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn short_lifetimes_outside_production_are_named_once_at_start_up() {
    let (dir, server, _) = serve_json_logs(
        "short",
        &[
            ("ACCESS_TOKEN_TTL_SECS", "5"),
            ("SESSION_IDLE_TIMEOUT_SECS", "20"),
        ],
    )
    .await;
    sigterm(&server);
    let output = tokio::task::spawn_blocking(move || server.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let warnings: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("below production's minimums"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stdout}");
    assert!(
        warnings[0].contains("ACCESS_TOKEN_TTL_SECS")
            && warnings[0].contains("SESSION_IDLE_TIMEOUT_SECS")
            && !warnings[0].contains("REFRESH_TOKEN_TTL_SECS"),
        "{}",
        warnings[0]
    );
    std::fs::remove_dir_all(dir).ok();
}

/// The binary serving in a folder of its own with JSON logs on a piped stdout, ready; returns
/// the folder, the process and its base URL.
async fn serve_json_logs(
    name: &str,
    vars: &[(&str, &str)],
) -> (std::path::PathBuf, std::process::Child, String) {
    let dir = std::env::temp_dir().join(format!("login-api-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let server = Command::new(BINARY)
        .current_dir(&dir)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("LOG_FORMAT", "json")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &base).await;
    (dir, server, base)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    for _ in 0..100 {
        let ready = http.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the server at {base} did not become ready");
}

fn sigterm(server: &std::process::Child) {
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
}

/// The production image and `bench/run` link with packed relative relocations (DT_RELR: 2 MiB
/// less idle RSS, BENCHMARKS.md). Plain `cargo build` does not, so that a developer's binary also
/// starts where glibc is older than 2.36.
#[test]
fn production_and_benchmark_builds_pack_relative_relocations() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["Dockerfile", "bench/run"] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            text.contains(r#"RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs""#),
            "{file} no longer packs relative relocations"
        );
    }
}
