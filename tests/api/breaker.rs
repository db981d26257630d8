//! The circuit breaker on Hybris: an outage opens it, logins are then answered at once without
//! calling Hybris, everything that does not need Hybris keeps working, and a probe closes it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ANNA, PASSWORD, TestApp, spawn_app, spawn_app_with};

async fn status(app: &TestApp) -> Value {
    let response = app
        .gql(
            "{ serviceStatus { passwordLogin retryAfter } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(response.code(), None, "{}", response.body);
    response.data("serviceStatus").clone()
}

async fn open_the_breaker(app: &TestApp) {
    app.sim.set_outage(true);
    for _ in 0..5 {
        let response = app.login(ANNA, PASSWORD, None).await;
        assert_eq!(
            response.code(),
            Some("UPSTREAM_UNAVAILABLE"),
            "{}",
            response.body
        );
    }
}

#[tokio::test]
async fn an_outage_opens_it_and_logins_are_answered_at_once_without_calling_hybris() {
    let app = spawn_app().await;
    let session = app.login_as(ANNA, Some("phone")).await;
    assert_eq!(status(&app).await["passwordLogin"], "AVAILABLE");
    open_the_breaker(&app).await;
    assert_eq!(
        status(&app).await,
        json!({"passwordLogin": "UNAVAILABLE", "retryAfter": 30})
    );

    let calls = app.sim.token_requests();
    for _ in 0..100 {
        let response = app.login(ANNA, PASSWORD, None).await;
        assert_eq!(
            response.code(),
            Some("UPSTREAM_UNAVAILABLE"),
            "{}",
            response.body
        );
        assert!(response.error_extension("retryAfter").as_u64().unwrap() >= 1);
    }
    assert_eq!(
        app.sim.token_requests(),
        calls,
        "Hybris was called while open"
    );

    // What does not need Hybris keeps working, and the instance stays ready.
    let refreshed = app.refresh(session["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.code(), None, "{}", refreshed.body);
    let token = refreshed.data("refreshSession")["accessToken"].as_str();
    assert_eq!(
        app.gql("{ me { id } }", json!({}), token).await.code(),
        None
    );
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = crate::metrics::scrape(&app).await;
    assert!(
        metrics.contains("login_api_hybris_breaker_state 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_probe_closes_it_when_hybris_is_back_and_a_failed_probe_doubles_the_wait() {
    let app = spawn_app().await;
    open_the_breaker(&app).await;
    app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(status(&app).await["passwordLogin"], "DEGRADED");
    // The gauge says so too, though no call has happened since.
    let metrics = crate::metrics::scrape(&app).await;
    assert!(
        metrics.contains("login_api_hybris_breaker_state 1"),
        "{metrics}"
    );
    // Still down: the probe fails and the breaker opens for twice as long.
    let probe = app.login(ANNA, PASSWORD, None).await;
    assert_eq!(probe.code(), Some("UPSTREAM_UNAVAILABLE"));
    assert_eq!(status(&app).await["retryAfter"], 60);
    app.sim.set_outage(false);
    app.clock.advance(chrono::Duration::seconds(60));
    let login = app.login(ANNA, PASSWORD, None).await;
    assert_eq!(login.code(), None, "{}", login.body);
    assert_eq!(status(&app).await["passwordLogin"], "AVAILABLE");
}

#[tokio::test]
async fn wrong_passwords_are_answers_and_never_open_it() {
    let app = spawn_app().await;
    for i in 0..5 {
        for _ in 0..4 {
            let response = app
                .login(&format!("member{i}@example.org"), "wrong", None)
                .await;
            assert_eq!(
                response.code(),
                Some("INVALID_CREDENTIALS"),
                "{}",
                response.body
            );
        }
    }
    assert_eq!(status(&app).await["passwordLogin"], "AVAILABLE");
}

#[tokio::test]
async fn the_bulkhead_answers_at_once_when_hybris_is_merely_slow() {
    let app = spawn_app_with(|s| s.hybris_max_in_flight = 1).await;
    app.sim.set_latency(Duration::from_millis(800));
    let before = app.sim.token_requests();
    let (first, second) = tokio::join!(app.login(ANNA, PASSWORD, None), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.login("member1@example.org", PASSWORD, None).await
    });
    assert_eq!(first.code(), None, "{}", first.body);
    assert_eq!(
        second.code(),
        Some("UPSTREAM_UNAVAILABLE"),
        "{}",
        second.body
    );
    // Refused without waiting its turn: only the first login's password check reached Hybris.
    assert_eq!(app.sim.token_requests(), before + 1);
}

#[tokio::test]
async fn a_token_hybris_refuses_right_after_issuing_it_is_not_an_outage() {
    // What a concurrent revocation of the same member's grant looks like: it must not let one
    // member's logins open the breaker for everyone.
    let app = spawn_app().await;
    app.sim.set_reject_profile_tokens(true);
    for _ in 0..6 {
        let response = app.login(ANNA, PASSWORD, None).await;
        assert_eq!(
            response.code(),
            Some("UPSTREAM_UNAVAILABLE"),
            "{}",
            response.body
        );
    }
    assert_eq!(status(&app).await["passwordLogin"], "AVAILABLE");
    app.sim.set_reject_profile_tokens(false);
    assert_eq!(app.login(ANNA, PASSWORD, None).await.code(), None);
}

#[tokio::test]
async fn phone_codes_social_sign_in_partner_tokens_and_logout_work_while_it_is_open() {
    let app = spawn_app().await;
    crate::social::anna_with_google(&app).await;
    crate::phone::enrolled(&app, "member3@example.org", crate::phone::ANNA_PHONE).await;
    let secret = crate::partners::add_partner(
        &app,
        "rides-pwa",
        &[login_api::domain::partner::Claim::Name],
    )
    .await;
    open_the_breaker(&app).await;
    let calls = app.sim.token_requests();

    let google = app
        .social
        .google_id_token(json!({"sub": crate::social::ANNA_GOOGLE}));
    let social = crate::social::google_login(&app, &google, "anna-tablet").await;
    assert_eq!(social.code(), None, "{}", social.body);
    let (challenge, code) = crate::phone::challenge_and_code(&app, crate::phone::ANNA_PHONE).await;
    let phone = crate::phone::login_with_code(&app, &challenge, &code).await;
    assert_eq!(phone.code(), None, "{}", phone.body);

    let access = social.data("loginWithSocial")["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = crate::partners::minted(&app, &access, "rides-pwa").await;
    let (status, introspected) =
        crate::partners::introspect(&app, "rides-pwa", &secret, &token).await;
    assert_eq!((status, &introspected["active"]), (200, &json!(true)));
    let sessions = app
        .gql("{ sessions { id } }", json!({}), Some(&access))
        .await;
    assert_eq!(sessions.code(), None, "{}", sessions.body);
    let logout = app
        .gql("mutation { logout(scope: ALL) }", json!({}), Some(&access))
        .await;
    assert_eq!(logout.code(), None, "{}", logout.body);
    assert_eq!(app.sim.token_requests(), calls, "none of it asked Hybris");
    assert_eq!(status_of(&app).await, "UNAVAILABLE");
}

async fn status_of(app: &TestApp) -> String {
    status(app).await["passwordLogin"]
        .as_str()
        .unwrap()
        .to_owned()
}
