//! A returning member's password login on PostgreSQL in one autocommit statement, the read
//! cache's leaseholder lookup included: one exchange where `direct_login` takes four (`BEGIN`,
//! two statements, `COMMIT`).
//!
//! Why: each exchange costs a login about 7 % of its CPU (loopback `sendto` runs the receiver's
//! TCP stack and wakes the backend; BENCHMARKS.md), and PostgreSQL pays for each too.
//!
//! How it stays right. The transaction needs its two statements for two reasons, and this path
//! answers each with what this instance learned at the member's last login here
//! ([`KnownMembers`]: the member's row as written then, and its row version, `xmin`):
//! - Its outbox payloads and audit rows need the member's id and `createdAt` before anything
//!   is written: they come from the known row, with the profile Hybris has just sent applied to
//!   it in Rust as the statement applies it in SQL.
//! - The device's earlier sessions must be ended after the member's row is locked, so that a
//!   concurrent login on the same device is seen. Every sign-in that opens a session updates
//!   the member's row first (the general path and `direct_login` both do), which gives the row
//!   a new `xmin`. The statement updates the row only where `xmin` is still the known version
//!   (checked again on the newest version when it had to wait for the row: PostgreSQL's
//!   EvalPlanQual recheck), and writes nothing else unless it did. So when it writes, no
//!   session was opened for the member since the known version, and the rows it ends are all
//!   there are; when anyone else wrote the row meanwhile (another login, a phone enrolment,
//!   another instance, an account deletion), it writes nothing and the caller takes
//!   `direct_login`, which refreshes what is known.
//!
//! A version is a transaction id, which PostgreSQL reuses only after 2^32 transactions; a known
//! row is forgotten after [`KNOWN_FOR`], long before that at any rate PostgreSQL can commit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sea_orm::sqlx::{self, Row};
use uuid::Uuid;

use super::direct::query_error;
use super::direct_login::{bind_recorded, recorded};
use super::entities::users;
use super::logins::{LoginRecord, NewLogin, new_session};
use super::sessions::to_session;
use super::users::to_user;
use super::{Store, StoreResult, audit};
use crate::domain::CustomerProfile;

/// How many members an instance keeps (about 300 bytes each): the most recent logins'.
const CAPACITY: usize = 4096;
/// How long a known row is used: far below the time PostgreSQL needs to reuse a transaction id.
const KNOWN_FOR: Duration = Duration::from_secs(3600);

/// The member's row as of `$37` (its `xmin`) updated from the profile, with the identity, the
/// session and its refresh token inserted and [`recorded!`]'s rows written, all only when the
/// update happened (`$52`: this instance). The row: the new version, NULL when nothing was
/// written; how many notifications went out; the other instances `others` found.
const ONE_STATEMENT_SQL: &str = concat!(
    "WITH u AS ( \
      UPDATE users SET email = $29, first_name = $30, last_name = $31, \
        membership_number = $32, membership_start_date = $33, membership_end_date = $34, \
        chapter = $35, updated_at = $23, last_login_at = $23, roles = $36 \
      WHERE id = $25 AND upstream_customer_id = $28 AND xmin = $37::text::xid \
      RETURNING xmin::text AS version), \
    identity AS ( \
      INSERT INTO identities (id, user_id, provider, subject, created_at, last_used_at, email, \
        linked_by) \
      SELECT $38, $25, $39, $40, $23, $23, NULL, NULL FROM u \
      ON CONFLICT (provider, subject) DO UPDATE SET last_used_at = excluded.last_used_at), \
    session AS ( \
      INSERT INTO sessions (id, user_id, device_id, device_type, device_name, platform, \
        platform_version, app_version, push_token, auth_method, created_at, last_accessed_at, \
        last_active_at, expires_at, revoked_at, end_reason) \
      SELECT $27, $25, $26, $41, $42, $43, $44, $45, $46, $47, $23, $23, NULL, $48, NULL, NULL \
      FROM u RETURNING id), \
    token AS ( \
      INSERT INTO refresh_tokens (id, token_hash, session_id, parent_id, issued_at, used_at, \
        rotation_nonce, expires_at) \
      SELECT $49, $50, id, NULL, $23, NULL, NULL, $51 FROM session), ",
    recorded!(
        "AND EXISTS (SELECT FROM u)",
        "WHERE EXISTS (SELECT FROM u)",
        "$52"
    ),
    "SELECT (SELECT version FROM u), (SELECT count(*) FROM notified), \
      ARRAY(SELECT instance FROM others)"
);

