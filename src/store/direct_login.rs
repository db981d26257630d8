//! A sign-in through the member directory with no proof to consume — every password login that
//! `returning_login` cannot write in one statement — on PostgreSQL in four exchanges on the
//! direct pool: `BEGIN`; the member, its identity, the new session and its first refresh token
//! as one statement; the device's previous session ended, the outbox rows, the audit rows, the
//! other instances' read cache leases and, when there are any, the invalidation's `NOTIFY` as
//! another; `COMMIT`.
//!
//! Why: through sea-orm the same writes took nine exchanges and the pool's release ping, and
//! about 590,000 of a login's 1.5 million instructions (`bench/callgrind`); PostgreSQL pays
//! for each exchange too, and it bounds login throughput (BENCHMARKS.md).
//!
//! What it leaves to the general path (`logins`): a login whose email another member holds
//! (Hybris gave it to another customer; the general path releases it first) and a first login
//! that meets a concurrent one on the email index. Both end this transaction with a unique
//! violation; it is rolled back and the general path runs. The rows written are the same as the
//! general path's: the PostgreSQL suite runs every sign-in test through this one.

use sea_orm::sqlx::{self, Row, postgres::PgRow};
use uuid::Uuid;

use super::direct::{query_error, session_at, user_at};
use super::invalidation::{Announced, CHANNEL};
use super::logins::{LoginMember, LoginRecord, NewLogin};
use super::sessions::to_session;
use super::users::to_user;
use super::{Store, StoreResult, audit, outbox};
use crate::domain::EndReason;

/// The member upserted by customer id (as `members::upsert_member`), its directory identity
/// touched (`identities::upsert_directory_identity`), the new session and its refresh token
/// inserted; the user's columns then the session's, each in its entity's order.
const SIGN_IN_SQL: &str = "WITH u AS ( \
      INSERT INTO users (id, upstream_customer_id, email, first_name, last_name, \
        membership_number, membership_start_date, membership_end_date, chapter, created_at, \
        updated_at, last_login_at, roles) \
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $10, $11) \
      ON CONFLICT (upstream_customer_id) DO UPDATE SET email = excluded.email, \
        first_name = excluded.first_name, last_name = excluded.last_name, \
        membership_number = excluded.membership_number, \
        membership_start_date = excluded.membership_start_date, \
        membership_end_date = excluded.membership_end_date, chapter = excluded.chapter, \
        updated_at = excluded.updated_at, last_login_at = excluded.last_login_at, \
        roles = excluded.roles \
      RETURNING id, upstream_customer_id, email, first_name, last_name, membership_number, \
        membership_start_date, membership_end_date, chapter, created_at, updated_at, \
        last_login_at, roles, phone, phone_verified_at, xmin::text), \
    identity AS ( \
      INSERT INTO identities (id, user_id, provider, subject, created_at, last_used_at, email, \
        linked_by) \
      SELECT $12, id, $13, $14, $10, $10, NULL, NULL FROM u \
      ON CONFLICT (provider, subject) DO UPDATE SET last_used_at = excluded.last_used_at), \
    session AS ( \
      INSERT INTO sessions (id, user_id, device_id, device_type, device_name, platform, \
        platform_version, app_version, push_token, auth_method, created_at, last_accessed_at, \
        last_active_at, expires_at, revoked_at, end_reason) \
      SELECT $16, id, $15, $17, $18, $19, $20, $21, $22, $23, $10, $10, NULL, $24, NULL, NULL \
      FROM u \
      RETURNING id, user_id, device_id, device_type, device_name, platform, platform_version, \
        app_version, push_token, auth_method, created_at, last_accessed_at, last_active_at, \
        expires_at, revoked_at, end_reason), \
    token AS ( \
      INSERT INTO refresh_tokens (id, token_hash, session_id, parent_id, issued_at, used_at, \
        rotation_nonce, expires_at) \
      SELECT $25, $26, id, NULL, $10, NULL, NULL, $27 FROM session) \
    SELECT u.*, session.* FROM u, session";

/// How many columns of `SIGN_IN_SQL`'s row are the user's; its row version (`xmin`) follows
/// them, then the session's columns.
const USER_COLUMNS: usize = 15;

