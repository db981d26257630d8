//! Abuse resistance: guessing limits, alias batching, query bombs, cross-site and GET requests.

use std::time::Duration;

use login_api::config::IpNetwork;
use serde_json::{Value, json};

use crate::helpers::{ANNA, LOGIN, PASSWORD, TestApp, spawn_app, spawn_app_with};

fn behind_proxy(s: &mut login_api::config::Settings) {
    s.http.trusted_proxies = vec![IpNetwork::parse("127.0.0.1").unwrap()];
}

fn login_vars(email: &str, password: &str, device_id: Option<&str>) -> Value {
    json!({"input": {"email": email, "password": password, "device": {"deviceId": device_id}}})
}

async fn login_from(
    app: &TestApp,
    ip: &str,
    email: &str,
    password: &str,
    device_id: Option<&str>,
) -> crate::helpers::Response {
    app.gql_from(ip, &LOGIN, login_vars(email, password, device_id))
        .await
}

/// Failed logins per account by default: HYBRIS_LOCKOUT_THRESHOLD (5) - 1, so that guesses
/// through us never lock a member out of the shop.
const ACCOUNT_ALLOWANCE: usize = 4;

fn assert_rate_limited(response: &crate::helpers::Response) {
    assert_eq!(response.code(), Some("RATE_LIMITED"), "{}", response.body);
    let retry_after = response.error_extension("retryAfter").as_u64().unwrap();
    assert!(retry_after > 0);
    assert_eq!(response.status, 429);
    assert_eq!(
        response.headers["retry-after"],
        retry_after.to_string().as_str()
    );
}

