//! Sign-in by SMS code: each limit at its boundary, moving and removing a number, key rotation,
//! the membership-snapshot rule, and phone sign-in switched off.

use login_api::ports::Clock;
use serde_json::json;

use crate::helpers::{ANNA, TestApp, events_of, spawn_app, spawn_app_with, validate};
use crate::phone::{
    ANNA_PHONE, SEND_CODE, challenge_and_code, code_sent_to, enrolled, login_with_code,
    send_login_code,
};

fn number(i: usize) -> String {
    format!("+4474001{i:05}")
}

async fn send_from(
    app: &TestApp,
    ip: &str,
    phone: &str,
    device: Option<&str>,
) -> crate::helpers::Response {
    app.gql_from(
        ip,
        crate::phone::SEND_LOGIN_CODE,
        json!({"i": {"phone": phone, "device": {"deviceId": device}}}),
    )
    .await
}

#[tokio::test]
async fn the_resend_cooldown_and_the_sends_per_number_per_hour_and_per_day_hold_at_their_boundary()
{
    let app = spawn_app().await;
    let phone = number(1);
    assert_eq!(send_login_code(&app, &phone, None).await.code(), None);
    app.clock.advance(chrono::Duration::seconds(59));
    let cooling = send_login_code(&app, &phone, None).await;
    assert_eq!(cooling.code(), Some("RATE_LIMITED"), "{}", cooling.body);
    assert_eq!(cooling.error_extension("retryAfter"), 1);
    let mut resend_after = String::new();
    for _ in 1..5 {
        app.clock.advance(chrono::Duration::seconds(61));
        let sent = send_login_code(&app, &phone, None).await;
        assert_eq!(sent.code(), None, "{}", sent.body);
        resend_after = sent.data("sendLoginCode")["resendAfter"]
            .as_str()
            .unwrap()
            .to_owned();
    }
    // The fifth send used up the hour: the next is allowed when the hour's window ends.
    let resend_after: chrono::DateTime<chrono::Utc> = resend_after.parse().unwrap();
    assert!(
        resend_after - app.clock.now() > chrono::Duration::minutes(50),
        "{resend_after}"
    );
    app.clock.advance(chrono::Duration::seconds(61));
    let sixth = send_login_code(&app, &phone, None).await;
    assert_eq!(
        sixth.code(),
        Some("RATE_LIMITED"),
        "5 per hour: {}",
        sixth.body
    );
    // The next hour allows five more, then the day's ten are spent.
    app.clock.advance(chrono::Duration::hours(1));
    for _ in 0..5 {
        app.clock.advance(chrono::Duration::seconds(61));
        assert_eq!(send_login_code(&app, &phone, None).await.code(), None);
    }
    app.clock.advance(chrono::Duration::hours(1));
    let eleventh = send_login_code(&app, &phone, None).await;
    assert_eq!(
        eleventh.code(),
        Some("RATE_LIMITED"),
        "10 per day: {}",
        eleventh.body
    );
}

#[tokio::test]
async fn sends_per_ip_and_per_device_hold_at_their_boundary() {
    let app = spawn_app_with(|settings| {
        settings.http.trusted_proxies =
            vec![login_api::config::IpNetwork::parse("127.0.0.1").unwrap()];
    })
    .await;
    for i in 0..20 {
        let sent = send_from(&app, "203.0.113.7", &number(i), None).await;
        assert_eq!(sent.code(), None, "send {i}: {}", sent.body);
    }
    let over = send_from(&app, "203.0.113.7", &number(20), None).await;
    assert_eq!(
        over.code(),
        Some("RATE_LIMITED"),
        "20 per IP: {}",
        over.body
    );
    assert_eq!(
        send_from(&app, "203.0.113.8", &number(21), None)
            .await
            .code(),
        None
    );

    for i in 0..10 {
        let sent = send_from(
            &app,
            &format!("198.51.100.{i}"),
            &number(100 + i),
            Some("dev-1"),
        )
        .await;
        assert_eq!(sent.code(), None, "device send {i}: {}", sent.body);
    }
    let over = send_from(&app, "198.51.100.99", &number(200), Some("dev-1")).await;
    assert_eq!(
        over.code(),
        Some("RATE_LIMITED"),
        "10 per device: {}",
        over.body
    );
}

