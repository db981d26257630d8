//! Partners and their one-time tokens.
//!
//! Design: redemption is one conditional `UPDATE … WHERE redeemed_at IS NULL AND expires_at > now
//! AND the session is live`, so of N concurrent redemptions exactly one wins, and a logged-out
//! session's unredeemed tokens are dead without touching them. The event of each outcome is
//! written to the outbox in the same transaction.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use uuid::Uuid;

use super::{
    NewOutboxMessage, Store, StoreResult,
    entities::{partner_subjects, partner_tokens, partners, sessions, users},
    outbox,
    users::to_user,
};
use crate::domain::audit::AuditEvent;
use crate::domain::{
    RefreshTokenHash, SessionId, User, UserId,
    partner::{Claim, PartnerId},
};

#[derive(Debug, Clone)]
pub struct PartnerRecord {
    pub id: PartnerId,
    pub display_name: String,
    pub secret_hash: RefreshTokenHash,
    pub subject_salt: String,
    pub allowed_claims: Vec<Claim>,
    pub token_ttl_secs: i64,
    pub active: bool,
}

pub struct NewPartnerToken<'a> {
    pub id: Uuid,
    pub hash: &'a RefreshTokenHash,
    pub partner: &'a PartnerId,
    pub user_id: UserId,
    pub session_id: SessionId,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A partner token as redeemed or replayed.
#[derive(Debug, Clone)]
pub struct PartnerTokenRecord {
    pub id: Uuid,
    pub session_id: SessionId,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub replays: i32,
    pub user: User,
}

pub enum Redemption {
    /// First redemption: the token is consumed.
    Active(PartnerTokenRecord),
    /// This partner presented an already redeemed token again.
    Replayed(PartnerTokenRecord),
    /// Unknown, expired, another partner's, or of an ended session.
    Inactive,
}

