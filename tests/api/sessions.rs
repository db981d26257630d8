//! Listing sessions, logging out and revoking.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{ANNA, spawn_app};

const SESSIONS: &str = "{ sessions { id current deviceName createdAt } }";

async fn session_ids(app: &crate::helpers::TestApp, access_token: &str) -> Vec<Value> {
    let response = app.gql(SESSIONS, json!({}), Some(access_token)).await;
    assert_eq!(response.code(), None, "{}", response.body);
    response
        .data("sessions")
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect()
}

fn access(payload: &Value) -> &str {
    payload["accessToken"].as_str().unwrap()
}

#[tokio::test]
async fn sessions_lists_one_live_session_per_device_newest_first_marking_the_current_one() {
    let app = spawn_app().await;
    let phone = app.login_as(ANNA, Some("phone")).await;
    app.clock.advance(Duration::minutes(1));
    let tablet = app.login_as(ANNA, Some("tablet")).await;

    let response = app.gql(SESSIONS, json!({}), Some(access(&phone))).await;

    let sessions = response.data("sessions").as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["id"], tablet["session"]["id"]);
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["id"], phone["session"]["id"]);
    assert_eq!(sessions[1]["current"], true);

    let current = app
        .gql(
            "{ currentSession { id current } }",
            json!({}),
            Some(access(&tablet)),
        )
        .await;
    assert_eq!(
        current.data("currentSession")["id"],
        tablet["session"]["id"]
    );
}

#[tokio::test]
async fn logout_current_ends_only_this_session() {
    let app = spawn_app().await;
    let phone = app.login_as(ANNA, Some("phone")).await;
    let tablet = app.login_as(ANNA, Some("tablet")).await;

    let response = app
        .gql(
            "mutation { logout(scope: CURRENT) }",
            json!({}),
            Some(access(&phone)),
        )
        .await;

    assert_eq!(response.data("logout"), true);
    assert_eq!(
        session_ids(&app, access(&tablet)).await,
        vec![tablet["session"]["id"].clone()]
    );
    assert_eq!(
        app.refresh(phone["refreshToken"].as_str().unwrap())
            .await
            .code(),
        Some("INVALID_REFRESH_TOKEN")
    );
}

#[tokio::test]
async fn logout_others_keeps_only_this_session() {
    let app = spawn_app().await;
    let phone = app.login_as(ANNA, Some("phone")).await;
    let tablet = app.login_as(ANNA, Some("tablet")).await;
    let web = app.login_as(ANNA, Some("web")).await;

    app.gql(
        "mutation { logout(scope: OTHERS) }",
        json!({}),
        Some(access(&phone)),
    )
    .await;

    assert_eq!(
        session_ids(&app, access(&phone)).await,
        vec![phone["session"]["id"].clone()]
    );
    for other in [&tablet, &web] {
        let me = app
            .gql("{ me { id } }", json!({}), Some(access(other)))
            .await;
        assert_eq!(me.status, 401);
    }
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_and_no_one_elses() {
    let app = spawn_app().await;
    let phone = app.login_as(ANNA, Some("phone")).await;
    let tablet = app.login_as(ANNA, Some("tablet")).await;
    let someone_else = app.login_as("member1@example.org", Some("phone")).await;

    app.gql(
        "mutation { logout(scope: ALL) }",
        json!({}),
        Some(access(&phone)),
    )
    .await;

    for ended in [&phone, &tablet] {
        assert_eq!(
            app.gql("{ me { id } }", json!({}), Some(access(ended)))
                .await
                .status,
            401
        );
    }
    assert_eq!(
        app.gql("{ me { id } }", json!({}), Some(access(&someone_else)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn revoke_session_ends_an_own_session_and_refuses_others_without_revealing_them() {
    let app = spawn_app().await;
    let phone = app.login_as(ANNA, Some("phone")).await;
    let tablet = app.login_as(ANNA, Some("tablet")).await;
    let someone_else = app.login_as("member1@example.org", None).await;
    const REVOKE: &str = "mutation Revoke($id: ID!) { revokeSession(id: $id) }";

    let own = app
        .gql(
            REVOKE,
            json!({"id": tablet["session"]["id"]}),
            Some(access(&phone)),
        )
        .await;
    assert_eq!(own.data("revokeSession"), true);
    assert_eq!(
        app.gql("{ me { id } }", json!({}), Some(access(&tablet)))
            .await
            .status,
        401
    );

    for id in [
        someone_else["session"]["id"].clone(),
        json!(uuid::Uuid::new_v4().to_string()),
        json!("not-a-uuid"),
        tablet["session"]["id"].clone(),
    ] {
        let response = app
            .gql(REVOKE, json!({"id": id}), Some(access(&phone)))
            .await;
        assert_eq!(response.code(), Some("SESSION_NOT_FOUND"), "{id}");
    }
    assert_eq!(
        app.gql("{ me { id } }", json!({}), Some(access(&someone_else)))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn session_fields_need_a_token() {
    let app = spawn_app().await;
    for query in [
        SESSIONS,
        "{ currentSession { id } }",
        "mutation { logout }",
        r#"mutation { revokeSession(id: "x") }"#,
    ] {
        let response = app.gql(query, json!({}), None).await;
        assert_eq!(response.code(), Some("UNAUTHENTICATED"), "{query}");
    }
}

#[tokio::test]
async fn the_purge_removes_ended_sessions_and_expired_tokens_and_keeps_live_ones() {
    let app = spawn_app().await;
    let ended = app.login_as(ANNA, Some("phone")).await;
    app.gql("mutation { logout }", json!({}), Some(access(&ended)))
        .await;
    let live = app.login_as(ANNA, Some("tablet")).await;
    let rotated = app.refresh(live["refreshToken"].as_str().unwrap()).await;
    assert_eq!(rotated.code(), None);
    assert_eq!(app.count("sessions").await, 2);
    assert_eq!(app.count("refresh_tokens").await, 3);

    // Ended sessions are kept 7 days, so their owner can still learn why they ended.
    app.auth.purge_expired(1).await.unwrap();
    assert_eq!(app.count("sessions").await, 2);
    app.clock
        .advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));

    let deleted = app.auth.purge_expired(1).await.unwrap();

    assert!(deleted >= 1);
    assert_eq!(app.count("sessions").await, 1);
    // The used token stays for reuse detection until it expires.
    assert_eq!(app.count("refresh_tokens").await, 2);
    let refreshed = app
        .refresh(
            rotated.data("refreshSession")["refreshToken"]
                .as_str()
                .unwrap(),
        )
        .await;
    let still = app
        .gql(
            "{ me { id } }",
            json!({}),
            refreshed.data("refreshSession")["accessToken"].as_str(),
        )
        .await;
    assert_eq!(still.status, 200);
}