/// The device's (`$26`, none when NULL) other live sessions ended, then the outbox rows, the audit
/// rows and the notifications as [`bind_recorded`] binds them (`$1`–`$27`), each written only
/// when the first argument's condition holds (`AND …` for the sessions and the notifications,
/// `WHERE …` for the others; empty: always). The notifications go out only when `others`, the
/// other instances' read cache leases (`leases::others!`, this instance in the third argument's
/// parameter), is not empty.
macro_rules! recorded {
    ($and:literal, $where:literal, $own:literal) => {
        concat!(
            "replaced AS ( \
      UPDATE sessions SET revoked_at = $23, end_reason = $24 \
      WHERE user_id = $25 AND device_id = $26 AND revoked_at IS NULL AND id <> $27 ",
            $and,
            "), \
    outboxed AS ( \
      INSERT INTO outbox (id, sink, message_key, payload, created_at, available_at, attempts, \
        last_error, claimed_until, claimed_by, delivered_at, dead_at, member_id) \
      SELECT id, sink, message_key, payload, $5, $5, 0, NULL, NULL, NULL, NULL, NULL, member_id \
      FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $6::uuid[]) \
        AS m(id, sink, message_key, payload, member_id) ",
            $where,
            "), \
    audited AS ( \
      INSERT INTO auth_events (id, occurred_at, event_type, outcome, reason, method, user_id, \
        session_id, device_hash, client_ip, request_id, subject_hash, details, event_count, \
        summary_key) \
      SELECT e.*, NULL FROM unnest($7::uuid[], $8::timestamptz[], $9::text[], $10::text[], \
        $11::text[], $12::text[], $13::uuid[], $14::uuid[], $15::text[], $16::text[], \
        $17::text[], $18::text[], $19::text[], $20::int4[]) AS e ",
            $where,
            "), ",
            $crate::store::leases::others!($own),
            ", \
    notified AS ( \
      SELECT pg_notify($21, payload) FROM unnest($22::text[]) AS n(payload) \
      WHERE EXISTS (SELECT FROM others) ",
            $and,
            ") "
        )
    };
}
pub(super) use recorded;

/// The second statement: [`recorded!`] unconditionally. It starts once the member's row is
/// locked, so a concurrent login on the same device has committed and its session is ended
/// here (a statement sees the rows committed when it starts). The row: how many notifications
/// went out, and the other instances `others` found (`$28`: this instance).
const RECORD_SQL: &str = concat!(
    "WITH ",
    recorded!("", "", "$28"),
    "SELECT (SELECT count(*) FROM notified), ARRAY(SELECT instance FROM others)"
);

/// What [`recorded!`] writes besides the login's own rows.
pub(super) struct Recorded<'a> {
    pub messages: &'a [super::entities::outbox::Model],
    pub events: &'a [super::entities::auth_events::Model],
    /// The invalidation payloads ([`Store::announcement`]).
    pub notifications: &'a [String],
    pub now: chrono::DateTime<chrono::Utc>,
    pub user_id: Uuid,
    pub device_id: Option<&'a str>,
    /// The new session, which stays live.
    pub session_id: Uuid,
}

/// What a login writes beside its own rows, built from its record: the outbox rows
/// (`login.side_effects`), the audit rows (`login.audit`, kept in the record) and the read
/// caches' announcement of the member. Owned, so that [`Recorded`] can borrow it.
pub(super) struct Staged {
    messages: Vec<super::entities::outbox::Model>,
    events: Vec<super::entities::auth_events::Model>,
    notifications: Vec<String>,
    /// To settle once the write has committed ([`Store::settle_among`]).
    pub announced: Announced,
}

impl Staged {
    /// The [`recorded!`] parameters of `record`'s login from `device_id`, written at `now`.
    pub fn recorded<'a>(
        &'a self,
        record: &LoginRecord,
        device_id: Option<&'a str>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Recorded<'a> {
        Recorded {
            messages: &self.messages,
            events: &self.events,
            notifications: &self.notifications,
            now,
            user_id: record.user.id.0,
            device_id,
            session_id: record.session.id.0,
        }
    }
}

