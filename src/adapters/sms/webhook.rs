//! The webhook sender: `POST` JSON `{"to","body","challengeId","expiresAt"}` to
//! `SMS_WEBHOOK_URL`, for a gateway of your own.
//!
//! The receiver authenticates it by `X-Signature-256: sha256=<hex HMAC-SHA256>` over
//! `"<X-Signature-Timestamp>.<raw body>"` with `SMS_WEBHOOK_SECRET` (refuse timestamps more than
//! five minutes off), and deduplicates by `Idempotency-Key` (the challenge id). Any 2xx is
//! delivered.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::{TIMEOUT, transport};
use crate::ports::{Sms, SmsError, SmsSender};

pub struct WebhookSender {
    http: reqwest::Client,
    url: reqwest::Url,
    secret: SecretString,
}

impl WebhookSender {
    pub fn new(http: reqwest::Client, url: reqwest::Url, secret: SecretString) -> Self {
        Self { http, url, secret }
    }
}

#[async_trait]
impl SmsSender for WebhookSender {
    fn provider(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, sms: &Sms) -> Result<(), SmsError> {
        let body = serde_json::to_vec(&json!({
            "to": sms.to.as_str(),
            "body": sms.body.expose_secret(),
            "challengeId": sms.challenge_id.to_string(),
            "expiresAt": sms
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }))
        .map_err(|e| SmsError(format!("encoding the message: {e}")))?;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(self.secret.expose_secret(), timestamp, &body);
        let response = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Signature-Timestamp", timestamp.to_string())
            .header("X-Signature-256", signature)
            .header("Idempotency-Key", sms.challenge_id.to_string())
            .body(body)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SmsError(format!("the webhook answered {status}")))
        }
    }
}

/// `sha256=` and the hex HMAC-SHA256 of `"<timestamp>.<body>"`.
fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use aws_lc_rs::hmac;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(format!("{timestamp}.").as_bytes());
    context.update(body);
    format!("sha256={}", crate::domain::to_hex(context.sign().as_ref()))
}
