//! SMS senders behind the `SmsSender` port, one per `SMS_PROVIDER`: `log` (development),
//! `webhook` (your own gateway), `twilio` and `aws` (SNS).
//!
//! Design: each sender reports failures in words safe to log (status and provider error code,
//! never the number or the text), and `Metered` counts every outcome by provider. Twilio and
//! the webhook use the process's one reqwest client; SNS goes through the AWS SDK on the same
//! hyper/rustls stack as EventBridge.

mod log;
mod sns;
mod twilio;
mod webhook;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::metrics::{Metrics, SmsOutcome};
use crate::ports::{Sms, SmsError, SmsSender};

pub use log::LogSender;
pub use sns::SnsSender;
pub use twilio::TwilioSender;
pub use webhook::WebhookSender;

/// Which provider sends the codes (`SMS_PROVIDER`) and its settings.
#[derive(Debug, Clone)]
pub enum SmsSettings {
    /// Development only: the text goes to the log and the simulator's inbox.
    Log,
    /// `SMS_WEBHOOK_URL`, `SMS_WEBHOOK_SECRET`.
    Webhook {
        url: reqwest::Url,
        secret: SecretString,
    },
    /// `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_MESSAGING_SERVICE_SID`,
    /// `TWILIO_BASE_URL` (default `https://api.twilio.com`).
    Twilio {
        base_url: reqwest::Url,
        account_sid: String,
        auth_token: SecretString,
        messaging_service_sid: String,
    },
    /// SNS `Publish` to a phone number; the standard `AWS_*` variables (`AWS_ENDPOINT_URL_SNS`).
    Aws {
        region: Option<String>,
        endpoint_url: Option<String>,
        static_credentials: Option<(String, SecretString)>,
        /// `SMS_AWS_SENDER_ID`: the alphanumeric sender shown, where the country allows one.
        sender_id: Option<String>,
    },
}

impl SmsSettings {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Webhook { .. } => "webhook",
            Self::Twilio { .. } => "twilio",
            Self::Aws { .. } => "aws",
        }
    }
}

/// Counts each send's outcome in `login_api_sms_messages_total{provider, outcome}`.
pub struct Metered {
    inner: Arc<dyn SmsSender>,
    metrics: Arc<Metrics>,
}

impl Metered {
    pub fn new(inner: Arc<dyn SmsSender>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait]
impl SmsSender for Metered {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }

    async fn send(&self, sms: &Sms) -> Result<(), SmsError> {
        let result = self.inner.send(sms).await;
        let outcome = if result.is_ok() { "sent" } else { "failed" };
        self.metrics
            .sms
            .get_or_create(&SmsOutcome {
                provider: self.inner.provider(),
                outcome,
            })
            .inc();
        result
    }
}

/// A reqwest failure in safe words: no URL.
fn transport(error: reqwest::Error) -> SmsError {
    let error = error.without_url();
    if error.is_timeout() {
        SmsError("request timed out".into())
    } else if error.is_connect() {
        SmsError("connection failed".into())
    } else {
        SmsError(format!("request failed: {error}"))
    }
}

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
