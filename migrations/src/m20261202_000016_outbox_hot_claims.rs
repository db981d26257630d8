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
//! - `idx_outbox_key` indexed every row by `(sink, message_key, id)`, but outside the pending
//!   index only rows without a `member_id` are looked up by key: those written before the column
//!   existed (migration 13), which an account deletion recognises by key, and the erasure
//!   messages, written without one on purpose. An account deletion finds the others by
//!   `member_id`. The index now holds only rows without one, which saves an index insert at each
//!   login row's insert and at its settle.
//! - `idx_auth_events_subject` held a NULL for every audit row of a known member; it is
//!   searched only with `subject_hash = …`, which the partial index answers.
//!
//! On PostgreSQL the indexes are rebuilt `CONCURRENTLY` (outside a transaction): a plain
//! `DROP INDEX` would lock both tables, and so every login, for as long as the builds take on a
//! week of outbox rows and 90 days of audit rows. A run that stops half-way leaves either index
//! under its own name or under `<name>_next`; running it again ends with the partial one
//! under the name. The fillfactor applies to pages written from now on.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The two indexes: name, table, columns, and the predicate of the partial form.
const INDEXES: [(&str, &str, &str, &str); 2] = [
    (
        "idx_outbox_key",
        "outbox",
        "sink, message_key, id",
        "member_id IS NULL",
    ),
    (
        "idx_auth_events_subject",
        "auth_events",
        "subject_hash",
        "subject_hash IS NOT NULL",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// `CREATE INDEX CONCURRENTLY` cannot run in a transaction.
    fn use_transaction(&self) -> Option<bool> {
        Some(false)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE outbox SET (fillfactor = 50)")
                .await?;
        }
        for (name, table, columns, predicate) in INDEXES {
            rebuild(manager, name, table, columns, Some(predicate)).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("ALTER TABLE outbox RESET (fillfactor)")
                .await?;
        }
        for (name, table, columns, _) in INDEXES {
            rebuild(manager, name, table, columns, None).await?;
        }
        Ok(())
    }
}

/// Replaces index `name` on `table` by one on `columns`, partial when `predicate` is given.
/// sea-query has no partial indexes, so this is SQL. PostgreSQL: the new index is built
/// concurrently beside the old one, which is then dropped concurrently (each its own
/// statement: `CONCURRENTLY` refuses a multi-statement string); SQLite (one instance, nothing to
/// block): dropped and created.
async fn rebuild(
    manager: &SchemaManager<'_>,
    name: &str,
    table: &str,
    columns: &str,
    predicate: Option<&str>,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let filter = predicate.map_or(String::new(), |p| format!(" WHERE {p}"));
    if manager.get_database_backend() != DbBackend::Postgres {
        // One call, so one pooled connection: a CREATE sent on another connection could see
        // the schema from before the DROP. `IF NOT EXISTS`: of two migrators of one file, the
        // second's create may come after the first's (the same index).
        return db
            .execute_unprepared(&format!(
                "DROP INDEX IF EXISTS {name}; \
                 CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns}){filter}"
            ))
            .await
            .map(|_| ());
    }
    for sql in [
        // An invalid index left by a build that was interrupted.
        format!("DROP INDEX CONCURRENTLY IF EXISTS {name}_next"),
        format!("CREATE INDEX CONCURRENTLY {name}_next ON {table} ({columns}){filter}"),
        format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
        format!("ALTER INDEX {name}_next RENAME TO {name}"),
    ] {
        db.execute_unprepared(&sql).await?;
    }
    Ok(())
}
