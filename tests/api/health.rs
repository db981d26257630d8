//! Health, readiness and the JWK Set endpoint.

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_ok_when_the_database_is_reachable() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn graphiql_is_served_on_get_with_every_asset_from_this_server() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    let page = response.text().await.unwrap();
    let sources: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.ends_with(".js") || part.ends_with(".css"))
        .collect();
    assert_eq!(sources.len(), 5, "{page}");
    for source in sources {
        assert!(
            source.starts_with("/graphiql/"),
            "{source} is not served by us"
        );
        let asset = app
            .http
            .get(format!("{}{source}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(asset.status(), 200, "{source}");
        let content_type = asset.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            content_type.starts_with("text/javascript") || content_type.starts_with("text/css")
        );
        assert!(
            asset.bytes().await.unwrap().len() > 100,
            "{source} is empty"
        );
    }
    let init = app
        .http
        .get(format!("{}/graphiql/init.js", app.address))
        .send()
        .await
        .unwrap();
    assert!(
        init.text()
            .await
            .unwrap()
            .contains("anna.rider@example.org")
    );
    let missing = app
        .http
        .get(format!("{}/graphiql/nope.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn responses_follow_graphql_over_http_media_types() {
    let app = spawn_app().await;
    let post = |accept: &'static str, query: &'static str| {
        app.http
            .post(format!("{}/graphql", app.address))
            .header("accept", accept)
            .json(&serde_json::json!({"query": query}))
            .send()
    };
    let json = post("application/json", "{ __typename }").await.unwrap();
    assert_eq!(json.status(), 200);
    assert_eq!(json.headers()["content-type"], "application/json");

    let ok = post("application/graphql-response+json", "{ __typename }")
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["content-type"],
        "application/graphql-response+json"
    );

    let broken = post("application/graphql-response+json", "{ __typename ")
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);
    let body: serde_json::Value = broken.json().await.unwrap();
    assert!(body.get("data").is_none(), "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");

    let legacy = post("application/json", "{ __typename ").await.unwrap();
    assert_eq!(legacy.status(), 200);
}

#[tokio::test]
async fn oversized_and_malformed_bodies_are_refused_with_a_4xx_and_change_nothing() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.address);
    let huge = format!(r#"{{"query":"{}"}}"#, "a".repeat(10 * 1024 * 1024));
    let login = r#"{"query":"mutation { login(input:{email:\"anna.rider@example.org\", password:\"Ride-2026!\"}) { accessToken } }"}"#;
    for (body, content_type, status) in [
        (huge, "application/json", 413),
        ("{not json".to_owned(), "application/json", 400),
        (r#"{"query": 42}"#.to_owned(), "application/json", 400),
        (format!("[{login},{login}]"), "application/json", 400),
        (login.to_owned(), "text/plain", 415),
        (login.to_owned(), "application/x-www-form-urlencoded", 415),
    ] {
        let response = app
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{content_type}");
    }
    let invalid_utf8 = app
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(invalid_utf8.status(), 400);
    let body: serde_json::Value = invalid_utf8.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.sim.token_requests(), 0);
}

