//! Account deletion, by the member (a recent sign-in and a typed confirmation) or by an
//! operator; and the export of everything we hold about a member, for access requests.
//!
//! Design: one store transaction erases the member everywhere we can reach (see
//! `store::deletion`); what lives elsewhere is told through the outbox in that transaction:
//! the search index deletes the record, analytics gets `user.deleted`, each partner that ever
//! received the member gets `partner.subject.deleted`. The Hybris shop account is not ours and
//! stays: a later password login makes a new member with a new id.

use chrono::{DateTime, Utc};

use crate::domain::audit::AuditType;
use crate::domain::{InvalidInput, UserId};
use crate::store::{Deleted, NewDeletion};

use super::audit::AuditTrail;
use super::{Auth, Principal, side_effects};

/// The word the member types to confirm.
pub const CONFIRMATION: &str = "DELETE";

#[derive(Debug, thiserror::Error)]
pub enum DeletionError {
    #[error("{0}")]
    InvalidInput(#[from] InvalidInput),
    /// The session signed in longer ago than `REAUTH_MAX_AGE_SECS`: sign in again first.
    #[error("please sign in again to delete your account")]
    RecentLoginRequired,
    /// The caller's session or member is gone (deleted meanwhile).
    #[error("no such account")]
    NotFound,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<crate::store::StoreError> for DeletionError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// When the account was deleted, and when its last trace (the tombstone) goes.
#[derive(Debug, Clone)]
pub struct AccountDeletion {
    pub deleted_at: DateTime<Utc>,
    pub purge_at: DateTime<Utc>,
}

impl Auth {
    /// Deletes the caller's account: `confirmation` must be `DELETE`, and the session must
    /// have signed in within `REAUTH_MAX_AGE_SECS`.
    #[tracing::instrument(name = "delete_account", skip_all, fields(user_id = %principal.user_id))]
    pub async fn delete_account(
        &self,
        principal: Principal,
        confirmation: &str,
    ) -> Result<AccountDeletion, DeletionError> {
        if confirmation != CONFIRMATION {
            return Err(InvalidInput::new(
                "confirmation",
                format!("type {CONFIRMATION} to confirm the deletion"),
            )
            .into());
        }
        let session = self
            .store
            .session(principal.session_id)
            .await?
            .ok_or(DeletionError::NotFound)?;
        if session.created_at < self.clock.now() - self.audit.settings.reauth_max_age {
            return Err(DeletionError::RecentLoginRequired);
        }
        let mut audit = self
            .audit_event(AuditType::AccountDeleted)
            .with_reason("MEMBER");
        audit.session_id = Some(principal.session_id);
        let deleted = erase(&self.store, &self.audit, principal.user_id, audit)
            .await?
            .ok_or(DeletionError::NotFound)?;
        self.outbox_written.notify_waiters();
        tracing::info!("account deleted by its member");
        Ok(AccountDeletion {
            deleted_at: deleted.tombstone.deleted_at,
            purge_at: deleted.tombstone.purge_at,
        })
    }
}

/// The one deletion, for members and operators: `audit` is its `account.deleted` event (stamped
/// with when it happens).
pub(super) async fn erase(
    store: &crate::store::Store,
    trail: &AuditTrail,
    user_id: UserId,
    audit: crate::domain::audit::AuditEvent,
) -> anyhow::Result<Option<Deleted>> {
    let now = audit.at;
    Ok(store
        .delete_account(NewDeletion {
            user_id,
            now,
            purge_at: now + trail.settings.tombstone,
            pseudonym: &|member| trail.hash("customer", &member.upstream_customer_id),
            messages: &|member| side_effects::deletion_messages(member, now),
            audit,
        })
        .await?)
}
