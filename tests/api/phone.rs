//! Sign-in by SMS code: enrol a phone from a session, then log in with a code; the rules on
//! codes, the answer that never tells an enrolled number from an unknown one, and the limits.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::helpers::{ANNA, PAYLOAD, Response, TestApp, events_of, spawn_app, validate};

pub const ANNA_PHONE: &str = "+447400123456";
pub const SEND_CODE: &str = "mutation($p: String!, $r: String) { sendPhoneVerificationCode(phone: $p, region: $r) { id expiresAt resendAfter codeLength phoneHint } }";
pub const VERIFY: &str = "mutation($c: ID!, $code: String!) { verifyPhone(challengeId: $c, code: $code) { id phone phoneVerifiedAt } }";
pub const SEND_LOGIN_CODE: &str = "mutation($i: SendLoginCodeInput!) { sendLoginCode(input: $i) { id expiresAt resendAfter codeLength phoneHint } }";

pub fn login_with_code_query() -> String {
    format!(
        "mutation($i: LoginWithCodeInput!) {{ loginWithCode(input: $i) {{ {PAYLOAD} session {{ authMethod }} user {{ phone }} }} }}"
    )
}

/// The code in the newest message to `phone`, once it has arrived.
pub async fn code_sent_to(app: &TestApp, phone: &str, messages_before: usize) -> String {
    app.wait_until("the SMS", || async {
        let count = app.sms.to(phone).len();
        if count > messages_before {
            Ok(())
        } else {
            Err(format!("{count} messages to the number"))
        }
    })
    .await;
    let body = app.sms.to(phone).last().unwrap().body.clone();
    body.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap_or_else(|| panic!("no code in {body:?}"))
        .to_owned()
}

/// Logs `email` in and enrols `phone` for it; the login payload.
pub async fn enrolled(app: &TestApp, email: &str, phone: &str) -> Value {
    let login = app.login_as(email, Some(&format!("{email}-device"))).await;
    enrolled_with(app, login["accessToken"].as_str().unwrap(), phone).await;
    login
}

/// Enrols `phone` for the member of the access token `token`.
pub async fn enrolled_with(app: &TestApp, token: &str, phone: &str) {
    let before = app.sms.to(phone).len();
    let sent = app.gql(SEND_CODE, json!({"p": phone}), Some(token)).await;
    assert_eq!(sent.code(), None, "{}", sent.body);
    let challenge = sent.data("sendPhoneVerificationCode")["id"].clone();
    let code = code_sent_to(app, phone, before).await;
    let verified = app
        .gql(VERIFY, json!({"c": challenge, "code": code}), Some(token))
        .await;
    assert_eq!(verified.code(), None, "{}", verified.body);
    assert_eq!(verified.data("verifyPhone")["phone"], phone);
    // Past the resend cooldown, so the test's next send is not refused by it.
    app.clock.advance(chrono::Duration::seconds(61));
}

pub async fn send_login_code(app: &TestApp, phone: &str, device: Option<&str>) -> Response {
    app.gql(
        SEND_LOGIN_CODE,
        json!({"i": {"phone": phone, "device": {"deviceId": device}}}),
        None,
    )
    .await
}

pub async fn login_with_code(app: &TestApp, challenge: &Value, code: &str) -> Response {
    app.gql(
        &login_with_code_query(),
        json!({"i": {"challengeId": challenge, "code": code, "device": {"deviceId": "code-phone"}}}),
        None,
    )
    .await
}

/// Sends a login code to `phone` and returns the challenge id and the code that arrived.
pub async fn challenge_and_code(app: &TestApp, phone: &str) -> (Value, String) {
    let before = app.sms.to(phone).len();
    let sent = send_login_code(app, phone, None).await;
    assert_eq!(sent.code(), None, "{}", sent.body);
    let challenge = sent.data("sendLoginCode")["id"].clone();
    (challenge, code_sent_to(app, phone, before).await)
}

fn wrong(code: &str) -> String {
    let last = (code.as_bytes()[5] - b'0' + 1) % 10;
    format!("{}{last}", &code[..5])
}