/// Members that logged in on this instance, by Hybris customer id: the row as written then and
/// its version. Bounded by [`CAPACITY`] and [`KNOWN_FOR`].
#[derive(Default)]
pub(super) struct KnownMembers(Mutex<HashMap<String, Known>>);

#[derive(Clone)]
struct Known {
    row: users::Model,
    version: String,
    at: Instant,
}

impl KnownMembers {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The member's row as this instance last wrote it, and its version.
    fn get(&self, customer_id: &str) -> Option<Known> {
        let mut map = self.map();
        match map.get(customer_id) {
            Some(known) if known.at.elapsed() < KNOWN_FOR => Some(known.clone()),
            Some(_) => {
                map.remove(customer_id);
                None
            }
            None => None,
        }
    }

    /// Remembers the row this instance has just committed, at `version` (its `xmin`).
    pub(super) fn remember(&self, row: users::Model, version: String) {
        let mut map = self.map();
        if map.len() >= CAPACITY && !map.contains_key(&row.upstream_customer_id) {
            // The oldest quarter goes: one pass now and then instead of an order kept always.
            let mut ages: Vec<Instant> = map.values().map(|k| k.at).collect();
            ages.sort_unstable();
            let cut = ages[CAPACITY / 4];
            map.retain(|_, known| known.at > cut);
        }
        let at = Instant::now();
        map.insert(row.upstream_customer_id.clone(), Known { row, version, at });
    }

    fn forget(&self, customer_id: &str) {
        self.map().remove(customer_id);
    }
}

/// The member's row after the statement's update: `known` with the profile's fields and the
/// login's time, as `ONE_STATEMENT_SQL` sets them.
fn updated(
    known: &users::Model,
    profile: &CustomerProfile,
    roles: &str,
    now: DateTime<Utc>,
) -> users::Model {
    let membership = profile.membership.as_ref();
    users::Model {
        email: profile.email.as_str().to_owned(),
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        membership_number: membership.map(|m| m.number.clone()),
        membership_start_date: membership.map(|m| m.start_date),
        membership_end_date: membership.map(|m| m.end_date),
        chapter: membership.and_then(|m| m.chapter.clone()),
        updated_at: now,
        last_login_at: Some(now),
        roles: Some(roles.to_owned()),
        ..known.clone()
    }
}

/// A time as PostgreSQL stores it (microseconds; sqlx truncates when it binds).
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(at.timestamp_micros()).unwrap_or(at)
}