#[tokio::test]
async fn wrong_codes_are_capped_per_number_across_new_challenges() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    for round in 0..2 {
        let (challenge, _) = challenge_and_code(&app, ANNA_PHONE).await;
        for _ in 0..5 {
            let response = login_with_code(&app, &challenge, "000000").await;
            assert_eq!(
                response.code(),
                Some("INVALID_CODE"),
                "round {round}: {}",
                response.body
            );
        }
        app.clock.advance(chrono::Duration::seconds(61));
    }
    // Ten wrong codes this hour: a new challenge's right code is refused too.
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let capped = login_with_code(&app, &challenge, &code).await;
    assert_eq!(capped.code(), Some("RATE_LIMITED"), "{}", capped.body);
    app.clock.advance(chrono::Duration::hours(1));
    app.clock.advance(chrono::Duration::seconds(61));
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    assert_eq!(login_with_code(&app, &challenge, &code).await.code(), None);
}

#[tokio::test]
async fn the_global_sms_budget_answers_sms_unavailable_for_every_number() {
    let app = spawn_app_with(|settings| {
        settings
            .phone
            .as_mut()
            .unwrap()
            .settings
            .limits
            .global_per_hour = 2;
    })
    .await;
    // The enrolment's SMS and one login code spend the budget.
    enrolled(&app, ANNA, ANNA_PHONE).await;
    challenge_and_code(&app, ANNA_PHONE).await;
    for phone in [number(1), ANNA_PHONE.to_owned()] {
        app.clock.advance(chrono::Duration::seconds(61));
        let response = send_login_code(&app, &phone, None).await;
        assert_eq!(
            response.code(),
            Some("SMS_UNAVAILABLE"),
            "{}",
            response.body
        );
        assert!(response.error_extension("retryAfter").as_u64().unwrap() > 0);
    }
    app.clock.advance(chrono::Duration::hours(1));
    assert_eq!(send_login_code(&app, &number(1), None).await.code(), None);
}

#[tokio::test]
async fn a_number_verified_by_another_member_moves_and_ends_the_first_members_phone_sign_in() {
    let app = spawn_app().await;
    let anna = enrolled(&app, ANNA, ANNA_PHONE).await;
    enrolled(&app, "member1@example.org", ANNA_PHONE).await;
    let me = app
        .gql(
            "{ me { phone phoneVerifiedAt } }",
            json!({}),
            anna["accessToken"].as_str(),
        )
        .await;
    assert_eq!(
        me.data("me")["phone"],
        serde_json::Value::Null,
        "{}",
        me.body
    );
    let removed = events_of(&app, "user.phone_removed").await;
    assert_eq!(removed.len(), 1);
    validate("user.phone_removed.schema.json", &removed[0]);
    assert_eq!(removed[0]["reason"], "moved");
    assert_eq!(removed[0]["userId"], anna["user"]["id"]);
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let login = login_with_code(&app, &challenge, &code).await;
    assert_eq!(login.code(), None, "{}", login.body);
    assert_eq!(
        login.data("loginWithCode")["user"]["email"],
        "member1@example.org"
    );
}

#[tokio::test]
async fn removing_the_phone_ends_phone_sign_in_and_nothing_else() {
    let app = spawn_app().await;
    let anna = enrolled(&app, ANNA, ANNA_PHONE).await;
    let token = anna["accessToken"].as_str();
    let removed = app
        .gql("mutation { removePhone { phone } }", json!({}), token)
        .await;
    assert_eq!(
        removed.data("removePhone")["phone"],
        serde_json::Value::Null,
        "{}",
        removed.body
    );
    let events = events_of(&app, "user.phone_removed").await;
    assert_eq!(events[0]["reason"], "removed");
    assert_eq!(
        app.gql("{ me { id } }", json!({}), token).await.code(),
        None
    );
    let sent = send_login_code(&app, ANNA_PHONE, None).await;
    assert_eq!(sent.code(), None);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.sms.to(ANNA_PHONE).len(), 1, "only the enrolment's SMS");
    let challenge = &sent.data("sendLoginCode")["id"];
    let guess = login_with_code(&app, challenge, "123456").await;
    assert_eq!(guess.code(), Some("INVALID_CODE"));
}

