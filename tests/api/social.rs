//! Sign-in with Google and Facebook: each verification rule broken by a token that breaks
//! exactly it, nonces and replays, the resolution (linked, auto-linked, link token), and
//! linking from a session.

use serde_json::{Value, json};

use crate::helpers::{
    ANNA, FACEBOOK_APP_ID, GOOGLE_CLIENT_ID, PASSWORD, PAYLOAD, Response, TestApp, events_of,
    spawn_app, spawn_app_with, validate,
};

pub const ANNA_GOOGLE: &str = "110000000000000000042";

fn login_query() -> String {
    format!(
        "mutation($i: SocialLoginInput!) {{ loginWithSocial(input: $i) {{ {PAYLOAD} session {{ authMethod }} }} }}"
    )
}

pub async fn social_login(app: &TestApp, input: Value) -> Response {
    app.gql(&login_query(), json!({ "i": input }), None).await
}

pub async fn google_login(app: &TestApp, id_token: &str, device: &str) -> Response {
    social_login(
        app,
        json!({"provider": "GOOGLE", "idToken": id_token, "device": {"deviceId": device}}),
    )
    .await
}

const LINK: &str = "mutation($i: SocialLoginInput!) { linkSocialAccount(input: $i) { id linkedAccounts { provider email linkedAt lastUsedAt } } }";

/// Anna logs in with her password and links her Google account from the session.
pub async fn anna_with_google(app: &TestApp) -> Value {
    let login = app.login_as(ANNA, Some("anna-phone")).await;
    let token = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "email": "anna@gmail.example"}));
    let linked = app
        .gql(
            LINK,
            json!({"i": {"provider": "GOOGLE", "idToken": token}}),
            login["accessToken"].as_str(),
        )
        .await;
    assert_eq!(linked.code(), None, "{}", linked.body);
    login
}

fn assert_invalid(response: &Response, provider: &str) {
    assert_eq!(
        response.code(),
        Some("INVALID_SOCIAL_TOKEN"),
        "{}",
        response.body
    );
    assert_eq!(response.error_extension("provider"), provider);
}

#[tokio::test]
async fn a_linked_google_account_signs_the_member_in_and_the_session_works_like_any_other() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    let token = app.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
    let response = google_login(&app, &token, "anna-tablet").await;
    assert_eq!(response.code(), None, "{}", response.body);
    let login = response.data("loginWithSocial");
    assert_eq!(login["user"]["email"], ANNA);
    assert_eq!(login["session"]["authMethod"], "GOOGLE");
    let refreshed = app.refresh(login["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.code(), None, "{}", refreshed.body);
    let linked = events_of(&app, "user.social_linked").await;
    validate("user.social_linked.schema.json", &linked[0]);
    assert_eq!(linked[0]["linkedBy"], "session");
    let logins = events_of(&app, "user.login").await;
    validate("user.login.schema.json", logins.last().unwrap());
    assert_eq!(logins.last().unwrap()["session"]["authMethod"], "google");
    assert!(!logins.last().unwrap().to_string().contains(&token));
}

#[tokio::test]
async fn each_broken_google_claim_is_refused() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    // The app's clock, which stands where the test started it: the wall clock has moved on by
    // the set-up's time, seconds on a busy machine, and the leeway case is one second wide.
    let now = login_api::ports::Clock::now(&app.clock).timestamp();
    for (what, claims) in [
        (
            "another audience",
            json!({"aud": "someone-else.apps.googleusercontent.com"}),
        ),
        (
            "another issuer",
            json!({"iss": "https://accounts.google.evil"}),
        ),
        (
            "expired past the leeway",
            json!({"exp": now - 61, "iat": now - 3600}),
        ),
        ("issued in the future", json!({"iat": now + 3600})),
    ] {
        let mut claims = claims;
        claims["sub"] = json!(ANNA_GOOGLE);
        let token = app.social.google_id_token(claims);
        let response = google_login(&app, &token, "d").await;
        assert_eq!(
            response.code(),
            Some("INVALID_SOCIAL_TOKEN"),
            "{what}: {}",
            response.body
        );
    }
    // Within the 60 s leeway an expiry still passes, and the bare issuer spelling too.
    let token = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "exp": now - 30}));
    assert_eq!(google_login(&app, &token, "d").await.code(), None);
    let token = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "iss": "accounts.google.com"}));
    assert_eq!(google_login(&app, &token, "d").await.code(), None);
}

