//! The relay's claim: a lease on a batch of deliverable outbox rows.
//!
//! Design: a claim is one `WITH … UPDATE … WHERE id IN (…) RETURNING …` that leases the rows of
//! every sink to one relay, each sink's up to its own limit; on PostgreSQL each sink's select
//! takes `FOR UPDATE SKIP LOCKED`, so relays in several instances never claim the same row at
//! once. Only the oldest pending row of a
//! `message_key` is claimable where the sink keeps key order. The claim also says which rows
//! carry a member deleted since they were written (by their `member_id`), so that the relay
//! drops them without a statement more.

use chrono::{DateTime, Utc};
use sea_orm::{DbBackend, FromQueryResult, Statement};
use uuid::Uuid;

use super::{Store, StoreResult};
use crate::domain::outbox::{OutboxMessage, Sink, member_data_of};

/// Rows leased to one relay.
#[derive(Debug, Default)]
pub struct ClaimedBatch {
    /// Oldest first.
    pub messages: Vec<OutboxMessage>,
    /// The ids of those whose member has been deleted since: they are to be dropped, not
    /// delivered.
    pub of_deleted_members: Vec<Uuid>,
    /// The ids of those written before the `member_id` column existed whose payload names a
    /// member: the claim cannot tell whether it was deleted, nor can the settle
    /// (`Store::deleted_among` on the payload's member can).
    pub written_before_member_id: Vec<Uuid>,
}

/// A claimed row as `CLAIM_SQL` returns it, in its column order.
#[derive(FromQueryResult)]
pub(super) struct ClaimedRow {
    pub id: Uuid,
    pub sink: String,
    pub message_key: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub member_id: Option<Uuid>,
    pub member_deleted: bool,
}

/// The columns named, not `*`: a statement prepared before a migration added a column must
/// not change shape under its cached metadata (PostgreSQL refuses such a plan; sqlx's SQLite
/// driver indexes past the row). `{claimable}` is one CTE per sink (`CLAIMABLE_OF_SINK`), `{ids}`
/// their union: each sink's rows are chosen by its own walk of `idx_outbox_pending_by_id` under
/// its own limit, and all are leased in one statement.
const CLAIM_SQL: &str = "WITH {claimable} \
    UPDATE outbox SET claimed_until = $1, claimed_by = $2 \
    WHERE id IN ({ids}) \
    RETURNING id, sink, message_key, payload, created_at, attempts, member_id, \
      EXISTS (SELECT 1 FROM deleted_accounts d WHERE d.user_id = outbox.member_id) AS member_deleted";

/// The deliverable rows of one sink, oldest first, up to its limit (`{limit}`: a parameter).
const CLAIMABLE_OF_SINK: &str = "SELECT o.id FROM outbox o \
      WHERE o.sink = '{sink}' AND o.delivered_at IS NULL AND o.dead_at IS NULL \
        AND o.available_at <= $3 AND (o.claimed_until IS NULL OR o.claimed_until <= $3) \
        {in_key_order} \
      ORDER BY o.id LIMIT {limit} {lock}";

/// Only the oldest pending row of a key may go: one user's index updates stay in order. Written
/// as a correlated `LIMIT 1` subquery, which PostgreSQL answers with one lookup in the partial
/// index `idx_outbox_pending_by_key`; the equivalent `NOT EXISTS` was planned as an anti-join
/// scanning every pending row (400 ms a claim at 30,000 pending rows, measured).
const IN_KEY_ORDER: &str = "AND o.id = ( \
      SELECT p.id FROM outbox p \
      WHERE p.sink = o.sink AND p.message_key = o.message_key \
        AND p.delivered_at IS NULL AND p.dead_at IS NULL \
      ORDER BY p.id LIMIT 1)";

