//! Sessions: one per device and login, ended by setting `revoked_at`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, TransactionTrait, sea_query::Expr,
};

use super::{Store, StoreResult, entities::sessions};
use crate::domain::audit::AuditEvent;
use crate::domain::{AuthMethod, Device, DeviceType, EndReason, Session, SessionId, UserId};

/// Which of a user's sessions a logout ends.
#[derive(Debug, Clone, Copy)]
pub enum Sessions {
    Only(SessionId),
    AllExcept(SessionId),
    All,
}

impl Store {
    /// One primary-key lookup: the check behind every authenticated request.
    #[tracing::instrument(name = "db.session", skip_all)]
    pub async fn session(&self, id: SessionId) -> StoreResult<Option<Session>> {
        Ok(sessions::Entity::find_by_id(id.0)
            .one(&self.db)
            .await?
            .map(to_session))
    }

    /// The session behind an authenticated request of `user_id` (the token's subject), from
    /// the read cache while `still_live` says its copy is live; else from the database (and
    /// cached). Other readers use `session`, which always reads.
    pub async fn live_session(
        &self,
        id: SessionId,
        user_id: UserId,
        still_live: impl Fn(&Session) -> bool,
    ) -> StoreResult<Option<Session>> {
        if let Some(session) = self.cache.session(id.0).filter(|s| still_live(s)) {
            return Ok(Some(session));
        }
        let ticket = self.cache.ticket(user_id.0);
        // Boxed: a cache hit's future stays small (sea-orm's are kilobytes).
        let session = Box::pin(self.session(id)).await?;
        if let Some(session) = session
            .as_ref()
            .filter(|s| s.user_id == user_id && still_live(s))
        {
            self.cache.put_session(ticket, session);
        }
        Ok(session)
    }

    /// The user's sessions that are neither revoked, expired nor idle past `idle_since`.
    #[tracing::instrument(name = "db.live_sessions", skip_all)]
    pub async fn live_sessions(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        idle_since: DateTime<Utc>,
    ) -> StoreResult<Vec<Session>> {
        Ok(sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id.0))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::ExpiresAt.gt(now))
            .filter(not_idle(idle_since))
            .order_by_desc(sessions::Column::CreatedAt)
            .order_by_desc(sessions::Column::Id)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_session)
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
            .filter(not_idle(idle_since))
            .count(&self.db)
            .await? as i64)
    }

    /// Revokes the user's sessions in `which` that are not revoked yet, for `reason`; returns
    /// how many.
    #[tracing::instrument(name = "db.revoke_sessions", skip_all)]
    pub async fn revoke_sessions(
        &self,
        user_id: UserId,
        which: Sessions,
        now: DateTime<Utc>,
        reason: EndReason,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<u64> {
        let txn = self.db.begin().await?;
        let update = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .col_expr(sessions::Column::EndReason, Expr::value(reason.as_str()))
            .filter(sessions::Column::UserId.eq(user_id.0))
            .filter(sessions::Column::RevokedAt.is_null());
        let update = match which {
            Sessions::Only(id) => update.filter(sessions::Column::Id.eq(id.0)),
            Sessions::AllExcept(id) => update.filter(sessions::Column::Id.ne(id.0)),
            Sessions::All => update,
        };
        let ended = update.exec(&txn).await?.rows_affected;
        let event = audit.filter(|_| ended > 0).map(|event| {
            let mut event = event.clone();
            event.details.sessions = Some(ended);
            event
        });
        let events = Vec::from_iter(event);
        super::audit::insert(&txn, &events).await?;
        let announced = self
            .announce(&txn, (ended > 0).then_some(user_id.0))
            .await?;
        txn.commit().await?;
        self.settle(announced).await;
        super::audit::log(&events);
        Ok(ended)
    }

    /// Ends one session whatever its owner: reuse detected, lifetime exceeded, membership over.
    #[tracing::instrument(name = "db.end_session", skip_all)]
    pub async fn end_session(
        &self,
        id: SessionId,
        now: DateTime<Utc>,
        reason: EndReason,
        audit: Option<&AuditEvent>,
    ) -> StoreResult<bool> {
        let txn = self.db.begin().await?;
        let owners: Vec<uuid::Uuid> = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(now))
            .col_expr(sessions::Column::EndReason, Expr::value(reason.as_str()))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec_with_returning(&txn)
            .await?
            .into_iter()
            .map(|session| session.user_id)
            .collect();
        let ended = !owners.is_empty();
        let events = Vec::from_iter(audit.filter(|_| ended).cloned());
        super::audit::insert(&txn, &events).await?;
        let announced = self.announce(&txn, owners.iter().copied()).await?;
        txn.commit().await?;
        self.settle(announced).await;
        super::audit::log(&events);
        Ok(ended)
    }

    /// Records activity unless some was recorded within `min_interval`; whether it wrote.
    #[tracing::instrument(name = "db.touch_session", skip_all)]
    pub async fn touch_session(
        &self,
        id: SessionId,
        now: DateTime<Utc>,
        min_interval: chrono::Duration,
    ) -> StoreResult<bool> {
        let written = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastActiveAt, Expr::value(now))
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(
                Condition::any()
                    .add(sessions::Column::LastActiveAt.is_null())
                    .add(sessions::Column::LastActiveAt.lte(now - min_interval)),
            )
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(written > 0)
    }

    /// Replaces the device details of a session not ended; its device id stays.
    #[tracing::instrument(name = "db.update_device", skip_all)]
    pub async fn update_device(&self, id: SessionId, device: &Device) -> StoreResult<bool> {
        let updated = sessions::Entity::update_many()
            .col_expr(
                sessions::Column::DeviceType,
                Expr::value(device.device_type.map(|t| t.as_str().to_owned())),
            )
            .col_expr(
                sessions::Column::DeviceName,
                Expr::value(device.device_name.clone()),
            )
            .col_expr(
                sessions::Column::Platform,
                Expr::value(device.platform.clone()),
            )
            .col_expr(
                sessions::Column::PlatformVersion,
                Expr::value(device.platform_version.clone()),
            )
            .col_expr(
                sessions::Column::AppVersion,
                Expr::value(device.app_version.clone()),
            )
            .col_expr(
                sessions::Column::PushToken,
                Expr::value(device.push_token.clone()),
            )
            .filter(sessions::Column::Id.eq(id.0))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await?
            .rows_affected;
        Ok(updated > 0)
    }
}

/// Refreshed or active after `idle_since`.
pub(super) fn not_idle(idle_since: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(sessions::Column::LastAccessedAt.gt(idle_since))
        .add(sessions::Column::LastActiveAt.gt(idle_since))
}

/// Neither refreshed nor active after `idle_since` (the negation of [`not_idle`], written out:
/// SQL's NULL would make `NOT (… OR last_active_at > …)` unknown for never-touched sessions).
pub(super) fn idle(idle_since: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(sessions::Column::LastAccessedAt.lte(idle_since))
        .add(
            Condition::any()
                .add(sessions::Column::LastActiveAt.is_null())
                .add(sessions::Column::LastActiveAt.lte(idle_since)),
        )
}

pub(super) fn to_session(session: sessions::Model) -> Session {
    Session {
        id: SessionId(session.id),
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
        // Written by this release or an older one (which only knew passwords).
        auth_method: AuthMethod::parse(&session.auth_method).unwrap_or(AuthMethod::Password),
        created_at: session.created_at,
        last_accessed_at: session.last_accessed_at,
        last_active_at: session.last_active_at,
        expires_at: session.expires_at,
        revoked_at: session.revoked_at,
        end_reason: session.end_reason.as_deref().and_then(EndReason::parse),
    }
}
