//! `login`: every outcome of the flow.

use std::time::Duration;

use login_api::ports::Clock;
use serde_json::json;

use crate::helpers::{ANNA, LOGIN, PASSWORD, spawn_app, spawn_app_with};

#[tokio::test]
async fn login_of_a_current_member_returns_our_tokens_a_session_and_the_user() {
    let app = spawn_app().await;

    let response = app.login(ANNA, PASSWORD, Some("phone-1")).await;

    assert_eq!(response.status, 200);
    assert_eq!(response.code(), None, "{}", response.body);
    let login = response.data("login");
    assert_eq!(login["tokenType"], "Bearer");
    assert_eq!(login["expiresIn"], 900);
    assert_eq!(login["refreshTokenExpiresIn"], 2_592_000);
    assert!(login["accessToken"].as_str().unwrap().split('.').count() == 3);
    assert!(login["refreshToken"].as_str().unwrap().len() >= 43);
    let user = &login["user"];
    assert_eq!(user["email"], ANNA);
    assert_eq!(user["firstName"], "Anna");
    assert_eq!(user["lastName"], "Rider");
    assert_eq!(
        user["membership"],
        json!({"number": "RCC-1001", "startDate": "2020-01-01", "endDate": "2099-12-31",
               "chapter": "London", "active": true})
    );
    let session = &login["session"];
    assert_eq!(session["current"], true);
    assert_eq!(session["deviceType"], "IOS");
    assert_eq!(session["deviceName"], "Test phone");
    assert_eq!(session["appVersion"], "3.2.1");
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("sessions").await, 1);
    assert_eq!(app.count("refresh_tokens").await, 1);
}

#[tokio::test]
async fn the_refresh_token_is_stored_only_as_a_hash() {
    let app = spawn_app().await;
    let login = app.login_as(ANNA, None).await;
    let token = login["refreshToken"].as_str().unwrap();

    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT token_hash FROM refresh_tokens",
        ))
        .await
        .unwrap();
    let stored: String = rows[0].try_get("", "token_hash").unwrap();
    assert_ne!(stored, token);
    assert_eq!(stored.len(), 64);
}

#[tokio::test]
async fn a_returning_member_keeps_their_user_id_and_their_profile_is_updated() {
    let app = spawn_app().await;
    let first = app.login_as(ANNA, None).await;
    app.clock.advance(chrono::Duration::hours(2));

    let second = app.login_as(ANNA, None).await;

    assert_eq!(first["user"]["id"], second["user"]["id"]);
    assert_eq!(first["user"]["createdAt"], second["user"]["createdAt"]);
    assert_ne!(first["user"]["lastLoginAt"], second["user"]["lastLoginAt"]);
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("sessions").await, 2);
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_invalid_credentials_error() {
    let app = spawn_app().await;

    let wrong_password = app.login(ANNA, "not-the-password", None).await;
    let unknown_email = app.login("nobody@example.org", PASSWORD, None).await;

    assert_eq!(wrong_password.code(), Some("INVALID_CREDENTIALS"));
    assert_eq!(unknown_email.code(), Some("INVALID_CREDENTIALS"));
    assert_eq!(wrong_password.status, unknown_email.status);
    assert_eq!(
        wrong_password.body["errors"][0]["message"],
        unknown_email.body["errors"][0]["message"]
    );
    assert_eq!(app.count("users").await, 0);
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn inactive_memberships_are_refused_with_their_reason_and_nothing_is_issued() {
    let app = spawn_app().await;
    for (email, reason) in [
        ("ben.expired@example.org", "EXPIRED"),
        ("cara.future@example.org", "NOT_STARTED"),
        ("dan.nomember@example.org", "MISSING"),
        ("hal.closed@example.org", "CLOSED"),
    ] {
        let response = app.login(email, PASSWORD, None).await;
        assert_eq!(response.code(), Some("MEMBERSHIP_INACTIVE"), "{email}");
        assert_eq!(response.error_extension("reason"), reason, "{email}");
        assert!(response.body["data"].is_null());
    }
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("refresh_tokens").await, 0);
}

#[tokio::test]
async fn a_password_with_special_characters_logs_in_on_the_raw_retry() {
    let app = spawn_app().await;

    let response = app
        .login("eva.special@example.org", "Pä&+%=# ßwörd", None)
        .await;

    assert_eq!(response.code(), None, "{}", response.body);
    assert_eq!(response.data("login")["user"]["firstName"], "Éva");
    // First the legacy-stripped form (refused), then the password as typed.
    assert_eq!(app.sim.token_requests(), 2);
}

