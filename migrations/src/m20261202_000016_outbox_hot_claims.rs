//! Fewer index writes per login: the relay's claim stays on the row's page, and two indexes stop
//! holding rows no query looks for through them.
//!
//! Why: PostgreSQL bounds login throughput on two cores, and most of its work per login is
//! index inserts and their WAL (BENCHMARKS.md, sixth sitting; `pg_stat_statements`):
//! - an outbox row is written three times (inserted, claimed, settled). The claim changes no
//!   indexed column, so it can be a HOT update (no index entry, one WAL record instead of six)
//!   when the new version fits on the row's page; with full pages it never did (18 % of the
//!   updates were HOT). Half of each page is now left free at insert (`fillfactor = 50`;
//!   outbox rows are 0.4–0.8 KB). The settle changes `delivered_at`, which the pending indexes'
//!   predicates name, so it is never HOT. PostgreSQL only: SQLite has no fillfactor.
//! - `idx_outbox_key` indexed every row by `(sink, message_key, id)`, but only rows written
//!   before `member_id` existed (migration 13) are looked up by key outside the pending index:
//!   an account deletion finds the others by `member_id`. It now holds those rows only, which
//!   saves an index insert at each row's insert and at its settle.
//! - `idx_auth_events_subject` held a NULL for every audit row of a known member; it is
//!   searched only with `subject_hash = …`, which the partial index answers.
//!
//! Rebuilding the two indexes locks their tables briefly (a plain `CREATE INDEX`); the
//! fillfactor applies to pages written from now on.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE outbox SET (fillfactor = 50)")
                .await?;
        }
        // sea-query has no partial indexes: SQL, the same text on PostgreSQL and SQLite.
        for sql in [
            "DROP INDEX IF EXISTS idx_outbox_key",
            "CREATE INDEX IF NOT EXISTS idx_outbox_key ON outbox (sink, message_key, id) \
             WHERE member_id IS NULL",
            "DROP INDEX IF EXISTS idx_auth_events_subject",
            "CREATE INDEX IF NOT EXISTS idx_auth_events_subject ON auth_events (subject_hash) \
             WHERE subject_hash IS NOT NULL",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared("ALTER TABLE outbox RESET (fillfactor)")
                .await?;
        }
        for sql in [
            "DROP INDEX IF EXISTS idx_outbox_key",
            "CREATE INDEX IF NOT EXISTS idx_outbox_key ON outbox (sink, message_key, id)",
            "DROP INDEX IF EXISTS idx_auth_events_subject",
            "CREATE INDEX IF NOT EXISTS idx_auth_events_subject ON auth_events (subject_hash)",
        ] {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}