#[tokio::test]
async fn a_member_enrols_a_phone_then_logs_in_with_a_code_refreshes_and_logs_out() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let verified = events_of(&app, "user.phone_verified").await;
    assert_eq!(verified.len(), 1);
    validate("user.phone_verified.schema.json", &verified[0]);
    assert_eq!(verified[0]["phoneRegion"], "GB");
    assert!(!verified[0].to_string().contains("7400123456"));

    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let response = login_with_code(&app, &challenge, &code).await;
    assert_eq!(response.code(), None, "{}", response.body);
    let login = response.data("loginWithCode");
    assert_eq!(login["session"]["authMethod"], "PHONE_CODE");
    assert_eq!(login["user"]["email"], ANNA);
    assert_eq!(login["user"]["phone"], ANNA_PHONE);
    let access = login["accessToken"].as_str().unwrap();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["amr"], json!(["sms"]));
    let logins = events_of(&app, "user.login").await;
    let last = logins.last().unwrap();
    validate("user.login.schema.json", last);
    assert_eq!(last["session"]["authMethod"], "phone_code");

    let refreshed = app.refresh(login["refreshToken"].as_str().unwrap()).await;
    assert_eq!(refreshed.code(), None, "{}", refreshed.body);
    let refreshed = refreshed.data("refreshSession");
    let token = refreshed["accessToken"].as_str().unwrap();
    let out = app
        .gql(
            "mutation { logout(scope: CURRENT) }",
            json!({}),
            Some(token),
        )
        .await;
    assert_eq!(out.data("logout"), true, "{}", out.body);
    let me = app.gql("{ me { id } }", json!({}), Some(token)).await;
    assert_eq!(me.code(), Some("UNAUTHENTICATED"));
    // The code is used: it cannot sign in twice.
    let again = login_with_code(&app, &challenge, &code).await;
    assert_eq!(again.code(), Some("INVALID_CODE"), "{}", again.body);
}

#[tokio::test]
async fn an_unknown_number_gets_the_same_answer_and_no_sms_leaves() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let unknown = "+447400999888";
    let known = send_login_code(&app, ANNA_PHONE, None).await;
    let stranger = send_login_code(&app, unknown, None).await;
    assert_eq!(known.status, stranger.status);
    let (known, stranger) = (known.data("sendLoginCode"), stranger.data("sendLoginCode"));
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(known), keys(stranger));
    assert_eq!(known["codeLength"], stranger["codeLength"]);
    assert_eq!(stranger["phoneHint"], "+44 •••• ••9888");
    code_sent_to(&app, ANNA_PHONE, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        app.sms.to(unknown).is_empty(),
        "an SMS reached an unknown number"
    );
    // Its challenge answers exactly like a wrong code.
    let guess = login_with_code(&app, &stranger["id"], "123456").await;
    assert_eq!(guess.code(), Some("INVALID_CODE"));
    assert_eq!(guess.error_extension("attemptsLeft"), 4);
}

#[tokio::test]
async fn five_wrong_codes_use_up_the_challenge_even_for_the_right_one() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    for left in (0..5).rev() {
        let response = login_with_code(&app, &challenge, &wrong(&code)).await;
        assert_eq!(response.code(), Some("INVALID_CODE"), "{}", response.body);
        assert_eq!(response.error_extension("attemptsLeft"), left);
    }
    let right = login_with_code(&app, &challenge, &code).await;
    assert_eq!(
        right.code(),
        Some("CODE_ATTEMPTS_EXCEEDED"),
        "{}",
        right.body
    );
}

#[tokio::test]
async fn twenty_concurrent_right_codes_open_exactly_one_session() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let sessions_before = app.count("sessions").await;
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let attempts = (0..20).map(|_| login_with_code(&app, &challenge, &code));
    let outcomes = futures::future::join_all(attempts).await;
    let won = outcomes.iter().filter(|r| r.code().is_none()).count();
    assert_eq!(
        won,
        1,
        "{:?}",
        outcomes.iter().map(|r| r.code()).collect::<Vec<_>>()
    );
    for lost in outcomes.iter().filter(|r| r.code().is_some()) {
        assert!(
            // Each attempt in flight holds a place under the number's cap of wrong codes.
            matches!(
                lost.code(),
                Some("INVALID_CODE" | "CODE_ATTEMPTS_EXCEEDED" | "RATE_LIMITED")
            ),
            "{}",
            lost.body
        );
    }
    assert_eq!(app.count("sessions").await, sessions_before + 1);
}

#[tokio::test]
async fn an_earlier_code_still_works_after_a_resend_and_only_three_stay_live() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let mut sent = Vec::new();
    for _ in 0..4 {
        app.clock.advance(chrono::Duration::seconds(61));
        sent.push(challenge_and_code(&app, ANNA_PHONE).await);
    }
    // The first of four is no longer live; the second still signs in.
    let oldest = login_with_code(&app, &sent[0].0, &sent[0].1).await;
    assert_eq!(oldest.code(), Some("INVALID_CODE"), "{}", oldest.body);
    let earlier = login_with_code(&app, &sent[1].0, &sent[1].1).await;
    assert_eq!(earlier.code(), None, "{}", earlier.body);
}