impl Store {
    /// The writes of a returning member's password login (`profile`, no proof) in one
    /// statement: the record, or `None` when this instance does not know the member's row as
    /// it stands (never wrote it, or someone wrote it since) or the statement met a unique
    /// violation; nothing is written then, and the caller takes `record_directory_login`.
    pub(super) async fn record_returning_login(
        &self,
        login: &NewLogin<'_>,
        profile: &CustomerProfile,
    ) -> StoreResult<Option<LoginRecord>> {
        let Some(known) = self.known_members.get(&profile.customer_id) else {
            return Ok(None);
        };
        let NewLogin {
            device,
            identity: (provider, subject),
            ..
        } = *login;
        let now = stored(login.now);
        let roles = serde_json::to_string(&profile.roles).unwrap_or_else(|_| "[]".into());
        let user = updated(&known.row, profile, &roles, now);
        let session = new_session(login, user.id, now, stored(login.session_expires_at));
        let mut record = LoginRecord {
            first_login: false,
            user: to_user(user.clone()),
            session: to_session(session),
            linked: None,
            audited: Vec::new(),
        };
        let staged = self.stage(login, &mut record, now);
        let recorded = staged.recorded(&record, device.device_id.as_deref(), now);
        let membership = profile.membership.as_ref();

        let mut conn = self.direct_connection().await?;
        let written = conn
            .run(async |c| {
                bind_recorded(sqlx::query(ONE_STATEMENT_SQL), &recorded)
                    .bind(&profile.customer_id)
                    .bind(profile.email.as_str())
                    .bind(&profile.first_name)
                    .bind(&profile.last_name)
                    .bind(membership.map(|m| &m.number))
                    .bind(membership.map(|m| m.start_date))
                    .bind(membership.map(|m| m.end_date))
                    .bind(membership.and_then(|m| m.chapter.as_ref()))
                    .bind(&roles)
                    .bind(&known.version)
                    .bind(Uuid::now_v7())
                    .bind(provider.as_str())
                    .bind(subject)
                    .bind(device.device_type.map(|t| t.as_str()))
                    .bind(&device.device_name)
                    .bind(&device.platform)
                    .bind(&device.platform_version)
                    .bind(&device.app_version)
                    .bind(&device.push_token)
                    .bind(login.method.as_str())
                    .bind(record.session.expires_at)
                    .bind(Uuid::now_v7())
                    .bind(login.refresh_token.as_str())
                    .bind(login.refresh_token_expires_at)
                    .bind(self.acks.instance_key())
                    .fetch_one(c)
                    .await
            })
            .await;
        drop(conn);
        let (version, others): (Option<String>, Vec<String>) = match written {
            Ok(row) => (
                row.try_get(0).map_err(query_error)?,
                row.try_get(2).map_err(query_error)?,
            ),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => (None, Vec::new()),
            Err(error) => return Err(query_error(error)),
        };
        let Some(version) = version else {
            self.known_members.forget(&profile.customer_id);
            return Ok(None);
        };
        self.known_members.remember(user, version);
        self.settle_among(staged.announced, Some(others)).await;
        audit::log(&record.audited);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(customer_id: &str) -> users::Model {
        let now = Utc::now();
        users::Model {
            id: Uuid::now_v7(),
            upstream_customer_id: customer_id.into(),
            email: format!("{customer_id}@example.org"),
            first_name: None,
            last_name: None,
            membership_number: None,
            membership_start_date: None,
            membership_end_date: None,
            chapter: None,
            created_at: now,
            updated_at: now,
            last_login_at: None,
            roles: None,
            phone: Some("+4915112345678".into()),
            phone_verified_at: Some(now),
        }
    }

    #[test]
    fn a_full_map_drops_its_oldest_quarter_and_keeps_the_newest() {
        let known = KnownMembers::default();
        for i in 0..CAPACITY {
            known.remember(row(&format!("c{i}")), "1".into());
        }
        known.remember(row("newest"), "2".into());
        let map = known.map();
        assert!(map.len() <= CAPACITY - CAPACITY / 4 + 1, "{}", map.len());
        assert!(map.contains_key("newest"));
        assert!(map.contains_key(&format!("c{}", CAPACITY - 1)));
        assert!(!map.contains_key("c0"));
    }

    #[test]
    fn the_update_keeps_what_the_profile_does_not_carry() {
        let known = row("c1");
        let profile = CustomerProfile {
            customer_id: "c1".into(),
            email: crate::domain::Email::parse("new@example.org").unwrap(),
            first_name: Some("Anna".into()),
            last_name: None,
            membership: None,
            deactivated_on: None,
            roles: vec!["captain".into()],
        };
        let now = stored(Utc::now());
        let updated = updated(&known, &profile, r#"["captain"]"#, now);
        assert_eq!(updated.email, "new@example.org");
        assert_eq!(updated.first_name.as_deref(), Some("Anna"));
        assert_eq!(
            (updated.id, updated.created_at),
            (known.id, known.created_at)
        );
        assert_eq!(updated.phone, known.phone);
        assert_eq!(updated.last_login_at, Some(now));
        assert_eq!(now.timestamp_subsec_nanos() % 1000, 0);
    }
}