#[tokio::test]
async fn a_member_registered_with_the_stripped_password_logs_in_on_the_first_try() {
    let app = spawn_app().await;

    let response = app
        .login("finn.legacy@example.org", "Legacy&Pass1", None)
        .await;

    assert_eq!(response.code(), None, "{}", response.body);
    assert_eq!(app.sim.token_requests(), 1);
}

#[tokio::test]
async fn a_wrong_password_without_illegal_characters_is_tried_once() {
    let app = spawn_app().await;
    let response = app.login(ANNA, "wrong password", None).await;
    assert_eq!(response.code(), Some("INVALID_CREDENTIALS"));
    assert_eq!(app.sim.token_requests(), 1);
}

#[tokio::test]
async fn invalid_input_is_bad_user_input_naming_the_field_and_never_reaches_hybris() {
    let app = spawn_app().await;
    let long = "x".repeat(10_000);
    let cases = [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": format!("{}@example.org", "a".repeat(300)), "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": "a\u{0}b@example.org", "password": PASSWORD}),
            "email",
        ),
        (
            json!({"email": "<script>alert(1)</script>", "password": PASSWORD}),
            "email",
        ),
        (json!({"email": ANNA, "password": ""}), "password"),
        (json!({"email": ANNA, "password": long}), "password"),
        (
            json!({"email": ANNA, "password": PASSWORD, "device": {"deviceName": long}}),
            "device.deviceName",
        ),
        (
            json!({"email": ANNA, "password": PASSWORD, "device": {"appVersion": "1".repeat(65)}}),
            "device.appVersion",
        ),
        (
            json!({"email": ANNA, "password": PASSWORD, "device": {"deviceId": "a\u{0}b"}}),
            "device.deviceId",
        ),
    ];
    for (input, field) in cases {
        let response = app.gql(&LOGIN, json!({"input": input}), None).await;
        assert_eq!(response.code(), Some("BAD_USER_INPUT"), "{input}");
        assert_eq!(response.error_extension("field"), field, "{input}");
    }
    assert_eq!(app.sim.token_requests(), 0);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn an_unknown_device_type_is_refused_by_the_schema() {
    let app = spawn_app().await;
    let response = app
        .gql(
            &LOGIN,
            json!({"input": {"email": ANNA, "password": PASSWORD, "device": {"deviceType": "TOASTER"}}}),
            None,
        )
        .await;
    assert!(
        response.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("TOASTER")
    );
    assert_eq!(app.sim.token_requests(), 0);
}

#[tokio::test]
async fn a_hybris_outage_is_upstream_unavailable_and_not_retried() {
    let app = spawn_app().await;
    app.sim.set_outage(true);

    // Even the two-try password gets one try on an outage.
    let response = app
        .login("eva.special@example.org", "Pä&+%=# ßwörd", None)
        .await;

    assert_eq!(response.code(), Some("UPSTREAM_UNAVAILABLE"));
    assert_eq!(app.sim.token_requests(), 1);
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn a_hybris_timeout_is_upstream_unavailable() {
    let app = spawn_app_with(|s| s.hybris_timeout = Duration::from_millis(200)).await;
    app.sim.set_latency(Duration::from_millis(1_000));

    let response = app.login(ANNA, PASSWORD, None).await;

    assert_eq!(response.code(), Some("UPSTREAM_UNAVAILABLE"));
}

#[tokio::test]
async fn a_refused_connection_to_hybris_is_upstream_unavailable() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = spawn_app_with(|s| {
        s.hybris.as_mut().unwrap().base_url = format!("http://127.0.0.1:{port}");
    })
    .await;

    let response = app.login(ANNA, PASSWORD, None).await;

    assert_eq!(response.code(), Some("UPSTREAM_UNAVAILABLE"));
}

#[tokio::test]
async fn a_malformed_upstream_date_is_an_upstream_data_error_with_a_request_id_and_no_details() {
    let app = spawn_app().await;

    let response = app.login("gil.baddate@example.org", PASSWORD, None).await;

    assert_eq!(response.code(), Some("UPSTREAM_DATA_INVALID"));
    let message = response.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("membership service sent member data"),
        "{message}"
    );
    let request_id = response.error_extension("requestId").as_str().unwrap();
    assert_eq!(response.headers["x-request-id"], request_id);
    let text = response.body.to_string();
    assert!(!text.contains("rccMemberShip") && !text.contains("31/12/2099"));
    assert_eq!(app.count("users").await, 0);
}

