//! The member's own account security: their activity (the "was this you?" screen), as a
//! cursor connection (the GraphQL Cursor Connections convention: `edges { cursor node }`,
//! `pageInfo`), and deleting the account.

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::context::{api, auth, principal};
use super::error::ApiError;
use super::scalars::DateTime;
use super::types::AuthMethod;
use crate::domain::audit::{AuditEvent, AuditOutcome, AuditType, truncated_network};

/// The most events one page returns.
const MAX_PAGE: i32 = 100;

/// What happened. New values may be added: clients should show unknown ones generically.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum SecurityEventType {
    LoginSucceeded,
    LoginFailed,
    /// A copied refresh token was used: the session it belonged to was ended.
    TokenReuseDetected,
    /// Sessions ended from another of the member's sessions.
    SessionRevoked,
    Logout,
    /// Too many attempts: further ones were refused for a while.
    RateLimitTripped,
    AccountLinked,
    AccountUnlinked,
    PhoneEnrolled,
    PhoneRemoved,
    /// A partner hand-off token was presented again after its use: it may have leaked.
    PartnerTokenReplayed,
    AccountDeleted,
}

impl SecurityEventType {
    fn of(kind: AuditType) -> Option<Self> {
        Some(match kind {
            AuditType::LoginSucceeded => Self::LoginSucceeded,
            AuditType::LoginFailed => Self::LoginFailed,
            AuditType::TokenReuseDetected => Self::TokenReuseDetected,
            AuditType::SessionRevoked => Self::SessionRevoked,
            AuditType::Logout => Self::Logout,
            AuditType::RateLimitTripped => Self::RateLimitTripped,
            AuditType::AccountLinked => Self::AccountLinked,
            AuditType::AccountUnlinked => Self::AccountUnlinked,
            AuditType::PhoneEnrolled => Self::PhoneEnrolled,
            AuditType::PhoneRemoved => Self::PhoneRemoved,
            AuditType::PartnerTokenReplayed => Self::PartnerTokenReplayed,
            AuditType::AccountDeleted => Self::AccountDeleted,
            AuditType::TokenRefreshed
            | AuditType::PartnerTokenRedeemed
            | AuditType::UpstreamBreakerOpened
            | AuditType::UpstreamBreakerClosed => return None,
        })
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum SecurityEventOutcome {
    Success,
    Failure,
}

/// One thing that happened to the member's account.
#[derive(SimpleObject)]
pub struct SecurityEvent {
    pub id: ID,
    #[graphql(name = "type")]
    pub event_type: SecurityEventType,
    pub occurred_at: DateTime,
    pub outcome: SecurityEventOutcome,
    /// Why, as a stable code: the API error code of a failure (`INVALID_CREDENTIALS`,
    /// `INVALID_CODE`, …) or how a session ended (`LOGOUT`, `REVOKED`, …).
    pub reason: Option<String>,
    pub method: Option<AuthMethod>,
    /// The device's name as its app reported it.
    pub device_name: Option<String>,
    /// The network the request came from, never the whole address: IPv4 /24, IPv6 /48.
    pub ip_network: Option<String>,
    /// The session it happened in, or that it ended.
    pub session_id: Option<ID>,
    /// Whether that session is the caller's own.
    pub this_session: bool,
    /// The provider of a linked or unlinked account (`google`, `facebook`).
    pub provider: Option<String>,
    /// How many sessions a logout or revocation ended.
    pub sessions_ended: Option<i32>,
}

#[derive(SimpleObject)]
pub struct SecurityEventEdge {
    /// Pass as `after` to continue after this event.
    pub cursor: String,
    pub node: SecurityEvent,
}

/// Pagination per the Cursor Connections convention.
#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// Always false: the connection pages forward only, from the newest event.
    pub has_previous_page: bool,
    pub start_cursor: Option<String>,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct SecurityEventConnection {
    pub edges: Vec<SecurityEventEdge>,
    pub page_info: PageInfo,
}

#[derive(Default)]
pub struct SecurityQuery;

#[Object]
impl SecurityQuery {
    /// The caller's own recent security events, newest first: sign-ins (and failed ones),
    /// sessions ended, accounts linked, phone changes, revocations. `first` is 1 to 100;
    /// `after` is a cursor from a previous page.
    async fn security_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<SecurityEventConnection> {
        let first = first.unwrap_or(20);
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        if !(1..=MAX_PAGE).contains(&first) {
            return Err(ApiError::BadUserInput {
                field: "first",
                message: format!("first must be from 1 to {MAX_PAGE}"),
            }
            .extend(ctx));
        }
        let before = match after.as_deref().map(parse_cursor) {
            None => None,
            Some(Some(id)) => Some(id),
            Some(None) => {
                return Err(ApiError::BadUserInput {
                    field: "after",
                    message: "after is not a cursor from securityActivity".into(),
                }
                .extend(ctx));
            }
        };
        let mut events = api(
            ctx,
            Box::pin(auth.security_activity(principal, before, first as u64 + 1)).await,
        )?;
        let has_next_page = events.len() > first as usize;
        events.truncate(first as usize);
        let edges: Vec<SecurityEventEdge> = events
            .into_iter()
            .filter_map(|event| {
                Some(SecurityEventEdge {
                    cursor: cursor(event.id),
                    node: node(event, principal.session_id)?,
                })
            })
            .collect();
        Ok(SecurityEventConnection {
            page_info: PageInfo {
                has_next_page,
                has_previous_page: false,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        })
    }
}

fn node(event: AuditEvent, current: crate::domain::SessionId) -> Option<SecurityEvent> {
    Some(SecurityEvent {
        id: ID(event.id.to_string()),
        event_type: SecurityEventType::of(event.kind)?,
        occurred_at: DateTime(event.at),
        outcome: match event.outcome {
            AuditOutcome::Success => SecurityEventOutcome::Success,
            AuditOutcome::Failure => SecurityEventOutcome::Failure,
        },
        reason: event.reason,
        method: event.method.map(Into::into),
        device_name: event.details.device_name,
        ip_network: event.client_ip.map(truncated_network),
        session_id: event.session_id.map(|id| ID(id.to_string())),
        this_session: event.session_id == Some(current),
        provider: event.details.provider,
        sessions_ended: event
            .details
            .sessions
            .map(|n| n.min(i32::MAX as u64) as i32),
    })
}

/// Opaque to clients: the event's id, base64url.
fn cursor(id: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn parse_cursor(raw: &str) -> Option<uuid::Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).ok()?;
    uuid::Uuid::from_slice(&bytes).ok()
}

#[derive(InputObject)]
pub struct DeleteAccountInput {
    /// Exactly `DELETE`, typed by the member.
    pub confirmation: String,
}

/// The account is gone; `purgeAt` is when its last trace (a tombstone without personal data,
/// kept so late messages about it are dropped) goes too.
#[derive(SimpleObject)]
pub struct AccountDeletion {
    pub deleted_at: DateTime,
    pub purge_at: DateTime,
}

#[derive(Default)]
pub struct SecurityMutation;

#[Object]
impl SecurityMutation {
    /// Deletes the caller's account here: every session ends at once (their tokens answer
    /// `UNAUTHENTICATED` with `reason: ACCOUNT_DELETED`), links, phone and device data go, the
    /// search record is deleted and partners are told. The club shop account stays. Needs a
    /// session that signed in within the last 5 minutes (`REAUTHENTICATION_REQUIRED` with
    /// `reason: RECENT_LOGIN_REQUIRED` otherwise) and `confirmation: "DELETE"`.
    async fn delete_account(
        &self,
        ctx: &Context<'_>,
        input: DeleteAccountInput,
    ) -> async_graphql::Result<AccountDeletion> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let deletion = api(
            ctx,
            Box::pin(auth.delete_account(principal, &input.confirmation)).await,
        )?;
        Ok(AccountDeletion {
            deleted_at: DateTime(deletion.deleted_at),
            purge_at: DateTime(deletion.purge_at),
        })
    }
}
