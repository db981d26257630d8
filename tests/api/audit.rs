//! The security audit trail: each event written with its change (and never without it), the
//! failure budget under a storm, the member's own `securityActivity`, the operators' listing,
//! retention.

use futures::StreamExt;
use login_api::auth::records::MemberRef;
use login_api::domain::{Email, audit::AuditEvent};
use serde_json::{Value, json};

use crate::helpers::{ANNA, PASSWORD, TestApp, spawn_app, spawn_app_with};

pub const ACTIVITY: &str = "query($first: Int, $after: String) { securityActivity(first: $first, after: $after) {
    edges { cursor node { id type occurredAt outcome reason method deviceName ipNetwork sessionId thisSession provider sessionsEnded } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";

/// Every event stored, newest first.
pub async fn all_events(app: &TestApp) -> Vec<AuditEvent> {
    app.admin
        .audit_events(None, None, None, 10_000)
        .await
        .unwrap()
}

fn types(events: &[AuditEvent]) -> Vec<&'static str> {
    events.iter().map(|e| e.kind.as_str()).collect()
}

pub async fn activity(app: &TestApp, token: &str, variables: Value) -> Value {
    let response = app.gql(ACTIVITY, variables, Some(token)).await;
    assert_eq!(response.code(), None, "{}", response.body);
    response.data("securityActivity").clone()
}

fn access(login: &Value) -> &str {
    login["accessToken"].as_str().unwrap()
}

#[tokio::test]
async fn each_change_writes_its_event_with_who_how_and_from_where() {
    let app = spawn_app().await;
    let first = app.login_as(ANNA, Some("phone-1")).await;
    let second = app.login_as(ANNA, Some("tablet")).await;
    let events = all_events(&app).await;
    assert_eq!(types(&events), ["login.succeeded", "login.succeeded"]);
    let login = &events[1];
    assert_eq!(login.outcome.as_str(), "success");
    assert_eq!(login.method.unwrap().as_str(), "password");
    assert_eq!(
        login.user_id.unwrap().to_string(),
        first["user"]["id"].as_str().unwrap()
    );
    assert_eq!(
        login.session_id.unwrap().to_string(),
        first["session"]["id"].as_str().unwrap()
    );
    assert!(login.request_id.as_deref().is_some_and(|id| !id.is_empty()));
    assert_eq!(login.client_ip.unwrap().to_string(), "127.0.0.1");
    let device_hash = login.device_hash.as_deref().unwrap();
    assert_eq!(device_hash.len(), 64);
    assert!(!device_hash.contains("phone-1"), "the device id is hashed");
    assert_eq!(login.details.device_name.as_deref(), Some("Test phone"));

    // Log out of the others, then of this one; a refresh token reused after its grace.
    let others = app
        .gql(
            "mutation { logout(scope: OTHERS) }",
            json!({}),
            Some(access(&second)),
        )
        .await;
    assert_eq!(others.code(), None, "{}", others.body);
    let third = app.login_as(ANNA, Some("laptop")).await;
    let rotated = app.refresh(third["refreshToken"].as_str().unwrap()).await;
    assert_eq!(rotated.code(), None, "{}", rotated.body);
    app.clock.advance(chrono::Duration::seconds(120));
    let reused = app.refresh(third["refreshToken"].as_str().unwrap()).await;
    assert_eq!(
        reused.code(),
        Some("REFRESH_TOKEN_REUSED"),
        "{}",
        reused.body
    );
    let mine = app
        .gql(
            "mutation { logout(scope: CURRENT) }",
            json!({}),
            Some(access(&second)),
        )
        .await;
    assert_eq!(mine.code(), None, "{}", mine.body);

    let events = all_events(&app).await;
    assert_eq!(
        types(&events),
        [
            "logout",
            "token.reuse_detected",
            "login.succeeded",
            "session.revoked",
            "login.succeeded",
            "login.succeeded"
        ],
        "refreshes are not recorded by default"
    );
    assert_eq!(events[3].details.sessions, Some(1));
    assert_eq!(events[3].reason.as_deref(), Some("REVOKED"));
    assert_eq!(events[1].outcome.as_str(), "failure");
    assert_eq!(
        events[1].session_id.unwrap().to_string(),
        third["session"]["id"].as_str().unwrap()
    );
    // Ending sessions that have all ended already records nothing.
    let fourth = app.login_as(ANNA, Some("watch")).await;
    let none = app
        .gql(
            "mutation { logout(scope: OTHERS) }",
            json!({}),
            Some(access(&fourth)),
        )
        .await;
    assert_eq!(none.code(), None, "{}", none.body);
    assert_eq!(all_events(&app).await.len(), events.len() + 1);
}

