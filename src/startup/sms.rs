//! Wiring for sign-in by SMS code: the sender `SMS_PROVIDER` names, and the code key.

use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::adapters::sms::{
    LogSender, Metered, SmsSettings, SnsSender, TwilioSender, WebhookSender,
};
use crate::auth::phone::PhoneCodes;
use crate::config::PhoneConfig;
use crate::domain::OtpKeys;
use crate::metrics::Metrics;
use crate::ports::SmsSender;
use crate::sim::sms::SmsInbox;

/// Phone sign-in as configured; `inbox` receives what the `log` sender "sends".
pub(super) async fn phone_codes(
    config: &PhoneConfig,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    inbox: SmsInbox,
) -> PhoneCodes {
    let sender: Arc<dyn SmsSender> = match &config.sms {
        SmsSettings::Log => {
            tracing::warn!(
                "SMS_PROVIDER is not set: sign-in codes are written to the log and the simulator's /sms/inbox (development only)"
            );
            Arc::new(LogSender::new(inbox))
        }
        SmsSettings::Webhook { url, secret } => {
            Arc::new(WebhookSender::new(http, url.clone(), secret.clone()))
        }
        SmsSettings::Twilio {
            base_url,
            account_sid,
            auth_token,
            messaging_service_sid,
        } => Arc::new(TwilioSender::new(
            http,
            base_url.clone(),
            account_sid.clone(),
            auth_token.clone(),
            messaging_service_sid.clone(),
        )),
        SmsSettings::Aws {
            region,
            endpoint_url,
            static_credentials,
            sender_id,
        } => Arc::new(SnsSender::new(
            sns_client(region, endpoint_url, static_credentials).await,
            sender_id.clone(),
        )),
    };
    let keys = match &config.hmac_key {
        Some(key) => OtpKeys::new(
            key.expose_secret().as_bytes(),
            config
                .hmac_key_previous
                .as_ref()
                .map(|k| k.expose_secret().as_bytes()),
        ),
        None => {
            tracing::warn!(
                "OTP_HMAC_KEY is not set: codes are sealed with an ephemeral key and die with the process"
            );
            OtpKeys::ephemeral()
        }
    };
    PhoneCodes {
        settings: config.settings.clone(),
        keys,
        sender: Arc::new(Metered::new(sender, metrics)),
    }
}

async fn sns_client(
    region: &Option<String>,
    endpoint_url: &Option<String>,
    static_credentials: &Option<(String, secrecy::SecretString)>,
) -> aws_sdk_sns::Client {
    // A code is worth sending once, promptly: no retries, short timeouts.
    aws_sdk_sns::Client::new(
        &super::outbox::aws_sdk_config(region, endpoint_url, static_credentials).await,
    )
}
