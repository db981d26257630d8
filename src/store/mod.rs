//! Persistence: one method per business operation, each its own transaction.
//!
//! Design: sea-orm entities stay private to this module; callers get plain records. The
//! decisions that must hold under concurrency are made by the database: the user upsert is one
//! `INSERT … ON CONFLICT … DO UPDATE`, and a refresh token is claimed by a conditional
//! `UPDATE … WHERE used_at IS NULL`, so exactly one of N concurrent presenters wins, on SQLite
//! and on PostgreSQL shared by several instances.

mod entities;
mod outbox;
mod partners;

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, OnConflict, Query},
};
use uuid::Uuid;

use crate::domain::{
    CustomerProfile, Device, DeviceType, Email, Membership, RefreshTokenHash, UserId,
    refresh_token::RotationNonce,
};
use entities::{refresh_tokens, sessions, users};
pub use outbox::{NewOutboxMessage, Settlement, SinkCounts};
pub use partners::{NewPartnerToken, PartnerRecord, PartnerTokenRecord, Redemption};

#[derive(Debug, thiserror::Error)]
#[error("an error occurred with the database")]
pub struct StoreError(#[from] sea_orm::DbErr);

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub membership: Option<Membership>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user_id: UserId,
    pub device: Device,
    pub created_at: DateTime<Utc>,
    pub last_accessed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Everything a successful login writes, in one transaction.
pub struct NewLogin<'a> {
    pub profile: &'a CustomerProfile,
    pub device: &'a Device,
    pub now: DateTime<Utc>,
    pub session_expires_at: DateTime<Utc>,
    pub refresh_token: &'a RefreshTokenHash,
    pub refresh_token_expires_at: DateTime<Utc>,
    /// The side effects of this login, built from what was written; stored in the same
    /// transaction.
    pub side_effects: &'a (dyn Fn(&LoginRecord) -> Vec<NewOutboxMessage> + Send + Sync),
}

pub struct LoginRecord {
    pub user: UserRecord,
    pub session: SessionRecord,
    pub first_login: bool,
}

/// A stored refresh token with its session and user, as read before a rotation.
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used: Option<UsedRefreshToken>,
    pub session: SessionRecord,
    pub user: UserRecord,
}

#[derive(Debug, Clone)]
pub struct UsedRefreshToken {
    pub used_at: DateTime<Utc>,
    pub nonce: RotationNonce,
}

pub struct Successor<'a> {
    pub nonce: &'a RotationNonce,
    pub hash: &'a RefreshTokenHash,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

pub enum Claim {
    /// This caller used the token; the successor is stored and the session touched.
    Won,
    /// Someone used it first (now or earlier).
    AlreadyUsed(UsedRefreshToken),
    /// The session was revoked between reading and claiming.
    SessionGone,
}

/// Which of a user's sessions a logout ends.
#[derive(Debug, Clone, Copy)]
pub enum Sessions {
    Only(Uuid),
    AllExcept(Uuid),
    All,
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