#[tokio::test]
async fn twenty_concurrent_first_logins_of_one_member_make_one_user_and_twenty_sessions() {
    // Attempts are counted before Hybris answers, so 20 at once exceed the default account limit.
    let app = spawn_app_with(|s| s.limits.account.max = 100).await;

    let logins = (0..20).map(|_| app.login(ANNA, PASSWORD, None));
    let responses = futures::future::join_all(logins).await;

    for response in &responses {
        assert_eq!(response.code(), None, "{}", response.body);
    }
    let ids: std::collections::HashSet<_> = responses
        .iter()
        .map(|r| r.data("login")["user"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(app.count("users").await, 1);
    assert_eq!(app.count("sessions").await, 20);
}

#[tokio::test]
async fn concurrent_logins_on_one_device_leave_it_one_live_session() {
    let app = spawn_app_with(|s| s.limits.account.max = 100).await;
    app.login_as(ANNA, Some("phone-1")).await;

    let logins = (0..12).map(|_| app.login(ANNA, PASSWORD, Some("phone-1")));
    for response in futures::future::join_all(logins).await {
        assert_eq!(response.code(), None, "{}", response.body);
    }
    assert_eq!(
        app.count("sessions WHERE device_id = 'phone-1' AND revoked_at IS NULL")
            .await,
        1,
        "each login ends the device's other live sessions, committed or not yet"
    );
}

#[tokio::test]
async fn a_login_from_a_known_device_replaces_that_devices_session() {
    let app = spawn_app().await;
    let first = app.login_as(ANNA, Some("phone-1")).await;
    app.login_as(ANNA, Some("tablet-1")).await;

    let second = app.login_as(ANNA, Some("phone-1")).await;

    let sessions = app
        .gql(
            "{ sessions { id current } }",
            json!({}),
            second["accessToken"].as_str(),
        )
        .await;
    let sessions = sessions.data("sessions").as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s["id"] != first["session"]["id"]));
    // The replaced session's tokens no longer work.
    let old = app.refresh(first["refreshToken"].as_str().unwrap()).await;
    assert_eq!(old.code(), Some("INVALID_REFRESH_TOKEN"));
}

#[tokio::test]
async fn a_session_never_outlives_the_membership_s_last_day() {
    let app = spawn_app_with(|s| s.membership_timezone = chrono_tz::UTC).await;

    let login = app.login_as("zoe.endstoday@example.org", None).await;

    let today = app.clock.now().date_naive();
    let end_of_today = today
        .succ_opt()
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let expires_at: chrono::DateTime<chrono::Utc> = login["session"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires_at <= end_of_today);
    let expires_in = login["expiresIn"].as_i64().unwrap();
    assert!(app.clock.now() + chrono::Duration::seconds(expires_in) <= end_of_today);
}

#[tokio::test]
async fn a_login_whose_fresh_upstream_token_is_refused_is_told_to_retry_not_that_the_password_is_wrong()
 {
    let app = spawn_app().await;
    app.sim.set_reject_profile_tokens(true);
    let response = app.login(ANNA, PASSWORD, None).await;
    assert_eq!(
        response.code(),
        Some("UPSTREAM_UNAVAILABLE"),
        "{}",
        response.body
    );
    app.sim.set_reject_profile_tokens(false);
    assert_eq!(app.login(ANNA, PASSWORD, None).await.code(), None);
}

#[tokio::test]
async fn the_upstream_token_is_revoked_once_the_profile_is_read() {
    let app = spawn_app().await;
    app.login_as(ANNA, None).await;
    app.eventually("the Hybris token to be revoked", || async {
        app.sim.revocations() == 1 && app.sim.live_tokens() == 0
    })
    .await;
    // A wrong password leaves no token behind either (none was issued).
    app.login(ANNA, "Wr0ng-Secret-Guess", None).await;
    assert_eq!(app.sim.live_tokens(), 0);
}

#[tokio::test]
async fn a_hybris_without_token_revocation_changes_nothing_for_the_member() {
    let app = spawn_app().await;
    for status in [
        reqwest::StatusCode::NOT_FOUND,
        reqwest::StatusCode::UNAUTHORIZED,
        reqwest::StatusCode::FOUND,
        reqwest::StatusCode::INTERNAL_SERVER_ERROR,
    ] {
        app.sim.set_revoke_status(Some(status));
        let response = app.login(ANNA, PASSWORD, None).await;
        assert_eq!(response.code(), None, "{status}: {}", response.body);
    }
    assert_eq!(app.sim.revocations(), 0);
}