#[tokio::test]
async fn guesses_at_one_account_from_rotating_ips_reach_hybris_no_more_than_the_account_limit() {
    let app = spawn_app_with(behind_proxy).await;

    let mut refused = 0;
    for i in 0..100 {
        let ip = format!("198.51.{}.{}", i / 200, i % 200 + 1);
        let response = login_from(&app, &ip, ANNA, "wrong-password", None).await;
        match response.code() {
            Some("INVALID_CREDENTIALS") => {}
            Some("RATE_LIMITED") => {
                assert_rate_limited(&response);
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    assert_eq!(app.sim.token_requests(), ACCOUNT_ALLOWANCE);
    assert_eq!(refused, 100 - ACCOUNT_ALLOWANCE);
    assert!(
        !app.sim.is_locked_out("c-1001"),
        "the member can still use the shop"
    );
}

#[tokio::test]
async fn concurrent_guesses_cannot_slip_past_the_account_limit() {
    let app = spawn_app_with(behind_proxy).await;
    let guesses = (0..40).map(|i| {
        let ip = format!("203.0.113.{}", i + 1);
        let app = &app;
        async move { login_from(app, &ip, ANNA, "wrong-password", None).await }
    });
    futures::future::join_all(guesses).await;
    assert!(
        app.sim.token_requests() <= ACCOUNT_ALLOWANCE,
        "{}",
        app.sim.token_requests()
    );
    assert!(!app.sim.is_locked_out("c-1001"));
}

#[tokio::test]
async fn failures_from_one_ip_across_accounts_are_refused_past_the_ip_limit() {
    let app = spawn_app_with(behind_proxy).await;

    let mut refused = 0;
    for i in 0..100 {
        let response = login_from(
            &app,
            "192.0.2.44",
            &format!("victim{i}@example.org"),
            "Summer2026!",
            None,
        )
        .await;
        if response.code() == Some("RATE_LIMITED") {
            refused += 1;
        }
    }

    assert_eq!(refused, 50);
    assert_eq!(app.sim.token_requests(), 50);
    // Another address is not affected.
    let other = login_from(&app, "192.0.2.45", ANNA, PASSWORD, None).await;
    assert_eq!(other.code(), None, "{}", other.body);
}

#[tokio::test]
async fn a_member_keeps_logging_in_from_their_own_device_while_their_account_is_attacked() {
    let app = spawn_app_with(behind_proxy).await;
    let own = login_from(&app, "198.51.100.1", ANNA, PASSWORD, Some("annas-phone")).await;
    assert_eq!(own.code(), None);
    for i in 0..30 {
        login_from(
            &app,
            &format!("203.0.113.{}", i + 1),
            ANNA,
            "guess",
            Some(&format!("bot-{i}")),
        )
        .await;
    }

    let from_a_new_device =
        login_from(&app, "198.51.100.1", ANNA, PASSWORD, Some("new-phone")).await;
    assert_rate_limited(&from_a_new_device);
    let from_own_device =
        login_from(&app, "198.51.100.1", ANNA, PASSWORD, Some("annas-phone")).await;
    assert_eq!(from_own_device.code(), None, "{}", from_own_device.body);
}

#[tokio::test]
async fn a_successful_login_clears_the_account_failures_and_the_window_ends() {
    let app = spawn_app_with(behind_proxy).await;
    for _ in 0..ACCOUNT_ALLOWANCE - 1 {
        login_from(&app, "198.51.100.2", ANNA, "wrong", None).await;
    }
    assert_eq!(
        login_from(&app, "198.51.100.2", ANNA, PASSWORD, None)
            .await
            .code(),
        None
    );
    for _ in 0..ACCOUNT_ALLOWANCE {
        let response = login_from(&app, "198.51.100.2", ANNA, "wrong", None).await;
        assert_eq!(response.code(), Some("INVALID_CREDENTIALS"));
    }
    assert_rate_limited(&login_from(&app, "198.51.100.2", ANNA, PASSWORD, None).await);

    app.clock.advance(chrono::Duration::minutes(15));
    assert_eq!(
        login_from(&app, "198.51.100.2", ANNA, PASSWORD, None)
            .await
            .code(),
        None
    );
}

#[tokio::test]
async fn an_outage_does_not_count_as_a_failed_guess() {
    let app = spawn_app().await;
    app.sim.set_outage(true);
    for _ in 0..15 {
        assert_eq!(
            app.login(ANNA, PASSWORD, None).await.code(),
            Some("UPSTREAM_UNAVAILABLE")
        );
    }
    app.sim.set_outage(false);
    // The outage opened the Hybris circuit breaker: the next login probes once it half-opens.
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(app.login(ANNA, PASSWORD, None).await.code(), None);
}

#[tokio::test]
async fn limits_are_shared_between_two_instances_through_redis() {
    let prefix = format!("login-api-test:{}:", uuid::Uuid::new_v4().simple());
    let with_redis = |s: &mut login_api::config::Settings| {
        s.redis_url = Some("redis://127.0.0.1:6379".to_owned().into());
        s.redis_key_prefix = prefix.clone();
    };
    let first = spawn_app_with(with_redis).await;
    let second = spawn_app_with(with_redis).await;

    for _ in 0..ACCOUNT_ALLOWANCE / 2 {
        assert_eq!(
            first.login(ANNA, "wrong", None).await.code(),
            Some("INVALID_CREDENTIALS")
        );
        assert_eq!(
            second.login(ANNA, "wrong", None).await.code(),
            Some("INVALID_CREDENTIALS")
        );
    }

    assert_rate_limited(&first.login(ANNA, "wrong", None).await);
    assert_rate_limited(&second.login(ANNA, PASSWORD, None).await);
}

#[tokio::test]
async fn with_redis_down_the_limits_hold_in_memory_and_logins_work() {
    let app = spawn_app_with(|s| s.redis_url = Some("redis://127.0.0.1:1".to_owned().into())).await;

    assert_eq!(app.login(ANNA, PASSWORD, None).await.code(), None);
    for _ in 0..ACCOUNT_ALLOWANCE {
        assert_eq!(
            app.login(ANNA, "wrong", None).await.code(),
            Some("INVALID_CREDENTIALS")
        );
    }
    assert_rate_limited(&app.login(ANNA, "wrong", None).await);
}

#[tokio::test]
async fn failed_refreshes_from_one_ip_are_limited() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.limits.refresh_ip.max = 5;
    })
    .await;
    let login = app.login_as(ANNA, None).await;
    const REFRESH: &str =
        "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }";
    for _ in 0..5 {
        let response = app
            .gql_from("198.51.100.9", REFRESH, json!({"t": "not-a-token"}))
            .await;
        assert_eq!(response.code(), Some("INVALID_REFRESH_TOKEN"));
    }
    assert_rate_limited(
        &app.gql_from("198.51.100.9", REFRESH, json!({"t": login["refreshToken"]}))
            .await,
    );
    let elsewhere = app
        .gql_from(
            "198.51.100.10",
            REFRESH,
            json!({"t": login["refreshToken"]}),
        )
        .await;
    assert_eq!(elsewhere.code(), None, "{}", elsewhere.body);
}

