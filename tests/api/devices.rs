//! Sessions the way the apps use them: device details updated without a new login, the status
//! and end reason of each session (and the same reason on every 401), activity that keeps a
//! session alive, and roles.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{ANNA, PASSWORD, TestApp, spawn_app, spawn_app_with};

fn access(payload: &Value) -> &str {
    payload["accessToken"].as_str().unwrap()
}

fn refresh_token(payload: &Value) -> &str {
    payload["refreshToken"].as_str().unwrap()
}

const STATUS: &str = "query($id: ID!) { sessionStatus(id: $id) {
    id isActive lastAccessedAt lastActiveAt endedAt endReason } }";

async fn status_of(app: &TestApp, asker: &Value, session: &Value) -> Value {
    let response = app
        .gql(
            STATUS,
            json!({"id": session["session"]["id"]}),
            Some(access(asker)),
        )
        .await;
    assert_eq!(response.code(), None, "{}", response.body);
    response.data("sessionStatus").clone()
}

/// The ended session's token gets a 401 whose reason is the status's end reason.
async fn assert_ended(app: &TestApp, asker: &Value, ended: &Value, reason: &str) {
    let me = app
        .gql("{ me { id } }", json!({}), Some(access(ended)))
        .await;
    assert_eq!(me.status, 401, "{}", me.body);
    assert_eq!(me.code(), Some("UNAUTHENTICATED"));
    assert_eq!(me.error_extension("reason"), reason, "{}", me.body);
    let status = status_of(app, asker, ended).await;
    assert_eq!(status["isActive"], false);
    assert_eq!(status["endReason"], reason);
    assert!(status["endedAt"].is_string());
}

#[tokio::test]
async fn device_details_change_without_a_new_login_but_the_device_id_never_does() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("phone-1")).await;
    let update = "mutation($input: DeviceInput!) { updateDevice(input: $input) {
        id deviceName appVersion platform platformVersion hasPushToken current } }";

    let updated = app
        .gql(
            update,
            json!({"input": {"deviceId": "phone-1", "deviceName": "Anna's new name",
                   "appVersion": "3.3.0", "platform": "iOS", "platformVersion": "19.1",
                   "pushToken": "apns-secret-push-token"}}),
            Some(access(&login)),
        )
        .await;
    assert_eq!(updated.code(), None, "{}", updated.body);
    let session = updated.data("updateDevice");
    assert_eq!(session["id"], login["session"]["id"]);
    assert_eq!(session["deviceName"], "Anna's new name");
    assert_eq!(session["appVersion"], "3.3.0");
    assert_eq!(session["platformVersion"], "19.1");
    assert_eq!(session["hasPushToken"], true);
    assert!(!updated.body.to_string().contains("apns-secret-push-token"));

    // Without a device id the details still change; what is left out is kept.
    let no_id = app
        .gql(
            update,
            json!({"input": {"appVersion": "3.3.1"}}),
            Some(access(&login)),
        )
        .await;
    let session = no_id.data("updateDevice");
    assert_eq!(session["appVersion"], "3.3.1");
    assert_eq!(session["deviceName"], "Anna's new name");
    assert_eq!(session["platformVersion"], "19.1");
    assert_eq!(session["hasPushToken"], true);
    // An empty push token removes it (the member turned notifications off).
    let cleared = app
        .gql(
            update,
            json!({"input": {"pushToken": ""}}),
            Some(access(&login)),
        )
        .await;
    assert_eq!(cleared.data("updateDevice")["hasPushToken"], false);
    assert_eq!(cleared.data("updateDevice")["appVersion"], "3.3.1");
    for (input, field) in [
        (
            json!({"deviceId": "someone-elses-phone"}),
            "device.deviceId",
        ),
        (json!({"pushToken": "x".repeat(5000)}), "device.pushToken"),
    ] {
        let refused = app
            .gql(update, json!({"input": input}), Some(access(&login)))
            .await;
        assert_eq!(refused.code(), Some("BAD_USER_INPUT"), "{}", refused.body);
        assert_eq!(refused.error_extension("field"), field);
    }
    // The session still works and kept its device id.
    let current = app
        .gql(
            "{ currentSession { appVersion } }",
            json!({}),
            Some(access(&login)),
        )
        .await;
    assert_eq!(current.data("currentSession")["appVersion"], "3.3.1");
}

