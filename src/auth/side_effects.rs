//! What a login tells the rest of the club: the member search record and the `user.login` event.
//!
//! Design: both are built from what the login transaction wrote and stored in the outbox in that
//! same transaction, so they exist exactly when the login does. The event's JSON Schema is
//! `events/user.login.schema.json`; a test validates emitted events against it. Neither carries a
//! password or a token; the search record carries no email either (search keys can read it).

use chrono::{NaiveDate, SecondsFormat};
use serde::Serialize;
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
            payload: text(&search_record(record, today)),
            member_id: Some(record.user.id.0),
        },
        {
            // Events need no order among themselves: each is its own key.
            let id = Uuid::now_v7();
            NewOutboxMessage {
                id,
                sink: Sink::EventBus,
                key: id.to_string(),
                payload: text(&Envelope {
                    detail_type: USER_LOGIN,
                    detail: login_event(id, record),
                }),
                member_id: Some(record.user.id.0),
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
    event(detail_type, Some(user_id), fields, at)
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
        payload: json!({"detailType": detail_type, "detail": detail}).to_string(),
        member_id: Some(user_id.0),
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
        Some(user_id),
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
        Some(user_id),
        json!({"userId": user_id.to_string(), "reason": reason}),
        at,
    )
}

/// An event of its own key, with the common envelope fields, about `member` (`None` for an
/// erasure).
fn event(
    detail_type: &str,
    member: Option<crate::domain::UserId>,
    fields: Value,
    at: chrono::DateTime<chrono::Utc>,
) -> NewOutboxMessage {
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
        payload: json!({"detailType": detail_type, "detail": detail}).to_string(),
        member_id: member.map(|m| m.0),
    }
}

pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A payload as the outbox stores it: JSON text, written once by the typed shapes below (not
/// built as a `serde_json::Value` first: a login's payloads are on every sign-in's path).
fn text(payload: &impl Serialize) -> String {
    serde_json::to_string(payload).expect("outbox payloads are plain data")
}

/// An event on the bus: its `detailType` and `detail`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<T> {
    detail_type: &'static str,
    detail: T,
}

/// The member's search record (Algolia: `objectID` and attributes).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchRecord<'a> {
    #[serde(rename = "objectID")]
    object_id: Uuid,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    chapter: Option<&'a str>,
    membership_active: bool,
    membership_start_date: Option<NaiveDate>,
    membership_end_date: Option<NaiveDate>,
    updated_at: String,
}

fn search_record(record: &LoginRecord, today: NaiveDate) -> SearchRecord<'_> {
    let user = &record.user;
    let membership = user.membership.as_ref();
    SearchRecord {
        object_id: user.id.0,
        first_name: user.first_name.as_deref(),
        last_name: user.last_name.as_deref(),
        chapter: membership.and_then(|m| m.chapter.as_deref()),
        membership_active: membership.is_some_and(|m| m.is_active(today)),
        membership_start_date: membership.map(|m| m.start_date),
        membership_end_date: membership.map(|m| m.end_date),
        updated_at: rfc3339(user.updated_at),
    }
}

/// `user.login`'s `detail` (`events/user.login.schema.json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginEvent<'a> {
    event_id: Uuid,
    occurred_at: String,
    schema_version: &'static str,
    user: LoginEventUser<'a>,
    session: LoginEventSession<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginEventUser<'a> {
    id: Uuid,
    email: &'a str,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    membership_number: Option<&'a str>,
    membership_start_date: Option<NaiveDate>,
    membership_end_date: Option<NaiveDate>,
    chapter: Option<&'a str>,
    created_at: String,
    first_login: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LoginEventSession<'a> {
    id: Uuid,
    device_type: Option<&'static str>,
    app_version: Option<&'a str>,
    auth_method: &'static str,
}

fn login_event(event_id: Uuid, record: &LoginRecord) -> LoginEvent<'_> {
    let (user, session) = (&record.user, &record.session);
    let membership = user.membership.as_ref();
    LoginEvent {
        event_id,
        occurred_at: rfc3339(user.last_login_at.unwrap_or(user.updated_at)),
        schema_version: USER_LOGIN_SCHEMA_VERSION,
        user: LoginEventUser {
            id: user.id.0,
            email: user.email.as_str(),
            first_name: user.first_name.as_deref(),
            last_name: user.last_name.as_deref(),
            membership_number: membership.map(|m| m.number.as_str()),
            membership_start_date: membership.map(|m| m.start_date),
            membership_end_date: membership.map(|m| m.end_date),
            chapter: membership.and_then(|m| m.chapter.as_deref()),
            created_at: rfc3339(user.created_at),
            first_login: record.first_login,
        },
        session: LoginEventSession {
            id: session.id.0,
            device_type: session.device.device_type.map(|t| t.as_str()),
            app_version: session.device.app_version.as_deref(),
            auth_method: session.auth_method.as_str(),
        },
    }
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
            payload: json!({"action": "delete", "objectID": user_id}).to_string(),
            member_id: None,
        },
        event(
            USER_DELETED,
            None,
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
            })
            .to_string(),
            member_id: None,
        });
    }
    messages
}
