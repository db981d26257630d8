//! The hottest statements on PostgreSQL, through sqlx directly: the refresh's (the find and
//! the claim in one statement, either alone, the lookup after a lost claim) and the relay's claim and settle of a batch.
//!
//! Why: a refresh is the hottest write, and sea-orm's query builder, its row decoding by
//! formatted column names and its large futures (moved on every poll) cost 330,000 of the
//! 874,000 instructions a refresh took (callgrind, `bench/callgrind`). Here the SQL is fixed
//! text, prepared once per connection by sqlx's statement cache, and rows are read by
//! position. SQLite keeps sea-orm statements (in `refresh_tokens`, `outbox` and
//! `outbox_claim`), which its tests cover; the PostgreSQL suite covers these.

use sea_orm::sqlx::{self, Row, postgres::PgRow};
use sea_orm::{DbErr, RuntimeErr};
use uuid::Uuid;

use super::connections::DirectConnection;
use super::entities::{refresh_tokens, sessions, users};
use super::{Prospect, Store, StoreError, StoreResult, Successor};
use crate::domain::outbox::Sink;

/// A token's row with its session's and its user's.
pub(super) type TokenRow = (refresh_tokens::Model, sessions::Model, users::Model);

/// The token, its session and its user: each table's columns in the order of its entity (read
/// by position below).
macro_rules! token_session_user {
    () => {
        "t.id, t.token_hash, t.session_id, t.parent_id, t.issued_at, \
      t.used_at, t.rotation_nonce, t.expires_at, \
      s.id, s.user_id, s.device_id, s.device_type, s.device_name, s.platform, \
      s.platform_version, s.app_version, s.push_token, s.auth_method, s.created_at, \
      s.last_accessed_at, s.last_active_at, s.expires_at, s.revoked_at, s.end_reason, \
      u.id, u.upstream_customer_id, u.email, u.first_name, u.last_name, u.membership_number, \
      u.membership_start_date, u.membership_end_date, u.chapter, u.created_at, u.updated_at, \
      u.last_login_at, u.roles, u.phone, u.phone_verified_at"
    };
}

/// The join of the token with the hash `$1`, its session and its user.
macro_rules! by_token_hash {
    () => {
        " FROM refresh_tokens t \
    JOIN sessions s ON s.id = t.session_id \
    JOIN users u ON u.id = s.user_id \
    WHERE t.token_hash = $1"
    };
}

/// The token, its session and its user, in one round trip.
const FIND_SQL: &str = concat!("SELECT ", token_session_user!(), by_token_hash!());

/// The find and the rotation in one statement, when the token certainly may be rotated
/// (`Prospect`): unused, unexpired, its session neither revoked nor past its lifetime nor idle,
/// its member's membership covering today. It claims by hash under those conditions, then
/// touches the session and stores the successor as `CLAIM_SQL` does (its expiry capped by the
/// session's); the row returned is as it was when the statement started (the snapshot a
/// statement's main query sees), followed by how many rows were claimed and inserted.
/// Otherwise nothing is written and the caller decides on the row as after `FIND_SQL`.
const FIND_AND_CLAIM_SQL: &str = concat!(
    "WITH claimed AS ( \
      UPDATE refresh_tokens t SET used_at = $2, rotation_nonce = $3 \
      FROM sessions s, users u \
      WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.expires_at > $2 \
        AND s.id = t.session_id AND s.revoked_at IS NULL AND s.expires_at > $2 \
        AND GREATEST(s.last_accessed_at, s.last_active_at) > $5 \
        AND u.id = s.user_id AND u.membership_number IS NOT NULL \
        AND u.membership_start_date <= $4 AND u.membership_end_date >= $4 \
      RETURNING t.id, t.session_id), \
    touched AS ( \
      UPDATE sessions SET last_accessed_at = $2 \
      WHERE id = (SELECT session_id FROM claimed) AND revoked_at IS NULL \
      RETURNING id, expires_at), \
    inserted AS ( \
      INSERT INTO refresh_tokens \
        (id, token_hash, session_id, parent_id, issued_at, used_at, rotation_nonce, expires_at) \
      SELECT $6, $7, touched.id, (SELECT id FROM claimed), $2, NULL, NULL, \
        LEAST($8, touched.expires_at) \
      FROM touched RETURNING id) \
    SELECT ",
    token_session_user!(),
    ", (SELECT COUNT(*) FROM claimed), (SELECT COUNT(*) FROM inserted)",
    by_token_hash!()
);
/// The token's use as it stands now: the lookup after a lost claim, in a statement of its own so
/// that it sees the winner's commit (a statement's snapshot is taken when it starts).
const USED_SQL: &str = "SELECT used_at, rotation_nonce FROM refresh_tokens WHERE id = $1";

