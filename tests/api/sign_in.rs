//! The sign-in pipeline's seam: a second verifier, defined here and nowhere in `src/`, signs a
//! linked member in through the same tail as a password login; and how a session was opened
//! travels in the session and in the access token (`amr`, RFC 8176).

use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use login_api::{
    auth::{LinkError, LoginError, Principal, SignInContext},
    domain::{
        AuthMethod, InactiveReason, LoginSubject, Provider, VerifiedIdentity, device::DeviceFields,
    },
    ports::{CredentialVerifier, IdpError},
};
use serde_json::{Value, json};

use crate::helpers::{ANNA, PASSWORD, TestApp, spawn_app, spawn_app_with};

/// A throw-away single-sign-on: `valid:SUBJECT` is a good credential for SUBJECT, anything
/// else is refused. It vouches for no member profile, so it can only sign in a linked member.
struct TestSso;

struct SsoToken(String);

const TEST_SSO: &str = "test-sso";

#[async_trait]
impl CredentialVerifier for TestSso {
    type Credential = SsoToken;

    fn method(&self) -> AuthMethod {
        AuthMethod::Password
    }

    fn login_subject(&self, credential: &SsoToken) -> LoginSubject {
        LoginSubject::Identity {
            provider: Provider::parse(TEST_SSO).unwrap(),
            subject: credential.0.trim_start_matches("valid:").to_owned(),
        }
    }

    async fn verify(&self, credential: &SsoToken) -> Result<VerifiedIdentity, IdpError> {
        let subject = credential
            .0
            .strip_prefix("valid:")
            .ok_or(IdpError::InvalidCredentials)?;
        Ok(VerifiedIdentity {
            provider: Provider::parse(TEST_SSO).unwrap(),
            subject: subject.to_owned(),
            email: None,
            email_verified: false,
            first_name: None,
            last_name: None,
            directory_profile: None,
            nonce: None,
        })
    }
}

fn context(device_id: &str) -> SignInContext {
    SignInContext {
        device: DeviceFields {
            device_id: Some(device_id.into()),
            ..Default::default()
        },
        client_ip: Some("203.0.113.9".parse().unwrap()),
        proof: None,
    }
}

async fn principal_of(app: &TestApp, login: &Value) -> Principal {
    app.auth
        .authenticate(login["accessToken"].as_str().unwrap())
        .await
        .unwrap()
}

