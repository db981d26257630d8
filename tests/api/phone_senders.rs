//! Each SMS sender against a peer: the webhook and Twilio against the gateway simulator (which
//! checks the signature and the Twilio wire as the real receivers do), SNS against moto.

use login_api::adapters::sms::SmsSettings;
use login_api::sim::sms::{GatewayConfig, GatewayRefusals, SmsInbox, spawn_gateway};
use serde_json::{Value, json};

use crate::helpers::{ANNA, TestApp, spawn_app_with};
use crate::phone::{ANNA_PHONE, SEND_CODE, VERIFY};

const WEBHOOK_SECRET: &str = "webhook-secret-of-the-club";
const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-auth-token";

async fn gateway() -> (String, SmsInbox, GatewayRefusals) {
    let inbox = SmsInbox::default();
    let (addr, refusals) = spawn_gateway(
        "127.0.0.1:0".parse().unwrap(),
        GatewayConfig {
            webhook_secret: WEBHOOK_SECRET.into(),
            twilio_account_sid: TWILIO_SID.into(),
            twilio_auth_token: TWILIO_TOKEN.into(),
        },
        inbox.clone(),
    )
    .await
    .unwrap();
    (format!("http://{addr}"), inbox, refusals)
}

/// Enrols Anna's phone with a code read by `read_code`, then logs in with a second code.
async fn enrol_and_log_in<F, Fut>(app: &TestApp, mut read_code: F)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let login = app.login_as(ANNA, Some("d")).await;
    let token = login["accessToken"].as_str();
    let sent = app.gql(SEND_CODE, json!({"p": ANNA_PHONE}), token).await;
    assert_eq!(sent.code(), None, "{}", sent.body);
    let code = read_code(0).await;
    let challenge = sent.data("sendPhoneVerificationCode")["id"].clone();
    let verified = app
        .gql(VERIFY, json!({"c": challenge, "code": code}), token)
        .await;
    assert_eq!(verified.code(), None, "{}", verified.body);
    app.clock.advance(chrono::Duration::seconds(61));
    let sent = crate::phone::send_login_code(app, ANNA_PHONE, None).await;
    let code = read_code(1).await;
    let login = crate::phone::login_with_code(app, &sent.data("sendLoginCode")["id"], &code).await;
    assert_eq!(login.code(), None, "{}", login.body);
}

/// Waits until the gateway has refused a request for `why`.
async fn refused(app: &TestApp, refusals: &GatewayRefusals, why: &str) {
    app.wait_until(why, || async {
        if refusals.all().iter().any(|r| r == why) {
            Ok(())
        } else {
            Err(format!("refused so far: {:?}", refusals.all()))
        }
    })
    .await;
}

fn code_in(body: &str) -> String {
    body.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == 6)
        .unwrap_or_else(|| panic!("no code in {body:?}"))
        .to_owned()
}

async fn nth_message(app: &TestApp, inbox: &SmsInbox, n: usize) -> String {
    app.wait_until("the gateway to receive the SMS", || async {
        let count = inbox.to(ANNA_PHONE).len();
        if count > n {
            Ok(())
        } else {
            Err(format!("{count} received"))
        }
    })
    .await;
    code_in(&inbox.to(ANNA_PHONE)[n].body)
}

#[tokio::test]
async fn the_webhook_sender_posts_signed_json_that_the_receiver_verifies() {
    let (url, inbox, refusals) = gateway().await;
    let app = spawn_app_with(|settings| {
        settings.phone.as_mut().unwrap().sms = SmsSettings::Webhook {
            url: format!("{url}/webhook").parse().unwrap(),
            secret: WEBHOOK_SECRET.into(),
        };
    })
    .await;
    enrol_and_log_in(&app, |n| nth_message(&app, &inbox, n)).await;
    assert!(refusals.all().is_empty(), "{:?}", refusals.all());
    let message = &inbox.to(ANNA_PHONE)[0];
    assert_eq!(message.via, "webhook");
    assert!(message.challenge_id.is_some());
    assert!(
        app.sms.messages().is_empty(),
        "nothing went to the log sender"
    );
}