#[tokio::test]
async fn failures_name_the_member_we_know_and_only_hash_identifiers_we_do_not() {
    let app = spawn_app().await;
    app.login_as(ANNA, None).await;
    let wrong = app.login(ANNA, "not-her-password", None).await;
    assert_eq!(wrong.code(), Some("INVALID_CREDENTIALS"));
    let unknown = app.login("nobody.at.all@example.org", PASSWORD, None).await;
    assert_eq!(unknown.code(), Some("INVALID_CREDENTIALS"));

    let events = all_events(&app).await;
    let failures: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.kind.as_str() == "login.failed")
        .collect();
    assert_eq!(failures.len(), 2);
    let (on_unknown, on_anna) = (failures[0], failures[1]);
    assert_eq!(on_anna.reason.as_deref(), Some("INVALID_CREDENTIALS"));
    assert!(on_anna.user_id.is_some() && on_anna.subject_hash.is_none());
    assert!(on_unknown.user_id.is_none());
    let hash = on_unknown.subject_hash.as_deref().unwrap();
    assert_eq!(hash.len(), 64);

    // Nothing in the table holds the email, in any column.
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT id, event_type, outcome, reason, method, device_hash, client_ip, \
             request_id, subject_hash, details, summary_key FROM auth_events",
        ))
        .await
        .unwrap();
    let text = |row: &sea_orm::QueryResult, column: &str| -> String {
        row.try_get::<Option<String>>("", column)
            .ok()
            .flatten()
            .unwrap_or_default()
    };
    let dump: String = rows
        .iter()
        .flat_map(|row| {
            [
                "event_type",
                "outcome",
                "reason",
                "method",
                "device_hash",
                "client_ip",
                "request_id",
                "subject_hash",
                "details",
                "summary_key",
            ]
            .map(|column| text(row, column))
        })
        .collect::<Vec<_>>()
        .join("|");
    assert!(
        dump.contains("INVALID_CREDENTIALS"),
        "the dump reads the columns: {dump}"
    );
    assert!(!dump.contains("nobody.at.all"), "{dump}");
    assert!(!dump.contains(PASSWORD) && !dump.contains("not-her-password"));

    // The operator finds the unknown email's failures by its hash.
    let listed = app
        .admin
        .audit_events(
            Some(&MemberRef::Email(
                Email::parse("Nobody.At.All@example.org").unwrap(),
            )),
            None,
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(types(&listed), ["login.failed"]);
    let annas = app
        .admin
        .audit_events(
            Some(&MemberRef::Email(Email::parse(ANNA).unwrap())),
            None,
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(types(&annas), ["login.failed", "login.succeeded"]);
}

#[tokio::test]
async fn a_change_that_cannot_write_its_event_does_not_happen() {
    let app = spawn_app().await;
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DROP TABLE auth_events")
        .await
        .unwrap();
    let response = app.login(ANNA, PASSWORD, Some("phone")).await;
    assert_eq!(
        response.code(),
        Some("INTERNAL_SERVER_ERROR"),
        "{}",
        response.body
    );
    assert_eq!(
        app.count("sessions").await,
        0,
        "no session without its event"
    );
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("outbox").await, 0);
}

#[tokio::test]
async fn an_event_written_before_its_change_failed_is_rolled_back_with_it() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("phone")).await;
    // The deletion writes its event and pseudonymises before it reaches the tombstone table.
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("DROP TABLE deleted_accounts")
        .await
        .unwrap();
    let failed = app
        .gql(
            "mutation { deleteAccount(input: {confirmation: \"DELETE\"}) { deletedAt } }",
            json!({}),
            Some(access(&login)),
        )
        .await;
    assert_eq!(
        failed.code(),
        Some("INTERNAL_SERVER_ERROR"),
        "{}",
        failed.body
    );
    let events = all_events(&app).await;
    assert_eq!(types(&events), ["login.succeeded"], "no account.deleted");
    assert!(events[0].user_id.is_some(), "not pseudonymised");
    assert_eq!(app.count("users").await, 1);
    let me = app
        .gql("{ me { id } }", json!({}), Some(access(&login)))
        .await;
    assert_eq!(me.code(), None, "the session lives on");
}

#[tokio::test]
async fn of_concurrent_refreshes_only_the_committed_rotation_is_recorded() {
    let app = spawn_app_with(|s| s.audit.record_refresh = true).await;
    let login = app.login_as(ANNA, Some("phone")).await;
    let token = login["refreshToken"].as_str().unwrap().to_owned();
    let answers: Vec<_> = futures::stream::iter(0..10)
        .map(|_| {
            let (app, token) = (&app, token.clone());
            async move { app.refresh(&token).await }
        })
        .buffer_unordered(10)
        .collect()
        .await;
    assert!(answers.iter().all(|r| r.code().is_none()));
    let refreshed = all_events(&app)
        .await
        .into_iter()
        .filter(|e| e.kind.as_str() == "token.refreshed")
        .count();
    assert_eq!(refreshed, 1, "one rotation committed, nine rolled back");
}