#[tokio::test]
async fn an_email_that_moved_to_another_hybris_customer_logs_in_as_that_customer() {
    let app = spawn_app().await;
    let first = app.login_as(ANNA, None).await;
    let old_id = first["user"]["id"].as_str().unwrap().to_owned();
    let member = |uid: &str, customer_id: &str| login_api::sim::SimUser {
        uid: uid.into(),
        customer_id: customer_id.into(),
        password: PASSWORD.into(),
        first_name: Some("Anna".into()),
        last_name: Some("Rider".into()),
        rcc_membership_number: Some(format!("RCC-{customer_id}")),
        rcc_member_ship_start_date: Some("2020-01-01".into()),
        rcc_member_ship_end_date: Some("2099-12-31".into()),
        rcc_chapter: None,
        deactivation_date: None,
        extra: Default::default(),
    };
    // The shop re-created the account: the email now belongs to a new customer id, and the old
    // customer got another email.
    app.sim.upsert_user(member(ANNA, "c-2001"));
    app.sim
        .upsert_user(member("anna.old@example.org", "c-1001"));

    let moved = app.login(ANNA, PASSWORD, None).await;
    assert_eq!(moved.code(), None, "{}", moved.body);
    let new_id = moved.data("login")["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_id, old_id, "another Hybris customer is another member");
    assert_eq!(moved.data("login")["user"]["email"], ANNA);

    let old = app.login_as("anna.old@example.org", None).await;
    assert_eq!(
        old["user"]["id"],
        old_id.as_str(),
        "the old member keeps its id"
    );
    assert_eq!(old["user"]["email"], "anna.old@example.org");
    assert_eq!(app.count("users").await, 2);
}

#[tokio::test]
async fn a_password_or_email_typed_decomposed_logs_in_as_composed() {
    let app = spawn_app().await;
    // Stored at Hybris as the shop page sent them: composed (NFC).
    for (i, (stored, typed)) in [
        ("Pédale-2026!", "Pe\u{301}dale-2026!"),
        ("Año&Ruta-26", "An\u{303}o&Ruta-26"),
        ("Ångström-42", "A\u{30a}ngstro\u{308}m-42"),
        (
            "한국-자전거",
            "\u{1112}\u{1161}\u{11ab}\u{1100}\u{116e}\u{11a8}-자전거",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let uid = format!("zoë{i}@example.org");
        app.sim.upsert_user(login_api::sim::SimUser {
            uid: uid.clone(),
            customer_id: format!("c-uni-{i}"),
            password: stored.into(),
            first_name: None,
            last_name: None,
            rcc_membership_number: Some(format!("RCC-U{i}")),
            rcc_member_ship_start_date: Some("2020-01-01".into()),
            rcc_member_ship_end_date: Some("2099-12-31".into()),
            rcc_chapter: None,
            deactivation_date: None,
            extra: Default::default(),
        });
        let decomposed_email = uid.replace('ë', "e\u{308}");
        let response = app.login(&decomposed_email, typed, None).await;
        assert_eq!(response.code(), None, "{stored:?}: {}", response.body);
        assert_eq!(response.data("login")["user"]["email"], uid.as_str());
    }
}

#[tokio::test]
async fn a_shop_account_closing_in_the_future_still_logs_in_until_that_day() {
    let app = spawn_app().await;
    let today = app.clock.now().date_naive();
    app.sim.upsert_user(login_api::sim::SimUser {
        uid: "ivy.leaving@example.org".into(),
        customer_id: "c-leaving".into(),
        password: PASSWORD.into(),
        first_name: None,
        last_name: None,
        rcc_membership_number: Some("RCC-IVY".into()),
        rcc_member_ship_start_date: Some("2020-01-01".into()),
        rcc_member_ship_end_date: Some("2099-12-31".into()),
        rcc_chapter: None,
        deactivation_date: Some(format!("{}T00:00:00+0000", today + chrono::Days::new(1))),
        extra: Default::default(),
    });
    let response = app.login("ivy.leaving@example.org", PASSWORD, None).await;
    assert_eq!(response.code(), None, "{}", response.body);
    app.clock.advance(chrono::Duration::days(1));
    let response = app.login("ivy.leaving@example.org", PASSWORD, None).await;
    assert_eq!(response.error_extension("reason"), "CLOSED");
}
