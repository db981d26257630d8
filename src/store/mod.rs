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
pub mod cache;
mod connections;
mod deletion;
mod direct;
mod direct_login;
mod entities;
#[cfg(test)]
mod future_sizes;
mod identities;
mod invalidation;
mod leases;
mod listener;
mod logins;
mod members;
mod outbox;
mod outbox_claim;
mod partners;
mod phone;
mod purge;
mod refresh_tokens;
mod returning_login;
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
pub use outbox_claim::{ClaimLimits, ClaimedBatch};
pub use partners::{NewPartnerToken, PartnerRecord, PartnerTokenRecord, Redemption};
pub use phone::{Attempt, ChallengeRecord, Enrolment, NewChallenge};
pub use refresh_tokens::{Claim, Prospect, RefreshTokenRecord, Successor, UsedRefreshToken};
pub use sessions::Sessions;
pub use social::{LinkTokenRecord, LinkedAccountRecord, NonceRecord};

#[derive(Debug, thiserror::Error)]
#[error("an error occurred with the database")]
pub struct StoreError(#[from] sea_orm::DbErr);

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// PostgreSQL only: the connections of the hottest statements (see `connections`).
    direct: Option<deadpool::managed::Pool<connections::Connector>>,
    /// Sessions and user views of authenticated requests (see `cache`).
    cache: std::sync::Arc<cache::ReadCache>,
    /// This instance's side of the acknowledged invalidations (see `invalidation`).
    acks: std::sync::Arc<invalidation::Acks>,
    /// Wakes the listener to drop its connection (`reset_invalidation_listener`).
    listener_reset: std::sync::Arc<tokio::sync::Notify>,
    /// Members whose rows this instance wrote last (see `returning_login`).
    known_members: std::sync::Arc<returning_login::KnownMembers>,
    /// How sign-ins reached the database, for operators.
    login_writes: std::sync::Arc<LoginWrites>,
}

/// How many sign-ins were written each way since start: a returning member's password login
/// in one statement (`returning_login`), a password login's transaction (`direct_login`), and
/// every other sign-in, or one those two left (`logins`).
#[derive(Debug, Default)]
pub struct LoginWrites {
    pub one_statement: std::sync::atomic::AtomicU64,
    pub transaction: std::sync::atomic::AtomicU64,
    pub general: std::sync::atomic::AtomicU64,
}

impl LoginWrites {
    /// The counts by path name (`one_statement`, `transaction`, `general`).
    pub fn counts(&self) -> [(&'static str, u64); 3] {
        use std::sync::atomic::Ordering::Relaxed;
        [
            ("one_statement", self.one_statement.load(Relaxed)),
            ("transaction", self.transaction.load(Relaxed)),
            ("general", self.general.load(Relaxed)),
        ]
    }
}

/// A pooled connection idle at least this long is pinged before it is handed out; one used
/// more recently is not. sqlx's default pings on every checkout, a round trip more for every
/// statement outside a transaction (a refresh paid two), on top of the ping sqlx sends on every
/// release. The window is HikariCP's `aliveBypassWindowMs` (500 ms): a connection that answered
/// that recently is very likely still there, and one that broke meanwhile fails its statement,
/// as it could between a ping and the statement anyway. The cost: when PostgreSQL restarts or
/// fails over under load, each pooled connection (up to 16, and 8 in `connections`' pool) fails one request before it is
/// replaced, where the ping on every checkout replaced most of them unnoticed.
pub const PING_IF_IDLE_FOR: Duration = Duration::from_millis(500);

impl Store {
    /// Connects; for SQLite creates the file's folder and turns on WAL and foreign keys.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(5))
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
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
        // Off until the listener is up (`listen_for_invalidations`); SQLite has no listener,
        // since nothing would tell one process about another's writes to the file, so there
        // every request reads the database as before.
        let direct = (db.get_database_backend() == DbBackend::Postgres)
            .then(|| connections::pool(url))
            .transpose()?;
        Ok(Self {
            db,
            direct,
            cache: std::sync::Arc::new(cache::ReadCache::new(false)),
            acks: std::sync::Arc::default(),
            listener_reset: std::sync::Arc::new(tokio::sync::Notify::new()),
            known_members: std::sync::Arc::default(),
            login_writes: std::sync::Arc::default(),
        })
    }

    /// On PostgreSQL, spawns the task that receives every instance's invalidations and
    /// acknowledges them (the read cache stays off until it listens, and always when `serve`
    /// is false); nothing on SQLite.
    pub fn listen_for_invalidations(
        &self,
        url: &str,
        serve: bool,
    ) -> Option<tokio::task::JoinHandle<()>> {
        self.cache.serve(serve);
        self.can_listen().then(|| {
            tokio::spawn(listener::listen(
                self.cache.clone(),
                self.acks.clone(),
                url.to_owned(),
                self.listener_reset.clone(),
            ))
        })
    }

    /// Drops the listener's connection as a network failure would: the cache is flushed and
    /// off until the listener has connected again. For operators who suspect missed
    /// notifications, and for tests.
    pub fn reset_invalidation_listener(&self) {
        // A permit, not a wake-up: a listener busy (or still connecting) takes it next.
        self.listener_reset.notify_one();
    }

    /// Waits up to `limit` until the invalidation listener listens: a write made before it
    /// does cannot be acknowledged, so it would outwait every other instance's lease.
    /// Whether it listens.
    pub async fn await_listener(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.acks.listening() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// Whether this database can tell instances about each other's writes (PostgreSQL), so
    /// that the read cache can be on.
    pub fn can_listen(&self) -> bool {
        self.backend() == DbBackend::Postgres
    }

    /// How sign-ins reached the database since start.
    pub fn login_writes(&self) -> &LoginWrites {
        &self.login_writes
    }

    /// Whether authenticated reads are served from the read cache now.
    pub fn read_cache_enabled(&self) -> bool {
        self.cache.enabled()
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

/// The file of a SQLite URL (`None` for other databases and `:memory:`).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()?;
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}