#[tokio::test]
async fn every_ended_session_says_why_in_its_status_and_in_its_401() {
    let app = spawn_app().await;
    let witness = app.login_as(ANNA, Some("witness")).await;

    let logged_out = app.login_as(ANNA, Some("a")).await;
    app.gql("mutation { logout }", json!({}), Some(access(&logged_out)))
        .await;
    assert_ended(&app, &witness, &logged_out, "LOGOUT").await;

    let revoked = app.login_as(ANNA, Some("b")).await;
    app.gql(
        "mutation($id: ID!) { revokeSession(id: $id) }",
        json!({"id": revoked["session"]["id"]}),
        Some(access(&witness)),
    )
    .await;
    assert_ended(&app, &witness, &revoked, "REVOKED").await;

    let replaced = app.login_as(ANNA, Some("c")).await;
    app.login_as(ANNA, Some("c")).await;
    assert_ended(&app, &witness, &replaced, "REPLACED_BY_NEW_LOGIN").await;

    let reused = app.login_as(ANNA, Some("d")).await;
    app.refresh(refresh_token(&reused)).await;
    app.clock.advance(Duration::seconds(11));
    let again = app.refresh(refresh_token(&reused)).await;
    assert_eq!(again.code(), Some("REFRESH_TOKEN_REUSED"));
    let witness_now = app.refresh(refresh_token(&witness)).await;
    let witness = witness_now.data("refreshSession").clone();
    assert_ended(&app, &witness, &reused, "REFRESH_TOKEN_REUSED").await;

    // Another member's session is not found, exactly like a missing one.
    let other = app.login_as("member0@example.org", None).await;
    for id in [
        witness["session"]["id"].clone(),
        json!(uuid::Uuid::now_v7().to_string()),
    ] {
        let response = app
            .gql(STATUS, json!({"id": id}), Some(access(&other)))
            .await;
        assert_eq!(response.code(), Some("SESSION_NOT_FOUND"));
    }
}

