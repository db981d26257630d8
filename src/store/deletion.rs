//! Account deletion, all or nothing: the member's row and everything hanging from it go
//! (sessions, refresh and partner tokens, links, phone challenges), pending outbox rows that
//! carry their data are dropped, the erasure messages are queued, audit rows are pseudonymised,
//! and a tombstone without personal data is left for the relay and for operators.
//!
//! Ordering: the search-index delete is queued under the user's id, the key of their index
//! updates, and only the oldest pending row of a key is ever claimed. A row a relay is
//! delivering right now (leased) is kept, so the delete goes after it and nothing can bring
//! the record back.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    NewOutboxMessage, Store, StoreResult,
    entities::{
        deleted_accounts, outbox, partner_subjects, partners, phone_challenges,
        unlinked_identities, users,
    },
};
use crate::domain::UserId;
use crate::domain::audit::AuditEvent;
use crate::domain::outbox::Sink;

/// Who was deleted, for building the erasure messages.
pub struct DeletedMember {
    pub user_id: UserId,
    /// Hybris's customer id (for the tombstone's HMAC; never stored in clear).
    pub upstream_customer_id: String,
    /// Each partner that ever received the member: its id and pairwise-subject salt.
    pub partners: Vec<(String, String)>,
}

/// What a deletion writes beside removing the member.
pub struct NewDeletion<'a> {
    pub user_id: UserId,
    pub now: DateTime<Utc>,
    /// When the tombstone goes.
    pub purge_at: DateTime<Utc>,
    /// HMAC of the upstream customer id: the tombstone's key and the audit rows' pseudonym.
    pub pseudonym: &'a (dyn Fn(&DeletedMember) -> String + Send + Sync),
    /// The erasure messages (search delete, `user.deleted`, `partner.subject.deleted`).
    pub messages: &'a (dyn Fn(&DeletedMember) -> Vec<NewOutboxMessage> + Send + Sync),
    /// `account.deleted`; stored under the pseudonym, without address or device.
    pub audit: AuditEvent,
}

/// A deleted account's tombstone.
#[derive(Debug, Clone)]
pub struct Tombstone {
    pub user_id: UserId,
    pub deleted_at: DateTime<Utc>,
    pub purge_at: DateTime<Utc>,
}

/// What a deletion removed, for the operator.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub tombstone: Tombstone,
    pub dropped_outbox_rows: u64,
    pub pseudonymised_audit_rows: u64,
}

impl Store {
    /// Deletes the member; `None` when there is no such member (already deleted, or never).
    #[tracing::instrument(name = "db.delete_account", skip_all)]
    pub async fn delete_account(&self, deletion: NewDeletion<'_>) -> StoreResult<Option<Deleted>> {
        let NewDeletion { user_id, now, .. } = deletion;
        let txn = self.db.begin().await?;
        // A write first: it takes SQLite's write lock (a transaction that reads first cannot
        // take it once another write commits).
        let locked = users::Entity::update_many()
            .col_expr(
                users::Column::UpdatedAt,
                Expr::col(users::Column::UpdatedAt),
            )
            .filter(users::Column::Id.eq(user_id.0))
            .exec(&txn)
            .await?
            .rows_affected;
        // On PostgreSQL, FOR UPDATE: a partner redemption (which takes KEY SHARE on the user
        // for its `partner_subjects` row) then waits for the deletion, or the deletion for it,
        // so no partner that received the member is missed.
        let mut find = users::Entity::find_by_id(user_id.0);
        if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            find = find.lock_exclusive();
        }
        let user = match find.one(&txn).await? {
            Some(user) if locked == 1 => user,
            _ => {
                txn.rollback().await?;
                return Ok(None);
            }
        };
        let received: Vec<String> = partner_subjects::Entity::find()
            .filter(partner_subjects::Column::UserId.eq(user_id.0))
            .all(&txn)
            .await?
            .into_iter()
            .map(|row| row.partner_id)
            .collect();
        let partners = partners::Entity::find()
            .filter(partners::Column::Id.is_in(received))
            .all(&txn)
            .await?
            .into_iter()
            .map(|p| (p.id, p.subject_salt))
            .collect();
        let member = DeletedMember {
            user_id,
            upstream_customer_id: user.upstream_customer_id.clone(),
            partners,
        };
        let pseudonym = (deletion.pseudonym)(&member);

