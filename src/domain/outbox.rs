//! Where side effects go: the sinks of the transactional outbox.

use std::borrow::Cow;

use serde_json::value::RawValue;

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

/// The fields of a payload that may name its member, unread until needed; the rest is
/// skipped. Each is read on its own, so one of an unexpected type is only itself ignored.
#[derive(serde::Deserialize)]
struct Carried<'a> {
    #[serde(borrow)]
    action: Option<&'a RawValue>,
    #[serde(rename = "detailType", borrow)]
    detail_type: Option<&'a RawValue>,
    #[serde(borrow)]
    detail: Option<&'a RawValue>,
    #[serde(rename = "objectID", borrow)]
    object_id: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct CarriedDetail<'a> {
    #[serde(borrow)]
    user: Option<&'a RawValue>,
    #[serde(rename = "userId", borrow)]
    user_id: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct CarriedUser<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

/// A field's value as a string; `None` when absent or not a string.
fn string(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    serde_json::from_str(raw?.get()).ok()
}

/// A field's value as an object of shape `T`; `None` when absent or not one.
fn object<'a, T: serde::Deserialize<'a>>(raw: Option<&'a RawValue>) -> Option<T> {
    serde_json::from_str(raw?.get()).ok()
}

/// The member whose data a payload (JSON text) carries: a search record's `objectID`, an
/// event's `detail.user.id` or `detail.userId`. `None` for payloads that carry none, that are
/// not a JSON object or that repeat a key, and for the erasure messages a deletion sends (a
/// search `delete`, `user.deleted`, `partner.subject.deleted`), which must go out after it.
pub fn member_data_of(payload: &str) -> Option<uuid::Uuid> {
    let carried: Carried = serde_json::from_str(payload).ok()?;
    if string(carried.action).as_deref() == Some("delete") {
        return None;
    }
    if let Some(detail_type) = string(carried.detail_type) {
        if matches!(&*detail_type, "user.deleted" | "partner.subject.deleted") {
            return None;
        }
        let detail: CarriedDetail = object(carried.detail)?;
        let id = object::<CarriedUser>(detail.user)
            .and_then(|user| string(user.id))
            .or_else(|| string(detail.user_id))?;
        return id.parse().ok();
    }
    string(carried.object_id)?.parse().ok()
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
        // A field of an unexpected type is ignored on its own, as the other fields are read.
        for odd in [
            json!({"objectID": s, "action": 5}),
            json!({"objectID": s, "detailType": 7}),
            json!({"detailType": "user.login", "detail": {"user": "x", "userId": s}}),
            json!({"detailType": "user.login", "detail": {"user": {"id": 1}, "userId": s}}),
        ] {
            assert_eq!(member_data_of(&odd.to_string()), Some(id), "{odd}");
        }
        // An escaped string is read as the string it stands for.
        let first = s.chars().next().unwrap() as u32;
        let escaped = format!("{{\"objectID\": \"\\u{first:04x}{}\"}}", &s[1..]);
        assert_eq!(member_data_of(&escaped), Some(id), "{escaped}");
    }
}
