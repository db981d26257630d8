//! Where side effects go: the sinks of the transactional outbox.

use std::borrow::Cow;

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
    /// The JSON text as written (not necessarily valid: a sink refuses what it cannot read).
    pub payload: String,
    pub attempts: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The fields of a payload that name its member; the rest is skipped unread.
#[derive(serde::Deserialize)]
struct Carried<'a> {
    #[serde(borrow)]
    action: Option<Cow<'a, str>>,
    #[serde(rename = "detailType", borrow)]
    detail_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    detail: Option<CarriedDetail<'a>>,
    #[serde(rename = "objectID", borrow)]
    object_id: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct CarriedDetail<'a> {
    #[serde(borrow)]
    user: Option<CarriedUser<'a>>,
    #[serde(rename = "userId", borrow)]
    user_id: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct CarriedUser<'a> {
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
}

/// The member whose data a payload (JSON text) carries: a search record's `objectID`, an
/// event's `detail.user.id` or `detail.userId`. `None` for payloads that carry none or that do
/// not parse, and for the erasure messages a deletion sends (a search `delete`,
/// `user.deleted`, `partner.subject.deleted`), which must go out after it.
pub fn member_data_of(payload: &str) -> Option<uuid::Uuid> {
    let carried: Carried = serde_json::from_str(payload).ok()?;
    if carried.action.as_deref() == Some("delete") {
        return None;
    }
    if let Some(detail_type) = carried.detail_type {
        if matches!(&*detail_type, "user.deleted" | "partner.subject.deleted") {
            return None;
        }
        let detail = carried.detail?;
        let id = detail.user.and_then(|u| u.id).or(detail.user_id)?;
        return id.parse().ok();
    }
    carried.object_id?.parse().ok()
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
            assert_eq!(member_data_of(&carries.to_string()), Some(id), "{carries}");
        }
        for erasure in [
            json!({"action": "delete", "objectID": s}),
            json!({"detailType": "user.deleted", "detail": {"userId": s}}),
            json!({"detailType": "partner.subject.deleted", "detail": {"subject": "x"}}),
        ] {
            assert_eq!(member_data_of(&erasure.to_string()), None, "{erasure}");
        }
        for unreadable in [
            "not json".to_owned(),
            String::new(),
            format!("{{\"objectID\": \"{s}\""),
            json!({"objectID": 7}).to_string(),
            json!([s]).to_string(),
        ] {
            assert_eq!(member_data_of(&unreadable), None, "{unreadable}");
        }
    }
}