#[tokio::test]
async fn alg_none_hs256_and_garbage_tokens_are_refused() {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let app = spawn_app().await;
    anna_with_google(&app).await;
    let good = app.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
    let payload = good.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "https://accounts.google.com", "aud": GOOGLE_CLIENT_ID, "sub": ANNA_GOOGLE,
                "iat": chrono::Utc::now().timestamp(), "exp": chrono::Utc::now().timestamp() + 600}),
        &jsonwebtoken::EncodingKey::from_secret(GOOGLE_CLIENT_ID.as_bytes()),
    )
    .unwrap();
    let mut tampered = good.clone();
    tampered.push('x');
    for token in [
        none,
        hs256,
        tampered,
        "not.a.jwt".into(),
        "x".repeat(20_000),
    ] {
        assert_invalid(&google_login(&app, &token, "d").await, "GOOGLE");
    }
}

#[tokio::test]
async fn an_unknown_kid_is_refused_and_a_rotated_key_is_fetched_once_known() {
    let app = spawn_app_with(|s| s.social.min_refetch = std::time::Duration::ZERO).await;
    anna_with_google(&app).await;
    let forged = app
        .social
        .google_id_token_with_unknown_key(json!({"sub": ANNA_GOOGLE}));
    assert_invalid(&google_login(&app, &forged, "d").await, "GOOGLE");
    app.social.rotate_google_key();
    let rotated = app.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
    let response = google_login(&app, &rotated, "d").await;
    assert_eq!(response.code(), None, "{}", response.body);
}

#[tokio::test]
async fn the_jwks_is_fetched_once_for_many_logins_and_made_up_kids_cannot_force_refetches() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    for i in 0..5 {
        let token = app.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
        let response = google_login(&app, &token, &format!("device-{i}")).await;
        assert_eq!(response.code(), None, "{}", response.body);
    }
    for _ in 0..5 {
        let forged = app
            .social
            .google_id_token_with_unknown_key(json!({"sub": ANNA_GOOGLE}));
        assert_invalid(&google_login(&app, &forged, "d").await, "GOOGLE");
    }
    // One fetch for the cache; made-up kids within JWKS_MIN_REFETCH_SECS cause none.
    assert_eq!(app.social.google_jwks_fetches(), 1);
}

#[tokio::test]
async fn a_provider_outage_with_no_cached_key_is_provider_unavailable() {
    let app = spawn_app().await;
    app.social.set_outage(true);
    let token = app.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
    let response = google_login(&app, &token, "d").await;
    assert_eq!(
        response.code(),
        Some("PROVIDER_UNAVAILABLE"),
        "{}",
        response.body
    );
    assert!(response.error_extension("retryAfter").as_u64().unwrap() > 0);
    let facebook = social_login(
        &app,
        json!({"provider": "FACEBOOK", "accessToken": "EAAsomething"}),
    )
    .await;
    assert_eq!(
        facebook.code(),
        Some("PROVIDER_UNAVAILABLE"),
        "{}",
        facebook.body
    );
}

#[tokio::test]
async fn a_verified_google_email_of_exactly_one_member_links_automatically() {
    let app = spawn_app().await;
    app.login_as(ANNA, Some("p")).await;
    let token = app.social.google_id_token(
        json!({"sub": "g-anna-auto", "email": "Anna.Rider@example.org", "email_verified": true}),
    );
    let response = google_login(&app, &token, "d").await;
    assert_eq!(response.code(), None, "{}", response.body);
    assert_eq!(response.data("loginWithSocial")["user"]["email"], ANNA);
    let linked = events_of(&app, "user.social_linked").await;
    assert_eq!(linked[0]["linkedBy"], "auto_email");
}

