//! The outbox is vacuumed after a fixed number of dead rows, not after a fifth of the table.
//!
//! Why: every delivered row leaves dead versions behind (its claim and its settle), and until
//! a vacuum removes them the pending indexes keep an entry for each, which every relay claim
//! walks past from the oldest id (`store::outbox_claim`). With autovacuum's default scale factor
//! (0.2) a table holding a week of delivered rows waits for a fifth of them to be dead: about
//! 200,000 dead rows at a million, a claim then reads megabytes of index for no pending row. In
//! the benchmarks, with autovacuum off, a manual `VACUUM` cut the claim's statement time from
//! 0.237 to 0.085 ms per login (BENCHMARKS.md, seventh sitting). A scale factor of 0 and a
//! threshold of 10,000 dead rows (2,500 logins: two sinks, each row claimed and settled) is the
//! PostgreSQL manual's queue-table advice (§25.1.6, "Automatic Vacuuming"; storage parameters
//! in `CREATE TABLE`, "Storage Parameters"). The insert-driven vacuum (PostgreSQL 13+) keeps the
//! delivered rows' pages all-visible the same way.
//!
//! PostgreSQL only: SQLite has no vacuum thresholds (one instance, its pages reused in place).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The storage parameters set on `outbox`, as `name = value`.
const OUTBOX_VACUUM_PARAMETERS: [&str; 4] = [
    "autovacuum_vacuum_scale_factor=0",
    "autovacuum_vacuum_threshold=10000",
    "autovacuum_vacuum_insert_scale_factor=0",
    "autovacuum_vacuum_insert_threshold=10000",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let parameters = OUTBOX_VACUUM_PARAMETERS.join(", ");
        manager
            .get_connection()
            .execute_unprepared(&format!("ALTER TABLE outbox SET ({parameters})"))
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let names = OUTBOX_VACUUM_PARAMETERS
            .map(|p| p.split('=').next().unwrap_or(p))
            .join(", ");
        manager
            .get_connection()
            .execute_unprepared(&format!("ALTER TABLE outbox RESET ({names})"))
            .await
            .map(|_| ())
    }
}
