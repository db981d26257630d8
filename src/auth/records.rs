//! The operators' view of members' records: the audit trail (`login-api audit list|export`),
//! and deletion and export of a member (`login-api user delete|export`), for access and
//! erasure requests.

use chrono::{DateTime, Utc};

use crate::domain::audit::{AuditEvent, AuditType};
use crate::domain::{Email, LoginSubject, UserId};
use crate::store::{AuditQuery, Deleted};

use super::admin::Admin;

/// A member as an operator names them.
#[derive(Debug, Clone)]
pub enum MemberRef {
    Id(UserId),
    /// Also finds failed sign-ins of an email we hold no member for (by its HMAC).
    Email(Email),
    /// The Hybris customer id: after a deletion, the member's pseudonymised events.
    CustomerId(String),
}

impl Admin {
    async fn resolve(&self, member: &MemberRef) -> anyhow::Result<Option<UserId>> {
        Ok(match member {
            MemberRef::Id(id) => Some(*id),
            MemberRef::Email(email) => self.store.members_with_email(email).await?.first().copied(),
            MemberRef::CustomerId(id) => self.store.member_with_customer_id(id).await?,
        })
    }

    /// Up to `limit` events, newest first, older than the event `before`: the member's (and,
    /// for an email, the failures stored under its hash), or everyone's; since `since`.
    pub async fn audit_events(
        &self,
        member: Option<&MemberRef>,
        since: Option<DateTime<Utc>>,
        before: Option<uuid::Uuid>,
        limit: u64,
    ) -> anyhow::Result<Vec<AuditEvent>> {
        let mut query = AuditQuery {
            since,
            ..Default::default()
        };
        if let Some(member) = member {
            query.user_id = self.resolve(member).await?;
            query.subject_hash = match member {
                MemberRef::Email(email) => {
                    Some(self.audit.subject_hash(&LoginSubject::Email(email.clone())))
                }
                // A deleted member's rows are kept under this pseudonym.
                MemberRef::CustomerId(id) => Some(self.audit.hash("customer", id)),
                MemberRef::Id(_) => None,
            };
        }
        Ok(self.store.audit_events(&query, before, limit).await?)
    }

    /// Deletes the member as the API's `deleteAccount` does (no recent sign-in needed); `None`
    /// when there is no such member.
    pub async fn delete_user(&self, member: &MemberRef) -> anyhow::Result<Option<Deleted>> {
        let Some(user_id) = self.resolve(member).await? else {
            return Ok(None);
        };
        let audit = AuditEvent::success(AuditType::AccountDeleted, self.clock.now())
            .with_reason("OPERATOR");
        let deleted = super::deletion::erase(&self.store, &self.audit, user_id, audit).await?;
        if deleted.is_some() {
            tracing::info!(%user_id, "account deleted by an operator");
        }
        Ok(deleted)
    }

    /// Everything we hold about the member, as JSON; `None` when there is no such member.
    pub async fn export_user(
        &self,
        member: &MemberRef,
    ) -> anyhow::Result<Option<serde_json::Value>> {
        let Some(user_id) = self.resolve(member).await? else {
            return Ok(None);
        };
        Ok(self.store.export_member(user_id).await?)
    }
}