async fn sso_identity(subject: &str) -> VerifiedIdentity {
    TestSso
        .verify(&SsoToken(format!("valid:{subject}")))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_second_verifier_signs_a_linked_member_in_through_the_shared_tail() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, Some("phone")).await;
    let anna_id = login["user"]["id"].as_str().unwrap().to_owned();

    // Not linked yet: a verified identity is not a member.
    let refused = app
        .auth
        .sign_in(
            &TestSso,
            SsoToken("valid:anna-sso".into()),
            context("tablet"),
        )
        .await;
    assert!(
        matches!(refused, Err(LoginError::IdentityNotLinked)),
        "{:?}",
        refused.err()
    );

    let principal = principal_of(&app, &login).await;
    app.auth
        .link_identity(principal, &sso_identity("anna-sso").await)
        .await
        .unwrap();
    let outbox_before = app.count("outbox").await;
    let issued = app
        .auth
        .sign_in(
            &TestSso,
            SsoToken("valid:anna-sso".into()),
            context("tablet"),
        )
        .await
        .unwrap();

    assert_eq!(issued.user.id.to_string(), anna_id, "the linked member");
    assert_eq!(issued.user.email.as_str(), ANNA);
    assert_eq!(issued.session.device.device_id.as_deref(), Some("tablet"));
    assert_eq!(
        app.count("outbox").await,
        outbox_before + 2,
        "index update and user.login, written with the session"
    );
    assert_eq!(app.count("users").await, 1, "no member was created");

    // The tokens work like a password login's.
    let me = app
        .gql("{ me { email } }", json!({}), Some(&issued.access_token))
        .await;
    assert_eq!(me.data("me")["email"], ANNA);
    let refreshed = app.refresh(issued.refresh_token.expose()).await;
    assert_eq!(refreshed.code(), None, "{}", refreshed.body);
    // Both devices' sessions are live: one per device, whatever the method.
    let sessions = app
        .gql("{ sessions { id } }", json!({}), Some(&issued.access_token))
        .await;
    assert_eq!(sessions.data("sessions").as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn failures_of_another_method_count_against_its_own_subject() {
    let app = spawn_app_with(|s| s.limits.account.max = 2).await;
    let login = app.login_as(ANNA, None).await;
    app.auth
        .link_identity(
            principal_of(&app, &login).await,
            &sso_identity("anna-sso").await,
        )
        .await
        .unwrap();

    for _ in 0..2 {
        let wrong = app
            .auth
            .sign_in(&TestSso, SsoToken("forged".into()), context("x"))
            .await;
        assert!(matches!(wrong, Err(LoginError::InvalidCredentials)));
    }
    let limited = app
        .auth
        .sign_in(&TestSso, SsoToken("forged".into()), context("x"))
        .await;
    assert!(
        matches!(limited, Err(LoginError::RateLimited { .. })),
        "{:?}",
        limited.err()
    );
    // The member's password login is another subject: untouched.
    app.login_as(ANNA, None).await;
}

#[tokio::test]
async fn an_identity_links_to_one_member_only() {
    let app = spawn_app().await;
    let anna = app.login_as(ANNA, None).await;
    let other = app.login_as("member0@example.org", None).await;
    let identity = sso_identity("shared").await;
    app.auth
        .link_identity(principal_of(&app, &anna).await, &identity)
        .await
        .unwrap();
    // Linking again is harmless; another member is refused.
    app.auth
        .link_identity(principal_of(&app, &anna).await, &identity)
        .await
        .unwrap();
    let taken = app
        .auth
        .link_identity(principal_of(&app, &other).await, &identity)
        .await;
    assert!(matches!(taken, Err(LinkError::InUse)), "{:?}", taken.err());
    // Nobody attaches a member-directory identity: members come only from Hybris.
    let mut hybris = identity.clone();
    hybris.provider = Provider::hybris();
    let refused = app
        .auth
        .link_identity(principal_of(&app, &other).await, &hybris)
        .await;
    assert!(matches!(refused, Err(LinkError::InUse)));
}

#[tokio::test]
async fn a_linked_member_whose_membership_ended_is_refused_with_the_reason() {
    let app = spawn_app().await;
    let login = app.login_as("zoe.endstoday@example.org", None).await;
    app.auth
        .link_identity(
            principal_of(&app, &login).await,
            &sso_identity("zoe-sso").await,
        )
        .await
        .unwrap();
    app.clock.advance(chrono::Duration::days(2));

    let refused = app
        .auth
        .sign_in(&TestSso, SsoToken("valid:zoe-sso".into()), context("x"))
        .await;

    assert!(
        matches!(
            refused,
            Err(LoginError::MembershipInactive(InactiveReason::Expired))
        ),
        "{:?}",
        refused.err()
    );
}

fn amr_of(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["amr"].clone()
}

#[tokio::test]
async fn a_password_session_says_so_in_the_session_and_in_the_amr_claim() {
    let app = spawn_app().await;
    let response = app
        .gql(
            "mutation($input: LoginInput!) { login(input: $input) {
                accessToken refreshToken session { authMethod } } }",
            json!({"input": {"email": ANNA, "password": PASSWORD}}),
            None,
        )
        .await;
    let login = response.data("login");
    assert_eq!(
        login["session"]["authMethod"], "PASSWORD",
        "{}",
        response.body
    );
    let access = login["accessToken"].as_str().unwrap();
    assert_eq!(amr_of(access), json!(["pwd"]));

    let current = app
        .gql("{ currentSession { authMethod } }", json!({}), Some(access))
        .await;
    assert_eq!(current.data("currentSession")["authMethod"], "PASSWORD");

    // A refresh keeps how the session was opened.
    let refreshed = app
        .gql(
            "mutation($t: String!) { refreshSession(refreshToken: $t) {
                accessToken session { authMethod } } }",
            json!({"t": login["refreshToken"]}),
            None,
        )
        .await;
    let refreshed = refreshed.data("refreshSession");
    assert_eq!(refreshed["session"]["authMethod"], "PASSWORD");
    assert_eq!(
        amr_of(refreshed["accessToken"].as_str().unwrap()),
        json!(["pwd"])
    );
}

/// A verifier that claims to be the member directory but read no profile.
struct Impostor;

#[async_trait]
impl CredentialVerifier for Impostor {
    type Credential = SsoToken;

    fn method(&self) -> AuthMethod {
        AuthMethod::Password
    }

    fn login_subject(&self, credential: &SsoToken) -> LoginSubject {
        TestSso.login_subject(credential)
    }

    async fn verify(&self, credential: &SsoToken) -> Result<VerifiedIdentity, IdpError> {
        Ok(VerifiedIdentity {
            provider: Provider::hybris(),
            ..TestSso.verify(credential).await?
        })
    }
}

#[tokio::test]
async fn naming_the_member_directory_without_its_profile_signs_nobody_in() {
    let app = spawn_app().await;
    app.login_as(ANNA, None).await; // anna's hybris identity: subject c-1001
    let refused = app
        .auth
        .sign_in(&Impostor, SsoToken("valid:c-1001".into()), context("x"))
        .await;
    assert!(
        matches!(refused, Err(LoginError::IdentityNotLinked)),
        "{:?}",
        refused.err()
    );
}
