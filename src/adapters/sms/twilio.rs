//! Twilio Programmable Messaging, "Create a Message": `POST
//! {TWILIO_BASE_URL}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic with the
//! account SID and auth token, form fields `To`, `MessagingServiceSid`, `Body`; 201 when
//! accepted. Errors carry `{"code","message","more_info","status"}`; only the status and the
//! code are reported (the message may quote the number).

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{TIMEOUT, transport};
use crate::ports::{Sms, SmsError, SmsSender};

pub struct TwilioSender {
    http: reqwest::Client,
    base_url: reqwest::Url,
    account_sid: String,
    auth_token: SecretString,
    messaging_service_sid: String,
}

impl TwilioSender {
    pub fn new(
        http: reqwest::Client,
        base_url: reqwest::Url,
        account_sid: String,
        auth_token: SecretString,
        messaging_service_sid: String,
    ) -> Self {
        Self {
            http,
            base_url,
            account_sid,
            auth_token,
            messaging_service_sid,
        }
    }
}

#[derive(Deserialize, Default)]
struct TwilioError {
    #[serde(default)]
    code: Option<u32>,
}

#[async_trait]
impl SmsSender for TwilioSender {
    fn provider(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, sms: &Sms) -> Result<(), SmsError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url.as_str().trim_end_matches('/'),
            percent_encoding::utf8_percent_encode(
                &self.account_sid,
                percent_encoding::NON_ALPHANUMERIC
            )
        );
        let response = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&[
                ("To", sms.to.as_str()),
                ("MessagingServiceSid", self.messaging_service_sid.as_str()),
                ("Body", sms.body.expose_secret()),
            ])
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let error: TwilioError = response.json().await.unwrap_or_default();
        Err(SmsError(match error.code {
            Some(code) => format!("Twilio answered {status} with error code {code}"),
            None => format!("Twilio answered {status}"),
        }))
    }
}
