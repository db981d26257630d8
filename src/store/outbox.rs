//! The transactional outbox: rows written with the data they describe, claimed and settled by
//! the relay.
//!
//! Design: a claim is one `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …` that leases the
//! rows to one relay; on PostgreSQL the inner select takes `FOR UPDATE SKIP LOCKED`, so relays
//! in several instances never claim the same row at once. Only the oldest pending row of a
//! `message_key` is claimable, which keeps one user's index updates in order. A lease that runs
//! out (a relay died mid-delivery) makes the row claimable again: delivery is at least once.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    Statement,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{Store, StoreResult, entities::outbox};
use crate::domain::outbox::{OutboxMessage, Sink, member_data_of};

/// A side effect to record with a business write.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    /// Also the `eventId` consumers deduplicate on.
    pub id: Uuid,
    pub sink: Sink,
    /// Deliveries with the same key go out in the order they were written.
    pub key: String,
    pub payload: serde_json::Value,
}

/// How one delivery went.
pub enum Settlement {
    Delivered,
    /// Try again at `retry_at`, or park the row as dead.
    Failed {
        error: String,
        retry_at: DateTime<Utc>,
        dead: bool,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkCounts {
    pub pending: i64,
    /// Pending rows that have failed at least once.
    pub retrying: i64,
    pub delivered: i64,
    pub dead: i64,
}

pub(super) async fn insert(
    txn: &DatabaseTransaction,
    now: DateTime<Utc>,
    messages: Vec<NewOutboxMessage>,
) -> StoreResult<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let rows = messages.into_iter().map(|m| outbox::ActiveModel {
        member_id: Set(member_data_of(&m.payload)),
        id: Set(m.id),
        sink: Set(m.sink.as_str().to_owned()),
        message_key: Set(m.key),
        payload: Set(m.payload.to_string()),
        created_at: Set(now),
        available_at: Set(now),
        attempts: Set(0),
        last_error: Set(None),
        claimed_until: Set(None),
        claimed_by: Set(None),
        delivered_at: Set(None),
        dead_at: Set(None),
    });
    outbox::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// The columns named, not `*`: a statement prepared before a migration added a column must
/// not change shape under its cached metadata (PostgreSQL refuses such a plan; sqlx's SQLite
/// driver indexes past the row).
const CLAIM_SQL: &str = "UPDATE outbox SET claimed_until = $1, claimed_by = $2 \
    WHERE id IN ( \
      SELECT o.id FROM outbox o \
      WHERE o.sink = $3 AND o.delivered_at IS NULL AND o.dead_at IS NULL \
        AND o.available_at <= $4 AND (o.claimed_until IS NULL OR o.claimed_until <= $4) \
        {in_key_order} \
      ORDER BY o.id LIMIT $5 {lock}) \
    RETURNING id, sink, message_key, payload, created_at, available_at, attempts, last_error, \
      claimed_until, claimed_by, delivered_at, dead_at, member_id";

/// Only the oldest pending row of a key may go: one user's index updates stay in order. Written
/// as a correlated `LIMIT 1` subquery, which PostgreSQL answers with one lookup in the partial
/// index `idx_outbox_pending_by_key`; the equivalent `NOT EXISTS` was planned as an anti-join
/// scanning every pending row (400 ms a claim at 30,000 pending rows, measured).
const IN_KEY_ORDER: &str = "AND o.id = ( \
      SELECT p.id FROM outbox p \
      WHERE p.sink = o.sink AND p.message_key = o.message_key \
        AND p.delivered_at IS NULL AND p.dead_at IS NULL \
      ORDER BY p.id LIMIT 1)";

impl Store {
    /// Leases up to `limit` deliverable rows of `sink` to `relay` until `lease_until`.
    #[tracing::instrument(name = "db.claim_outbox", skip_all)]
    pub async fn claim_outbox(
        &self,
        sink: Sink,
        relay: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u64,
    ) -> StoreResult<Vec<OutboxMessage>> {
        let backend = self.db.get_database_backend();
        // Events carry unique keys: ordering them would cost a lookup per row for nothing.
        let in_key_order = match sink {
            Sink::SearchIndex => IN_KEY_ORDER,
            Sink::EventBus => "",
        };
        let sql = CLAIM_SQL.replace("{in_key_order}", in_key_order);
        let sql = match backend {
            DbBackend::Postgres => sql.replace("{lock}", "FOR UPDATE SKIP LOCKED"),
            // SQLite has one writer at a time: the UPDATE itself is the lock. `?N` is its
            // numbered placeholder.
            _ => sql.replace("{lock}", "").replace('$', "?"),
        };
        let rows = outbox::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    lease_until.into(),
                    relay.into(),
                    sink.as_str().into(),
                    now.into(),
                    (limit as i64).into(),
                ],
            ))
            .all(&self.db)
            .await?;
        let mut messages: Vec<OutboxMessage> = rows
            .into_iter()
            .filter_map(|row| {
                let payload = serde_json::from_str(&row.payload)
                    .unwrap_or(serde_json::Value::String(row.payload));
                Some(OutboxMessage {
                    id: row.id,
                    sink: Sink::parse(&row.sink)?,
                    key: row.message_key,
                    payload,
                    attempts: row.attempts,
                    created_at: row.created_at,
                })
            })
            .collect();
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }

    /// Deletes a row `relay` holds instead of delivering it (its member was deleted).
    #[tracing::instrument(name = "db.drop_outbox", skip_all)]
    pub async fn drop_outbox(&self, id: Uuid, relay: &str) -> StoreResult<()> {
        outbox::Entity::delete_many()
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::ClaimedBy.eq(relay))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Records the outcome of a delivery of a row this relay holds.
    #[tracing::instrument(name = "db.settle_outbox", skip_all)]
    pub async fn settle_outbox(
        &self,
        id: Uuid,
        relay: &str,
        now: DateTime<Utc>,
        settlement: Settlement,
    ) -> StoreResult<()> {
        let update = settling(relay).filter(outbox::Column::Id.eq(id));
        let update = match settlement {
            Settlement::Delivered => update.col_expr(outbox::Column::DeliveredAt, Expr::value(now)),
            Settlement::Failed {
                error,
                retry_at,
                dead,
            } => {
                let update = update
                    .col_expr(
                        outbox::Column::LastError,
                        Expr::value(truncate(&error, 1000)),
                    )
                    .col_expr(outbox::Column::AvailableAt, Expr::value(retry_at));
                if dead {
                    update.col_expr(outbox::Column::DeadAt, Expr::value(now))
                } else {
                    update
                }
            }
        };
        update.exec(&self.db).await?;
        Ok(())
    }

    /// Records the delivery of every row in `ids` this relay holds, in one statement (the
    /// relay's common case: one round trip per batch rather than per row).
    #[tracing::instrument(name = "db.settle_outbox_delivered", skip_all)]
    pub async fn settle_delivered(
        &self,
        ids: &[Uuid],
        relay: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        settling(relay)
            .col_expr(outbox::Column::DeliveredAt, Expr::value(now))
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Counts per sink, for `login-api outbox status`, logs and metrics.
    pub async fn outbox_counts(&self, sink: Sink) -> StoreResult<SinkCounts> {
        let backend = self.db.get_database_backend();
        let sql = "SELECT \
              COUNT(CASE WHEN delivered_at IS NULL AND dead_at IS NULL THEN 1 END) AS pending, \
              COUNT(CASE WHEN delivered_at IS NULL AND dead_at IS NULL AND attempts > 0 THEN 1 END) AS retrying, \
              COUNT(CASE WHEN delivered_at IS NOT NULL THEN 1 END) AS delivered, \
              COUNT(CASE WHEN dead_at IS NOT NULL THEN 1 END) AS dead \
            FROM outbox WHERE sink = $1";
        let sql = match backend {
            DbBackend::Postgres => sql.to_owned(),
            _ => sql.replace('$', "?"),
        };
        let row = self
            .db
            .query_one_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [sink.as_str().into()],
            ))
            .await?;
        let Some(row) = row else {
            return Ok(SinkCounts::default());
        };
        Ok(SinkCounts {
            pending: row.try_get("", "pending")?,
            retrying: row.try_get("", "retrying")?,
            delivered: row.try_get("", "delivered")?,
            dead: row.try_get("", "dead")?,
        })
    }

    /// Makes dead rows deliverable again; returns how many.
    pub async fn replay_dead_outbox(
        &self,
        sink: Option<Sink>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let mut update = outbox::Entity::update_many()
            .col_expr(
                outbox::Column::DeadAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .col_expr(outbox::Column::Attempts, Expr::value(0))
            .col_expr(outbox::Column::AvailableAt, Expr::value(now))
            .col_expr(
                outbox::Column::ClaimedUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(outbox::Column::DeadAt.is_not_null());
        if let Some(sink) = sink {
            update = update.filter(outbox::Column::Sink.eq(sink.as_str()));
        }
        Ok(update.exec(&self.db).await?.rows_affected)
    }

    /// Deletes delivered rows older than `before`, at most `batch` of them.
    pub async fn purge_delivered_outbox(
        &self,
        before: DateTime<Utc>,
        batch: u64,
    ) -> StoreResult<u64> {
        use sea_orm::sea_query::Query;
        let old = Query::select()
            .column(outbox::Column::Id)
            .from(outbox::Entity)
            .and_where(outbox::Column::DeliveredAt.lt(before))
            .limit(batch)
            .to_owned();
        Ok(outbox::Entity::delete_many()
            .filter(outbox::Column::Id.in_subquery(old))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

/// The update that ends an attempt on rows `relay` holds and nobody has delivered: one more
/// attempt counted, the lease released.
fn settling(relay: &str) -> sea_orm::UpdateMany<outbox::Entity> {
    outbox::Entity::update_many()
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .col_expr(
            outbox::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(outbox::Column::ClaimedBy.eq(relay))
        .filter(outbox::Column::DeliveredAt.is_null())
}
