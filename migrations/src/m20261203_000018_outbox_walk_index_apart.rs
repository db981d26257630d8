//! The claim's walk index (`idx_outbox_pending_by_id`) no longer serves lookups by key.
//!
//! Why: both pending indexes had the same predicate, so a lookup of one key's pending rows
//! (`sink = … AND message_key = …`: the claim's key order, the settle's "a later row of the key
//! is pending") could use either. With few pending rows in the statistics the planner rates
//! them alike, and once the key index, the wider, had grown by rows since delivered (their
//! entries stay until a vacuum) it took the walk index, `(sink, id)`, and filtered every pending
//! row of the sink by key: seen in a `bench/run` database (`EXPLAIN`), where lookups by key read
//! 49 index entries and fetched 43 rows each (`pg_stat_user_indexes`, 2026-12-03). The walk
//! index now also requires `available_at IS NOT NULL`: every row has one (the column is NOT
//! NULL), so it holds the same entries, and the claim's walk, which bounds `available_at`, still
//! implies it; a lookup by key does not, so it can only use
//! `idx_outbox_pending_by_key`. PostgreSQL and SQLite both prove `x IS NOT NULL` from a
//! comparison on `x` (PostgreSQL's `predtest.c`; SQLite's "Partial Indexes", §2.2).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn walk_index(manager: &SchemaManager<'_>, predicate: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    db.execute_unprepared("DROP INDEX IF EXISTS idx_outbox_pending_by_id")
        .await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX IF NOT EXISTS idx_outbox_pending_by_id ON outbox (sink, id) WHERE {predicate}"
    ))
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        walk_index(
            manager,
            "delivered_at IS NULL AND dead_at IS NULL AND available_at IS NOT NULL",
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        walk_index(manager, "delivered_at IS NULL AND dead_at IS NULL").await
    }
}