#[tokio::test]
async fn enrolling_needs_a_session_and_the_code_of_the_same_member() {
    let app = spawn_app().await;
    let anyone = app.gql(SEND_CODE, json!({"p": ANNA_PHONE}), None).await;
    assert_eq!(anyone.code(), Some("UNAUTHENTICATED"));
    let anna = app.login_as(ANNA, Some("a")).await;
    let other = app.login_as("member2@example.org", Some("b")).await;
    let sent = app
        .gql(
            SEND_CODE,
            json!({"p": ANNA_PHONE}),
            anna["accessToken"].as_str(),
        )
        .await;
    let challenge = sent.data("sendPhoneVerificationCode")["id"].clone();
    let code = code_sent_to(&app, ANNA_PHONE, 0).await;
    let stolen = app
        .gql(
            crate::phone::VERIFY,
            json!({"c": challenge, "code": code}),
            other["accessToken"].as_str(),
        )
        .await;
    assert_eq!(stolen.code(), Some("INVALID_CODE"), "{}", stolen.body);
}

#[tokio::test]
async fn a_rotated_code_key_still_verifies_codes_sent_before_the_rotation() {
    let old_key = "a".repeat(32);
    let app = spawn_app_with(|settings| {
        settings.phone.as_mut().unwrap().hmac_key = Some(old_key.clone().into());
    })
    .await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let url = app.database.url.clone();
    let start = app.clock.now();
    let rotated = spawn_app_with(|settings| {
        settings.database_url = Some(url);
        let phone = settings.phone.as_mut().unwrap();
        phone.hmac_key = Some("b".repeat(32).into());
        phone.hmac_key_previous = Some(old_key.into());
    })
    .await;
    rotated.clock.set(start);
    let login = login_with_code(&rotated, &challenge, &code).await;
    assert_eq!(login.code(), None, "{}", login.body);
}

#[tokio::test]
async fn phone_sign_in_switched_off_answers_provider_not_configured() {
    let app = spawn_app_with(|settings| settings.phone = None).await;
    let response = send_login_code(&app, ANNA_PHONE, None).await;
    assert_eq!(
        response.code(),
        Some("PROVIDER_NOT_CONFIGURED"),
        "{}",
        response.body
    );
    let login = login_with_code(&app, &json!(uuid::Uuid::now_v7().to_string()), "123456").await;
    assert_eq!(login.code(), Some("PROVIDER_NOT_CONFIGURED"));
}

#[tokio::test]
async fn a_fresh_snapshot_decides_and_a_too_old_one_without_a_trusted_client_needs_the_password() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    app.clock.advance(chrono::Duration::days(29));
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    assert_eq!(login_with_code(&app, &challenge, &code).await.code(), None);
    app.clock.advance(chrono::Duration::days(2));
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let stale = login_with_code(&app, &challenge, &code).await;
    assert_eq!(
        stale.code(),
        Some("REAUTHENTICATION_REQUIRED"),
        "{}",
        stale.body
    );
    assert_eq!(stale.error_extension("reason"), "MEMBERSHIP_SNAPSHOT_STALE");
    // The refusal left the code unused; a password login refreshes the snapshot, and the
    // same code then signs in.
    app.login_as(ANNA, Some("again")).await;
    let login = login_with_code(&app, &challenge, &code).await;
    assert_eq!(login.code(), None, "{}", login.body);
}

#[tokio::test]
async fn a_stale_snapshot_is_re_read_through_the_trusted_client_and_decides_on_what_it_says() {
    let app = spawn_app_with(|settings| {
        settings.hybris_trusted_client = Some(login_api::config::TrustedClientSettings {
            client_id: login_api::sim::SIMULATOR_TRUSTED_CLIENT_ID.into(),
            client_secret: login_api::sim::SIMULATOR_TRUSTED_CLIENT_SECRET.into(),
        });
    })
    .await;
    enrolled(&app, "member3@example.org", ANNA_PHONE).await;
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    assert_eq!(login_with_code(&app, &challenge, &code).await.code(), None);
    assert_eq!(
        app.sim.trusted_reads(),
        0,
        "a fresh snapshot is not re-read"
    );

    // Two days on, Hybris says the membership has ended.
    app.clock.advance(chrono::Duration::days(2));
    let today = app.clock.now().date_naive();
    app.sim.upsert_user(login_api::sim::SimUser {
        uid: "member3@example.org".into(),
        customer_id: "t-member-3".into(),
        password: crate::helpers::PASSWORD.into(),
        first_name: Some("Renamed".into()),
        last_name: None,
        rcc_membership_number: Some("RCC-t-member-3".into()),
        rcc_member_ship_start_date: Some(format!(
            "{}T00:00:00+0000",
            today - chrono::Days::new(400)
        )),
        rcc_member_ship_end_date: Some(format!("{}T00:00:00+0000", today - chrono::Days::new(1))),
        rcc_chapter: None,
        deactivation_date: None,
        extra: Default::default(),
    });
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let ended = login_with_code(&app, &challenge, &code).await;
    assert_eq!(ended.code(), Some("MEMBERSHIP_INACTIVE"), "{}", ended.body);
    assert_eq!(ended.error_extension("reason"), "EXPIRED");
    assert_eq!(app.sim.trusted_reads(), 1);
}