#[tokio::test]
async fn an_unverified_email_facebook_and_auto_link_off_get_a_link_token_instead() {
    let app = spawn_app().await;
    app.login_as(ANNA, Some("p")).await;
    let unverified = app
        .social
        .google_id_token(json!({"sub": "g-unverified", "email": ANNA, "email_verified": false}));
    let response = google_login(&app, &unverified, "d").await;
    assert_eq!(
        response.code(),
        Some("SOCIAL_ACCOUNT_NOT_LINKED"),
        "{}",
        response.body
    );
    assert_eq!(response.error_extension("provider"), "GOOGLE");
    assert_eq!(response.error_extension("linkTokenExpiresIn"), 600);
    assert_eq!(
        response
            .error_extension("linkToken")
            .as_str()
            .unwrap()
            .len(),
        43
    );

    let facebook = app
        .social
        .facebook_id_token(json!({"sub": "fb-anna", "email": ANNA}));
    let response = social_login(&app, json!({"provider": "FACEBOOK", "idToken": facebook})).await;
    assert_eq!(
        response.code(),
        Some("SOCIAL_ACCOUNT_NOT_LINKED"),
        "{}",
        response.body
    );

    let off = spawn_app_with(|s| s.social.settings.auto_link_google = false).await;
    off.login_as(ANNA, Some("p")).await;
    let verified = off
        .social
        .google_id_token(json!({"sub": "g-off", "email": ANNA, "email_verified": true}));
    let response = google_login(&off, &verified, "d").await;
    assert_eq!(
        response.code(),
        Some("SOCIAL_ACCOUNT_NOT_LINKED"),
        "{}",
        response.body
    );
}

#[tokio::test]
async fn the_link_token_links_on_a_password_login_once() {
    let app = spawn_app().await;
    let token = app
        .social
        .google_id_token(json!({"sub": "g-new", "email": "someone@gmail.example"}));
    let refused = google_login(&app, &token, "d").await;
    let link_token = refused
        .error_extension("linkToken")
        .as_str()
        .unwrap()
        .to_owned();
    let input =
        |link: &str| json!({"input": {"email": ANNA, "password": PASSWORD, "linkToken": link}});
    let login = app
        .gql(&crate::helpers::LOGIN, input(&link_token), None)
        .await;
    assert_eq!(login.code(), None, "{}", login.body);
    let linked = events_of(&app, "user.social_linked").await;
    assert_eq!(linked[0]["linkedBy"], "password");
    let again = google_login(&app, &token, "d").await;
    assert_eq!(again.code(), None, "{}", again.body);
    assert_eq!(again.data("loginWithSocial")["user"]["email"], ANNA);
    // Used up: a second login with it is refused before Hybris is asked.
    let requests = app.sim.token_requests();
    let reused = app
        .gql(&crate::helpers::LOGIN, input(&link_token), None)
        .await;
    assert_eq!(reused.code(), Some("BAD_USER_INPUT"), "{}", reused.body);
    assert_eq!(reused.error_extension("field"), "linkToken");
    assert_eq!(app.sim.token_requests(), requests);
    for bad in ["garbage", &"A".repeat(43)] {
        let response = app.gql(&crate::helpers::LOGIN, input(bad), None).await;
        assert_eq!(response.error_extension("field"), "linkToken");
    }
}

#[tokio::test]
async fn linking_an_account_another_member_holds_is_social_account_in_use() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    let other = app.login_as("member1@example.org", Some("m")).await;
    let token = app.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
    let response = app
        .gql(
            LINK,
            json!({"i": {"provider": "GOOGLE", "idToken": token}}),
            other["accessToken"].as_str(),
        )
        .await;
    assert_eq!(
        response.code(),
        Some("SOCIAL_ACCOUNT_IN_USE"),
        "{}",
        response.body
    );
    // Through a link token too.
    let fresh = app
        .social
        .google_id_token(json!({"sub": "g-taken", "email": "x@gmail.example"}));
    let refused = google_login(&app, &fresh, "d").await;
    let link_token = refused
        .error_extension("linkToken")
        .as_str()
        .unwrap()
        .to_owned();
    let linked = app
        .gql(
            LINK,
            json!({"i": {"provider": "GOOGLE", "idToken": fresh}}),
            other["accessToken"].as_str(),
        )
        .await;
    assert_eq!(linked.code(), None, "{}", linked.body);
    let login = app
        .gql(
            &crate::helpers::LOGIN,
            json!({"input": {"email": ANNA, "password": PASSWORD, "linkToken": link_token}}),
            None,
        )
        .await;
    assert_eq!(
        login.code(),
        Some("SOCIAL_ACCOUNT_IN_USE"),
        "{}",
        login.body
    );
}