fn aliased_logins(n: usize) -> String {
    let fields: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"l{i}: login(input: {{email: "{ANNA}", password: "guess{i}"}}) {{ accessToken }}"#
            )
        })
        .collect();
    format!("mutation {{ {} }}", fields.join(" "))
}

#[tokio::test]
async fn fifty_aliased_logins_in_one_request_reach_hybris_not_at_all() {
    let app = spawn_app().await;
    let response = app.gql(&aliased_logins(50), json!({}), None).await;
    assert_eq!(response.code(), Some("BAD_USER_INPUT"));
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("aliases")
    );
    assert_eq!(app.sim.token_requests(), 0);
}

#[tokio::test]
async fn aliased_logins_within_the_alias_limit_make_one_attempt() {
    let app = spawn_app().await;
    let response = app.gql(&aliased_logins(10), json!({}), None).await;
    assert_eq!(app.sim.token_requests(), 1);
    let codes: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| **c == "BAD_USER_INPUT").count(),
        9,
        "{codes:?}"
    );
}

#[tokio::test]
async fn deep_and_wide_documents_are_refused_with_a_code() {
    let app = spawn_app().await;
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(25),
        "} ".repeat(25)
    );
    let response = app.gql(&deep, json!({}), None).await;
    assert_eq!(response.code(), Some("BAD_USER_INPUT"), "{}", response.body);
    assert!(response.body["data"].is_null());

    let wide = format!(
        "{{ {} }}",
        (0..11).map(|_| "__typename").collect::<Vec<_>>().join(" ")
    );
    let response = app.gql(&wide, json!({}), None).await;
    assert_eq!(response.code(), Some("BAD_USER_INPUT"));
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("root fields")
    );
}

/// Validation is skipped only for a variable-free document that has run before: an invalid
/// document is refused on every request, and one with variables is checked against each
/// request's values.
#[tokio::test]
async fn a_document_is_validated_in_full_until_it_has_run_and_variables_every_time() {
    let app = spawn_app().await;
    for attempt in 0..3 {
        let response = app.gql("{ me { id noSuchField } }", json!({}), None).await;
        assert_eq!(
            response.code(),
            Some("BAD_USER_INPUT"),
            "attempt {attempt}: {}",
            response.body
        );
        assert!(response.body["data"].is_null());
    }
    for attempt in 0..3 {
        // Runs (and fails at its field): from the second request on under the fast mode.
        let response = app.gql("{ me { id } }", json!({}), None).await;
        assert_eq!(
            response.code(),
            Some("UNAUTHENTICATED"),
            "attempt {attempt}: {}",
            response.body
        );
        assert_eq!(response.body["errors"][0]["path"], json!(["me"]));
    }
    let refresh = "mutation($t: String!) { refreshSession(refreshToken: $t) { accessToken } }";
    let ran = app.gql(refresh, json!({"t": "not-a-token"}), None).await;
    assert_eq!(
        ran.body["errors"][0]["path"],
        json!(["refreshSession"]),
        "{}",
        ran.body
    );
    for attempt in 0..2 {
        let response = app.gql(refresh, json!({"t": 42}), None).await;
        assert_eq!(
            response.code(),
            Some("BAD_USER_INPUT"),
            "attempt {attempt}: {}",
            response.body
        );
        assert!(
            response.body["errors"][0]["path"].is_null(),
            "{}",
            response.body
        );
    }
}

#[tokio::test]
async fn graphiql_s_own_introspection_query_fits_within_the_limits() {
    let app = spawn_app().await;
    let response = app.gql(INTROSPECTION, json!({}), None).await;
    assert!(response.body["errors"].is_null(), "{}", response.body);
    assert!(response.body["data"]["__schema"]["types"].is_array());
}

#[tokio::test]
async fn production_turns_off_introspection_and_graphiql() {
    let app = spawn_app_with(|s| {
        s.http.introspection = false;
        s.http.graphiql = false;
    })
    .await;
    let response = app
        .gql("{ __schema { queryType { name } } }", json!({}), None)
        .await;
    assert!(
        response.body["data"]["__schema"].is_null(),
        "{}",
        response.body
    );
    let page = app
        .http
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    // Operations still work.
    assert_eq!(app.login(ANNA, PASSWORD, None).await.code(), None);
}

