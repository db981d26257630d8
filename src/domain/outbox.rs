//! Where side effects go: the sinks of the transactional outbox.

/// A delivery target. Stored by name in `outbox.sink`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sink {
    /// The member search index (Algolia).
    SearchIndex,
    /// The analytics event bus (EventBridge).
    EventBus,
}

impl Sink {
    pub const ALL: [Sink; 2] = [Sink::SearchIndex, Sink::EventBus];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SearchIndex => "algolia",
            Self::EventBus => "eventbridge",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// A claimed outbox row, ready to deliver.
#[derive(Debug, Clone)]
pub struct OutboxMessage {
    /// Stable across retries: the `eventId` consumers deduplicate on.
    pub id: uuid::Uuid,
    pub sink: Sink,
    pub key: String,
    pub payload: serde_json::Value,
    pub attempts: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
}