#[tokio::test]
async fn linked_accounts_are_listed_and_unlinking_keeps_the_password() {
    let app = spawn_app().await;
    let login = anna_with_google(&app).await;
    let token = login["accessToken"].as_str();
    let me = app
        .gql(
            "{ me { linkedAccounts { provider email linkedAt lastUsedAt } } }",
            json!({}),
            token,
        )
        .await;
    let accounts = &me.data("me")["linkedAccounts"];
    assert_eq!(accounts[0]["provider"], "GOOGLE", "{}", me.body);
    assert_eq!(accounts[0]["email"], "anna@gmail.example");
    let unlinked = app
        .gql(
            "mutation { unlinkSocialAccount(provider: GOOGLE) { linkedAccounts { provider } } }",
            json!({}),
            token,
        )
        .await;
    assert_eq!(
        unlinked.data("unlinkSocialAccount")["linkedAccounts"],
        json!([]),
        "{}",
        unlinked.body
    );
    let events = events_of(&app, "user.social_unlinked").await;
    validate("user.social_unlinked.schema.json", &events[0]);
    let google = app.social.google_id_token(json!({"sub": ANNA_GOOGLE}));
    assert_eq!(
        google_login(&app, &google, "d").await.code(),
        Some("SOCIAL_ACCOUNT_NOT_LINKED")
    );
    app.login_as(ANNA, Some("again")).await;
}

#[tokio::test]
async fn facebook_access_tokens_are_checked_through_debug_token_and_me() {
    use login_api::sim::social::FacebookUser;
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("p")).await;
    let user = |app_id: &str, expires_at: i64| FacebookUser {
        user_id: "fb-anna-1".into(),
        name: Some("Anna".into()),
        email: Some("anna@fb.example".into()),
        app_id: app_id.into(),
        expires_at,
    };
    let later = chrono::Utc::now().timestamp() + 3600;
    let token = app
        .social
        .facebook_access_token(user(FACEBOOK_APP_ID, later));
    let linked = app
        .gql(
            LINK,
            json!({"i": {"provider": "FACEBOOK", "accessToken": token}}),
            login["accessToken"].as_str(),
        )
        .await;
    assert_eq!(linked.code(), None, "{}", linked.body);
    let response = social_login(&app, json!({"provider": "FACEBOOK", "accessToken": token})).await;
    assert_eq!(response.code(), None, "{}", response.body);
    assert_eq!(
        response.data("loginWithSocial")["session"]["authMethod"],
        "FACEBOOK"
    );

    let other_app = app.social.facebook_access_token(user("999999", later));
    let expired = app
        .social
        .facebook_access_token(user(FACEBOOK_APP_ID, chrono::Utc::now().timestamp() - 10));
    for token in [other_app, expired, "EAAunknown".into()] {
        let response =
            social_login(&app, json!({"provider": "FACEBOOK", "accessToken": token})).await;
        assert_invalid(&response, "FACEBOOK");
    }
}

#[tokio::test]
async fn the_graph_simulator_refuses_me_without_appsecret_proof_as_graph_does() {
    let app = spawn_app().await;
    let token = app
        .social
        .facebook_access_token(login_api::sim::social::FacebookUser {
            user_id: "fb-1".into(),
            name: None,
            email: None,
            app_id: FACEBOOK_APP_ID.into(),
            expires_at: 0,
        });
    let graph = format!("{}/facebook", app.social_base);
    let response = reqwest::Client::new()
        .get(format!("{graph}/v21.0/me?fields=id"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], 100);
    // Our client sends it: the same token signs in through /me.
    let requests = app.social.graph_requests();
    let response = social_login(&app, json!({"provider": "FACEBOOK", "accessToken": token})).await;
    assert_eq!(
        response.code(),
        Some("SOCIAL_ACCOUNT_NOT_LINKED"),
        "{}",
        response.body
    );
    assert_eq!(app.social.graph_requests(), requests + 2);
}

#[tokio::test]
async fn a_facebook_limited_login_token_of_another_app_is_refused() {
    let app = spawn_app().await;
    let token = app
        .social
        .facebook_id_token(json!({"sub": "fb-x", "aud": "123"}));
    let response = social_login(&app, json!({"provider": "FACEBOOK", "idToken": token})).await;
    assert_invalid(&response, "FACEBOOK");
    let google_token = app.social.google_id_token(json!({"sub": "fb-x"}));
    let response = social_login(
        &app,
        json!({"provider": "FACEBOOK", "idToken": google_token}),
    )
    .await;
    assert_invalid(&response, "FACEBOOK");
}

