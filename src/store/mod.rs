//! Persistence: one method per business operation, each its own transaction.
//!
//! Design: sea-orm entities stay private to this module; callers get domain types or the plain
//! records of one file per aggregate (users, identities, sessions, refresh tokens, the login that
//! writes them together, partners, the outbox, the purge). The decisions that must hold under
//! concurrency are made by the database: the user upsert is one `INSERT … ON CONFLICT … DO
//! UPDATE`, and a refresh token is claimed by a conditional `UPDATE … WHERE used_at IS NULL`, so
//! exactly one of N concurrent presenters wins, on SQLite and on PostgreSQL shared by several
//! instances.

mod audit;
mod deletion;
mod entities;
mod identities;
mod logins;
mod members;
mod outbox;
mod partners;
mod phone;
mod purge;
mod refresh_tokens;
mod sessions;
mod social;
mod users;

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};

pub use audit::AuditQuery;
pub use deletion::{Deleted, DeletedMember, NewDeletion, Tombstone};
pub use identities::{LinkOutcome, NewLink};
pub use logins::{LoginMember, LoginRecord, NewLogin, NotRecorded, Proof};
pub use outbox::{NewOutboxMessage, Settlement, SinkCounts};
pub use partners::{NewPartnerToken, PartnerRecord, PartnerTokenRecord, Redemption};
pub use phone::{Attempt, ChallengeRecord, Enrolment, NewChallenge};
pub use refresh_tokens::{Claim, RefreshTokenRecord, Successor, UsedRefreshToken};
pub use sessions::Sessions;
pub use social::{LinkTokenRecord, LinkedAccountRecord, NonceRecord};

#[derive(Debug, thiserror::Error)]
#[error("an error occurred with the database")]
pub struct StoreError(#[from] sea_orm::DbErr);

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

impl Store {
    /// Connects; for SQLite creates the file's folder and turns on WAL and foreign keys.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10));
        if url.starts_with("sqlite:") {
            if let Some(parent) = sqlite_file(url).and_then(|p| p.parent().map(|p| p.to_owned()))
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(&parent).with_context(|| {
                    format!("creating the database folder {}", parent.display())
                })?;
            }
            options.max_connections(8).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        } else {
            options.max_connections(16);
        }
        let db = Database::connect(options)
            .await
            .context("connecting to the database")?;
        Ok(Self { db })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db, None)
            .await
            .context("running database migrations")
    }

    pub async fn ping(&self) -> StoreResult<()> {
        Ok(self.db.ping().await?)
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Users, sessions and refresh tokens, for operators and tests.
    pub async fn count_rows(&self) -> StoreResult<(u64, u64, u64)> {
        use sea_orm::{EntityTrait, PaginatorTrait};
        Ok((
            entities::users::Entity::find().count(&self.db).await?,
            entities::sessions::Entity::find().count(&self.db).await?,
            entities::refresh_tokens::Entity::find()
                .count(&self.db)
                .await?,
        ))
    }

    pub fn connection(&self) -> &impl ConnectionTrait {
        &self.db
    }
}

fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()?;
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}