/// The rotation as one statement of data-modifying CTEs (PostgreSQL): one round trip instead
/// of five (`BEGIN`, claim, touch, insert, `COMMIT`). The claim's `used_at IS NULL` still
/// decides the race (a concurrent claimer waits for the row and finds it used). One
/// difference from the transaction: when the session was revoked meanwhile the claim stays,
/// which changes nothing, since a revoked session's tokens are refused before their use is
/// looked at.
const CLAIM_SQL: &str = "WITH claimed AS ( \
      UPDATE refresh_tokens SET used_at = $1, rotation_nonce = $2 \
      WHERE id = $3 AND used_at IS NULL RETURNING session_id), \
    touched AS ( \
      UPDATE sessions SET last_accessed_at = $1 \
      WHERE id = (SELECT session_id FROM claimed) AND revoked_at IS NULL RETURNING id), \
    inserted AS ( \
      INSERT INTO refresh_tokens \
        (id, token_hash, session_id, parent_id, issued_at, used_at, rotation_nonce, expires_at) \
      SELECT $4, $5, id, $3, $1, NULL, NULL, $6 FROM touched RETURNING id) \
    SELECT (SELECT COUNT(*) FROM claimed) AS claimed, (SELECT COUNT(*) FROM inserted) AS inserted";

/// The relay's settle of a delivered batch, one statement: rows whose member was deleted
/// meanwhile go, the others are marked delivered (`Store::settle_delivered`), each of a sink
/// that keeps key order (`$4`) saying whether a later row of its key is pending; the others
/// say false without the lookup (`CASE` decides the order of evaluation, `AND` may not). The
/// update skips what the delete took: both see the rows as they were when the statement
/// started.
const SETTLE_DELIVERED_SQL: &str = "WITH gone AS ( \
      DELETE FROM outbox \
      WHERE id = ANY($1) AND claimed_by = $2 AND delivered_at IS NULL \
        AND member_id IN (SELECT user_id FROM deleted_accounts) \
      RETURNING id) \
    UPDATE outbox SET delivered_at = $3, attempts = attempts + 1, claimed_until = NULL \
    WHERE id = ANY($1) AND claimed_by = $2 AND delivered_at IS NULL \
      AND id NOT IN (SELECT id FROM gone) \
    RETURNING CASE WHEN outbox.sink = ANY($4) THEN EXISTS (SELECT 1 FROM outbox p \
      WHERE p.sink = outbox.sink AND p.message_key = outbox.message_key \
        AND p.delivered_at IS NULL AND p.dead_at IS NULL AND p.id > outbox.id) ELSE false END";

impl Store {
    /// A connection of the direct pool (PostgreSQL only), for statements that share one
    /// checkout or that run on every refresh or relay batch.
    pub(super) async fn direct_connection(&self) -> StoreResult<DirectConnection> {
        let pool = self
            .direct
            .as_ref()
            .expect("the direct pool exists on PostgreSQL, the only caller");
        DirectConnection::take(pool).await.map_err(query_error)
    }
}

/// How many columns `token_session_user!` reads: the token's 8, the session's 16, the user's 15.
const TOKEN_ROW_COLUMNS: usize = 39;

/// The token, its session and its user from the first `TOKEN_ROW_COLUMNS` columns of `row`.
fn token_row_at(row: &PgRow) -> Result<TokenRow, sqlx::Error> {
    Ok((
        refresh_token_at(row, 0)?,
        session_at(row, 8)?,
        user_at(row, 24)?,
    ))
}

