//! Analytics events to AWS EventBridge with `PutEvents`.
//!
//! Design: batches stay within the service limits (10 entries, 256 KB per request). A request
//! that fails fails its whole batch; a request that succeeds may still fail some entries
//! (`FailedEntryCount`), and only those are reported failed, so only they are retried.

use async_trait::async_trait;
use aws_sdk_eventbridge::{
    error::DisplayErrorContext, primitives::DateTime, types::PutEventsRequestEntry,
};

use crate::domain::outbox::{OutboxMessage, Sink};
use crate::ports::{DeliveryError, OutboxSink};

const MAX_ENTRIES: usize = 10;
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// An outbox payload for the bus: the `detail` passed on as written.
#[derive(serde::Deserialize)]
struct Event<'a> {
    #[serde(rename = "detailType", borrow)]
    detail_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    detail: Option<&'a serde_json::value::RawValue>,
}

/// The event bus (`EVENT_BUS_NAME`, `EVENT_SOURCE`, the standard `AWS_*` variables).
#[derive(Debug, Clone)]
pub struct EventBridgeSettings {
    pub bus_name: String,
    pub source: String,
    /// `None`: aws-config's standard resolution (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// `None`: aws-config's standard resolution (`AWS_ENDPOINT_URL_EVENTBRIDGE`, `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Static credentials for local stand-ins; `None` (production): the standard credential chain.
    pub static_credentials: Option<(String, secrecy::SecretString)>,
}

pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    source: String,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: String, source: String) -> Self {
        Self {
            client,
            bus_name,
            source,
        }
    }

    fn entry(
        &self,
        message: &OutboxMessage,
    ) -> Result<(PutEventsRequestEntry, usize), DeliveryError> {
        let event: Event = serde_json::from_str(&message.payload)
            .map_err(|error| DeliveryError::unreadable("an event", &error))?;
        let detail_type = event
            .detail_type
            .ok_or_else(|| DeliveryError("the outbox payload has no detailType".into()))?;
        let detail = event
            .detail
            .map(|detail| detail.get())
            .filter(|detail| detail.starts_with('{'))
            .ok_or_else(|| DeliveryError("the outbox payload has no detail object".into()))?;
        // AWS counts Time (14 bytes), Source, DetailType and Detail toward the size limit.
        let size = 14 + self.source.len() + detail_type.len() + detail.len();
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(&self.source)
            .detail_type(detail_type)
            .detail(detail)
            .time(DateTime::from_secs(message.created_at.timestamp()))
            .build();
        Ok((entry, size))
    }

    async fn put(&self, entries: Vec<PutEventsRequestEntry>) -> Vec<Result<(), DeliveryError>> {
        let count = entries.len();
        match self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
        {
            Err(error) => {
                let reason =
                    DeliveryError(format!("PutEvents failed: {}", DisplayErrorContext(&error)));
                vec![Err(reason); count]
            }
            Ok(output) => {
                let results = output.entries();
                (0..count)
                    .map(|i| match results.get(i) {
                        Some(result) if result.error_code().is_none() => Ok(()),
                        Some(result) => Err(DeliveryError(format!(
                            "EventBridge refused the entry: {} {}",
                            result.error_code().unwrap_or_default(),
                            result.error_message().unwrap_or_default()
                        ))),
                        None => Err(DeliveryError(
                            "EventBridge returned no result for the entry".into(),
                        )),
                    })
                    .collect()
            }
        }
    }
}

#[async_trait]
impl OutboxSink for EventBridgePublisher {
    fn sink(&self) -> Sink {
        Sink::EventBus
    }

    fn max_batch(&self) -> usize {
        MAX_ENTRIES * 5
    }

    async fn deliver(&self, messages: &[OutboxMessage]) -> Vec<Result<(), DeliveryError>> {
        let mut results: Vec<Option<Result<(), DeliveryError>>> = vec![None; messages.len()];
        let mut batch: Vec<(usize, PutEventsRequestEntry)> = Vec::new();
        let mut batch_bytes = 0;
        let mut batches = Vec::new();
        for (i, message) in messages.iter().enumerate() {
            match self.entry(message) {
                Err(error) => results[i] = Some(Err(error)),
                Ok((_, size)) if size > MAX_REQUEST_BYTES => {
                    results[i] = Some(Err(DeliveryError(format!(
                        "the event is {size} bytes, over the 256 KB limit"
                    ))));
                }
                Ok((entry, size)) => {
                    if batch.len() == MAX_ENTRIES || batch_bytes + size > MAX_REQUEST_BYTES {
                        batches.push(std::mem::take(&mut batch));
                        batch_bytes = 0;
                    }
                    batch_bytes += size;
                    batch.push((i, entry));
                }
            }
        }
        if !batch.is_empty() {
            batches.push(batch);
        }
        for batch in batches {
            let (indexes, entries): (Vec<usize>, Vec<PutEventsRequestEntry>) =
                batch.into_iter().unzip();
            for (i, result) in indexes.into_iter().zip(self.put(entries).await) {
                results[i] = Some(result);
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(DeliveryError("not delivered".into()))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publisher() -> EventBridgePublisher {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::from_conf(config),
            "rides-service".into(),
            "club.login-api".into(),
        )
    }

    fn message(payload: &str) -> OutboxMessage {
        OutboxMessage {
            id: uuid::Uuid::now_v7(),
            sink: Sink::EventBus,
            key: "k".into(),
            payload: payload.into(),
            attempts: 0,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_detail_goes_on_as_written() {
        let detail = r#"{"firstName":"Zo\u00eb \"Z\"","chapter":null}"#;
        let payload = format!(r#"{{"detailType":"user.login","detail": {detail} }}"#);
        let (entry, size) = publisher().entry(&message(&payload)).unwrap();
        assert_eq!(entry.detail(), Some(detail));
        assert_eq!(entry.detail_type(), Some("user.login"));
        assert_eq!(
            size,
            14 + "club.login-api".len() + "user.login".len() + detail.len()
        );
    }

    #[test]
    fn other_shapes_are_refused_without_quoting_the_payload() {
        for (payload, reason) in [
            ("secret-1", "not an event"),
            (r#""secret-1""#, "not an event"),
            (r#"{"detailType": 123456789}"#, "not an event"),
            (
                r#"{"detailType": "user.login", "detail": "secret-1"}"#,
                "no detail object",
            ),
            (
                r#"{"detailType": "user.login", "detail": ["secret-1"]}"#,
                "no detail object",
            ),
            (
                r#"{"detailType": "user.login", "detail": null}"#,
                "no detail object",
            ),
            (r#"{"detailType": "user.login"}"#, "no detail object"),
            (r#"{"detail": {"secret": "secret-1"}}"#, "no detailType"),
        ] {
            let Err(DeliveryError(error)) = publisher().entry(&message(payload)) else {
                panic!("accepted {payload}");
            };
            assert!(error.contains(reason), "{payload}: {error}");
            assert!(
                !error.contains("secret-1") && !error.contains("123456789"),
                "{payload}: {error}"
            );
        }
    }
}