#[tokio::test]
async fn a_storm_of_a_thousand_failed_logins_from_one_address_writes_a_bounded_number_of_rows() {
    let app = spawn_app().await;
    let answers: Vec<Option<String>> = futures::stream::iter(0..1000)
        .map(|i| {
            let app = &app;
            async move {
                let response = app
                    .gql_from(
                        "198.51.100.7",
                        &crate::helpers::LOGIN,
                        json!({"input": {"email": format!("guess{i}@example.org"), "password": "wrong-guess-1"}}),
                    )
                    .await;
                response.code().map(str::to_owned)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        answers
            .iter()
            .all(|c| matches!(c.as_deref(), Some("INVALID_CREDENTIALS" | "RATE_LIMITED"))),
        "{answers:?}"
    );
    // Summaries are written a second after their first failure: every failure counted once.
    app.eventually("every failure to be counted", || async {
        all_events(&app).await.iter().map(|e| e.count).sum::<i64>() == 1000
    })
    .await;
    let events = all_events(&app).await;
    assert!(
        events.len() <= 2 * (20 + 1),
        "{} rows for one address: at most 20 per type and minute, plus a summary",
        events.len()
    );
    let summaries: Vec<&AuditEvent> = events
        .iter()
        .filter(|e| e.reason.as_deref() == Some("SUMMARY"))
        .collect();
    assert!(!summaries.is_empty());
    for summary in &summaries {
        assert!(summary.user_id.is_none() && summary.subject_hash.is_none());
        assert!(summary.details.window_start.is_some());
        assert!(summary.client_ip.is_none(), "a network, never one address");
        assert!(summary.details.network.is_some());
    }
    let counted: i64 = events.iter().map(|e| e.count).sum();
    assert_eq!(
        counted, 1000,
        "every failure is counted once, in a row or a summary"
    );
    let limited = answers
        .iter()
        .filter(|c| c.as_deref() == Some("RATE_LIMITED"))
        .count() as i64;
    let tripped: i64 = events
        .iter()
        .filter(|e| e.kind.as_str() == "rate_limit.tripped")
        .map(|e| e.count)
        .sum();
    assert_eq!(tripped, limited);
}

#[tokio::test]
async fn security_activity_shows_the_caller_only_their_own_events_page_by_page() {
    let app = spawn_app().await;
    let anna = app.login_as(ANNA, Some("phone")).await;
    app.login_as(ANNA, Some("tablet")).await;
    let wrong = app.login(ANNA, "not-her-password", None).await;
    assert_eq!(wrong.code(), Some("INVALID_CREDENTIALS"));
    let other = app.login_as("member1@example.org", Some("other")).await;
    app.login("member1@example.org", "nope-nope-1", None).await;

    let page = activity(&app, access(&anna), json!({})).await;
    let nodes: Vec<&Value> = page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    assert_eq!(
        nodes
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["LOGIN_FAILED", "LOGIN_SUCCEEDED", "LOGIN_SUCCEEDED"]
    );
    assert_eq!(nodes[0]["outcome"], "FAILURE");
    assert_eq!(nodes[0]["reason"], "INVALID_CREDENTIALS");
    assert_eq!(nodes[2]["method"], "PASSWORD");
    assert_eq!(nodes[2]["deviceName"], "Test phone");
    assert_eq!(nodes[2]["ipNetwork"], "127.0.0.0/24");
    assert_eq!(nodes[2]["thisSession"], true);
    assert_eq!(nodes[1]["thisSession"], false);
    assert_eq!(page["pageInfo"]["hasNextPage"], false);

    // Page by page, each event once.
    let first = activity(&app, access(&anna), json!({"first": 2})).await;
    assert_eq!(first["edges"].as_array().unwrap().len(), 2);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let rest = activity(
        &app,
        access(&anna),
        json!({"first": 2, "after": first["pageInfo"]["endCursor"]}),
    )
    .await;
    assert_eq!(rest["edges"].as_array().unwrap().len(), 1);
    assert_eq!(rest["edges"][0]["node"]["id"], nodes[2]["id"]);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    // The other member sees theirs, never Anna's.
    let theirs = activity(&app, access(&other), json!({})).await;
    assert_eq!(theirs["edges"].as_array().unwrap().len(), 2);

    for (variables, field) in [
        (json!({"first": 0}), "first"),
        (json!({"first": 101}), "first"),
        (json!({"first": -5}), "first"),
        (json!({"after": "not a cursor"}), "after"),
        (json!({"after": "x".repeat(10_000)}), "after"),
        (json!({"after": ""}), "after"),
    ] {
        let response = app
            .gql(ACTIVITY, variables.clone(), Some(access(&anna)))
            .await;
        assert_eq!(
            response.code(),
            Some("BAD_USER_INPUT"),
            "{variables}: {}",
            response.body
        );
        assert_eq!(response.error_extension("field"), field);
    }
    let anonymous = app.gql(ACTIVITY, json!({}), None).await;
    assert_eq!(anonymous.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn links_unlinks_and_phone_enrolments_are_recorded_too() {
    let app = spawn_app().await;
    let login = crate::social::anna_with_google(&app).await;
    crate::phone::enrolled(&app, "member2@example.org", crate::phone::ANNA_PHONE).await;
    let removed = app
        .gql(
            "mutation { unlinkSocialAccount(provider: GOOGLE) { id } }",
            json!({}),
            Some(access(&login)),
        )
        .await;
    assert_eq!(removed.code(), None, "{}", removed.body);
    let events = all_events(&app).await;
    let kinds = types(&events);
    for kind in [
        "account.linked",
        "account.unlinked",
        "phone.enrolled",
        "login.succeeded",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let linked = events
        .iter()
        .find(|e| e.kind.as_str() == "account.linked")
        .unwrap();
    assert_eq!(linked.details.provider.as_deref(), Some("google"));
    assert_eq!(linked.reason.as_deref(), Some("SESSION"));
}

#[tokio::test]
async fn events_past_the_retention_are_purged_in_batches() {
    let app = spawn_app().await;
    for device in ["a", "b", "c"] {
        app.login_as(ANNA, Some(device)).await;
    }
    app.clock.advance(chrono::Duration::days(60));
    app.login_as(ANNA, Some("d")).await;
    app.clock.advance(chrono::Duration::days(31));
    app.auth.purge_expired(1).await.unwrap();
    let left = all_events(&app).await;
    assert_eq!(
        types(&left),
        ["login.succeeded"],
        "the three old ones went, one per batch"
    );
}

#[tokio::test]
async fn the_hybris_breaker_opening_and_closing_are_recorded() {
    let app = spawn_app().await;
    app.sim.set_outage(true);
    for _ in 0..5 {
        app.login(ANNA, PASSWORD, None).await;
    }
    app.eventually("upstream.breaker_opened", || async {
        types(&all_events(&app).await).contains(&"upstream.breaker_opened")
    })
    .await;
    app.sim.set_outage(false);
    app.clock.advance(chrono::Duration::seconds(31));
    app.login_as(ANNA, None).await;
    app.eventually("upstream.breaker_closed", || async {
        types(&all_events(&app).await).contains(&"upstream.breaker_closed")
    })
    .await;
    let opened = all_events(&app)
        .await
        .into_iter()
        .find(|e| e.kind.as_str() == "upstream.breaker_opened")
        .unwrap();
    assert_eq!(opened.details.upstream.as_deref(), Some("hybris"));
    // Outages are not the members' failures.
    assert!(!types(&all_events(&app).await).contains(&"login.failed"));
}

#[tokio::test]
async fn an_unusable_request_id_is_replaced_and_never_breaks_the_write() {
    let app = spawn_app().await;
    for hostile in ["x".repeat(129), "two words".into(), "line\tbreak".into()] {
        let response = app
            .http
            .post(format!("{}/graphql", app.address))
            .header("x-request-id", hostile.as_str())
            .json(&json!({"query": *crate::helpers::LOGIN, "variables": {"input": {"email": ANNA, "password": PASSWORD}}}))
            .send()
            .await
            .unwrap();
        let given = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let body: Value = response.json().await.unwrap();
        assert!(body["errors"].is_null(), "{body}");
        assert_ne!(given, hostile);
        assert!(uuid::Uuid::parse_str(&given).is_ok(), "{given}");
        assert_eq!(
            all_events(&app).await[0].request_id.as_deref(),
            Some(given.as_str())
        );
    }
    // A usable one is kept, and recorded.
    let kept = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("x-request-id", "app-7f3a:retry.2")
        .json(&json!({"query": *crate::helpers::LOGIN, "variables": {"input": {"email": ANNA, "password": PASSWORD}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "app-7f3a:retry.2");
    assert_eq!(
        all_events(&app).await[0].request_id.as_deref(),
        Some("app-7f3a:retry.2")
    );
}