#[tokio::test]
async fn get_never_executes_an_operation() {
    let app = spawn_app().await;
    let url = format!(
        "{}/graphql?query=mutation%7Blogin(input%3A%7Bemail%3A%22{ANNA}%22%2Cpassword%3A%22{PASSWORD}%22%7D)%7BaccessToken%7D%7D",
        app.address
    );
    let response = app.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "METHOD_NOT_ALLOWED"
    );
    assert_eq!(app.sim.token_requests(), 0);
}

#[tokio::test]
async fn cors_is_closed_by_default_and_open_only_to_listed_origins() {
    let closed = spawn_app().await;
    let preflight = |app: &TestApp, origin: &str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };
    let response = preflight(&closed, "https://evil.example").await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let open =
        spawn_app_with(|s| s.http.cors_allowed_origins = vec!["https://app.example.org".into()])
            .await;
    let allowed = preflight(&open, "https://app.example.org").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );
    let other = preflight(&open, "https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_graphiql_page_carries_a_strict_csp_and_security_headers() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

#[tokio::test]
async fn a_slow_hybris_is_cut_by_the_request_timeout_with_a_clear_status() {
    let app = spawn_app_with(|s| {
        s.http.request_timeout = Duration::from_millis(300);
        s.hybris_timeout = Duration::from_secs(5);
    })
    .await;
    app.sim.set_latency(Duration::from_secs(2));
    let response = app.login(ANNA, PASSWORD, None).await;
    assert_eq!(response.status, 408);
    assert_eq!(
        response.code(),
        Some("REQUEST_TIMEOUT"),
        "{}",
        response.body
    );
}

/// graphql-js' `getIntrospectionQuery()`, as GraphiQL sends it.
const INTROSPECTION: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}"#;

#[tokio::test]
async fn with_introspection_off_no_error_names_a_field_the_query_did_not_send() {
    let app = spawn_app_with(|s| s.http.introspection = false).await;
    // Near misses of real names, which validation would otherwise answer with "Did you mean …?".
    for (query, sent) in [
        ("{ mee { id } }", "mee"),
        ("{ sesions { id } }", "sesions"),
        ("mutation { logn(input: {}) { accessToken } }", "logn"),
        (
            "mutation { refreshSesion(refreshToken: \"x\") { accessToken } }",
            "refreshSesion",
        ),
        ("{ me { emial } }", "emial"),
    ] {
        let response = app.gql(query, json!({}), None).await;
        let text = response.body["errors"].to_string();
        assert!(text.contains(sent), "{text}");
        for real in [
            "\"me\"",
            "sessions",
            "login",
            "refreshSession",
            "email",
            "Did you mean",
        ] {
            assert!(
                !text.contains(real),
                "{query}: the error names {real}: {text}"
            );
        }
    }
}

#[tokio::test]
async fn twenty_concurrent_correct_logins_of_one_account_all_succeed() {
    let app = spawn_app().await;
    let devices: Vec<String> = (0..20).map(|i| format!("device-{i}")).collect();
    let logins = devices.iter().map(|d| app.login(ANNA, PASSWORD, Some(d)));
    for response in futures::future::join_all(logins).await {
        assert_eq!(response.code(), None, "{}", response.body);
    }
    assert_eq!(app.count("sessions").await, 20);
}

#[tokio::test]
async fn twenty_concurrent_wrong_passwords_reach_hybris_exactly_the_allowance() {
    let app = spawn_app().await;
    let guesses = (0..20).map(|_| app.login(ANNA, "wrong-password", None));
    let responses = futures::future::join_all(guesses).await;
    let refused = responses
        .iter()
        .filter(|r| r.code() == Some("RATE_LIMITED"))
        .count();
    assert_eq!(app.sim.token_requests(), ACCOUNT_ALLOWANCE);
    assert_eq!(refused, 20 - ACCOUNT_ALLOWANCE);
    assert!(!app.sim.is_locked_out("c-1001"));
}

#[tokio::test]
async fn a_password_tried_in_two_forms_counts_twice_against_the_lockout() {
    let app = spawn_app_with(behind_proxy).await;
    // `&` makes Hybris see two wrong logins per attempt: stripped, then as typed.
    for i in 0..ACCOUNT_ALLOWANCE / 2 {
        let response = login_from(&app, "198.51.100.9", ANNA, "wrong&guess", None).await;
        assert_eq!(response.code(), Some("INVALID_CREDENTIALS"), "attempt {i}");
    }
    assert_eq!(app.sim.token_requests(), ACCOUNT_ALLOWANCE);
    assert_rate_limited(&login_from(&app, "198.51.100.9", ANNA, "wrong&guess", None).await);
    assert!(!app.sim.is_locked_out("c-1001"));
}