impl Store {
    pub async fn add_partner(
        &self,
        partner: &PartnerRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        partners::Entity::insert(partners::ActiveModel {
            id: Set(partner.id.as_str().to_owned()),
            display_name: Set(partner.display_name.clone()),
            secret_hash: Set(partner.secret_hash.as_str().to_owned()),
            subject_salt: Set(partner.subject_salt.clone()),
            allowed_claims: Set(Claim::join(&partner.allowed_claims)),
            token_ttl_secs: Set(partner.token_ttl_secs as i32),
            active: Set(partner.active),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec_without_returning(&self.db)
        .await?;
        Ok(())
    }

    pub async fn partner(&self, id: &PartnerId) -> StoreResult<Option<PartnerRecord>> {
        Ok(partners::Entity::find_by_id(id.as_str())
            .one(&self.db)
            .await?
            .and_then(partner_record))
    }

    pub async fn partners(&self) -> StoreResult<Vec<PartnerRecord>> {
        Ok(partners::Entity::find()
            .order_by_asc(partners::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(partner_record)
            .collect())
    }

    /// Sets a new secret hash or deactivates; false when there is no such partner.
    pub async fn update_partner(
        &self,
        id: &PartnerId,
        secret_hash: Option<&RefreshTokenHash>,
        active: Option<bool>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut update = partners::Entity::update_many()
            .col_expr(partners::Column::UpdatedAt, Expr::value(now))
            .filter(partners::Column::Id.eq(id.as_str()));
        if let Some(hash) = secret_hash {
            update = update.col_expr(partners::Column::SecretHash, Expr::value(hash.as_str()));
        }
        if let Some(active) = active {
            update = update.col_expr(partners::Column::Active, Expr::value(active));
        }
        Ok(update.exec(&self.db).await?.rows_affected == 1)
    }

    #[tracing::instrument(name = "db.insert_partner_token", skip_all)]
    pub async fn insert_partner_token(
        &self,
        token: NewPartnerToken<'_>,
        event: NewOutboxMessage,
    ) -> StoreResult<()> {
        let txn = self.db.begin().await?;
        partner_tokens::Entity::insert(partner_tokens::ActiveModel {
            id: Set(token.id),
            token_hash: Set(token.hash.as_str().to_owned()),
            partner_id: Set(token.partner.as_str().to_owned()),
            user_id: Set(token.user_id.0),
            session_id: Set(token.session_id.0),
            issued_at: Set(token.now),
            expires_at: Set(token.expires_at),
            redeemed_at: Set(None),
            replays: Set(0),
        })
        .exec_without_returning(&txn)
        .await?;
        outbox::insert(&txn, token.now, vec![event]).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Consumes the token for `partner` if it is redeemable; `event` builds the outcome's event.
    #[tracing::instrument(name = "db.redeem_partner_token", skip_all)]
    pub async fn redeem_partner_token(
        &self,
        hash: &RefreshTokenHash,
        partner: &PartnerId,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
        event: &(dyn Fn(&Redemption) -> Option<NewOutboxMessage> + Send + Sync),
        audit: &(dyn Fn(&Redemption) -> Option<AuditEvent> + Send + Sync),
    ) -> StoreResult<Redemption> {
        let txn = self.db.begin().await?;
        let live_sessions = Query::select()
            .column(sessions::Column::Id)
            .from(sessions::Entity)
            .and_where(sessions::Column::RevokedAt.is_null())
            .and_where(sessions::Column::ExpiresAt.gt(now))
            .cond_where(super::sessions::not_idle(idle_since))
            .to_owned();
        let consumed = partner_tokens::Entity::update_many()
            .col_expr(partner_tokens::Column::RedeemedAt, Expr::value(now))
            .filter(partner_tokens::Column::TokenHash.eq(hash.as_str()))
            .filter(partner_tokens::Column::PartnerId.eq(partner.as_str()))
            .filter(partner_tokens::Column::RedeemedAt.is_null())
            .filter(partner_tokens::Column::ExpiresAt.gt(now))
            .filter(partner_tokens::Column::SessionId.in_subquery(live_sessions))
            .exec(&txn)
            .await?
            .rows_affected
            == 1;
        let row = partner_tokens::Entity::find()
            .filter(partner_tokens::Column::TokenHash.eq(hash.as_str()))
            .filter(partner_tokens::Column::PartnerId.eq(partner.as_str()))
            .one(&txn)
            .await?;
        let redemption = match row {
            Some(row) if consumed => Redemption::Active(self.token_record(&txn, row).await?),
            Some(row) if row.redeemed_at.is_some() => {
                partner_tokens::Entity::update_many()
                    .col_expr(
                        partner_tokens::Column::Replays,
                        Expr::col(partner_tokens::Column::Replays).add(1),
                    )
                    .filter(partner_tokens::Column::Id.eq(row.id))
                    .exec(&txn)
                    .await?;
                let mut record = self.token_record(&txn, row).await?;
                record.replays += 1;
                Redemption::Replayed(record)
            }
            _ => Redemption::Inactive,
        };
        if let Redemption::Active(record) = &redemption {
            // Remembered for good: a deletion tells every partner that ever received the member.
            partner_subjects::Entity::insert(partner_subjects::ActiveModel {
                partner_id: Set(partner.as_str().to_owned()),
                user_id: Set(record.user.id.0),
                first_at: Set(now),
            })
            .on_conflict(
                OnConflict::columns([
                    partner_subjects::Column::PartnerId,
                    partner_subjects::Column::UserId,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
        }
        if let Some(message) = event(&redemption) {
            outbox::insert(&txn, now, vec![message]).await?;
        }
        let events = Vec::from_iter(audit(&redemption));
        super::audit::insert(&txn, &events).await?;
        txn.commit().await?;
        super::audit::log(&events);
        Ok(redemption)
    }

    async fn token_record(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        row: partner_tokens::Model,
    ) -> StoreResult<PartnerTokenRecord> {
        let user = users::Entity::find_by_id(row.user_id)
            .one(txn)
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound("the token's user".into()))?;
        Ok(PartnerTokenRecord {
            id: row.id,
            session_id: SessionId(row.session_id),
            issued_at: row.issued_at,
            expires_at: row.expires_at,
            replays: row.replays,
            user: to_user(user),
        })
    }
}

fn partner_record(row: partners::Model) -> Option<PartnerRecord> {
    Some(PartnerRecord {
        id: PartnerId::parse(&row.id).ok()?,
        display_name: row.display_name,
        secret_hash: RefreshTokenHash::from_stored(row.secret_hash),
        subject_salt: row.subject_salt,
        allowed_claims: Claim::parse_list(&row.allowed_claims).unwrap_or_default(),
        token_ttl_secs: row.token_ttl_secs as i64,
        active: row.active,
    })
}