#[tokio::test]
async fn a_code_works_until_its_expiry_and_not_at_it() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let (first, first_code) = challenge_and_code(&app, ANNA_PHONE).await;
    app.clock.advance(chrono::Duration::seconds(61));
    let (second, second_code) = challenge_and_code(&app, ANNA_PHONE).await;
    // The first expires 300 s after it was sent, the second 61 s later.
    app.clock.advance(chrono::Duration::seconds(300 - 61));
    let at_expiry = login_with_code(&app, &first, &first_code).await;
    assert_eq!(at_expiry.code(), Some("INVALID_CODE"), "{}", at_expiry.body);
    app.clock.advance(chrono::Duration::seconds(60));
    let just_before = login_with_code(&app, &second, &second_code).await;
    assert_eq!(just_before.code(), None, "{}", just_before.body);
}

#[tokio::test]
async fn premium_rate_fixed_line_disallowed_and_garbage_numbers_are_refused_with_the_reason() {
    let app = crate::helpers::spawn_app_with(|settings| {
        let phone = settings.phone.as_mut().unwrap();
        phone.settings.policy.allowed_regions =
            vec![login_api::domain::Region::parse("GB").unwrap()];
    })
    .await;
    for (phone, reason) in [
        ("+44 909 879 0000", "NOT_MOBILE"),
        ("+44 800 123 4567", "NOT_MOBILE"),
        ("+44 20 7946 0018", "NOT_MOBILE"),
        ("+4915112345678", "REGION_NOT_ALLOWED"),
        ("hello", "INVALID"),
        ("07400 123456", "INVALID"),
        (&"9".repeat(10_000), "INVALID"),
        ("+44 7400\u{0}123456", "INVALID"),
    ] {
        let response = send_login_code(&app, phone, None).await;
        assert_eq!(
            response.code(),
            Some("BAD_USER_INPUT"),
            "{phone}: {}",
            response.body
        );
        assert_eq!(response.error_extension("field"), "phone");
        assert_eq!(response.error_extension("reason"), reason, "{phone}");
        assert!(
            !response.body.to_string().contains("909"),
            "the number is echoed"
        );
    }
    // National input with its region is read.
    let national = app
        .gql(
            SEND_LOGIN_CODE,
            json!({"i": {"phone": "07400 123456", "region": "gb"}}),
            None,
        )
        .await;
    assert_eq!(national.code(), None, "{}", national.body);
    let bad_region = app
        .gql(
            SEND_LOGIN_CODE,
            json!({"i": {"phone": "07400 123456", "region": "Great Britain"}}),
            None,
        )
        .await;
    assert_eq!(bad_region.error_extension("field"), "region");
    assert!(app.sms.messages().is_empty());
}

#[tokio::test]
async fn malformed_codes_and_challenge_ids_get_clear_errors_and_cost_no_attempt() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    for bad in ["12345", "abcdef", "", &"1".repeat(5000)] {
        let response = login_with_code(&app, &challenge, bad).await;
        assert_eq!(response.code(), Some("BAD_USER_INPUT"), "{bad:?}");
        assert_eq!(response.error_extension("field"), "code");
    }
    for id in [json!("not-a-uuid"), json!(uuid::Uuid::now_v7().to_string())] {
        let response = login_with_code(&app, &id, &code).await;
        assert_eq!(response.code(), Some("INVALID_CODE"), "{}", response.body);
    }
    let right = login_with_code(&app, &challenge, &code).await;
    assert_eq!(right.code(), None, "{}", right.body);
}

#[tokio::test]
async fn one_code_sign_in_per_request() {
    let app = spawn_app().await;
    enrolled(&app, ANNA, ANNA_PHONE).await;
    let (challenge, code) = challenge_and_code(&app, ANNA_PHONE).await;
    let batch = "mutation($i: LoginWithCodeInput!) { a: loginWithCode(input: $i) { accessToken } b: loginWithCode(input: $i) { accessToken } }";
    let response = app
        .gql(
            batch,
            json!({"i": {"challengeId": challenge, "code": wrong(&code)}}),
            None,
        )
        .await;
    let codes: Vec<&str> = response.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["extensions"]["code"].as_str())
        .collect();
    assert!(codes.contains(&"BAD_USER_INPUT"), "{}", response.body);
    let right = login_with_code(&app, &challenge, &code).await;
    assert_eq!(right.code(), None, "one wrong attempt only: {}", right.body);
}
