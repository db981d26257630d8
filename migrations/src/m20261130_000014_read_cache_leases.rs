//! The read cache's leases on PostgreSQL (`read_cache_leases`): each instance's listener renews
//! its row four times a second, and a writer waits for every instance whose lease may still
//! run — including one whose connection has just ended without it knowing yet, which
//! `pg_stat_activity` no longer shows. Unlogged: a lease is worth nothing after a crash.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let unlogged = match manager.get_database_backend() {
            DbBackend::Postgres => "UNLOGGED ",
            _ => "",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE {unlogged}TABLE IF NOT EXISTS read_cache_leases (\
                 instance VARCHAR(16) NOT NULL PRIMARY KEY, \
                 renewed_at TIMESTAMP WITH TIME ZONE NOT NULL)"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS read_cache_leases")
            .await?;
        Ok(())
    }
}
