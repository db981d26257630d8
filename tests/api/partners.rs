//! Partner hand-off: mint a one-time token, redeem it once by RFC 7662 introspection.

use std::collections::HashMap;

use chrono::Duration;
use login_api::{
    auth::admin::NewPartner,
    domain::partner::{Claim, PartnerId},
};
use serde_json::{Value, json};

use crate::helpers::{ANNA, TestApp, events_of, spawn_app, validate};

const MINT: &str =
    "mutation($p: ID!) { createPartnerToken(partnerId: $p) { token expiresAt partnerId } }";

pub async fn add_partner(app: &TestApp, id: &str, claims: &[Claim]) -> String {
    app.admin
        .add_partner(NewPartner {
            id: PartnerId::parse(id).unwrap(),
            display_name: format!("Partner {id}"),
            allowed_claims: claims.to_vec(),
            token_ttl_secs: 900,
        })
        .await
        .unwrap()
        .expose()
        .to_owned()
}

pub async fn mint(app: &TestApp, access_token: &str, partner: &str) -> crate::helpers::Response {
    app.gql(MINT, json!({"p": partner}), Some(access_token))
        .await
}

pub async fn minted(app: &TestApp, access_token: &str, partner: &str) -> String {
    let response = mint(app, access_token, partner).await;
    assert_eq!(response.code(), None, "{}", response.body);
    response.data("createPartnerToken")["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub async fn introspect(app: &TestApp, id: &str, secret: &str, token: &str) -> (u16, Value) {
    let response = app
        .http
        .post(format!("{}/partner/introspect", app.address))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub fn access(login: &Value) -> &str {
    login["accessToken"].as_str().unwrap()
}

#[tokio::test]
async fn a_token_is_redeemed_once_and_a_second_redemption_is_inactive_and_counted_as_a_replay() {
    let app = spawn_app().await;
    let secret = add_partner(&app, "rides-pwa", &[Claim::Name, Claim::MembershipNumber]).await;
    let login = app.login_as(ANNA, None).await;
    let response = mint(&app, access(&login), "rides-pwa").await;
    let minted = response.data("createPartnerToken").clone();
    assert_eq!(minted["partnerId"], "rides-pwa");
    let token = minted["token"].as_str().unwrap();
    assert!(token.len() >= 43);

    let (status, first) = introspect(&app, "rides-pwa", &secret, token).await;
    assert_eq!(status, 200);
    assert_eq!(first["active"], true);
    assert_eq!(first["name"], "Anna Rider");
    assert_eq!(first["membership_number"], "RCC-1001");
    assert!(first["sub"].as_str().unwrap().len() >= 43);
    assert_ne!(first["sub"], login["user"]["id"]);
    let expires_at: chrono::DateTime<chrono::Utc> =
        minted["expiresAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(first["exp"].as_i64().unwrap(), expires_at.timestamp());
    assert_eq!(
        first["exp"].as_i64().unwrap() - first["iat"].as_i64().unwrap(),
        300
    );

    let (status, second) = introspect(&app, "rides-pwa", &secret, token).await;
    assert_eq!(status, 200);
    assert_eq!(second, json!({"active": false}));

    let issued = events_of(&app, "partner.token.issued").await;
    let redeemed = events_of(&app, "partner.token.redeemed").await;
    let replayed = events_of(&app, "partner.token.replayed").await;
    assert_eq!((issued.len(), redeemed.len(), replayed.len()), (1, 1, 1));
    validate("partner.token.issued.schema.json", &issued[0]);
    validate("partner.token.redeemed.schema.json", &redeemed[0]);
    validate("partner.token.replayed.schema.json", &replayed[0]);
    assert_eq!(replayed[0]["replays"], 1);
    let all = format!("{issued:?}{redeemed:?}{replayed:?}");
    assert!(!all.contains(token) && !all.contains(&secret));
}

#[tokio::test]
async fn a_token_expires_at_its_boundary() {
    let app = spawn_app().await;
    let secret = add_partner(&app, "rides-pwa", &[Claim::Name]).await;
    let login = app.login_as(ANNA, None).await;
    let early = minted(&app, access(&login), "rides-pwa").await;
    let late = minted(&app, access(&login), "rides-pwa").await;

    app.clock.advance(Duration::seconds(299));
    assert_eq!(
        introspect(&app, "rides-pwa", &secret, &early).await.1["active"],
        true
    );
    app.clock.advance(Duration::seconds(1));
    assert_eq!(
        introspect(&app, "rides-pwa", &secret, &late).await.1,
        json!({"active": false})
    );
}

#[tokio::test]
async fn another_partners_credentials_get_inactive_and_leave_the_token_to_its_partner() {
    let app = spawn_app().await;
    let secret_a = add_partner(&app, "partner-a", &[Claim::Name]).await;
    let secret_b = add_partner(&app, "partner-b", &[Claim::Name]).await;
    let login = app.login_as(ANNA, None).await;
    let token = minted(&app, access(&login), "partner-a").await;

    assert_eq!(
        introspect(&app, "partner-b", &secret_b, &token).await,
        (200, json!({"active": false}))
    );
    assert_eq!(
        introspect(&app, "partner-a", &secret_a, &token).await.1["active"],
        true
    );
}

#[tokio::test]
async fn wrong_partner_credentials_get_a_401() {
    let app = spawn_app().await;
    let secret = add_partner(&app, "rides-pwa", &[]).await;
    let login = app.login_as(ANNA, None).await;
    let token = minted(&app, access(&login), "rides-pwa").await;
    let other_secret = login_api::domain::OpaqueToken::generate()
        .expose()
        .to_owned();

    for (id, secret) in [
        ("rides-pwa", other_secret.as_str()),
        ("nobody", secret.as_str()),
        ("rides-pwa", ""),
    ] {
        let (status, body) = introspect(&app, id, secret, &token).await;
        assert_eq!(status, 401, "{id}");
        assert_eq!(body["error"], "invalid_client");
    }
    let no_auth = app
        .http
        .post(format!("{}/partner/introspect", app.address))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(no_auth.status(), 401);
    assert_eq!(
        no_auth.headers()["www-authenticate"],
        r#"Basic realm="partner""#
    );

    app.admin
        .disable_partner(&PartnerId::parse("rides-pwa").unwrap())
        .await
        .unwrap();
    assert_eq!(introspect(&app, "rides-pwa", &secret, &token).await.0, 401);
    // The token was never consumed by the failed attempts.
}

#[tokio::test]
async fn a_partner_learns_only_its_allowed_claims() {
    let app = spawn_app().await;
    let bare_secret = add_partner(&app, "bare", &[]).await;
    let named_secret = add_partner(&app, "named", &[Claim::Name]).await;
    let login = app.login_as(ANNA, None).await;

    let bare = introspect(
        &app,
        "bare",
        &bare_secret,
        &minted(&app, access(&login), "bare").await,
    )
    .await
    .1;
    let named = introspect(
        &app,
        "named",
        &named_secret,
        &minted(&app, access(&login), "named").await,
    )
    .await
    .1;

    let keys = |v: &Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        keys(&bare),
        ["active", "client_id", "exp", "iat", "sub", "token_type"]
    );
    assert_eq!(
        keys(&named),
        [
            "active",
            "client_id",
            "exp",
            "iat",
            "name",
            "sub",
            "token_type"
        ]
    );
}

#[tokio::test]
async fn pairwise_subjects_are_stable_for_a_partner_and_differ_between_partners() {
    let app = spawn_app().await;
    let secret_a = add_partner(&app, "partner-a", &[]).await;
    let secret_b = add_partner(&app, "partner-b", &[]).await;
    let login = app.login_as(ANNA, None).await;
    let mut subjects: HashMap<&str, Vec<String>> = HashMap::new();
    for _ in 0..2 {
        for (partner, secret) in [("partner-a", &secret_a), ("partner-b", &secret_b)] {
            let token = minted(&app, access(&login), partner).await;
            let sub = introspect(&app, partner, secret, &token).await.1["sub"]
                .as_str()
                .unwrap()
                .to_owned();
            subjects.entry(partner).or_default().push(sub);
        }
    }
    assert_eq!(subjects["partner-a"][0], subjects["partner-a"][1]);
    assert_eq!(subjects["partner-b"][0], subjects["partner-b"][1]);
    assert_ne!(subjects["partner-a"][0], subjects["partner-b"][0]);
}

#[tokio::test]
async fn logging_out_invalidates_the_sessions_unredeemed_tokens() {
    let app = spawn_app().await;
    let secret = add_partner(&app, "rides-pwa", &[]).await;
    let login = app.login_as(ANNA, None).await;
    let token = minted(&app, access(&login), "rides-pwa").await;

    app.gql("mutation { logout }", json!({}), Some(access(&login)))
        .await;

    assert_eq!(
        introspect(&app, "rides-pwa", &secret, &token).await.1,
        json!({"active": false})
    );
}

#[tokio::test]
async fn the_purge_removes_partner_tokens_a_day_after_expiry() {
    let app = spawn_app().await;
    add_partner(&app, "rides-pwa", &[]).await;
    let login = app.login_as(ANNA, None).await;
    minted(&app, access(&login), "rides-pwa").await;
    app.clock.advance(Duration::hours(23));
    app.auth.purge_expired(100).await.unwrap();
    assert_eq!(app.count("partner_tokens").await, 1);
    app.clock.advance(Duration::hours(2));
    app.auth.purge_expired(100).await.unwrap();
    assert_eq!(app.count("partner_tokens").await, 0);
}

#[tokio::test]
async fn concurrent_redemptions_of_one_token_make_exactly_one_active() {
    let app = spawn_app().await;
    let secret = add_partner(&app, "rides-pwa", &[]).await;
    let login = app.login_as(ANNA, None).await;
    let token = minted(&app, access(&login), "rides-pwa").await;

    let attempts = (0..12).map(|_| introspect(&app, "rides-pwa", &secret, &token));
    let results = futures::future::join_all(attempts).await;

    let active = results
        .iter()
        .filter(|(_, body)| body["active"] == true)
        .count();
    assert_eq!(active, 1, "{results:?}");
    assert!(results.iter().all(|(status, _)| *status == 200));
}

#[tokio::test]
async fn minting_needs_a_member_and_a_known_active_partner_and_is_rate_limited() {
    let app = spawn_app().await;
    add_partner(&app, "rides-pwa", &[]).await;
    let login = app.login_as(ANNA, None).await;

    assert_eq!(
        app.gql(MINT, json!({"p": "rides-pwa"}), None).await.code(),
        Some("UNAUTHENTICATED")
    );
    for unknown in ["nobody", "NOT VALID", ""] {
        assert_eq!(
            mint(&app, access(&login), unknown).await.code(),
            Some("PARTNER_NOT_FOUND"),
            "{unknown}"
        );
    }
    app.admin
        .add_partner(NewPartner {
            id: PartnerId::parse("gone").unwrap(),
            display_name: "Gone".into(),
            allowed_claims: vec![],
            token_ttl_secs: 60,
        })
        .await
        .unwrap();
    app.admin
        .disable_partner(&PartnerId::parse("gone").unwrap())
        .await
        .unwrap();
    assert_eq!(
        mint(&app, access(&login), "gone").await.code(),
        Some("PARTNER_NOT_FOUND")
    );

    // 10 per session per minute by default; the 4 refusals above counted too.
    let mut limited = None;
    for _ in 0..10 {
        let response = mint(&app, access(&login), "rides-pwa").await;
        if response.code() == Some("RATE_LIMITED") {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("minting is rate limited per session");
    assert!(limited.error_extension("retryAfter").as_u64().unwrap() > 0);
}

#[tokio::test]
async fn malformed_introspection_requests_get_clear_errors() {
    let app = spawn_app().await;
    let secret = add_partner(&app, "rides-pwa", &[]).await;
    let url = format!("{}/partner/introspect", app.address);

    let missing = app
        .http
        .post(&url)
        .basic_auth("rides-pwa", Some(&secret))
        .form(&[("nope", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let json_body = app
        .http
        .post(&url)
        .basic_auth("rides-pwa", Some(&secret))
        .json(&json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    for garbage in ["", "x", &"a".repeat(5000), "' OR 1=1 --"] {
        assert_eq!(
            introspect(&app, "rides-pwa", &secret, garbage).await,
            (200, json!({"active": false}))
        );
    }
    let bad_basic = app
        .http
        .post(&url)
        .header("authorization", "Basic !!!not-base64")
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_basic.status(), 401);
}

#[test]
fn the_partner_command_prints_the_secret_once_and_lists_without_it() {
    let dir = std::env::temp_dir().join(format!("login-api-partner-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_login-api"))
            .current_dir(&dir)
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/db.sqlite?mode=rwc", dir.display()),
            )
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let added = run(&[
        "partner",
        "add",
        "--id",
        "rides-pwa",
        "--name",
        "Rides PWA",
        "--claims",
        "name",
    ]);
    let secret = added.lines().last().unwrap().trim().to_owned();
    assert_eq!(secret.len(), 43);
    let listed = run(&["partner", "list"]);
    assert!(
        listed.contains("rides-pwa") && listed.contains("Rides PWA") && !listed.contains(&secret)
    );
    let rotated = run(&["partner", "rotate-secret", "--id", "rides-pwa"]);
    assert_ne!(rotated.lines().last().unwrap().trim(), secret);
    run(&["partner", "disable", "--id", "rides-pwa"]);
    assert!(run(&["partner", "list"]).contains("false"));
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn the_basic_scheme_is_read_in_any_casing() {
    use base64::{Engine, engine::general_purpose::STANDARD};
    let app = spawn_app().await;
    let secret = add_partner(&app, "rides-pwa", &[]).await;
    let credentials = STANDARD.encode(format!("rides-pwa:{secret}"));
    for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
        let response = app
            .http
            .post(format!("{}/partner/introspect", app.address))
            .header("authorization", format!("{scheme} {credentials}"))
            .form(&[("token", "not-a-token")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({"active": false}), "{scheme}");
    }
}

#[tokio::test]
async fn redemptions_and_replays_are_in_the_audit_trail() {
    let app = spawn_app().await;
    let secret = add_partner(&app, "rides-pwa", &[Claim::Name]).await;
    let login = app.login_as(ANNA, None).await;
    let token = minted(&app, access(&login), "rides-pwa").await;
    for _ in 0..2 {
        introspect(&app, "rides-pwa", &secret, &token).await;
    }
    let events = crate::audit::all_events(&app).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "partner.token.replayed",
            "partner.token.redeemed",
            "login.succeeded"
        ]
    );
    assert_eq!(events[0].outcome.as_str(), "failure");
    assert_eq!(events[0].details.partner_id.as_deref(), Some("rides-pwa"));
    assert_eq!(events[0].user_id, events[2].user_id);
    // The member sees the replay (it may mean a leak), not the routine redemption.
    let activity = crate::audit::activity(&app, access(&login), json!({})).await;
    let shown: Vec<&str> = activity["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(shown, ["PARTNER_TOKEN_REPLAYED", "LOGIN_SUCCEEDED"]);
}