#[tokio::test]
async fn send_limits_are_shared_between_two_instances_through_redis() {
    let prefix = format!("login-api-test:{}:", uuid::Uuid::new_v4().simple());
    let with_redis = |s: &mut login_api::config::Settings| {
        s.redis_url = Some("redis://127.0.0.1:6379".to_owned().into());
        s.redis_key_prefix = prefix.clone();
    };
    let first = spawn_app_with(with_redis).await;
    let second = spawn_app_with(with_redis).await;
    let phone = number(7);
    assert_eq!(send_login_code(&first, &phone, None).await.code(), None);
    let cooling = send_login_code(&second, &phone, None).await;
    assert_eq!(cooling.code(), Some("RATE_LIMITED"), "{}", cooling.body);
}

#[tokio::test]
async fn two_members_proving_one_number_at_once_leave_it_with_exactly_one() {
    let app = spawn_app().await;
    let mut pending = Vec::new();
    for (i, email) in ["member1@example.org", "member2@example.org"]
        .iter()
        .enumerate()
    {
        let login = app.login_as(email, Some(email)).await;
        let token = login["accessToken"].as_str().unwrap().to_owned();
        let sent = app
            .gql(SEND_CODE, json!({"p": ANNA_PHONE}), Some(&token))
            .await;
        let challenge = sent.data("sendPhoneVerificationCode")["id"].clone();
        let code = code_sent_to(&app, ANNA_PHONE, i).await;
        pending.push((token, challenge, code));
        app.clock.advance(chrono::Duration::seconds(61));
    }
    let verifies = pending.iter().map(|(token, challenge, code)| {
        app.gql(
            crate::phone::VERIFY,
            json!({"c": challenge, "code": code}),
            Some(token),
        )
    });
    for response in futures::future::join_all(verifies).await {
        assert_eq!(response.code(), None, "{}", response.body);
    }
    let db = sea_orm::Database::connect(&app.database.url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let count = |sql: &'static str| {
        let db = &db;
        async move {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    sql,
                ))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM users WHERE phone IS NOT NULL").await,
        1
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM identities WHERE provider = 'phone'").await,
        1
    );
}

#[tokio::test]
async fn a_member_who_renewed_since_the_stored_snapshot_gets_the_code_and_signs_in_on_the_re_read()
{
    let app = spawn_app_with(|settings| {
        settings.hybris_trusted_client = Some(login_api::config::TrustedClientSettings {
            client_id: login_api::sim::SIMULATOR_TRUSTED_CLIENT_ID.into(),
            client_secret: login_api::sim::SIMULATOR_TRUSTED_CLIENT_SECRET.into(),
        });
    })
    .await;
    // Zoe's membership ends today; two days on, the stored snapshot says it has ended.
    enrolled(&app, "zoe.endstoday@example.org", ANNA_PHONE).await;
    app.clock.advance(chrono::Duration::days(2));
    let today = app.clock.now().date_naive();
    app.sim.upsert_user(login_api::sim::SimUser {
        uid: "zoe.endstoday@example.org".into(),
        customer_id: "t-ends-today".into(),
        password: crate::helpers::PASSWORD.into(),
        first_name: Some("Zoe".into()),
        last_name: None,
        rcc_membership_number: Some("RCC-renewed".into()),
        rcc_member_ship_start_date: Some(format!("{today}T00:00:00+0000")),
        rcc_member_ship_end_date: Some(format!("{}T00:00:00+0000", today + chrono::Days::new(365))),
        rcc_chapter: None,
        deactivation_date: None,
        extra: Default::default(),
    });
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let login = login_with_code(&app, &challenge, &code).await;
    assert_eq!(login.code(), None, "{}", login.body);
    let membership = &login.data("loginWithCode")["user"];
    assert_eq!(membership["email"], "zoe.endstoday@example.org");
    let me = app
        .gql(
            "{ me { membership { number active } } }",
            json!({}),
            login.data("loginWithCode")["accessToken"].as_str(),
        )
        .await;
    assert_eq!(
        me.data("me")["membership"],
        json!({"number": "RCC-renewed", "active": true}),
        "{}",
        me.body
    );
}
