//! The audit trail's rows: written inside the transactions of the changes they record (through
//! `insert`), or on their own for failures; read newest first by UUIDv7 id; purged by age.
//!
//! Rows are never updated by any API. The two writes that touch existing rows are a summary
//! row's count (it only grows, within its minute) and the pseudonymisation an account deletion
//! applies to the member's rows.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait, OnConflict, Query},
};
use uuid::Uuid;

use super::{Store, StoreResult, entities::auth_events};
use crate::domain::audit::{AuditDetails, AuditEvent, AuditOutcome, AuditType};
use crate::domain::{AuthMethod, SessionId, UserId};

/// Which rows an operator lists.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Rows of this user, or (with `subject_hash`) of this unknown identifier.
    pub user_id: Option<UserId>,
    pub subject_hash: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// Only the types a member sees.
    pub member_view: bool,
}

pub(super) async fn insert(conn: &impl ConnectionTrait, events: &[AuditEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    auth_events::Entity::insert_many(events.iter().map(|e| row(e, None).into_active_model()))
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// The row of `event`; `summary_key` for a row that counts a minute's repeats.
pub(super) fn row(event: &AuditEvent, summary_key: Option<String>) -> auth_events::Model {
    auth_events::Model {
        id: event.id,
        occurred_at: event.at,
        event_type: event.kind.as_str().to_owned(),
        outcome: event.outcome.as_str().to_owned(),
        reason: event.reason.clone(),
        method: event.method.map(|m| m.as_str().to_owned()),
        user_id: event.user_id.map(|id| id.0),
        session_id: event.session_id.map(|id| id.0),
        device_hash: event.device_hash.clone(),
        client_ip: event.client_ip.map(|ip| ip.to_string()),
        request_id: event.request_id.clone(),
        subject_hash: event.subject_hash.clone(),
        details: (!event.details.is_empty())
            .then(|| serde_json::to_string(&event.details).unwrap_or_default()),
        event_count: event.count.clamp(1, i32::MAX as i64) as i32,
        summary_key,
    }
}

fn event(row: auth_events::Model) -> Option<AuditEvent> {
    Some(AuditEvent {
        id: row.id,
        at: row.occurred_at,
        kind: AuditType::parse(&row.event_type)?,
        outcome: AuditOutcome::parse(&row.outcome)?,
        reason: row.reason,
        method: row.method.as_deref().and_then(AuthMethod::parse),
        user_id: row.user_id.map(UserId),
        session_id: row.session_id.map(SessionId),
        device_hash: row.device_hash,
        client_ip: row.client_ip.and_then(|ip| ip.parse().ok()),
        request_id: row.request_id,
        subject_hash: row.subject_hash,
        details: row
            .details
            .and_then(|d| serde_json::from_str::<AuditDetails>(&d).ok())
            .unwrap_or_default(),
        count: row.event_count as i64,
    })
}

/// The one JSON log line of each event, once it is committed (the request id ties it to the
/// request's other lines).
pub(super) fn log(events: &[AuditEvent]) {
    for event in events {
        tracing::info!(
            target: "audit",
            event_id = %event.id,
            event_type = event.kind.as_str(),
            outcome = event.outcome.as_str(),
            reason = event.reason.as_deref(),
            method = event.method.map(AuthMethod::as_str),
            user_id = event.user_id.map(|id| id.to_string()),
            session_id = event.session_id.map(|id| id.to_string()),
            request_id = event.request_id.as_deref(),
            count = event.count,
            "audit event"
        );
    }
}

impl Store {
    /// Writes events that record no change of ours (failures, breaker transitions), in a
    /// transaction of their own.
    #[tracing::instrument(name = "db.record_audit", skip_all)]
    pub async fn record_audit(&self, events: &[AuditEvent]) -> StoreResult<()> {
        insert(&self.db, events).await?;
        log(events);
        Ok(())
    }

    /// Adds `event.count` to the summary row of `key` (one per type, client network and
    /// minute), creating it with that count.
    #[tracing::instrument(name = "db.count_audit_summary", skip_all)]
    pub async fn count_audit_summary(&self, event: &AuditEvent, key: &str) -> StoreResult<()> {
        auth_events::Entity::insert(row(event, Some(key.to_owned())).into_active_model())
            .on_conflict(
                OnConflict::column(auth_events::Column::SummaryKey)
                    .value(
                        auth_events::Column::EventCount,
                        Expr::col((auth_events::Entity, auth_events::Column::EventCount))
                            .add(Expr::cust("excluded.event_count")),
                    )
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        log(std::slice::from_ref(event));
        Ok(())
    }

    /// Up to `limit` events matching `query`, newest first, older than the event `before`.
    #[tracing::instrument(name = "db.audit_events", skip_all)]
    pub async fn audit_events(
        &self,
        query: &AuditQuery,
        before: Option<Uuid>,
        limit: u64,
    ) -> StoreResult<Vec<AuditEvent>> {
        let mut select = auth_events::Entity::find();
        let mut whose = sea_orm::Condition::any();
        if let Some(user_id) = query.user_id {
            whose = whose.add(auth_events::Column::UserId.eq(user_id.0));
        }
        if let Some(hash) = &query.subject_hash {
            whose = whose.add(auth_events::Column::SubjectHash.eq(hash.as_str()));
        }
        if query.user_id.is_some() || query.subject_hash.is_some() {
            select = select.filter(whose);
        }
        if let Some(since) = query.since {
            select = select.filter(auth_events::Column::OccurredAt.gte(since));
        }
        if let Some(before) = before {
            select = select.filter(auth_events::Column::Id.lt(before));
        }
        if query.member_view {
            let shown = AuditType::ALL
                .into_iter()
                .filter(|t| t.shown_to_member())
                .map(AuditType::as_str);
            select = select.filter(auth_events::Column::EventType.is_in(shown));
        }
        let rows = select
            .order_by_desc(auth_events::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().filter_map(event).collect())
    }

    /// Deletes up to `batch` events older than `before`; how many went.
    #[tracing::instrument(name = "db.purge_audit", skip_all)]
    pub async fn purge_audit(&self, before: DateTime<Utc>, batch: u64) -> StoreResult<u64> {
        let old = Query::select()
            .column(auth_events::Column::Id)
            .from(auth_events::Entity)
            .and_where(auth_events::Column::OccurredAt.lt(before))
            .limit(batch)
            .to_owned();
        Ok(auth_events::Entity::delete_many()
            .filter(auth_events::Column::Id.in_subquery(old))
            .exec(&self.db)
            .await?
            .rows_affected)
    }
}

/// Replaces everything in the member's events that could identify them: the user id becomes
/// `pseudonym` (in `subject_hash`); the address, device, request id and any device name go.
/// Two statements, whatever the number of rows.
pub(super) async fn pseudonymise(
    conn: &impl ConnectionTrait,
    user_id: UserId,
    pseudonym: &str,
) -> StoreResult<u64> {
    // Only device names are personal among the allow-listed details.
    auth_events::Entity::update_many()
        .col_expr(
            auth_events::Column::Details,
            Expr::value(Option::<String>::None),
        )
        .filter(auth_events::Column::UserId.eq(user_id.0))
        .filter(auth_events::Column::Details.like("%\"deviceName\"%"))
        .exec(conn)
        .await?;
    Ok(auth_events::Entity::update_many()
        .col_expr(
            auth_events::Column::UserId,
            Expr::value(Option::<Uuid>::None),
        )
        .col_expr(auth_events::Column::SubjectHash, Expr::value(pseudonym))
        .col_expr(
            auth_events::Column::ClientIp,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            auth_events::Column::DeviceHash,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            auth_events::Column::RequestId,
            Expr::value(Option::<String>::None),
        )
        .filter(auth_events::Column::UserId.eq(user_id.0))
        .exec(conn)
        .await?
        .rows_affected)
}
