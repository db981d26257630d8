//! The Hybris client against the simulator: the wire contract and its failure modes.

use std::sync::Arc;

use login_api::{
    adapters::hybris::HybrisClient,
    domain::CustomerProfile,
    domain::{Email, Password},
    ports::{IdpError, MemberDirectory, PasswordChecker},
    sim::{self, SimControl},
};
use secrecy::SecretString;

async fn client_for(client_secret: &str, base_site: &str) -> (HybrisClient, Arc<SimControl>) {
    let control = Arc::new(SimControl::default());
    let addr = sim::spawn(
        "127.0.0.1:0".parse().unwrap(),
        sim::SimConfig {
            users: sim::parse_users(sim::EXAMPLE_USERS).unwrap(),
            client_id: "app".into(),
            client_secret: "right-secret".into(),
            base_site: "rcc".into(),
        },
        control.clone(),
    )
    .await
    .unwrap();
    let client = HybrisClient::new(
        reqwest::Client::new(),
        Default::default(),
        std::time::Duration::from_secs(5),
        format!("http://{addr}"),
        "app".into(),
        SecretString::from(client_secret.to_owned()),
        base_site.into(),
    );
    (client, control)
}

/// The password check, then the profile read with what it granted: a password login's two calls.
async fn authenticate(
    client: &HybrisClient,
    email: &Email,
    password: &Password,
) -> Result<CustomerProfile, IdpError> {
    let grant = client.check_password(email, password).await?;
    client.current_member(&grant).await
}

fn anna() -> (Email, Password) {
    (
        Email::parse("Anna.Rider@example.org").unwrap(),
        Password::parse("Ride-2026!").unwrap(),
    )
}

#[tokio::test]
async fn the_client_reads_the_profile_with_membership_fields() {
    let (client, _) = client_for("right-secret", "rcc").await;
    let (email, password) = anna();

    let profile = authenticate(&client, &email, &password).await.unwrap();

    assert_eq!(profile.customer_id, "c-1001");
    assert_eq!(profile.email.as_str(), "anna.rider@example.org");
    let membership = profile.membership.unwrap();
    assert_eq!(membership.number, "RCC-1001");
    assert_eq!(membership.end_date.to_string(), "2099-12-31");
    assert_eq!(membership.chapter.as_deref(), Some("London"));
}

#[tokio::test]
async fn a_wrong_client_secret_is_unexpected_not_invalid_credentials() {
    let (client, _) = client_for("wrong-secret", "rcc").await;
    let (email, password) = anna();
    let error = authenticate(&client, &email, &password).await.unwrap_err();
    assert!(matches!(error, IdpError::Unexpected(_)), "{error:?}");
    assert!(!format!("{error:#}").contains("wrong-secret"));
}

#[tokio::test]
async fn an_unknown_base_site_is_unexpected() {
    let (client, _) = client_for("right-secret", "no-such-site").await;
    let (email, password) = anna();
    let error = authenticate(&client, &email, &password).await.unwrap_err();
    assert!(matches!(error, IdpError::Unexpected(_)), "{error:?}");
}

#[tokio::test]
async fn a_5xx_is_unavailable() {
    let (client, control) = client_for("right-secret", "rcc").await;
    control.set_outage(true);
    let (email, password) = anna();
    let error = authenticate(&client, &email, &password).await.unwrap_err();
    assert!(matches!(error, IdpError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn the_simulator_answers_bad_credentials_as_hybris_does() {
    let control = Arc::new(SimControl::default());
    let addr = sim::spawn(
        "127.0.0.1:0".parse().unwrap(),
        sim::SimConfig {
            users: sim::parse_users(sim::EXAMPLE_USERS).unwrap(),
            client_id: "app".into(),
            client_secret: "s".into(),
            base_site: "rcc".into(),
        },
        control,
    )
    .await
    .unwrap();
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/authorizationserver/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "anna.rider@example.org"),
            ("password", "wrong"),
            ("client_id", "app"),
            ("client_secret", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"error": "invalid_grant", "error_description": "Bad credentials"})
    );
}

#[tokio::test]
async fn a_profile_401_right_after_a_fresh_token_is_an_upstream_fault() {
    let (client, control) = client_for("right-secret", "rcc").await;
    control.set_reject_profile_tokens(true);
    let (email, password) = anna();
    let error = authenticate(&client, &email, &password).await.unwrap_err();
    assert!(matches!(error, IdpError::TokenRejected(_)), "{error:?}");
}

/// A redirect from Hybris is not followed (`adapters::http_client`): a followed 307 would
/// POST the member's password and our client secret to wherever it points. The error says
/// what to fix, and the address redirected to hears nothing.
#[tokio::test]
async fn a_redirect_is_not_followed_and_the_error_says_so() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let reached = Arc::new(AtomicUsize::new(0));
    let counted = reached.clone();
    let elsewhere = axum::Router::new().fallback(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        async { "{}" }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, elsewhere).await.unwrap() });
    let redirecting = axum::Router::new().fallback(move |uri: axum::http::Uri| async move {
        (
            axum::http::StatusCode::TEMPORARY_REDIRECT,
            [(
                axum::http::header::LOCATION,
                format!("http://{target}{uri}"),
            )],
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hybris = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, redirecting).await.unwrap() });
    let client = HybrisClient::new(
        login_api::adapters::http_client().unwrap(),
        Default::default(),
        std::time::Duration::from_secs(5),
        format!("http://{hybris}"),
        "app".into(),
        SecretString::from("right-secret".to_owned()),
        "rcc".into(),
    );
    let (email, password) = anna();

    let Err(error) = client.check_password(&email, &password).await else {
        panic!("a redirect let the password check pass");
    };

    assert!(matches!(error, IdpError::Unexpected(_)), "{error:?}");
    let message = format!("{error:#}");
    assert!(message.contains("307"), "{message}");
    assert!(message.contains("HYBRIS_BASE_URL"), "{message}");
    assert!(!message.contains("Ride-2026!"), "{message}");
    assert!(!message.contains("right-secret"), "{message}");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );
}
