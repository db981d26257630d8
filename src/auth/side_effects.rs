//! What a login tells the rest of the club: the member search record and the `user.login` event.
//!
//! Design: both are built from what the login transaction wrote and stored in the outbox in that
//! same transaction, so they exist exactly when the login does. The event's JSON Schema is
//! `events/user.login.schema.json`; a test validates emitted events against it. Neither carries a
//! password or a token; the search record carries no email either (search keys can read it).

use chrono::{NaiveDate, SecondsFormat};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::outbox::Sink;
use crate::store::{LoginRecord, NewOutboxMessage};

pub const USER_LOGIN: &str = "user.login";
pub const USER_LOGIN_SCHEMA_VERSION: &str = "1.1";
pub const USER_PHONE_VERIFIED: &str = "user.phone_verified";
pub const USER_PHONE_REMOVED: &str = "user.phone_removed";
pub const USER_EVENTS_SCHEMA_VERSION: &str = "1.0";
pub const USER_SOCIAL_LINKED: &str = "user.social_linked";
pub const USER_SOCIAL_UNLINKED: &str = "user.social_unlinked";
pub const PARTNER_TOKEN_ISSUED: &str = "partner.token.issued";
pub const PARTNER_TOKEN_REDEEMED: &str = "partner.token.redeemed";
pub const PARTNER_TOKEN_REPLAYED: &str = "partner.token.replayed";
pub const PARTNER_SCHEMA_VERSION: &str = "1.0";

pub fn login_side_effects(record: &LoginRecord, today: NaiveDate) -> Vec<NewOutboxMessage> {
    let linked = record.linked.as_ref().map(|provider| {
        social_event(
            USER_SOCIAL_LINKED,
            record.user.id,
            provider.as_str(),
            Some("password"),
            record.session.created_at,
        )
    });
    let mut effects = vec![
        NewOutboxMessage {
            id: Uuid::now_v7(),
            sink: Sink::SearchIndex,
            // One user's index updates go out in order: an older profile never overwrites a newer.
            key: record.user.id.to_string(),
            payload: search_record(record, today),
        },
        {
            // Events need no order among themselves: each is its own key.
            let id = Uuid::now_v7();
            NewOutboxMessage {
                id,
                sink: Sink::EventBus,
                key: id.to_string(),
                payload: json!({"detailType": USER_LOGIN, "detail": login_event(id, record)}),
            }
        },
    ];
    effects.extend(linked);
    effects
}

/// `user.social_linked` (`linkedBy`: `session`, `password` or `auto_email`) or
/// `user.social_unlinked` (`linkedBy` `None`): who and which provider; never the account.
pub fn social_event(
    detail_type: &str,
    user_id: crate::domain::UserId,
    provider: &str,
    linked_by: Option<&str>,
    at: chrono::DateTime<chrono::Utc>,
) -> NewOutboxMessage {
    let mut fields = json!({"userId": user_id.to_string(), "provider": provider});
    if let Some(linked_by) = linked_by {
        fields["linkedBy"] = json!(linked_by);
    }
    event(detail_type, fields, at)
}

/// A `partner.token.*` event: who, for which partner, from which session; never the token.
pub fn partner_token_event(
    detail_type: &str,
    partner: &crate::domain::partner::PartnerId,
    user_id: crate::domain::UserId,
    session_id: crate::domain::SessionId,
    at: chrono::DateTime<chrono::Utc>,
    extra: Value,
) -> NewOutboxMessage {
    let id = Uuid::now_v7();
    let mut detail = json!({
        "eventId": id.to_string(),
        "occurredAt": rfc3339(at),
        "schemaVersion": PARTNER_SCHEMA_VERSION,
        "partnerId": partner.as_str(),
        "userId": user_id.to_string(),
        "sessionId": session_id.to_string(),
    });
    if let (Some(detail), Value::Object(extra)) = (detail.as_object_mut(), extra) {
        detail.extend(extra);
    }
    NewOutboxMessage {
        id,
        sink: Sink::EventBus,
        key: id.to_string(),
        payload: json!({"detailType": detail_type, "detail": detail}),
    }
}

/// Why a member's phone stopped signing them in (`user.phone_removed`'s `reason`).
#[derive(Debug, Clone, Copy)]
pub enum PhoneRemoved {
    /// The member removed it.
    Removed,
    /// Another member proved the same number.
    Moved,
}

/// `user.phone_verified`: who, and the number's region only.
pub fn phone_verified_event(
    user_id: crate::domain::UserId,
    region: crate::domain::Region,
    at: chrono::DateTime<chrono::Utc>,
) -> NewOutboxMessage {
    event(
        USER_PHONE_VERIFIED,
        json!({"userId": user_id.to_string(), "phoneRegion": region.as_str()}),
        at,
    )
}

