//! Access tokens: verifiable by anyone through the JWK Set; refused with a clear 401.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use login_api::auth::tokens::generate_pem;
use serde_json::{Value, json};

use crate::helpers::{ANNA, TestApp, spawn_app, spawn_app_with};

const ME: &str = "{ me { id email firstName membership { number active } } }";

async fn jwks(app: &TestApp) -> JwkSet {
    app.http
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_access_token_verifies_against_the_served_jwks_with_the_documented_claims() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    let token = login["accessToken"].as_str().unwrap();

    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let set = jwks(&app).await;
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("the kid is served");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&["club-mobile-apps"]);
    validation.set_issuer(&["login-api"]);
    let claims =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap()
            .claims;

    assert_eq!(claims["sub"], login["user"]["id"]);
    assert_eq!(claims["sid"], login["session"]["id"]);
    for claim in ["iss", "aud", "iat", "exp", "jti"] {
        assert!(!claims[claim].is_null(), "missing {claim}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
}

#[tokio::test]
async fn me_with_a_valid_token_returns_the_member() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;

    let response = app.gql(ME, json!({}), login["accessToken"].as_str()).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.data("me")["email"], ANNA);
    assert_eq!(response.data("me")["id"], login["user"]["id"]);
    assert_eq!(response.data("me")["membership"]["active"], true);
}

#[tokio::test]
async fn me_without_a_token_is_unauthenticated_in_errors() {
    let app = spawn_app().await;

    let response = app.gql(ME, json!({}), None).await;

    assert_eq!(response.code(), Some("UNAUTHENTICATED"));
    assert!(response.body["data"].is_null());
}

fn assert_401(response: &crate::helpers::Response) {
    assert_eq!(response.status, 401, "{}", response.body);
    assert_eq!(
        response.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(response.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn malformed_forged_and_foreign_tokens_get_a_401_with_www_authenticate() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    let good = login["accessToken"].as_str().unwrap();
    let (header, rest) = good.split_once('.').unwrap();
    let (claims, _signature) = rest.split_once('.').unwrap();

    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims}.");
    let tampered_signature = format!("{header}.{claims}.AAAA{}", &good[good.len() - 20..]);
    let hs256_forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": login["user"]["id"], "sid": login["session"]["id"], "exp": 4_000_000_000u64,
                "iss": "login-api", "aud": "club-mobile-apps"}),
        &EncodingKey::from_secret(b"guessed"),
    )
    .unwrap();
    let other_server = spawn_app().await;
    let foreign = other_server.login_as(ANNA, None).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let huge = "a".repeat(10_000);

    for token in [
        "garbage",
        "a.b.c",
        &unsigned,
        &tampered_signature,
        &hs256_forged,
        &foreign,
        &huge,
    ] {
        let response = app.gql(ME, json!({}), Some(token)).await;
        assert_401(&response);
    }
    let not_bearer = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .json(&json!({"query": ME}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_bearer.status(), 401);
}

#[tokio::test]
async fn tokens_of_our_key_with_the_wrong_issuer_or_audience_get_a_401() {
    let dir = std::env::temp_dir().join(format!("login-api-key-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("jwt.pem");
    let pem = generate_pem(Algorithm::ES256).unwrap();
    std::fs::write(&key_file, &pem).unwrap();
    let app = spawn_app_with(|s| s.jwt.private_key_file = Some(key_file.clone())).await;
    let login = app.login_as(ANNA, None).await;
    let kid = jsonwebtoken::decode_header(login["accessToken"].as_str().unwrap())
        .unwrap()
        .kid;
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    let sign = |iss: &str, aud: &str| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = kid.clone();
        let now = chrono::Utc::now().timestamp();
        jsonwebtoken::encode(
            &header,
            &json!({"sub": login["user"]["id"], "sid": login["session"]["id"], "iat": now,
                    "exp": now + 600, "jti": "x", "iss": iss, "aud": aud}),
            &key,
        )
        .unwrap()
    };

    // The control: our key, our issuer and audience, is accepted.
    let ok = app
        .gql(ME, json!({}), Some(&sign("login-api", "club-mobile-apps")))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_401(
        &app.gql(
            ME,
            json!({}),
            Some(&sign("someone-else", "club-mobile-apps")),
        )
        .await,
    );
    assert_401(
        &app.gql(ME, json!({}), Some(&sign("login-api", "another-audience")))
            .await,
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test]
async fn an_expired_access_token_gets_a_401_at_its_expiry_and_not_a_second_before() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    let token = login["accessToken"].as_str().unwrap();

    app.clock.advance(chrono::Duration::seconds(899));
    assert_eq!(app.gql(ME, json!({}), Some(token)).await.status, 200);
    app.clock.advance(chrono::Duration::seconds(1));
    let response = app.gql(ME, json!({}), Some(token)).await;
    assert_401(&response);
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

#[tokio::test]
async fn a_revoked_sessions_unexpired_access_token_is_refused_at_once() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    let token = login["accessToken"].as_str().unwrap();

    let logout = app.gql("mutation { logout }", json!({}), Some(token)).await;
    assert_eq!(logout.data("logout"), true);

    assert_401(&app.gql(ME, json!({}), Some(token)).await);
}

#[tokio::test]
async fn login_still_works_when_the_app_sends_a_stale_token() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    app.gql(
        "mutation { logout }",
        json!({}),
        login["accessToken"].as_str(),
    )
    .await;

    let response = app
        .gql(
            &crate::helpers::LOGIN,
            json!({"input": {"email": ANNA, "password": crate::helpers::PASSWORD}}),
            login["accessToken"].as_str(),
        )
        .await;

    assert_eq!(response.status, 200);
    assert_eq!(response.code(), None, "{}", response.body);
}

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_casing() {
    let app = spawn_app().await;
    let token = app.login_as(ANNA, None).await["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    // RFC 9110 §11.1: the scheme is a case-insensitive token.
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let response = app
            .http
            .post(format!("{}/graphql", app.address))
            .header("authorization", format!("{scheme} {token}"))
            .json(&json!({"query": ME}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["data"]["me"]["email"], ANNA, "{scheme}: {body}");
    }
}
