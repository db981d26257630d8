//! The embedded default sink: writes each payload to the log and counts it delivered.
//!
//! Used for a sink that has no configuration (no Algolia keys, no AWS settings), so `serve`
//! runs anywhere and the outbox still records every delivery.

use async_trait::async_trait;

use crate::domain::outbox::{OutboxMessage, Sink};
use crate::ports::{DeliveryError, OutboxSink};

pub struct LogSink(pub Sink);

#[async_trait]
impl OutboxSink for LogSink {
    fn sink(&self) -> Sink {
        self.0
    }

    fn max_batch(&self) -> usize {
        50
    }

    async fn deliver(&self, messages: &[OutboxMessage]) -> Vec<Result<(), DeliveryError>> {
        messages
            .iter()
            .map(|message| {
                tracing::info!(
                    sink = self.0.as_str(),
                    event_id = %message.id,
                    payload = %message.payload,
                    "outbox delivery to the log (sink not configured)"
                );
                Ok(())
            })
            .collect()
    }
}