/// `CLAIM_SQL` for PostgreSQL or SQLite, over every sink of `Sink::ALL` (in that order, the
/// limit of the i-th is parameter `$4 + i`); built once. The sink names are ours, not input.
fn claim_sql(postgres: bool) -> &'static str {
    static SQL: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
        [false, true].map(|postgres| {
            let claimable = Sink::ALL.iter().enumerate().map(|(i, sink)| {
                let select = CLAIMABLE_OF_SINK
                    .replace("{sink}", sink.as_str())
                    .replace(
                        "{in_key_order}",
                        if sink.in_key_order() {
                            IN_KEY_ORDER
                        } else {
                            ""
                        },
                    )
                    .replace("{limit}", &format!("${}", 4 + i))
                    // SQLite has one writer at a time: the UPDATE itself is the lock.
                    .replace(
                        "{lock}",
                        if postgres {
                            "FOR UPDATE SKIP LOCKED"
                        } else {
                            ""
                        },
                    );
                format!("claimable_{i} AS ({select})")
            });
            let ids = (0..Sink::ALL.len()).map(|i| format!("SELECT id FROM claimable_{i}"));
            let sql = CLAIM_SQL
                .replace("{claimable}", &claimable.collect::<Vec<_>>().join(", "))
                .replace("{ids}", &ids.collect::<Vec<_>>().join(" UNION ALL "));
            // `?N` is SQLite's numbered placeholder.
            if postgres { sql } else { sql.replace('$', "?") }
        })
    });
    &SQL[usize::from(postgres)]
}

/// How many rows of each sink of `Sink::ALL` one claim takes at most, in that order.
pub type ClaimLimits = [u64; Sink::ALL.len()];

impl Store {
    /// Leases up to `limit` deliverable rows of `sink` to `relay` until `lease_until`.
    pub async fn claim_outbox(
        &self,
        sink: Sink,
        relay: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<OutboxMessage>> {
        Ok(self
            .claim_outbox_batch(sink, relay, now, lease_until, limit)
            .await?
            .messages)
    }

    /// `claim_outbox`, telling which of the rows carry a member deleted since they were
    /// written (looked up in the claim itself: no statement more per batch).
    pub async fn claim_outbox_batch(
        &self,
        sink: Sink,
        relay: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<ClaimedBatch> {
        let limits = Sink::ALL.map(|s| if s == sink { limit } else { 0 });
        self.claim_outbox_of_sinks(limits, relay, now, lease_until)
            .await
    }

    /// Leases to `relay` until `lease_until` up to `limits[i]` deliverable rows of each sink
    /// `Sink::ALL[i]`, in one statement, oldest first; with `claim_outbox_batch`'s account of
    /// deleted members.
    #[tracing::instrument(name = "db.claim_outbox", skip_all)]
    pub async fn claim_outbox_of_sinks(
        &self,
        limits: ClaimLimits,
        relay: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> StoreResult<ClaimedBatch> {
        let postgres = self.backend() == DbBackend::Postgres;
        let sql = claim_sql(postgres);
        let rows = if postgres {
            super::direct::claim_outbox_rows(
                &mut self.direct_connection().await?,
                sql,
                relay,
                now,
                lease_until,
                limits,
            )
            .await?
        } else {
            let mut values: Vec<sea_orm::Value> =
                vec![lease_until.into(), relay.into(), now.into()];
            values.extend(limits.iter().map(|&limit| (limit as i64).into()));
            // Boxed: inline, sea-orm's future would enlarge this one, created per batch.
            Box::pin(
                ClaimedRow::find_by_statement(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    sql,
                    values,
                ))
                .all(&self.db),
            )
            .await?
        };
        let mut batch = ClaimedBatch::default();
        for row in rows {
            let Some(sink) = Sink::parse(&row.sink) else {
                continue;
            };
            if row.member_deleted {
                batch.of_deleted_members.push(row.id);
            }
            if row.member_id.is_none() && member_data_of(&row.payload).is_some() {
                batch.written_before_member_id.push(row.id);
            }
            batch.messages.push(OutboxMessage {
                id: row.id,
                sink,
                key: row.message_key,
                payload: row.payload,
                attempts: row.attempts,
                created_at: row.created_at,
            });
        }
        batch.messages.sort_by_key(|m| m.id);
        Ok(batch)
    }
}