#[tokio::test]
async fn hybris_disables_a_customer_after_five_failures_as_sap_commerce_does() {
    // Without our limit in front (raised past the lockout), Hybris itself locks the member out.
    let app = spawn_app_with(|s| s.limits.account.max = 100).await;
    for _ in 0..5 {
        app.login(ANNA, "wrong", None).await;
    }
    assert!(app.sim.is_locked_out("c-1001"));
    assert_eq!(
        app.login(ANNA, PASSWORD, None).await.code(),
        Some("INVALID_CREDENTIALS"),
        "a disabled customer is answered exactly like a wrong password"
    );
}

#[tokio::test]
async fn an_attempt_cut_off_by_the_request_timeout_frees_its_place_and_counts_as_a_failure() {
    let app = spawn_app_with(|s| {
        s.http.request_timeout = std::time::Duration::from_millis(200);
        s.hybris_timeout = std::time::Duration::from_secs(5);
        // Long enough that a stuck place would hold the next attempt far past the client's
        // patience below.
        s.limits.in_flight_wait = std::time::Duration::from_secs(120);
    })
    .await;
    app.sim.set_latency(std::time::Duration::from_millis(400));
    for _ in 0..ACCOUNT_ALLOWANCE {
        assert_eq!(app.login(ANNA, "wrong", None).await.status, 408);
    }
    app.sim.set_latency(std::time::Duration::ZERO);
    // The cut-off attempts may have failed at Hybris: they count. Their places are free, so the
    // refusal comes at once instead of after `in_flight_wait`.
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .timeout(std::time::Duration::from_secs(20))
        .json(&json!({"query": *LOGIN, "variables": login_vars(ANNA, "wrong", None)}))
        .send()
        .await
        .expect("answered well before in_flight_wait");
    assert_eq!(response.status(), 429);
}

#[tokio::test]
async fn redis_and_memory_counters_agree_that_a_count_never_goes_below_zero() {
    use login_api::adapters::rate_counter::{MemoryCounter, RedisCounter};
    use login_api::ports::{ManualClock, RateCounter};
    let prefix = format!("login-api-test:{}:", uuid::Uuid::new_v4().simple());
    let redis = RedisCounter::new("redis://127.0.0.1:6379", prefix.clone()).unwrap();
    let memory = MemoryCounter::new(std::sync::Arc::new(ManualClock::new(chrono::Utc::now())));
    let window = std::time::Duration::from_secs(60);
    for counter in [&redis as &dyn RateCounter, &memory] {
        // A count given back after its window was reset (or never taken)…
        assert_eq!(counter.add("k", -1, window).await.unwrap().count, 0);
        // …does not make room for an extra attempt later.
        assert_eq!(counter.add("k", 1, window).await.unwrap().count, 1);
        assert_eq!(counter.add("k", 2, window).await.unwrap().count, 3);
        // A check of an absent key opens no window (and stores nothing).
        assert_eq!(counter.add("checked", 0, window).await.unwrap().count, 0);
    }
    let mut connection = redis::Client::open("redis://127.0.0.1:6379")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stored: bool = redis::cmd("EXISTS")
        .arg(format!("{prefix}checked"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!stored, "a check stored a key in Redis");
}

#[tokio::test]
async fn a_form_refused_before_an_outage_still_counts_against_the_lockout() {
    let app = spawn_app_with(behind_proxy).await;
    // `wrong&guess` is tried twice: the stripped form is refused, then Hybris fails.
    app.sim.fail_token_request(2);
    let response = login_from(&app, "198.51.100.7", ANNA, "wrong&guess", None).await;
    assert_eq!(response.code(), Some("UPSTREAM_UNAVAILABLE"));
    // One failure is on record: three more single-form guesses, then the limit.
    for _ in 0..ACCOUNT_ALLOWANCE - 1 {
        let response = login_from(&app, "198.51.100.7", ANNA, "wrong", None).await;
        assert_eq!(response.code(), Some("INVALID_CREDENTIALS"));
    }
    assert_rate_limited(&login_from(&app, "198.51.100.7", ANNA, "wrong", None).await);
    assert!(!app.sim.is_locked_out("c-1001"));
}
