//! The read cache's join lock on PostgreSQL: two functions, so that a writer can read the other
//! instances' leases inside its own statement and leave its `NOTIFY` out when there are none.
//!
//! Why: PostgreSQL serialises the commits of transactions that notify (`PreCommit_Notify` holds
//! a database-wide lock through the commit's WAL flush), so every notifying login waited for
//! the one before it to reach the disk. A lone instance has nobody to tell.
//!
//! How it stays exact (the protocol is in the service's `store::invalidation`):
//! - `read_cache_others(own, within)` takes the join lock in shared mode, then reads the leases
//!   renewed within `within` other than `own`. Volatile, so its query takes a fresh snapshot
//!   after the lock, not the calling statement's; the lock is held until the writer commits.
//! - `read_cache_lease_join(joining)` takes the join lock in exclusive mode, then takes or renews
//!   the lease. An instance joins this way when it has no lease running: it then either commits
//!   its lease before a writer's lookup (which sees it) or after that writer's commit (and
//!   empties its cache once it has joined). Its lock waits at most 100 ms, so that the writers
//!   queued behind it never wait longer; the listener tries again.
//!
//! - The lease guard, a trigger on `read_cache_leases`, refuses a lease written by a session
//!   that has not set `login_api.read_cache_protocol` to `2`: the listeners of earlier versions
//!   take and renew their leases without the lock, so a login that no longer notifies could miss
//!   them. Refused, they keep their caches off and read the database (their writers still
//!   notify, and outwait the new listeners until the rollout is done).
//!
//! The lock is a transaction-level advisory lock on key 7813577581032206441 ("loginapi" in
//! ASCII), per database.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(()); // SQLite: one instance, no listeners.
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION read_cache_others(own text, within interval) \
             RETURNS SETOF text LANGUAGE plpgsql VOLATILE AS $$ \
             BEGIN \
               PERFORM pg_advisory_xact_lock_shared(7813577581032206441); \
               RETURN QUERY SELECT l.instance::text FROM read_cache_leases l \
                 WHERE l.renewed_at > clock_timestamp() - within AND l.instance <> own; \
             END $$",
        )
        .await?;
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION read_cache_lease_join(joining text) \
             RETURNS void LANGUAGE plpgsql VOLATILE AS $$ \
             BEGIN \
               PERFORM set_config('lock_timeout', '100ms', true); \
               PERFORM pg_advisory_xact_lock(7813577581032206441); \
               INSERT INTO read_cache_leases (instance, renewed_at) \
                 VALUES (joining, clock_timestamp()) \
                 ON CONFLICT (instance) DO UPDATE SET renewed_at = EXCLUDED.renewed_at; \
             END $$",
        )
        .await?;
        db.execute_unprepared(
            "CREATE OR REPLACE FUNCTION read_cache_lease_guard() \
             RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN \
               IF current_setting('login_api.read_cache_protocol', true) IS DISTINCT FROM '2' THEN \
                 RAISE EXCEPTION 'read_cache_leases: this listener takes its lease without the \
                   join lock (login-api before migration 15); its read cache stays off' \
                   USING ERRCODE = 'object_not_in_prerequisite_state'; \
               END IF; \
               RETURN NEW; \
             END $$",
        )
        .await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS read_cache_lease_guard ON read_cache_leases")
            .await?;
        db.execute_unprepared(
            "CREATE TRIGGER read_cache_lease_guard BEFORE INSERT OR UPDATE ON read_cache_leases \
             FOR EACH ROW EXECUTE FUNCTION read_cache_lease_guard()",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared("DROP FUNCTION IF EXISTS read_cache_others(text, interval)")
            .await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS read_cache_lease_join(text)")
            .await?;
        db.execute_unprepared("DROP TRIGGER IF EXISTS read_cache_lease_guard ON read_cache_leases")
            .await?;
        db.execute_unprepared("DROP FUNCTION IF EXISTS read_cache_lease_guard()")
            .await?;
        Ok(())
    }
}
