//! The development sender: the message goes to the log, marked as such, and to the inbox the
//! built-in simulator serves (`GET /sms/inbox`). Refused at start-up in production.

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::ports::{Sms, SmsError, SmsSender};
use crate::sim::sms::{InboxMessage, SmsInbox};

pub struct LogSender {
    inbox: SmsInbox,
}

impl LogSender {
    pub fn new(inbox: SmsInbox) -> Self {
        Self { inbox }
    }
}

#[async_trait]
impl SmsSender for LogSender {
    fn provider(&self) -> &'static str {
        "log"
    }

    async fn send(&self, sms: &Sms) -> Result<(), SmsError> {
        // The one place a code is logged, by design: there is no phone in development.
        tracing::warn!(
            to = sms.to.as_str(),
            text = sms.body.expose_secret(),
            challenge_id = %sms.challenge_id,
            "DEVELOPMENT ONLY (SMS_PROVIDER=log): this SMS was not sent"
        );
        self.inbox.push(InboxMessage {
            to: sms.to.as_str().to_owned(),
            body: sms.body.expose_secret().to_owned(),
            challenge_id: Some(sms.challenge_id.to_string()),
            via: "log",
        });
        Ok(())
    }
}
