//! The purge: rows that can never be used again go, in bounded batches.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect, TransactionTrait, sea_query::Query,
};
use uuid::Uuid;

use super::{
    Store, StoreResult,
    entities::{partner_tokens, phone_challenges, refresh_tokens, sessions},
};

impl Store {
    /// Deletes, in batches of at most `batch` rows, sessions that ended more than
    /// `ENDED_SESSION_RETENTION` ago and refresh tokens past their expiry (after which reuse
    /// detection has nothing to protect).
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
            .column(partner_tokens::Column::Id)
            .from(partner_tokens::Entity)
            .and_where(partner_tokens::Column::ExpiresAt.lte(now - chrono::Duration::days(1)))
            .limit(batch)
            .to_owned();
        let tokens = tokens
            + partner_tokens::Entity::delete_many()
                .filter(partner_tokens::Column::Id.in_subquery(expired_partner_tokens))
                .exec(&self.db)
                .await?
                .rows_affected;
        // Code challenges are kept a day past expiry, for investigations.
        let expired_challenges = Query::select()
            .column(phone_challenges::Column::Id)
            .from(phone_challenges::Entity)
            .and_where(phone_challenges::Column::ExpiresAt.lte(now - chrono::Duration::days(1)))
            .limit(batch)
            .to_owned();
        let tokens = tokens
            + phone_challenges::Entity::delete_many()
                .filter(phone_challenges::Column::Id.in_subquery(expired_challenges))
                .exec(&self.db)
                .await?
                .rows_affected;
        // Login nonces and link tokens likewise.
        let tokens = tokens
            + super::social::purge_expired(&self.db, now - chrono::Duration::days(1), batch)
                .await?;
        let dead_sessions = Query::select()
            .column(sessions::Column::Id)
            .from(sessions::Entity)
            .cond_where({
                // Ended sessions are kept a while, so their owner can still ask why they ended.
                let kept = crate::domain::session::ENDED_SESSION_RETENTION;
                sea_orm::Condition::any()
                    .add(sessions::Column::RevokedAt.lte(now - kept))
                    .add(sessions::Column::ExpiresAt.lte(now - kept))
                    .add(super::sessions::idle(idle_since - kept))
            })
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
        partner_tokens::Entity::delete_many()
            .filter(partner_tokens::Column::SessionId.is_in(dead_ids.clone()))
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
}