#[tokio::test]
async fn syntax_and_validation_errors_carry_a_code() {
    let app = spawn_app().await;
    for query in [
        "{ me { id ",
        "{ nope }",
        "mutation { login(input: {email: 1}) { accessToken } }",
    ] {
        let response = app.gql(query, serde_json::json!({}), None).await;
        assert_eq!(
            response.code(),
            Some("BAD_USER_INPUT"),
            "{query}: {}",
            response.body
        );
    }
    let wrong_variable = app
        .gql(
            &crate::helpers::LOGIN,
            serde_json::json!({"input": "not an object"}),
            None,
        )
        .await;
    assert_eq!(wrong_variable.code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn every_error_the_framework_answers_is_json_with_a_code() {
    let app = spawn_app().await;
    let url = |path: &str| format!("{}{path}", app.address);
    let huge = format!(r#"{{"query":"{}"}}"#, "a".repeat(200 * 1024));
    let cases = [
        (app.http.get(url("/")), 404, "NOT_FOUND"),
        (app.http.get(url("/no/such/path")), 404, "NOT_FOUND"),
        (app.http.put(url("/graphql")), 405, "METHOD_NOT_ALLOWED"),
        (app.http.delete(url("/healthz")), 405, "METHOD_NOT_ALLOWED"),
        (
            app.http
                .post(url("/graphql"))
                .header("content-type", "application/json")
                .body(huge),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{code}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{code}"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], code, "{body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

#[tokio::test]
async fn response_fields_come_in_the_order_the_query_asked_for() {
    let app = spawn_app().await;
    let login = app.login_as(crate::helpers::ANNA, None).await;
    let token = login["accessToken"].as_str().unwrap();
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&serde_json::json!({"query": "{ me { lastName membership { number active endDate } email id } }"}))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let at = |field: &str| {
        text.find(&format!("\"{field}\""))
            .unwrap_or_else(|| panic!("{field} in {text}"))
    };
    // The GraphQL spec's serialized-map ordering: as in the selection set, not alphabetical.
    assert!(at("lastName") < at("membership"), "{text}");
    assert!(
        at("number") < at("active") && at("active") < at("endDate"),
        "{text}"
    );
    assert!(
        at("membership") < at("email") && at("email") < at("id"),
        "{text}"
    );
}

/// PostgreSQL: pooled connections that the server closed while they sat idle (a restart, an
/// idle timeout, a proxy) are found out by the ping before checkout (`PING_IF_IDLE_FOR`)
/// and replaced, so the next requests succeed. SQLite has no server to close them.
#[tokio::test]
async fn connections_closed_by_the_database_while_idle_are_replaced_unnoticed() {
    use sea_orm::ConnectionTrait;
    // The relay idle meanwhile: its polls would otherwise meet the closed connections first.
    let app = crate::helpers::spawn_app_with(|settings| {
        settings.relay.poll_interval = std::time::Duration::from_secs(60);
    })
    .await;
    let logins = [
        app.login_as(crate::helpers::ANNA, Some("one")).await,
        app.login_as(crate::helpers::ANNA, Some("two")).await,
        app.login_as(crate::helpers::ANNA, Some("three")).await,
    ];
    if app.store.can_listen() {
        let admin = sea_orm::Database::connect(&app.database.url).await.unwrap();
        let closed: i64 = admin
            .query_one_raw(sea_orm::Statement::from_string(
                admin.get_database_backend(),
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS closed \
                 FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                   AND backend_type = 'client backend' \
                   AND application_name NOT LIKE 'login-api read cache%'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get("", "closed")
            .unwrap();
        assert!(closed > 0, "the app's pooled connections were closed");
        admin.close().await.unwrap();
    }
    tokio::time::sleep(login_api::store::PING_IF_IDLE_FOR + std::time::Duration::from_millis(200))
        .await;

    let refreshes = logins
        .iter()
        .map(|login| app.refresh(login["refreshToken"].as_str().unwrap()));
    for response in futures::future::join_all(refreshes).await {
        assert_eq!(response.code(), None, "{}", response.body);
    }
}

/// PostgreSQL: a request cut off while its statement waits (here on a row lock another
/// transaction holds) never hands that connection to the next request, which would otherwise
/// queue behind the stuck statement: the refresh's connection pool closes a connection whose
/// statement did not finish (`store::connections`). SQLite has no row locks to wait on.
#[tokio::test]
async fn a_statement_cut_off_by_the_request_timeout_does_not_hold_up_the_next_request() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = crate::helpers::spawn_app_with(|settings| {
        // Under `PING_IF_IDLE_FOR`, so that the stuck connection, were it given back, would be
        // handed out again without the ping (which would find it out); long enough for a login
        // and for the next refresh to open a connection.
        settings.http.request_timeout = std::time::Duration::from_millis(400);
    })
    .await;
    assert!(std::time::Duration::from_millis(400) < login_api::store::PING_IF_IDLE_FOR);
    let stuck = app.login_as(crate::helpers::ANNA, Some("one")).await;
    let next = app.login_as(crate::helpers::ANNA, Some("two")).await;
    let token = |login: &serde_json::Value| login["refreshToken"].as_str().unwrap().to_owned();
    if !app.store.can_listen() {
        assert_eq!(app.refresh(&token(&next)).await.code(), None);
        return;
    }
    let admin = sea_orm::Database::connect(&app.database.url).await.unwrap();
    let lock = admin.begin().await.unwrap();
    lock.execute_unprepared(
        "SELECT 1 FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         WHERE s.device_id = 'one' AND t.used_at IS NULL FOR UPDATE OF t",
    )
    .await
    .unwrap();

    let cut = app.refresh(&token(&stuck)).await;
    assert_eq!(cut.code(), Some("REQUEST_TIMEOUT"), "{}", cut.body);
    // The stuck statement still waits for the lock: the next refresh must not wait behind it.
    let response = app.refresh(&token(&next)).await;
    assert_eq!(response.code(), None, "{}", response.body);

    lock.rollback().await.unwrap();
    admin.close().await.unwrap();
}
