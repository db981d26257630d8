//! `GET /metrics`: Prometheus text whose counters move with logins, and no user data in labels.

use crate::helpers::{ANNA, PASSWORD, TestApp, spawn_app};

/// The Prometheus text of `app`, checked to be served as such.
pub async fn scrape(app: &TestApp) -> String {
    let response = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("openmetrics-text")
    );
    response.text().await.unwrap()
}

/// The value of the first sample line starting with `prefix`, or 0.
fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn counters_move_after_logins_and_labels_carry_no_user_data() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    assert_eq!(
        value(
            &before,
            r#"login_api_login_attempts_total{outcome="SUCCESS"}"#
        ),
        0.0
    );

    let login = app.login_as(ANNA, Some("phone")).await;
    app.login(ANNA, "wrong", None).await;
    app.refresh(login["refreshToken"].as_str().unwrap()).await;

    let after = scrape(&app).await;
    assert_eq!(
        value(
            &after,
            r#"login_api_login_attempts_total{outcome="SUCCESS"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            r#"login_api_login_attempts_total{outcome="INVALID_CREDENTIALS"}"#
        ),
        1.0
    );
    assert_eq!(
        value(&after, r#"login_api_refreshes_total{outcome="SUCCESS"}"#),
        1.0
    );
    assert!(
        value(
            &after,
            r#"login_api_hybris_request_duration_seconds_count{endpoint="token"}"#
        ) >= 2.0
    );
    assert_eq!(value(&after, "login_api_live_sessions "), 1.0);
    assert!(
        value(
            &after,
            r#"login_api_http_request_duration_seconds_count{operation="login"}"#
        ) >= 2.0
    );
    assert!(after.contains(r#"login_api_outbox_rows{sink="eventbridge",state="#));
    for secret in [
        ANNA,
        PASSWORD,
        login["accessToken"].as_str().unwrap(),
        "phone",
    ] {
        assert!(!after.contains(secret), "{secret} in metrics");
    }
}

#[tokio::test]
async fn hybris_outages_are_counted() {
    let app = spawn_app().await;
    app.sim.set_outage(true);
    app.login(ANNA, PASSWORD, None).await;
    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"login_api_hybris_errors_total{endpoint="token",kind="unavailable"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"login_api_login_attempts_total{outcome="UPSTREAM_UNAVAILABLE"}"#
        ),
        1.0
    );
}