    /// Upserts the user, replaces the device's previous session, and stores the new session
    /// and its first refresh token: all or nothing.
    #[tracing::instrument(name = "db.record_login", skip_all)]
    pub async fn record_login(&self, login: NewLogin<'_>) -> StoreResult<LoginRecord> {
        let NewLogin {
            profile,
            device,
            now,
            ..
        } = login;
        let txn = self.db.begin().await?;
        let new_id = Uuid::now_v7();
        let membership = profile.membership.as_ref();
        let user = users::Entity::insert(users::ActiveModel {
            id: Set(new_id),
            upstream_customer_id: Set(profile.customer_id.clone()),
            email: Set(profile.email.as_str().to_owned()),
            first_name: Set(profile.first_name.clone()),
            last_name: Set(profile.last_name.clone()),
            membership_number: Set(membership.map(|m| m.number.clone())),
            membership_start_date: Set(membership.map(|m| m.start_date)),
            membership_end_date: Set(membership.map(|m| m.end_date)),
            chapter: Set(membership.and_then(|m| m.chapter.clone())),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(Some(now)),
        })
        .on_conflict(
            OnConflict::column(users::Column::UpstreamCustomerId)
                .update_columns([
                    users::Column::Email,
                    users::Column::FirstName,
                    users::Column::LastName,
                    users::Column::MembershipNumber,
                    users::Column::MembershipStartDate,
                    users::Column::MembershipEndDate,
                    users::Column::Chapter,
                    users::Column::UpdatedAt,
                    users::Column::LastLoginAt,
                ])
                .to_owned(),
        )
        .exec_with_returning(&txn)
        .await?;
        let first_login = user.id == new_id;

        if let Some(device_id) = &device.device_id {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::RevokedAt, Expr::value(now))
                .filter(sessions::Column::UserId.eq(user.id))
                .filter(sessions::Column::DeviceId.eq(device_id.as_str()))
                .filter(sessions::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
        }

        let session = sessions::Entity::insert(sessions::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user.id),
            device_id: Set(device.device_id.clone()),
            device_type: Set(device.device_type.map(|t| t.as_str().to_owned())),
            device_name: Set(device.device_name.clone()),
            platform: Set(device.platform.clone()),
            platform_version: Set(device.platform_version.clone()),
            app_version: Set(device.app_version.clone()),
            push_token: Set(device.push_token.clone()),
            created_at: Set(now),
            last_accessed_at: Set(now),
            expires_at: Set(login.session_expires_at),
            revoked_at: Set(None),
        })
        .exec_with_returning(&txn)
        .await?;

        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            token_hash: Set(login.refresh_token.as_str().to_owned()),
            session_id: Set(session.id),
            parent_id: Set(None),
            issued_at: Set(now),
            used_at: Set(None),
            rotation_nonce: Set(None),
            expires_at: Set(login.refresh_token_expires_at),
        })
        .exec_without_returning(&txn)
        .await?;

        let record = LoginRecord {
            user: user_record(user),
            session: session_record(session),
            first_login,
        };
        outbox::insert(&txn, now, (login.side_effects)(&record)).await?;
        txn.commit().await?;
        Ok(record)
    }

    pub async fn user(&self, id: UserId) -> StoreResult<Option<UserRecord>> {
        Ok(users::Entity::find_by_id(id.0)
            .one(&self.db)
            .await?
            .map(user_record))
    }

    /// One primary-key lookup: the check behind every authenticated request.
    #[tracing::instrument(name = "db.session", skip_all)]
    pub async fn session(&self, id: Uuid) -> StoreResult<Option<SessionRecord>> {
        Ok(sessions::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(session_record))
    }

    /// The user's sessions that are neither revoked, expired nor idle past `idle_since`.
    #[tracing::instrument(name = "db.live_sessions", skip_all)]
    pub async fn live_sessions(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id.0))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .filter(sessions::Column::LastAccessedAt.gt(idle_since))
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(session_record)
            .collect())
    }

    /// Sessions neither revoked, expired nor idle: the live-sessions gauge.
    pub async fn count_live_sessions(
        &self,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> StoreResult<i64> {
        use sea_orm::PaginatorTrait;
        Ok(sessions::Entity::find()
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .filter(sessions::Column::LastAccessedAt.gt(idle_since))
            .count(&self.db)
            .await? as i64)
    }

    /// Revokes the user's sessions in `which` that are not revoked yet; returns how many.
    #[tracing::instrument(name = "db.revoke_sessions", skip_all)]
    pub async fn revoke_sessions(
        &self,
        user_id: UserId,
        which: Sessions,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let update = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::UserId.eq(user_id.0))
            .filter(sessions::Column::RevokedAt.is_null());
        let update = match which {
            Sessions::Only(id) => update.filter(sessions::Column::Id.eq(id)),
            Sessions::AllExcept(id) => update.filter(sessions::Column::Id.ne(id)),
            Sessions::All => update,
        };
        Ok(update.exec(&self.db).await?.rows_affected)
    }

    /// Whether `device_id` holds, or held, a session of the account with this email.
    pub async fn has_device_session(&self, email: &Email, device_id: &str) -> StoreResult<bool> {
        let Some(user) = users::Entity::find()
            .filter(users::Column::Email.eq(email.as_str()))
            .one(&self.db)
            .await?
        else {
            return Ok(false);
        };
        Ok(sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.id))
            .filter(sessions::Column::DeviceId.eq(device_id))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// Ends one session whatever its owner: reuse detected, lifetime exceeded, membership over.
    #[tracing::instrument(name = "db.end_session", skip_all)]
    pub async fn end_session(&self, id: Uuid, now: DateTime<Utc>) -> StoreResult<()> {
        sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?;
        Ok(())
    }

    #[tracing::instrument(name = "db.find_refresh_token", skip_all)]
    pub async fn find_refresh_token(
        &self,
        hash: &RefreshTokenHash,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let Some(token) = refresh_tokens::Entity::find()
            .filter(refresh_tokens::Column::TokenHash.eq(hash.as_str()))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(session) = sessions::Entity::find_by_id(token.session_id)
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let Some(user) = users::Entity::find_by_id(session.user_id)
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(RefreshTokenRecord {
            id: token.id,
            expires_at: token.expires_at,
            used: used(&token),
            session: session_record(session),
            user: user_record(user),
        }))
    }

    /// Marks the token used if nobody did yet and, in the same transaction, stores its
    /// successor and touches the session. The `WHERE used_at IS NULL` decides the race.
    #[tracing::instrument(name = "db.claim_refresh_token", skip_all)]
    pub async fn claim_refresh_token(
        &self,
        token: &RefreshTokenRecord,
        successor: Successor<'_>,
    ) -> StoreResult<Claim> {
        let txn = self.db.begin().await?;
        let claimed = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::UsedAt, Expr::value(successor.now))
            .col_expr(
                refresh_tokens::Column::RotationNonce,
                Expr::value(successor.nonce.as_str()),
            )
            .filter(refresh_tokens::Column::Id.eq(token.id))
            .filter(refresh_tokens::Column::UsedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if claimed == 0 {
            let row = refresh_tokens::Entity::find_by_id(token.id)
                .one(&txn)
                .await?;
            txn.rollback().await?;
            return Ok(match row.as_ref().and_then(used) {
                Some(used) => Claim::AlreadyUsed(used),
                None => Claim::SessionGone,
            });
        }
        let touched = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastAccessedAt, Expr::value(successor.now))
            .filter(sessions::Column::Id.eq(token.session.id))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if touched == 0 {
            txn.rollback().await?;
            return Ok(Claim::SessionGone);
        }
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            id: Set(Uuid::now_v7()),
            token_hash: Set(successor.hash.as_str().to_owned()),
            session_id: Set(token.session.id),
            parent_id: Set(Some(token.id)),
            issued_at: Set(successor.now),
            used_at: Set(None),
            rotation_nonce: Set(None),
            expires_at: Set(successor.expires_at),
        })
        .exec_without_returning(&txn)
        .await?;
        txn.commit().await?;
        Ok(Claim::Won)
    }

    /// Deletes, in batches of at most `batch` rows, sessions that can never be used again and
    /// refresh tokens past their expiry (after which reuse detection has nothing to protect).
    /// Returns how many rows went.
    #[tracing::instrument(name = "db.purge", skip_all)]
    pub async fn purge(
        &self,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
        batch: u64,
    ) -> StoreResult<u64> {
        let expired_tokens = Query::select()
            .column(refresh_tokens::Column::Id)
            .from(refresh_tokens::Entity)
            .and_where(refresh_tokens::Column::ExpiresAt.lte(now))
            .limit(batch)
            .to_owned();
        let tokens = refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::Id.in_subquery(expired_tokens))
            .exec(&self.db)
            .await?
            .rows_affected;
        // Partner tokens are kept a day past expiry, so replays are still recognised.
        let expired_partner_tokens = Query::select()
            .column(entities::partner_tokens::Column::Id)
            .from(entities::partner_tokens::Entity)
            .and_where(
                entities::partner_tokens::Column::ExpiresAt.lte(now - chrono::Duration::days(1)),
            )
            .limit(batch)
            .to_owned();
        let tokens = tokens
            + entities::partner_tokens::Entity::delete_many()
                .filter(entities::partner_tokens::Column::Id.in_subquery(expired_partner_tokens))
                .exec(&self.db)
                .await?
                .rows_affected;
        let dead_sessions = Query::select()
            .column(sessions::Column::Id)
            .from(sessions::Entity)
            .cond_where(
                sea_orm::Condition::any()
                    .add(sessions::Column::RevokedAt.is_not_null())
                    .add(sessions::Column::ExpiresAt.lte(now))
                    .add(sessions::Column::LastAccessedAt.lte(idle_since)),
            )
            .limit(batch)
            .to_owned();
        let dead_ids: Vec<Uuid> = sessions::Entity::find()
            .select_only()
            .column(sessions::Column::Id)
            .filter(sessions::Column::Id.in_subquery(dead_sessions))
            .into_tuple()
            .all(&self.db)
            .await?;
        if dead_ids.is_empty() {
            return Ok(tokens);
        }
        let txn = self.db.begin().await?;
        refresh_tokens::Entity::delete_many()
            .filter(refresh_tokens::Column::SessionId.is_in(dead_ids.clone()))
            .exec(&txn)
            .await?;
        entities::partner_tokens::Entity::delete_many()
            .filter(entities::partner_tokens::Column::SessionId.is_in(dead_ids.clone()))
            .exec(&txn)
            .await?;
        let sessions = sessions::Entity::delete_many()
            .filter(sessions::Column::Id.is_in(dead_ids))
            .exec(&txn)
            .await?
            .rows_affected;
        txn.commit().await?;
        Ok(tokens + sessions)
    }

    pub async fn count_rows(&self) -> StoreResult<(u64, u64, u64)> {
        use sea_orm::PaginatorTrait;
        Ok((
            users::Entity::find().count(&self.db).await?,
            sessions::Entity::find().count(&self.db).await?,
            refresh_tokens::Entity::find().count(&self.db).await?,
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

fn used(token: &refresh_tokens::Model) -> Option<UsedRefreshToken> {
    Some(UsedRefreshToken {
        used_at: token.used_at?,
        nonce: RotationNonce::from_stored(token.rotation_nonce.clone()?),
    })
}

pub(crate) fn user_record(user: users::Model) -> UserRecord {
    let membership = match (
        user.membership_number,
        user.membership_start_date,
        user.membership_end_date,
    ) {
        (Some(number), Some(start_date), Some(end_date)) => Some(Membership {
            number,
            start_date,
            end_date,
            chapter: user.chapter,
        }),
        _ => None,
    };
    UserRecord {
        id: UserId(user.id),
        email: Email::from_stored(user.email),
        first_name: user.first_name,
        last_name: user.last_name,
        membership,
        created_at: user.created_at,
        updated_at: user.updated_at,
        last_login_at: user.last_login_at,
    }
}

fn session_record(session: sessions::Model) -> SessionRecord {
    SessionRecord {
        id: session.id,
        user_id: UserId(session.user_id),
        device: Device {
            device_id: session.device_id,
            device_type: session.device_type.as_deref().and_then(DeviceType::parse),
            device_name: session.device_name,
            platform: session.platform,
            platform_version: session.platform_version,
            app_version: session.app_version,
            push_token: session.push_token,
        },
        created_at: session.created_at,
        last_accessed_at: session.last_accessed_at,
        expires_at: session.expires_at,
        revoked_at: session.revoked_at,
    }
}
