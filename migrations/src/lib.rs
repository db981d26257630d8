//! Schema migrations for login-api, run by `login-api migrate` and (unless disabled) by `serve`.
//!
//! Design: one change per file, written only with sea-query schema builders so every
//! migration runs unchanged on PostgreSQL (production) and SQLite (the embedded default).
//! Timestamps are `timestamp with time zone` and always written in UTC.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_users;
mod m20261122_000002_create_sessions;
mod m20261122_000003_create_refresh_tokens;
mod m20261122_000004_create_outbox;
mod m20261122_000005_create_partners;
mod m20261122_000006_outbox_pending_indexes;
mod m20261130_000007_create_identities;
mod m20261130_000008_session_auth_method;
mod m20261130_000009_session_activity_and_roles;
mod m20261130_000010_phone_codes;
mod m20261130_000011_social_sign_in;
mod m20261130_000012_audit_and_deletion;
mod m20261130_000013_outbox_member;
mod m20261130_000014_read_cache_leases;
mod m20261202_000015_read_cache_join_lock;
mod m20261202_000016_outbox_hot_claims;
mod m20261203_000017_outbox_vacuum_thresholds;
mod m20261203_000018_outbox_walk_index_apart;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_users::Migration),
            Box::new(m20261122_000002_create_sessions::Migration),
            Box::new(m20261122_000003_create_refresh_tokens::Migration),
            Box::new(m20261122_000004_create_outbox::Migration),
            Box::new(m20261122_000005_create_partners::Migration),
            Box::new(m20261122_000006_outbox_pending_indexes::Migration),
            Box::new(m20261130_000007_create_identities::Migration),
            Box::new(m20261130_000008_session_auth_method::Migration),
            Box::new(m20261130_000009_session_activity_and_roles::Migration),
            Box::new(m20261130_000010_phone_codes::Migration),
            Box::new(m20261130_000011_social_sign_in::Migration),
            Box::new(m20261130_000012_audit_and_deletion::Migration),
            Box::new(m20261130_000013_outbox_member::Migration),
            Box::new(m20261130_000014_read_cache_leases::Migration),
            Box::new(m20261202_000015_read_cache_join_lock::Migration),
            Box::new(m20261202_000016_outbox_hot_claims::Migration),
            Box::new(m20261203_000017_outbox_vacuum_thresholds::Migration),
            Box::new(m20261203_000018_outbox_walk_index_apart::Migration),
        ]
    }
}
