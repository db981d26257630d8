//! Login nonces: a nonce-bound provider token opens one session, a lost response can be
//! retried from the same device within the grace, and nonces are required when configured.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::social::{ANNA_GOOGLE, anna_with_google, google_login, social_login};

async fn nonce(app: &TestApp) -> String {
    let response = app
        .gql(
            "mutation { createLoginNonce { nonce expiresAt } }",
            json!({}),
            None,
        )
        .await;
    assert_eq!(response.code(), None, "{}", response.body);
    response.data("createLoginNonce")["nonce"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn sha256_hex(value: &str) -> String {
    login_api::domain::social::sha256_hex(value)
}

#[tokio::test]
async fn a_nonce_bound_token_opens_one_session_and_a_lost_response_is_retried_from_its_device() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    let raw = nonce(&app).await;
    let token = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "nonce": raw}));
    let first = google_login(&app, &token, "anna-tablet").await;
    assert_eq!(first.code(), None, "{}", first.body);
    let first = first.data("loginWithSocial").clone();

    // Another device replaying it: refused.
    let replay = google_login(&app, &token, "attacker").await;
    assert_eq!(
        replay.code(),
        Some("INVALID_SOCIAL_TOKEN"),
        "{}",
        replay.body
    );
    // The same device within the grace (the app lost the response): the same tokens.
    let retry = google_login(&app, &token, "anna-tablet").await;
    assert_eq!(retry.code(), None, "{}", retry.body);
    let retry = retry.data("loginWithSocial");
    assert_eq!(retry["refreshToken"], first["refreshToken"]);
    assert_eq!(retry["session"]["id"], first["session"]["id"]);
    // After the grace, even from that device: refused.
    app.clock.advance(chrono::Duration::seconds(11));
    let late = google_login(&app, &token, "anna-tablet").await;
    assert_eq!(late.code(), Some("INVALID_SOCIAL_TOKEN"), "{}", late.body);
}

#[tokio::test]
async fn a_retry_after_the_refresh_token_was_used_is_refused() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    let raw = nonce(&app).await;
    let token = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "nonce": raw}));
    let first = google_login(&app, &token, "tab").await;
    let refresh = first.data("loginWithSocial")["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.refresh(&refresh).await.code(), None);
    let retry = google_login(&app, &token, "tab").await;
    assert_eq!(retry.code(), Some("INVALID_SOCIAL_TOKEN"), "{}", retry.body);
}

#[tokio::test]
async fn nonces_we_did_not_issue_mismatched_and_expired_ones_are_refused() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    let made_up = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "nonce": "made-up-by-the-attacker"}));
    assert_eq!(
        google_login(&app, &made_up, "d").await.code(),
        Some("INVALID_SOCIAL_TOKEN")
    );
    let raw = nonce(&app).await;
    let token = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "nonce": raw}));
    let mismatch = social_login(
        &app,
        json!({"provider": "GOOGLE", "idToken": token, "nonce": "not-the-one"}),
    )
    .await;
    assert_eq!(
        mismatch.code(),
        Some("INVALID_SOCIAL_TOKEN"),
        "{}",
        mismatch.body
    );
    let matching = social_login(
        &app,
        json!({"provider": "GOOGLE", "idToken": token, "nonce": raw, "device": {"deviceId": "d"}}),
    )
    .await;
    assert_eq!(matching.code(), None, "{}", matching.body);

    let expiring = nonce(&app).await;
    app.clock.advance(chrono::Duration::seconds(601));
    let now = login_api::ports::Clock::now(&app.clock).timestamp();
    let token = app.social.google_id_token(
        json!({"sub": ANNA_GOOGLE, "nonce": expiring, "iat": now, "exp": now + 3600}),
    );
    assert_eq!(
        google_login(&app, &token, "d").await.code(),
        Some("INVALID_SOCIAL_TOKEN")
    );
}

#[tokio::test]
async fn a_limited_login_token_may_carry_the_nonces_sha256() {
    let app = spawn_app().await;
    let anna = app.login_as(crate::helpers::ANNA, Some("p")).await;
    let raw = nonce(&app).await;
    let token = app
        .social
        .facebook_id_token(json!({"sub": "fb-ll-anna", "nonce": sha256_hex(&raw)}));
    let link = "mutation($i: SocialLoginInput!) { linkSocialAccount(input: $i) { id } }";
    let linked = app
        .gql(
            link,
            json!({"i": {"provider": "FACEBOOK", "idToken": token, "nonce": raw}}),
            anna["accessToken"].as_str(),
        )
        .await;
    assert_eq!(linked.code(), None, "{}", linked.body);
    // Linking used the nonce: the same token cannot sign in.
    let again = social_login(&app, json!({"provider": "FACEBOOK", "idToken": token})).await;
    assert_eq!(again.code(), Some("INVALID_SOCIAL_TOKEN"), "{}", again.body);
    let raw = nonce(&app).await;
    let token = app
        .social
        .facebook_id_token(json!({"sub": "fb-ll-anna", "nonce": sha256_hex(&raw)}));
    let login = social_login(
        &app,
        json!({"provider": "FACEBOOK", "idToken": token, "nonce": raw}),
    )
    .await;
    assert_eq!(login.code(), None, "{}", login.body);
}

#[tokio::test]
async fn a_token_without_a_nonce_is_accepted_twice_unless_nonces_are_required() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    let token = app.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
    assert_eq!(google_login(&app, &token, "a").await.code(), None);
    assert_eq!(google_login(&app, &token, "b").await.code(), None);

    let strict = spawn_app_with(|s| s.social.settings.require_nonce = true).await;
    let anna = strict.login_as(crate::helpers::ANNA, Some("p")).await;
    let token = strict.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
    assert_eq!(
        google_login(&strict, &token, "a").await.code(),
        Some("INVALID_SOCIAL_TOKEN")
    );
    let link = "mutation($i: SocialLoginInput!) { linkSocialAccount(input: $i) { id } }";
    let linked: Value = strict
        .gql(
            link,
            json!({"i": {"provider": "GOOGLE", "idToken": token}}),
            anna["accessToken"].as_str(),
        )
        .await
        .body;
    assert_eq!(
        linked["errors"][0]["extensions"]["code"],
        "INVALID_SOCIAL_TOKEN"
    );
}

#[tokio::test]
async fn concurrent_logins_with_one_nonce_bound_token_open_one_session() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    let sessions = app.count("sessions").await;
    let raw = nonce(&app).await;
    let token = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "nonce": raw}));
    let attempts = (0..10).map(|i| {
        let token = token.clone();
        let app = &app;
        async move { google_login(app, &token, &format!("device-{i}")).await }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let won = outcomes.iter().filter(|r| r.code().is_none()).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        outcomes.iter().map(|r| r.code()).collect::<Vec<_>>()
    );
    assert_eq!(app.count("sessions").await, sessions + 1);
}

#[tokio::test]
async fn a_nonce_bound_token_that_found_no_member_cannot_be_used_again() {
    let app = spawn_app().await;
    let raw = nonce(&app).await;
    let token = app
        .social
        .google_id_token(json!({"sub": "g-nobody", "email": "nobody@gmail.example", "nonce": raw}));
    let first = google_login(&app, &token, "d").await;
    assert_eq!(
        first.code(),
        Some("SOCIAL_ACCOUNT_NOT_LINKED"),
        "{}",
        first.body
    );
    let again = google_login(&app, &token, "d").await;
    assert_eq!(again.code(), Some("INVALID_SOCIAL_TOKEN"), "{}", again.body);
}