/// `FIND_SQL`: the token with the `token_hash`, its session and its user.
pub(super) async fn find_refresh_token_row(
    conn: &mut DirectConnection,
    token_hash: &str,
) -> StoreResult<Option<TokenRow>> {
    let row = conn
        .run(async |c| {
            sqlx::query(FIND_SQL)
                .bind(token_hash)
                .fetch_optional(c)
                .await
        })
        .await
        .map_err(query_error)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(token_row_at(&row).map_err(query_error)?))
}

/// `FIND_AND_CLAIM_SQL`: the token with the `token_hash`, its session and its user as they
/// were, and what the statement did: `None` when it claimed nothing, else `Some(true)` when it
/// also stored the successor and `Some(false)` when the session was revoked meanwhile.
pub(super) async fn find_and_claim_refresh_token_row(
    conn: &mut DirectConnection,
    token_hash: &str,
    prospect: &Prospect<'_>,
) -> StoreResult<Option<(TokenRow, Option<bool>)>> {
    let row = conn
        .run(async |c| {
            sqlx::query(FIND_AND_CLAIM_SQL)
                .bind(token_hash)
                .bind(prospect.now)
                .bind(prospect.nonce.as_str())
                .bind(prospect.today)
                .bind(prospect.seen_after)
                .bind(Uuid::now_v7())
                .bind(prospect.hash.as_str())
                .bind(prospect.expires_by)
                .fetch_optional(c)
                .await
        })
        .await
        .map_err(query_error)?;
    let Some(row) = row else { return Ok(None) };
    let decode = || -> Result<_, sqlx::Error> {
        let claimed: i64 = row.try_get(TOKEN_ROW_COLUMNS)?;
        let inserted: i64 = row.try_get(TOKEN_ROW_COLUMNS + 1)?;
        Ok((token_row_at(&row)?, (claimed == 1).then_some(inserted == 1)))
    };
    Ok(Some(decode().map_err(query_error)?))
}

/// `CLAIM_SQL` for the token `token_id`: how many rows it claimed and inserted (0 or 1).
pub(super) async fn claim_refresh_token_row(
    conn: &mut DirectConnection,
    token_id: Uuid,
    successor: &Successor<'_>,
) -> StoreResult<(i64, i64)> {
    let row = conn
        .run(async |c| {
            sqlx::query(CLAIM_SQL)
                .bind(successor.now)
                .bind(successor.nonce.as_str())
                .bind(token_id)
                .bind(Uuid::now_v7())
                .bind(successor.hash.as_str())
                .bind(successor.expires_at)
                .fetch_one(c)
                .await
        })
        .await
        .map_err(query_error)?;
    Ok((
        row.try_get(0).map_err(query_error)?,
        row.try_get(1).map_err(query_error)?,
    ))
}

/// `USED_SQL`: when and with which nonce the token `token_id` was used (`None`: unused or
/// gone).
pub(super) async fn refresh_token_use(
    conn: &mut DirectConnection,
    token_id: Uuid,
) -> StoreResult<Option<(chrono::DateTime<chrono::Utc>, String)>> {
    let row = conn
        .run(async |c| sqlx::query(USED_SQL).bind(token_id).fetch_optional(c).await)
        .await
        .map_err(query_error)?;
    let Some(row) = row else { return Ok(None) };
    let used_at: Option<chrono::DateTime<chrono::Utc>> = row.try_get(0).map_err(query_error)?;
    let nonce: Option<String> = row.try_get(1).map_err(query_error)?;
    Ok(used_at.zip(nonce))
}

