//! Login nonces, link tokens and linked provider accounts.
//!
//! Design: a nonce and a link token are single use, enforced by one conditional update each
//! (`… WHERE consumed_at IS NULL AND expires_at > now`), run inside the sign-in's own
//! transaction (`logins`), so a refused sign-in leaves them unused and of concurrent sign-ins
//! with one of them exactly one succeeds.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    LinkOutcome, NewLink, NewOutboxMessage, Store, StoreResult,
    entities::{identities, link_tokens, login_nonces, unlinked_identities, users},
};
use crate::domain::audit::AuditEvent;
use crate::domain::{Email, Provider, SessionId, UserId};

/// A login nonce as stored.
#[derive(Debug, Clone)]
pub struct NonceRecord {
    pub hash: String,
    pub expires_at: DateTime<Utc>,
    pub consumed_at: Option<DateTime<Utc>>,
    pub session_id: Option<SessionId>,
    pub device_id: Option<String>,
    pub rotation_nonce: Option<String>,
}

/// A live link token's verified identity.
#[derive(Debug, Clone)]
pub struct LinkTokenRecord {
    pub provider: Provider,
    pub subject: String,
    pub email: Option<String>,
}

/// A provider account linked to a member.
#[derive(Debug, Clone)]
pub struct LinkedAccountRecord {
    pub provider: Provider,
    pub email: Option<String>,
    pub linked_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl Store {
    pub async fn create_nonce(
        &self,
        hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        login_nonces::Entity::insert(login_nonces::ActiveModel {
            hash: Set(hash.to_owned()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            consumed_at: Set(None),
            session_id: Set(None),
            device_id: Set(None),
            rotation_nonce: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The nonce stored under one of `hashes`, live or not.
    pub async fn nonce(&self, hashes: &[String]) -> StoreResult<Option<NonceRecord>> {
        Ok(login_nonces::Entity::find()
            .filter(login_nonces::Column::Hash.is_in(hashes.iter().cloned()))
            .one(&self.db)
            .await?
            .map(|row| NonceRecord {
                hash: row.hash,
                expires_at: row.expires_at,
                consumed_at: row.consumed_at,
                session_id: row.session_id.map(SessionId),
                device_id: row.device_id,
                rotation_nonce: row.rotation_nonce,
            }))
    }

    /// Consumes a live nonce outside a sign-in (linking from a session): true once.
    pub async fn consume_nonce(&self, hash: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        Ok(consume_nonce(&self.db, hash, None, None, now).await? == 1)
    }

    pub async fn create_link_token(
        &self,
        hash: &str,
        record: &LinkTokenRecord,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        link_tokens::Entity::insert(link_tokens::ActiveModel {
            hash: Set(hash.to_owned()),
            provider: Set(record.provider.as_str().to_owned()),
            subject: Set(record.subject.clone()),
            email: Set(record.email.clone()),
            created_at: Set(now),
            expires_at: Set(expires_at),
            consumed_at: Set(None),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    /// The identity a live, unused link token remembers.
    pub async fn live_link_token(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<LinkTokenRecord>> {
        Ok(link_tokens::Entity::find_by_id(hash.to_owned())
            .filter(link_tokens::Column::ConsumedAt.is_null())
            .filter(link_tokens::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
            .and_then(to_link_record))
    }

    /// The members with this email (at most two: enough to tell "exactly one").
    pub async fn members_with_email(&self, email: &Email) -> StoreResult<Vec<UserId>> {
        Ok(users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .filter(users::Column::Email.eq(email.as_str()))
            .limit(2)
            .into_tuple::<Uuid>()
            .all(&self.db)
            .await?
            .into_iter()
            .map(UserId)
            .collect())
    }

    /// Whether a member unlinked this account once: it is then never linked by email again.
    pub async fn was_unlinked(&self, provider: &Provider, subject: &str) -> StoreResult<bool> {
        Ok(unlinked_identities::Entity::find()
            .filter(unlinked_identities::Column::Provider.eq(provider.as_str()))
            .filter(unlinked_identities::Column::Subject.eq(subject))
            .one(&self.db)
            .await?
            .is_some())
    }

    /// The provider accounts (Google, Facebook) linked to a member, oldest first.
    pub async fn linked_accounts(&self, user_id: UserId) -> StoreResult<Vec<LinkedAccountRecord>> {
        Ok(identities::Entity::find()
            .filter(identities::Column::UserId.eq(user_id.0))
            .filter(identities::Column::Provider.is_in([Provider::GOOGLE, Provider::FACEBOOK]))
            .order_by_asc(identities::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(|row| {
                Some(LinkedAccountRecord {
                    provider: Provider::parse(&row.provider).ok()?,
                    email: row.email,
                    linked_at: row.created_at,
                    last_used_at: row.last_used_at,
                })
            })
            .collect())
    }

    /// Links a provider account to the member, with `events` in the same transaction when it
    /// is a new link.
    pub async fn link_social(
        &self,
        user_id: UserId,
        link: NewLink<'_>,
        now: DateTime<Utc>,
        (events, audit): (Vec<NewOutboxMessage>, Vec<AuditEvent>),
    ) -> StoreResult<LinkOutcome> {
        let txn = self.db.begin().await?;
        let outcome = super::identities::link_in(&txn, user_id, link, now).await?;
        let linked = outcome == LinkOutcome::Linked;
        if linked {
            super::outbox::insert(&txn, now, events).await?;
            super::audit::insert(&txn, &audit).await?;
        }
        txn.commit().await?;
        if linked {
            super::audit::log(&audit);
        }
        Ok(outcome)
    }

    /// Removes the member's account of `provider`, with `events` when there was one.
    pub async fn unlink_social(
        &self,
        user_id: UserId,
        provider: &Provider,
        now: DateTime<Utc>,
        (events, audit): (Vec<NewOutboxMessage>, Vec<AuditEvent>),
    ) -> StoreResult<bool> {
        let linked = identities::Entity::find()
            .filter(identities::Column::UserId.eq(user_id.0))
            .filter(identities::Column::Provider.eq(provider.as_str()))
            .all(&self.db)
            .await?;
        let txn = self.db.begin().await?;
        let removed = identities::Entity::delete_many()
            .filter(identities::Column::UserId.eq(user_id.0))
            .filter(identities::Column::Provider.eq(provider.as_str()))
            .exec(&txn)
            .await?
            .rows_affected
            > 0;
        if removed {
            // Remembered, so the account is never linked to this member by email again.
            for identity in linked {
                unlinked_identities::Entity::insert(unlinked_identities::ActiveModel {
                    provider: Set(identity.provider),
                    subject: Set(identity.subject),
                    user_id: Set(user_id.0),
                    unlinked_at: Set(now),
                })
                .on_conflict(
                    sea_orm::sea_query::OnConflict::columns([
                        unlinked_identities::Column::Provider,
                        unlinked_identities::Column::Subject,
                    ])
                    .update_columns([
                        unlinked_identities::Column::UserId,
                        unlinked_identities::Column::UnlinkedAt,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
            }
            super::outbox::insert(&txn, now, events).await?;
            super::audit::insert(&txn, &audit).await?;
        }
        txn.commit().await?;
        if removed {
            super::audit::log(&audit);
        }
        Ok(removed)
    }
}

/// Consumes a live nonce for a sign-in from `device_id` with `rotation_nonce`.
pub(super) async fn consume_nonce(
    db: &impl ConnectionTrait,
    hash: &str,
    device_id: Option<&str>,
    rotation_nonce: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    Ok(login_nonces::Entity::update_many()
        .col_expr(login_nonces::Column::ConsumedAt, Expr::value(now))
        .col_expr(
            login_nonces::Column::DeviceId,
            Expr::value(device_id.map(str::to_owned)),
        )
        .col_expr(
            login_nonces::Column::RotationNonce,
            Expr::value(rotation_nonce.map(str::to_owned)),
        )
        .filter(login_nonces::Column::Hash.eq(hash))
        .filter(login_nonces::Column::ConsumedAt.is_null())
        .filter(login_nonces::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?
        .rows_affected)
}

/// Records the session a consumed nonce opened.
pub(super) async fn bind_nonce(
    db: &impl ConnectionTrait,
    hash: &str,
    session_id: Uuid,
) -> StoreResult<()> {
    login_nonces::Entity::update_many()
        .col_expr(login_nonces::Column::SessionId, Expr::value(session_id))
        .filter(login_nonces::Column::Hash.eq(hash))
        .exec(db)
        .await?;
    Ok(())
}

/// Consumes a live link token, returning the identity it remembers.
pub(super) async fn consume_link_token(
    db: &impl ConnectionTrait,
    hash: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<LinkTokenRecord>> {
    let mut consumed = link_tokens::Entity::update_many()
        .col_expr(link_tokens::Column::ConsumedAt, Expr::value(now))
        .filter(link_tokens::Column::Hash.eq(hash))
        .filter(link_tokens::Column::ConsumedAt.is_null())
        .filter(link_tokens::Column::ExpiresAt.gt(now))
        .exec_with_returning(db)
        .await?;
    Ok(consumed.pop().and_then(to_link_record))
}

fn to_link_record(row: link_tokens::Model) -> Option<LinkTokenRecord> {
    Some(LinkTokenRecord {
        provider: Provider::parse(&row.provider).ok()?,
        subject: row.subject,
        email: row.email,
    })
}

/// Deletes nonces and link tokens that expired before `before`, at most `batch` of each.
pub(super) async fn purge_expired(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
    batch: u64,
) -> StoreResult<u64> {
    use sea_orm::sea_query::Query;
    let nonces = Query::select()
        .column(login_nonces::Column::Hash)
        .from(login_nonces::Entity)
        .and_where(login_nonces::Column::ExpiresAt.lte(before))
        .limit(batch)
        .to_owned();
    let links = Query::select()
        .column(link_tokens::Column::Hash)
        .from(link_tokens::Entity)
        .and_where(link_tokens::Column::ExpiresAt.lte(before))
        .limit(batch)
        .to_owned();
    Ok(login_nonces::Entity::delete_many()
        .filter(login_nonces::Column::Hash.in_subquery(nonces))
        .exec(db)
        .await?
        .rows_affected
        + link_tokens::Entity::delete_many()
            .filter(link_tokens::Column::Hash.in_subquery(links))
            .exec(db)
            .await?
            .rows_affected)
}