#[tokio::test]
async fn a_provider_without_settings_is_not_configured() {
    let app = spawn_app_with(|s| s.social.facebook = None).await;
    let response = social_login(&app, json!({"provider": "FACEBOOK", "accessToken": "x"})).await;
    assert_eq!(
        response.code(),
        Some("PROVIDER_NOT_CONFIGURED"),
        "{}",
        response.body
    );
}

#[tokio::test]
async fn a_stale_snapshot_without_a_trusted_client_needs_the_password_for_social_sign_in_too() {
    let app = spawn_app().await;
    anna_with_google(&app).await;
    app.clock.advance(chrono::Duration::days(31));
    let now = login_api::ports::Clock::now(&app.clock).timestamp();
    let token = app
        .social
        .google_id_token(json!({"sub": ANNA_GOOGLE, "iat": now, "exp": now + 3600}));
    let response = google_login(&app, &token, "d").await;
    assert_eq!(
        response.code(),
        Some("REAUTHENTICATION_REQUIRED"),
        "{}",
        response.body
    );
}

#[tokio::test]
async fn a_workspace_domain_restriction_refuses_other_accounts() {
    let app = spawn_app_with(|s| {
        s.social.google.as_mut().unwrap().allowed_hd = Some("club.example".into());
    })
    .await;
    let anna = app.login_as(ANNA, Some("p")).await;
    let other = app
        .social
        .google_id_token(json!({"sub": "g-hd", "hd": "elsewhere.example"}));
    let none = app.social.google_id_token(json!({"sub": "g-hd"}));
    for token in [other, none] {
        let response = app
            .gql(
                LINK,
                json!({"i": {"provider": "GOOGLE", "idToken": token}}),
                anna["accessToken"].as_str(),
            )
            .await;
        assert_invalid(&response, "GOOGLE");
    }
    let ours = app
        .social
        .google_id_token(json!({"sub": "g-hd", "hd": "club.example"}));
    let response = app
        .gql(
            LINK,
            json!({"i": {"provider": "GOOGLE", "idToken": ours}}),
            anna["accessToken"].as_str(),
        )
        .await;
    assert_eq!(response.code(), None, "{}", response.body);
}

#[tokio::test]
async fn production_never_wires_the_simulators() {
    let app = spawn_app_with(|s| {
        s.production = true;
        s.social.google = None;
        s.social.facebook = None;
    })
    .await;
    for provider in ["GOOGLE", "FACEBOOK"] {
        let response = social_login(&app, json!({"provider": provider, "idToken": "x"})).await;
        assert_eq!(
            response.code(),
            Some("PROVIDER_NOT_CONFIGURED"),
            "{}",
            response.body
        );
    }
}

#[tokio::test]
async fn malformed_social_inputs_get_clear_errors() {
    let app = spawn_app().await;
    for (input, field) in [
        (json!({"provider": "GOOGLE"}), "idToken"),
        (json!({"provider": "GOOGLE", "accessToken": "x"}), "idToken"),
        (
            json!({"provider": "FACEBOOK", "idToken": "x", "accessToken": "y"}),
            "idToken",
        ),
        (
            json!({"provider": "GOOGLE", "idToken": "x", "device": {"deviceId": "d".repeat(1000)}}),
            "device.deviceId",
        ),
    ] {
        let response = social_login(&app, input).await;
        assert_eq!(response.code(), Some("BAD_USER_INPUT"), "{}", response.body);
        assert_eq!(
            response.error_extension("field"),
            field,
            "{}",
            response.body
        );
    }
    let unknown = social_login(&app, json!({"provider": "MYSPACE", "idToken": "x"})).await;
    assert_eq!(unknown.code(), Some("BAD_USER_INPUT"), "{}", unknown.body);
}