        let dropped_outbox_rows = drop_pending_rows(&txn, user_id, now).await?;
        super::outbox::insert(&txn, now, (deletion.messages)(&member)).await?;
        let pseudonymised_audit_rows =
            super::audit::pseudonymise(&txn, user_id, &pseudonym).await?;
        let mut audit = deletion.audit;
        // Recorded as pseudonymously as the rows it pseudonymised.
        audit.user_id = None;
        audit.client_ip = None;
        audit.device_hash = None;
        audit.subject_hash = Some(pseudonym.clone());
        super::audit::insert(&txn, std::slice::from_ref(&audit)).await?;
        deleted_accounts::Entity::insert(deleted_accounts::ActiveModel {
            user_id: Set(user_id.0),
            upstream_hash: Set(pseudonym),
            deleted_at: Set(now),
            purge_at: Set(deletion.purge_at),
        })
        .exec_without_returning(&txn)
        .await?;
        // Rows without a foreign key to users go by hand; the rest cascade with the user.
        phone_challenges::Entity::delete_many()
            .filter(phone_challenges::Column::UserId.eq(user_id.0))
            .exec(&txn)
            .await?;
        unlinked_identities::Entity::delete_many()
            .filter(unlinked_identities::Column::UserId.eq(user_id.0))
            .exec(&txn)
            .await?;
        users::Entity::delete_by_id(user_id.0).exec(&txn).await?;
        let announced = self.announce(&txn, [user_id.0]).await?;
        txn.commit().await?;
        self.settle(announced).await;
        super::audit::log(std::slice::from_ref(&audit));
        Ok(Some(Deleted {
            tombstone: Tombstone {
                user_id,
                deleted_at: now,
                purge_at: deletion.purge_at,
            },
            dropped_outbox_rows,
            pseudonymised_audit_rows,
        }))
    }

    /// The tombstone of a deleted member, while it is kept.
    pub async fn tombstone(&self, user_id: UserId) -> StoreResult<Option<Tombstone>> {
        Ok(deleted_accounts::Entity::find_by_id(user_id.0)
            .one(&self.db)
            .await?
            .map(tombstone))
    }

    /// Which of `user_ids` are deleted members.
    pub async fn deleted_among(&self, user_ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(deleted_accounts::Entity::find()
            .filter(deleted_accounts::Column::UserId.is_in(user_ids.iter().copied()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|row| row.user_id)
            .collect())
    }

    /// Deletes up to `batch` tombstones past their purge time, and up to `batch` outbox rows
    /// of deleted members (rows a relay was delivering as the member was deleted); how many
    /// went.
    pub async fn purge_tombstones(&self, now: DateTime<Utc>, batch: u64) -> StoreResult<u64> {
        use sea_orm::sea_query::Query;
        let deleted_members = Query::select()
            .column(deleted_accounts::Column::UserId)
            .from(deleted_accounts::Entity)
            .to_owned();
        let stragglers = Query::select()
            .column(outbox::Column::Id)
            .from(outbox::Entity)
            .and_where(outbox::Column::MemberId.in_subquery(deleted_members))
            .limit(batch)
            .to_owned();
        let rows = outbox::Entity::delete_many()
            .filter(outbox::Column::Id.in_subquery(stragglers))
            .exec(&self.db)
            .await?
            .rows_affected;
        let old = Query::select()
            .column(deleted_accounts::Column::UserId)
            .from(deleted_accounts::Entity)
            .and_where(deleted_accounts::Column::PurgeAt.lte(now))
            .limit(batch)
            .to_owned();
        Ok(rows
            + deleted_accounts::Entity::delete_many()
                .filter(deleted_accounts::Column::UserId.in_subquery(old))
                .exec(&self.db)
                .await?
                .rows_affected)
    }
}

fn tombstone(row: deleted_accounts::Model) -> Tombstone {
    Tombstone {
        user_id: UserId(row.user_id),
        deleted_at: row.deleted_at,
        purge_at: row.purge_at,
    }
}

/// Rows about the member that no relay holds now, delivered or not: their index updates
/// (keyed by the user id) and events naming them. Leased rows stay (see the module note); the
/// relay drops them once it sees the tombstone.
async fn drop_pending_rows(
    txn: &sea_orm::DatabaseTransaction,
    user_id: UserId,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let id = user_id.to_string();
    // Delivered rows are kept a week for investigations: theirs go now too.
    let not_leased = Condition::any()
        .add(outbox::Column::DeliveredAt.is_not_null())
        .add(outbox::Column::ClaimedUntil.is_null())
        .add(outbox::Column::ClaimedUntil.lte(now));
    // Rows written before `member_id` existed are recognised by key or payload.
    let legacy = Condition::any()
        .add(
            Condition::all()
                .add(outbox::Column::Sink.eq(Sink::SearchIndex.as_str()))
                .add(outbox::Column::MessageKey.eq(id.as_str())),
        )
        .add(
            Condition::all()
                .add(outbox::Column::Sink.eq(Sink::EventBus.as_str()))
                .add(outbox::Column::Payload.like(format!("%\"{id}\"%"))),
        );
    let theirs = Condition::any()
        .add(outbox::Column::MemberId.eq(user_id.0))
        .add(
            Condition::all()
                .add(outbox::Column::MemberId.is_null())
                .add(legacy),
        );
    Ok(outbox::Entity::delete_many()
        .filter(not_leased)
        .filter(theirs)
        .exec(txn)
        .await?
        .rows_affected)
}

impl Store {
    /// Everything held about the member, table by table, as JSON (for access requests);
    /// `None` when there is no such member. Secrets are never stored, so none can appear:
    /// refresh and partner tokens are hashes and are left out, as are push tokens.
    pub async fn export_member(&self, user_id: UserId) -> StoreResult<Option<serde_json::Value>> {
        use super::entities::{auth_events, identities, sessions};
        let Some(user) = users::Entity::find_by_id(user_id.0)
            .into_json()
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let identities = identities::Entity::find()
            .filter(identities::Column::UserId.eq(user_id.0))
            .into_json()
            .all(&self.db)
            .await?;
        // A push token addresses the device: kept out like the other credentials.
        let mut sessions = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user_id.0))
            .into_json()
            .all(&self.db)
            .await?;
        for session in &mut sessions {
            if let Some(session) = session.as_object_mut() {
                session.remove("push_token");
            }
        }
        let unlinked = unlinked_identities::Entity::find()
            .filter(unlinked_identities::Column::UserId.eq(user_id.0))
            .into_json()
            .all(&self.db)
            .await?;
        let partners = partner_subjects::Entity::find()
            .filter(partner_subjects::Column::UserId.eq(user_id.0))
            .into_json()
            .all(&self.db)
            .await?;
        let security_events = auth_events::Entity::find()
            .filter(auth_events::Column::UserId.eq(user_id.0))
            .into_json()
            .all(&self.db)
            .await?;
        Ok(Some(serde_json::json!({
            "user": user,
            "identities": identities,
            "unlinkedIdentities": unlinked,
            "sessions": sessions,
            "partnersThatReceivedTheMember": partners,
            "securityEvents": security_events,
        })))
    }
}