/// `user.phone_removed`: who, and why; never the number.
pub fn phone_removed_event(
    user_id: crate::domain::UserId,
    reason: PhoneRemoved,
    at: chrono::DateTime<chrono::Utc>,
) -> NewOutboxMessage {
    let reason = match reason {
        PhoneRemoved::Removed => "removed",
        PhoneRemoved::Moved => "moved",
    };
    event(
        USER_PHONE_REMOVED,
        json!({"userId": user_id.to_string(), "reason": reason}),
        at,
    )
}

/// An event of its own key, with the common envelope fields.
fn event(detail_type: &str, fields: Value, at: chrono::DateTime<chrono::Utc>) -> NewOutboxMessage {
    let id = Uuid::now_v7();
    let mut detail = json!({
        "eventId": id.to_string(),
        "occurredAt": rfc3339(at),
        "schemaVersion": USER_EVENTS_SCHEMA_VERSION,
    });
    if let (Some(detail), Value::Object(fields)) = (detail.as_object_mut(), fields) {
        detail.extend(fields);
    }
    NewOutboxMessage {
        id,
        sink: Sink::EventBus,
        key: id.to_string(),
        payload: json!({"detailType": detail_type, "detail": detail}),
    }
}

pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn search_record(record: &LoginRecord, today: NaiveDate) -> Value {
    let user = &record.user;
    let membership = user.membership.as_ref();
    json!({
        "objectID": user.id.to_string(),
        "firstName": user.first_name,
        "lastName": user.last_name,
        "chapter": membership.and_then(|m| m.chapter.clone()),
        "membershipActive": membership.is_some_and(|m| m.is_active(today)),
        "membershipStartDate": membership.map(|m| m.start_date.to_string()),
        "membershipEndDate": membership.map(|m| m.end_date.to_string()),
        "updatedAt": rfc3339(user.updated_at),
    })
}

fn login_event(event_id: Uuid, record: &LoginRecord) -> Value {
    let (user, session) = (&record.user, &record.session);
    let membership = user.membership.as_ref();
    json!({
        "eventId": event_id.to_string(),
        "occurredAt": rfc3339(user.last_login_at.unwrap_or(user.updated_at)),
        "schemaVersion": USER_LOGIN_SCHEMA_VERSION,
        "user": {
            "id": user.id.to_string(),
            "email": user.email.as_str(),
            "firstName": user.first_name,
            "lastName": user.last_name,
            "membershipNumber": membership.map(|m| m.number.clone()),
            "membershipStartDate": membership.map(|m| m.start_date.to_string()),
            "membershipEndDate": membership.map(|m| m.end_date.to_string()),
            "chapter": membership.and_then(|m| m.chapter.clone()),
            "createdAt": rfc3339(user.created_at),
            "firstLogin": record.first_login,
        },
        "session": {
            "id": session.id.to_string(),
            "deviceType": session.device.device_type.map(|t| t.as_str()),
            "appVersion": session.device.app_version,
            "authMethod": session.auth_method.as_str(),
        },
    })
}

pub const USER_DELETED: &str = "user.deleted";
pub const PARTNER_SUBJECT_DELETED: &str = "partner.subject.deleted";

/// What an account deletion tells the rest of the club, none of it personal: the search
/// record's delete (under the user's id, the key of their index updates, so it goes after any
/// update in flight), `user.deleted`, and `partner.subject.deleted` for each partner that ever
/// received the member, with the pairwise subject that partner knows them by.
pub fn deletion_messages(
    member: &crate::store::DeletedMember,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<NewOutboxMessage> {
    let user_id = member.user_id.to_string();
    let mut messages = vec![
        NewOutboxMessage {
            id: Uuid::now_v7(),
            sink: Sink::SearchIndex,
            key: user_id.clone(),
            payload: json!({"action": "delete", "objectID": user_id}),
        },
        event(
            USER_DELETED,
            json!({"userId": user_id, "deletedAt": rfc3339(at)}),
            at,
        ),
    ];
    for (partner, salt) in &member.partners {
        let id = Uuid::now_v7();
        messages.push(NewOutboxMessage {
            id,
            sink: Sink::EventBus,
            key: id.to_string(),
            payload: json!({
                "detailType": PARTNER_SUBJECT_DELETED,
                "detail": {
                    "eventId": id.to_string(),
                    "occurredAt": rfc3339(at),
                    "schemaVersion": PARTNER_SCHEMA_VERSION,
                    "partnerId": partner,
                    "subject": crate::domain::partner::pairwise_subject(salt, member.user_id),
                },
            }),
        });
    }
    messages
}
