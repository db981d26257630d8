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

    /// Whether rows of one `message_key` go out one at a time, oldest first: one member's
    /// index updates must not overtake each other. Events carry unique keys: ordering them
    /// would cost a lookup per row for nothing.
    pub fn in_key_order(self) -> bool {
        self == Self::SearchIndex
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

/// The member whose data a message carries: a search record's `objectID`, an event's
/// `detail.user.id` or `detail.userId`. `None` for messages that carry none, and for the
/// erasure messages a deletion sends (a search `delete`, `user.deleted`,
/// `partner.subject.deleted`), which must go out after it.
pub fn member_data_of(payload: &serde_json::Value) -> Option<uuid::Uuid> {
    if payload.get("action").and_then(|a| a.as_str()) == Some("delete") {
        return None;
    }
    if let Some(detail_type) = payload.get("detailType").and_then(|t| t.as_str()) {
        if matches!(detail_type, "user.deleted" | "partner.subject.deleted") {
            return None;
        }
        let detail = payload.get("detail")?;
        let id = detail
            .get("user")
            .and_then(|u| u.get("id"))
            .or_else(|| detail.get("userId"))?;
        return id.as_str()?.parse().ok();
    }
    payload.get("objectID")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_name_their_member_except_the_erasures() {
        let id = uuid::Uuid::now_v7();
        let s = id.to_string();
        for carries in [
            json!({"objectID": s, "firstName": "A"}),
            json!({"detailType": "user.login", "detail": {"user": {"id": s}}}),
            json!({"detailType": "user.phone_verified", "detail": {"userId": s}}),
        ] {
            assert_eq!(member_data_of(&carries), Some(id), "{carries}");
        }
        for erasure in [
            json!({"action": "delete", "objectID": s}),
            json!({"detailType": "user.deleted", "detail": {"userId": s}}),
            json!({"detailType": "partner.subject.deleted", "detail": {"subject": "x"}}),
        ] {
            assert_eq!(member_data_of(&erasure), None, "{erasure}");
        }
    }
}
