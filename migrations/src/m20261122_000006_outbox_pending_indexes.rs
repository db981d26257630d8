use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Partial indexes over the pending outbox rows only: the relay's claim walks them in id order
/// and checks "an older pending row of the same key" by index lookup, however many delivered rows
/// the table holds. Measured in the benchmarks: without them PostgreSQL chose a nested loop over
/// all pending rows and a claim took minutes once 30,000 rows were pending (with the query
/// rewritten as well, see `store::outbox`, a claim takes under a millisecond).
///
/// sea-query has no partial indexes, so this is SQL — the same text on PostgreSQL and SQLite.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_outbox_pending")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_outbox_pending_by_id ON outbox (sink, id) \
             WHERE delivered_at IS NULL AND dead_at IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_outbox_pending_by_key ON outbox (sink, message_key, id) \
             WHERE delivered_at IS NULL AND dead_at IS NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_outbox_pending_by_id")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_outbox_pending_by_key")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_outbox_pending ON outbox (sink, delivered_at, dead_at, available_at)",
        )
        .await?;
        Ok(())
    }
}