#[tokio::test]
async fn a_webhook_signed_with_another_secret_is_refused_and_the_caller_never_learns_it() {
    let (url, inbox, refusals) = gateway().await;
    let app = spawn_app_with(|settings| {
        settings.phone.as_mut().unwrap().sms = SmsSettings::Webhook {
            url: format!("{url}/webhook").parse().unwrap(),
            secret: "not-the-receivers-secret".into(),
        };
    })
    .await;
    let login = app.login_as(ANNA, Some("d")).await;
    let sent = app
        .gql(
            SEND_CODE,
            json!({"p": ANNA_PHONE}),
            login["accessToken"].as_str(),
        )
        .await;
    assert_eq!(sent.code(), None, "{}", sent.body);
    refused(&app, &refusals, "bad signature").await;
    assert!(inbox.messages().is_empty());
    app.wait_until("the failure to be counted", || async {
        let metrics = crate::metrics::scrape(&app).await;
        metrics
            .lines()
            .find(|l| {
                l.contains("sms_messages_total") && l.contains("failed") && l.contains("webhook")
            })
            .map(|_| ())
            .ok_or_else(|| "no failed webhook count".to_owned())
    })
    .await;
}

#[tokio::test]
async fn the_twilio_sender_speaks_the_messaging_api() {
    let (url, inbox, refusals) = gateway().await;
    let app = spawn_app_with(|settings| {
        settings.phone.as_mut().unwrap().sms = SmsSettings::Twilio {
            base_url: url.parse().unwrap(),
            account_sid: TWILIO_SID.into(),
            auth_token: TWILIO_TOKEN.into(),
            messaging_service_sid: "MG0123456789abcdef0123456789abcdef".into(),
        };
    })
    .await;
    enrol_and_log_in(&app, |n| nth_message(&app, &inbox, n)).await;
    assert!(refusals.all().is_empty(), "{:?}", refusals.all());
    assert_eq!(inbox.to(ANNA_PHONE)[0].via, "twilio");
}

#[tokio::test]
async fn a_wrong_twilio_token_is_refused_by_twilio_and_counted() {
    let (url, _inbox, refusals) = gateway().await;
    let app = spawn_app_with(|settings| {
        settings.phone.as_mut().unwrap().sms = SmsSettings::Twilio {
            base_url: url.parse().unwrap(),
            account_sid: TWILIO_SID.into(),
            auth_token: "wrong".into(),
            messaging_service_sid: "MG0".into(),
        };
    })
    .await;
    let login = app.login_as(ANNA, Some("d")).await;
    let sent = app
        .gql(
            SEND_CODE,
            json!({"p": ANNA_PHONE}),
            login["accessToken"].as_str(),
        )
        .await;
    assert_eq!(sent.code(), None);
    refused(&app, &refusals, "twilio auth").await;
}

/// The SMS moto's SNS recorded, as `GET /moto-api/data.json` lists them.
async fn moto_sms() -> Vec<Value> {
    let data: Value = reqwest::get(format!(
        "{}/moto-api/data.json",
        crate::moto::moto_endpoint()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    data["sns"]["SMS"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_aws_sender_publishes_through_sns() {
    let endpoint = crate::moto::moto_endpoint();
    let app = spawn_app_with(|settings| {
        settings.phone.as_mut().unwrap().sms = SmsSettings::Aws {
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint.into()),
            static_credentials: Some(("testing".into(), "testing".into())),
            sender_id: Some("ClubRides".into()),
        };
    })
    .await;
    // moto keeps every test's messages: only those after this point are this test's.
    let seen = moto_sms().await.len();
    enrol_and_log_in(&app, |n| async move {
        let mut found = None;
        for _ in 0..1800 {
            let ours: Vec<Value> = moto_sms()
                .await
                .into_iter()
                .skip(seen)
                .filter(|m| m["phone_number"] == ANNA_PHONE)
                .collect();
            if let Some(message) = ours.get(n) {
                found = Some(code_in(message["message"].as_str().unwrap()));
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        found.expect("moto recorded the SMS")
    })
    .await;
}