impl Store {
    /// Stages what `login` writes beside `record` at `now`, and fills `record.audited`.
    pub(super) fn stage(
        &self,
        login: &NewLogin<'_>,
        record: &mut LoginRecord,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Staged {
        let messages = (login.side_effects)(record)
            .into_iter()
            .map(|message| outbox::row(now, message))
            .collect();
        record.audited = (login.audit)(record);
        let events = record.audited.iter().map(|e| audit::row(e, None)).collect();
        let (announced, notifications) = self.announcement(vec![record.user.id.0]);
        Staged {
            messages,
            events,
            notifications,
            announced,
        }
    }
}

/// Binds `$1`–`$27` of [`recorded!`] on `query`, in order.
pub(super) fn bind_recorded<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    r: &Recorded<'q>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let (messages, events) = (r.messages, r.events);
    query
        .bind(messages.iter().map(|m| m.id).collect::<Vec<_>>())
        .bind(messages.iter().map(|m| m.sink.as_str()).collect::<Vec<_>>())
        .bind(
            messages
                .iter()
                .map(|m| m.message_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            messages
                .iter()
                .map(|m| m.payload.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(r.now)
        .bind(messages.iter().map(|m| m.member_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.event_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.outcome.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.reason.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.method.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| e.user_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.session_id).collect::<Vec<_>>())
        .bind(
            events
                .iter()
                .map(|e| e.device_hash.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.client_ip.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.request_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.subject_hash.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            events
                .iter()
                .map(|e| e.details.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(events.iter().map(|e| e.event_count).collect::<Vec<_>>())
        .bind(CHANNEL)
        .bind(r.notifications)
        .bind(r.now)
        .bind(EndReason::ReplacedByNewLogin.as_str())
        .bind(r.user_id)
        .bind(r.device_id)
        .bind(r.session_id)
}

impl Store {
    /// The writes of `login` (a `LoginMember::Directory` sign-in without a proof) in one
    /// transaction: the record, or `None` when the transaction met a unique violation and was
    /// rolled back (the caller takes the general path).
    pub(super) async fn record_directory_login(
        &self,
        login: &NewLogin<'_>,
    ) -> StoreResult<Option<LoginRecord>> {
        let LoginMember::Directory(profile) = login.member else {
            unreachable!("only directory sign-ins take this path")
        };
        let NewLogin {
            device,
            now,
            identity: (provider, subject),
            ..
        } = *login;
        let membership = profile.membership.as_ref();
        let new_id = Uuid::now_v7();
        let roles = serde_json::to_string(&profile.roles).unwrap_or_else(|_| "[]".into());

        let mut conn = self.direct_connection().await?;
        conn.begin().await.map_err(query_error)?;
        let written = conn
            .run(async |c| {
                sqlx::query(SIGN_IN_SQL)
                    .bind(new_id)
                    .bind(&profile.customer_id)
                    .bind(profile.email.as_str())
                    .bind(&profile.first_name)
                    .bind(&profile.last_name)
                    .bind(membership.map(|m| &m.number))
                    .bind(membership.map(|m| m.start_date))
                    .bind(membership.map(|m| m.end_date))
                    .bind(membership.and_then(|m| m.chapter.as_ref()))
                    .bind(now)
                    .bind(&roles)
                    .bind(Uuid::now_v7())
                    .bind(provider.as_str())
                    .bind(subject)
                    .bind(&device.device_id)
                    .bind(Uuid::now_v7())
                    .bind(device.device_type.map(|t| t.as_str()))
                    .bind(&device.device_name)
                    .bind(&device.platform)
                    .bind(&device.platform_version)
                    .bind(&device.app_version)
                    .bind(&device.push_token)
                    .bind(login.method.as_str())
                    .bind(login.session_expires_at)
                    .bind(Uuid::now_v7())
                    .bind(login.refresh_token.as_str())
                    .bind(login.refresh_token_expires_at)
                    .fetch_one(c)
                    .await
            })
            .await;
        let row = match written {
            Ok(row) => row,
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                conn.rollback().await.map_err(query_error)?;
                return Ok(None);
            }
            Err(error) => return Err(query_error(error)),
        };
        let (user, version, session) = decode(&row).map_err(query_error)?;
        let known = (user.clone(), version);
        let mut record = LoginRecord {
            first_login: user.id == new_id,
            user: to_user(user),
            session: to_session(session),
            linked: None,
            audited: Vec::new(),
        };

        let staged = self.stage(login, &mut record, now);
        let recorded = staged.recorded(&record, device.device_id.as_deref(), now);
        let others: Vec<String> = conn
            .run(async |c| {
                bind_recorded(sqlx::query(RECORD_SQL), &recorded)
                    .bind(self.acks.instance_key())
                    .fetch_one(c)
                    .await?
                    .try_get(1)
            })
            .await
            .map_err(query_error)?;
        conn.commit().await.map_err(query_error)?;
        drop(conn);
        // Committed: the member's row is as `known` says until someone else writes it.
        self.known_members.remember(known.0, known.1);
        self.settle_among(staged.announced, Some(others)).await;
        audit::log(&record.audited);
        Ok(Some(record))
    }
}

/// The user's row, its version (`xmin`) and the session's row.
fn decode(
    row: &PgRow,
) -> Result<
    (
        super::entities::users::Model,
        String,
        super::entities::sessions::Model,
    ),
    sqlx::Error,
> {
    Ok((
        user_at(row, 0)?,
        row.try_get(USER_COLUMNS)?,
        session_at(row, USER_COLUMNS + 1)?,
    ))
}