#[tokio::test]
async fn an_unlinked_account_is_never_linked_again_by_its_email() {
    let app = spawn_app().await;
    let anna = app.login_as(ANNA, Some("p")).await;
    let token = || {
        app.social
            .google_id_token(json!({"sub": "g-unlinked", "email": ANNA, "email_verified": true}))
    };
    assert_eq!(google_login(&app, &token(), "d").await.code(), None);
    app.gql(
        "mutation { unlinkSocialAccount(provider: GOOGLE) { id } }",
        json!({}),
        anna["accessToken"].as_str(),
    )
    .await;
    let again = google_login(&app, &token(), "d").await;
    assert_eq!(
        again.code(),
        Some("SOCIAL_ACCOUNT_NOT_LINKED"),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn an_automatic_link_is_not_made_for_a_member_who_may_not_sign_in() {
    let app = spawn_app().await;
    app.login_as(ANNA, Some("p")).await;
    app.clock.advance(chrono::Duration::days(31));
    let now = login_api::ports::Clock::now(&app.clock).timestamp();
    let token = app
        .social
        .google_id_token(json!({"sub": "g-stale", "email": ANNA,
        "email_verified": true, "iat": now, "exp": now + 3600}));
    let response = google_login(&app, &token, "d").await;
    assert_eq!(
        response.code(),
        Some("REAUTHENTICATION_REQUIRED"),
        "{}",
        response.body
    );
    assert!(events_of(&app, "user.social_linked").await.is_empty());
}

#[tokio::test]
async fn facebook_throttling_is_provider_unavailable_not_a_bad_token() {
    let app = spawn_app().await;
    app.social.set_throttled(true);
    let token = app
        .social
        .facebook_access_token(login_api::sim::social::FacebookUser {
            user_id: "fb-t".into(),
            name: None,
            email: None,
            app_id: FACEBOOK_APP_ID.into(),
            expires_at: 0,
        });
    let response = social_login(&app, json!({"provider": "FACEBOOK", "accessToken": token})).await;
    assert_eq!(
        response.code(),
        Some("PROVIDER_UNAVAILABLE"),
        "{}",
        response.body
    );
}

#[tokio::test]
async fn refused_tokens_and_nonces_are_limited_per_client_ip() {
    let app = spawn_app_with(|s| {
        s.http.trusted_proxies = vec![login_api::config::IpNetwork::parse("127.0.0.1").unwrap()];
        s.social.settings.ip_failures.max = 3;
        s.social.settings.nonces_per_ip.max = 2;
    })
    .await;
    let query = login_query();
    let bad = json!({"i": {"provider": "GOOGLE", "idToken": "not.a.token"}});
    for _ in 0..3 {
        let response = app.gql_from("198.51.100.9", &query, bad.clone()).await;
        assert_eq!(
            response.code(),
            Some("INVALID_SOCIAL_TOKEN"),
            "{}",
            response.body
        );
    }
    let limited = app.gql_from("198.51.100.9", &query, bad.clone()).await;
    assert_eq!(limited.code(), Some("RATE_LIMITED"), "{}", limited.body);
    let other = app.gql_from("198.51.100.10", &query, bad).await;
    assert_eq!(other.code(), Some("INVALID_SOCIAL_TOKEN"));

    let nonce = "mutation { createLoginNonce { nonce } }";
    for _ in 0..2 {
        assert_eq!(
            app.gql_from("198.51.100.11", nonce, json!({})).await.code(),
            None
        );
    }
    let limited = app.gql_from("198.51.100.11", nonce, json!({})).await;
    assert_eq!(limited.code(), Some("RATE_LIMITED"), "{}", limited.body);
}

#[tokio::test]
async fn empty_tokens_are_bad_input_and_a_member_with_a_google_account_is_not_auto_linked_to_another()
 {
    let app = spawn_app().await;
    for (input, field) in [
        (json!({"provider": "GOOGLE", "idToken": ""}), "idToken"),
        (
            json!({"provider": "FACEBOOK", "accessToken": "  "}),
            "accessToken",
        ),
    ] {
        let response = social_login(&app, input).await;
        assert_eq!(response.code(), Some("BAD_USER_INPUT"), "{}", response.body);
        assert_eq!(response.error_extension("field"), field);
    }
    anna_with_google(&app).await;
    let second = app
        .social
        .google_id_token(json!({"sub": "g-second", "email": ANNA, "email_verified": true}));
    let response = google_login(&app, &second, "d").await;
    assert_eq!(
        response.code(),
        Some("SOCIAL_ACCOUNT_NOT_LINKED"),
        "{}",
        response.body
    );
}
