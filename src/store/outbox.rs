//! The transactional outbox: rows written with the data they describe, claimed and settled by
//! the relay.
//!
//! Design: the relay claims a batch under a lease (`outbox_claim`), delivers it and settles
//! each row here. A lease that runs out (a relay died mid-delivery) makes the row claimable
//! again: delivery is at least once.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Statement,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{Store, StoreResult, entities::outbox};
use crate::domain::outbox::Sink;

/// A side effect to record with a business write.
#[derive(Debug, Clone)]
pub struct NewOutboxMessage {
    /// Also the `eventId` consumers deduplicate on.
    pub id: Uuid,
    pub sink: Sink,
    /// Deliveries with the same key go out in the order they were written.
    pub key: String,
    /// JSON text.
    pub payload: String,
    /// The member whose data the payload carries, `None` for the erasures a deletion sends
    /// (which must go out after it): what `outbox::member_data_of` reads from `payload`, given by
    /// the code that built it so a login does not parse its own payloads back.
    pub member_id: Option<Uuid>,
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
    let rows = messages
        .into_iter()
        .map(|m| row(now, m).into_active_model());
    outbox::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// The pending row of `message`, written at `now`.
pub(super) fn row(now: DateTime<Utc>, message: NewOutboxMessage) -> outbox::Model {
    // Every test that writes a row checks that its builder named the member its payload does.
    debug_assert_eq!(
        message.member_id,
        crate::domain::outbox::member_data_of(&message.payload),
        "the member id of a message to {} disagrees with its payload",
        message.sink.as_str()
    );
    outbox::Model {
        member_id: message.member_id,
        id: message.id,
        sink: message.sink.as_str().to_owned(),
        message_key: message.key,
        payload: message.payload,
        created_at: now,
        available_at: now,
        attempts: 0,
        last_error: None,
        claimed_until: None,
        claimed_by: None,
        delivered_at: None,
        dead_at: None,
    }
}

impl Store {
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

    /// Records the delivery of every row in `ids` this relay holds, in one statement on
    /// PostgreSQL (the relay's common case: one round trip per batch rather than per row).
    /// Rows whose member was deleted while they were out are deleted instead: their data
    /// stays nowhere. Whether a row with the key of one of them is still pending in a sink
    /// that keeps key order (`Sink::in_key_order`): it has just become claimable. Rows of the
    /// other sinks are claimable whatever else is pending, and their keys are unique.
    #[tracing::instrument(name = "db.settle_outbox_delivered", skip_all)]
    pub async fn settle_delivered(
        &self,
        ids: &[Uuid],
        relay: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        if ids.is_empty() {
            return Ok(false);
        }
        if self.backend() == DbBackend::Postgres {
            return super::direct::settle_delivered(
                &mut self.direct_connection().await?,
                ids,
                relay,
                now,
            )
            .await;
        }
        // Boxed: inline, sea-orm's futures would enlarge this one, created per batch.
        Box::pin(self.settle_delivered_with_sea_orm(ids, relay, now)).await
    }

    /// `settle_delivered` on SQLite, in sea-orm statements.
    async fn settle_delivered_with_sea_orm(
        &self,
        ids: &[Uuid],
        relay: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        outbox::Entity::delete_many()
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .filter(outbox::Column::ClaimedBy.eq(relay))
            .filter(outbox::Column::DeliveredAt.is_null())
            .filter(outbox::Column::MemberId.in_subquery(deleted_members()))
            .exec(&self.db)
            .await?;
        settling(relay)
            .col_expr(outbox::Column::DeliveredAt, Expr::value(now))
            .filter(outbox::Column::Id.is_in(ids.iter().copied()))
            .exec(&self.db)
            .await?;
        let settled = |column: outbox::Column| {
            sea_orm::sea_query::Query::select()
                .column(column)
                .from(outbox::Entity)
                .and_where(outbox::Column::Id.is_in(ids.iter().copied()))
                .to_owned()
        };
        let in_key_order = Sink::ALL
            .into_iter()
            .filter(|sink| sink.in_key_order())
            .map(Sink::as_str);
        let pending = outbox::Entity::find()
            .filter(outbox::Column::Sink.is_in(in_key_order))
            .filter(outbox::Column::DeliveredAt.is_null())
            .filter(outbox::Column::DeadAt.is_null())
            .filter(outbox::Column::Sink.in_subquery(settled(outbox::Column::Sink)))
            .filter(outbox::Column::MessageKey.in_subquery(settled(outbox::Column::MessageKey)))
            .count(&self.db)
            .await?;
        Ok(pending > 0)
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

/// The ids of deleted members (their tombstones).
fn deleted_members() -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(super::entities::deleted_accounts::Column::UserId)
        .from(super::entities::deleted_accounts::Entity)
        .to_owned()
}