#[tokio::test]
async fn time_ends_sessions_with_the_limit_they_met() {
    let app = spawn_app_with(|s| {
        s.lifetimes.idle = Duration::seconds(120);
        s.lifetimes.max = Duration::seconds(600);
        s.lifetimes.access_token = Duration::seconds(60);
    })
    .await;
    let idle = app.login_as(ANNA, Some("idle")).await;
    // `kept` stays active by refreshing every 59 s; `idle` does nothing.
    let mut kept = app.login_as(ANNA, Some("kept")).await;
    for _ in 0..10 {
        app.clock.advance(Duration::seconds(59));
        let refreshed = app.refresh(refresh_token(&kept)).await;
        assert_eq!(refreshed.code(), None, "{}", refreshed.body);
        kept = refreshed.data("refreshSession").clone();
    }
    let status = status_of(&app, &kept, &idle).await;
    assert_eq!(status["endReason"], "IDLE_TIMEOUT");
    // Idle since login + 120 s: that is when it ended, not when someone looked.
    let login_at: chrono::DateTime<chrono::Utc> = idle["session"]["createdAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let ended_at: chrono::DateTime<chrono::Utc> =
        status["endedAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(ended_at - login_at, Duration::seconds(120));

    // 590 s in; at 600 the session meets its maximum lifetime, however active.
    app.clock.advance(Duration::seconds(10));
    let me = app
        .gql("{ me { id } }", json!({}), Some(access(&kept)))
        .await;
    assert_eq!(me.status, 401);
    assert_eq!(me.error_extension("reason"), "MAX_LIFETIME", "{}", me.body);
    let fresh = app.login_as(ANNA, Some("fresh")).await;
    let status = status_of(&app, &fresh, &kept).await;
    assert_eq!(status["endReason"], "MAX_LIFETIME", "{status}");
}

#[tokio::test]
async fn a_session_that_outlived_the_membership_ends_with_membership_ended() {
    let app = spawn_app().await;
    let zoe = app.login_as("zoe.endstoday@example.org", Some("z")).await;
    app.clock.advance(Duration::days(1));
    let witness = app.login_as(ANNA, None).await;
    let refreshed = app.refresh(refresh_token(&zoe)).await;
    assert_eq!(refreshed.code(), Some("MEMBERSHIP_INACTIVE"));
    let me = app
        .gql("{ me { id } }", json!({}), Some(access(&zoe)))
        .await;
    assert_eq!(me.status, 401);
    assert_eq!(me.error_extension("reason"), "MEMBERSHIP_ENDED");
    // Another member learns nothing about it.
    let response = app
        .gql(
            STATUS,
            json!({"id": zoe["session"]["id"]}),
            Some(access(&witness)),
        )
        .await;
    assert_eq!(response.code(), Some("SESSION_NOT_FOUND"));
}

#[tokio::test]
async fn activity_keeps_a_session_alive_and_is_written_at_most_once_a_minute() {
    let app = spawn_app_with(|s| {
        s.lifetimes.idle = Duration::seconds(120);
        s.lifetimes.access_token = Duration::seconds(3600);
    })
    .await;
    let login = app.login_as(ANNA, Some("phone")).await;
    let touch = "mutation { touchSession { lastActiveAt } }";
    let touched =
        |response: crate::helpers::Response| response.data("touchSession")["lastActiveAt"].clone();

    app.clock.advance(Duration::seconds(90));
    let first = touched(app.gql(touch, json!({}), Some(access(&login))).await);
    assert!(first.is_string());
    app.clock.advance(Duration::seconds(30));
    let second = touched(app.gql(touch, json!({}), Some(access(&login))).await);
    assert_eq!(second, first, "within a minute: answered, not written");
    // Reads write nothing.
    app.gql(
        "{ me { id } sessions { id } }",
        json!({}),
        Some(access(&login)),
    )
    .await;
    let read = app
        .gql(
            "{ currentSession { lastActiveAt } }",
            json!({}),
            Some(access(&login)),
        )
        .await;
    assert_eq!(read.data("currentSession")["lastActiveAt"], first);
    // Exactly a minute after the last write, the next one is written.
    app.clock.advance(Duration::seconds(30));
    let third = touched(app.gql(touch, json!({}), Some(access(&login))).await);
    assert_ne!(third, first);

    // Idle 120 s counts from that activity, not from the login 150 s ago.
    app.clock.advance(Duration::seconds(119));
    let alive = app
        .gql("{ me { id } }", json!({}), Some(access(&login)))
        .await;
    assert_eq!(alive.status, 200, "{}", alive.body);
    app.clock.advance(Duration::seconds(1));
    let me = app
        .gql("{ me { id } }", json!({}), Some(access(&login)))
        .await;
    assert_eq!(me.status, 401);
    assert_eq!(me.error_extension("reason"), "IDLE_TIMEOUT");
}

#[tokio::test]
async fn roles_say_member_while_active_and_add_the_hybris_roles_field() {
    let app = spawn_app_with(|s| s.hybris_roles_field = Some("rccRoles".into())).await;
    let mut extra = serde_json::Map::new();
    extra.insert("rccRoles".into(), json!(["ride-leader", "member"]));
    app.sim.upsert_user(login_api::sim::SimUser {
        uid: "leader@example.org".into(),
        customer_id: "c-leader".into(),
        password: PASSWORD.into(),
        first_name: None,
        last_name: None,
        rcc_membership_number: Some("RCC-L".into()),
        rcc_member_ship_start_date: Some("2020-01-01".into()),
        rcc_member_ship_end_date: Some("2099-12-31".into()),
        rcc_chapter: None,
        deactivation_date: None,
        extra,
    });
    let response = app
        .gql(
            "mutation($input: LoginInput!) { login(input: $input) { accessToken user { roles } } }",
            json!({"input": {"email": "leader@example.org", "password": PASSWORD}}),
            None,
        )
        .await;
    let login = response.data("login");
    assert_eq!(
        login["user"]["roles"],
        json!(["member", "ride-leader"]),
        "{}",
        response.body
    );
    let claims = claims_of(access(login));
    assert_eq!(claims["roles"], json!(["member", "ride-leader"]));

    // Without the field configured, only the membership speaks.
    let plain = spawn_app().await;
    let anna = plain.login_as(ANNA, None).await;
    let me = plain
        .gql("{ me { roles } }", json!({}), Some(access(&anna)))
        .await;
    assert_eq!(me.data("me")["roles"], json!(["member"]));
}

fn claims_of(token: &str) -> Value {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