/// `SETTLE_DELIVERED_SQL` for the rows `ids` that `relay` holds: whether a later row of one
/// of their keys is pending.
pub(super) async fn settle_delivered(
    conn: &mut DirectConnection,
    ids: &[Uuid],
    relay: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> StoreResult<bool> {
    let in_key_order: Vec<&str> = Sink::ALL
        .iter()
        .filter(|sink| sink.in_key_order())
        .map(|sink| sink.as_str())
        .collect();
    let followed: Vec<bool> = conn
        .run(async |c| {
            sqlx::query_scalar(SETTLE_DELIVERED_SQL)
                .bind(ids)
                .bind(relay)
                .bind(now)
                .bind(&in_key_order)
                .fetch_all(c)
                .await
        })
        .await
        .map_err(query_error)?;
    Ok(followed.contains(&true))
}

/// The relay's claim (`sql`: `outbox_claim::claim_sql` for PostgreSQL), its rows read by position.
pub(super) async fn claim_outbox_rows(
    conn: &mut DirectConnection,
    sql: &'static str,
    relay: &str,
    now: chrono::DateTime<chrono::Utc>,
    lease_until: chrono::DateTime<chrono::Utc>,
    limits: super::outbox_claim::ClaimLimits,
) -> StoreResult<Vec<super::outbox_claim::ClaimedRow>> {
    let rows = conn
        .run(async |c| {
            let mut query = sqlx::query(sql).bind(lease_until).bind(relay).bind(now);
            for limit in limits {
                query = query.bind(limit as i64);
            }
            query.fetch_all(c).await
        })
        .await
        .map_err(query_error)?;
    let decode = |row: &PgRow| -> Result<_, sqlx::Error> {
        Ok(super::outbox_claim::ClaimedRow {
            id: row.try_get(0)?,
            sink: row.try_get(1)?,
            message_key: row.try_get(2)?,
            payload: row.try_get(3)?,
            created_at: row.try_get(4)?,
            attempts: row.try_get(5)?,
            member_id: row.try_get(6)?,
            member_deleted: row.try_get(7)?,
        })
    };
    rows.iter()
        .map(|row| decode(row).map_err(query_error))
        .collect()
}

/// sqlx's error as sea-orm reports a failed query, so that callers see one error type.
pub(super) fn query_error(error: sqlx::Error) -> StoreError {
    DbErr::Query(RuntimeErr::SqlxError(error.into())).into()
}

fn refresh_token_at(row: &PgRow, at: usize) -> Result<refresh_tokens::Model, sqlx::Error> {
    Ok(refresh_tokens::Model {
        id: row.try_get(at)?,
        token_hash: row.try_get(at + 1)?,
        session_id: row.try_get(at + 2)?,
        parent_id: row.try_get(at + 3)?,
        issued_at: row.try_get(at + 4)?,
        used_at: row.try_get(at + 5)?,
        rotation_nonce: row.try_get(at + 6)?,
        expires_at: row.try_get(at + 7)?,
    })
}

pub(super) fn session_at(row: &PgRow, at: usize) -> Result<sessions::Model, sqlx::Error> {
    Ok(sessions::Model {
        id: row.try_get(at)?,
        user_id: row.try_get(at + 1)?,
        device_id: row.try_get(at + 2)?,
        device_type: row.try_get(at + 3)?,
        device_name: row.try_get(at + 4)?,
        platform: row.try_get(at + 5)?,
        platform_version: row.try_get(at + 6)?,
        app_version: row.try_get(at + 7)?,
        push_token: row.try_get(at + 8)?,
        auth_method: row.try_get(at + 9)?,
        created_at: row.try_get(at + 10)?,
        last_accessed_at: row.try_get(at + 11)?,
        last_active_at: row.try_get(at + 12)?,
        expires_at: row.try_get(at + 13)?,
        revoked_at: row.try_get(at + 14)?,
        end_reason: row.try_get(at + 15)?,
    })
}

pub(super) fn user_at(row: &PgRow, at: usize) -> Result<users::Model, sqlx::Error> {
    Ok(users::Model {
        id: row.try_get(at)?,
        upstream_customer_id: row.try_get(at + 1)?,
        email: row.try_get(at + 2)?,
        first_name: row.try_get(at + 3)?,
        last_name: row.try_get(at + 4)?,
        membership_number: row.try_get(at + 5)?,
        membership_start_date: row.try_get(at + 6)?,
        membership_end_date: row.try_get(at + 7)?,
        chapter: row.try_get(at + 8)?,
        created_at: row.try_get(at + 9)?,
        updated_at: row.try_get(at + 10)?,
        last_login_at: row.try_get(at + 11)?,
        roles: row.try_get(at + 12)?,
        phone: row.try_get(at + 13)?,
        phone_verified_at: row.try_get(at + 14)?,
    })
}
