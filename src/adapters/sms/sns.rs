//! AWS SNS `Publish` to a phone number (transactional SMS), through the AWS SDK on the same
//! HTTP/TLS stack as EventBridge. Errors report the AWS error code only.

use async_trait::async_trait;
use aws_sdk_sns::{error::ProvideErrorMetadata, types::MessageAttributeValue};
use secrecy::ExposeSecret;

use crate::ports::{Sms, SmsError, SmsSender};

pub struct SnsSender {
    client: aws_sdk_sns::Client,
    sender_id: Option<String>,
}

impl SnsSender {
    pub fn new(client: aws_sdk_sns::Client, sender_id: Option<String>) -> Self {
        Self { client, sender_id }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, SmsError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| SmsError(format!("building an SMS attribute: {e}")))
}

#[async_trait]
impl SmsSender for SnsSender {
    fn provider(&self) -> &'static str {
        "aws"
    }

    async fn send(&self, sms: &Sms) -> Result<(), SmsError> {
        let mut publish = self
            .client
            .publish()
            .phone_number(sms.to.as_str())
            .message(sms.body.expose_secret())
            // Transactional: delivered with priority, as one-time codes must be.
            .message_attributes("AWS.SNS.SMS.SMSType", attribute("Transactional")?);
        if let Some(sender_id) = &self.sender_id {
            publish = publish.message_attributes("AWS.SNS.SMS.SenderID", attribute(sender_id)?);
        }
        match publish.send().await {
            Ok(_) => Ok(()),
            Err(error) => Err(SmsError(format!(
                "SNS refused the message: {}",
                error.code().unwrap_or("no error code (transport failure)")
            ))),
        }
    }
}
