//! Identities: the (provider, subject) pairs that sign a member in. Unique on the pair, so one
//! account of a provider belongs to at most one member; a member may have several.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::OnConflict,
};
use uuid::Uuid;

use super::{Store, StoreResult, entities::identities};
use crate::domain::{Provider, User, UserId};

/// What linking an identity to a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked,
    /// It was already this member's.
    AlreadyLinked,
    /// It belongs to another member; nothing changed.
    InUse,
}

impl Store {
    /// The member an identity signs in, if it is linked.
    pub async fn user_by_identity(
        &self,
        provider: &Provider,
        subject: &str,
    ) -> StoreResult<Option<User>> {
        let Some(identity) = identities::Entity::find()
            .filter(identities::Column::Provider.eq(provider.as_str()))
            .filter(identities::Column::Subject.eq(subject))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        self.user(UserId(identity.user_id)).await
    }

    /// Links (provider, subject) to `user_id` unless another member holds it; the unique index
    /// decides between concurrent linkers.
    pub async fn link_identity(
        &self,
        user_id: UserId,
        link: NewLink<'_>,
        now: DateTime<Utc>,
    ) -> StoreResult<LinkOutcome> {
        link_in(&self.db, user_id, link, now).await
    }

    /// The providers linked to a member, oldest link first.
    pub async fn identities_of(&self, user_id: UserId) -> StoreResult<Vec<(Provider, String)>> {
        use sea_orm::QueryOrder;
        Ok(identities::Entity::find()
            .filter(identities::Column::UserId.eq(user_id.0))
            .order_by_asc(identities::Column::CreatedAt)
            .all(&self.db)
            .await?
            .into_iter()
            .filter_map(|i| Some((Provider::parse(&i.provider).ok()?, i.subject)))
            .collect())
    }
}

/// A provider account to link: its subject, its email, and how the link came about.
#[derive(Debug, Clone, Copy)]
pub struct NewLink<'a> {
    pub provider: &'a Provider,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    /// `session`, `password` (a link token) or `auto_email`.
    pub linked_by: &'a str,
}

/// Links (provider, subject) to `user_id` unless another member holds it; the unique index
/// decides between concurrent linkers.
pub(super) async fn link_in(
    db: &impl ConnectionTrait,
    user_id: UserId,
    link: NewLink<'_>,
    now: DateTime<Utc>,
) -> StoreResult<LinkOutcome> {
    let mut identity = new_identity(user_id, link.provider, link.subject, now);
    identity.email = Set(link.email.map(str::to_owned));
    identity.linked_by = Set(Some(link.linked_by.to_owned()));
    identity.last_used_at = Set(None);
    let inserted = identities::Entity::insert(identity)
        .on_conflict(
            OnConflict::columns([identities::Column::Provider, identities::Column::Subject])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    if inserted > 0 {
        return Ok(LinkOutcome::Linked);
    }
    let holder = identities::Entity::find()
        .filter(identities::Column::Provider.eq(link.provider.as_str()))
        .filter(identities::Column::Subject.eq(link.subject))
        .one(db)
        .await?;
    Ok(match holder {
        Some(identity) if identity.user_id == user_id.0 => LinkOutcome::AlreadyLinked,
        _ => LinkOutcome::InUse,
    })
}

/// Records that the member directory's identity signed `user_id` in: created on the first
/// login, its `last_used_at` moved on every other.
pub(super) async fn upsert_directory_identity(
    db: &impl ConnectionTrait,
    user_id: UserId,
    provider: &Provider,
    subject: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    identities::Entity::insert(new_identity(user_id, provider, subject, now))
        .on_conflict(
            OnConflict::columns([identities::Column::Provider, identities::Column::Subject])
                .update_column(identities::Column::LastUsedAt)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Moves `last_used_at` of a linked identity; false when it is no longer `user_id`'s.
pub(super) async fn touch_linked_identity(
    db: &impl ConnectionTrait,
    user_id: UserId,
    provider: &Provider,
    subject: &str,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    use sea_orm::sea_query::Expr;
    let touched = identities::Entity::update_many()
        .col_expr(identities::Column::LastUsedAt, Expr::value(now))
        .filter(identities::Column::Provider.eq(provider.as_str()))
        .filter(identities::Column::Subject.eq(subject))
        .filter(identities::Column::UserId.eq(user_id.0))
        .exec(db)
        .await?
        .rows_affected;
    Ok(touched == 1)
}

fn new_identity(
    user_id: UserId,
    provider: &Provider,
    subject: &str,
    now: DateTime<Utc>,
) -> identities::ActiveModel {
    identities::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id.0),
        provider: Set(provider.as_str().to_owned()),
        subject: Set(subject.to_owned()),
        created_at: Set(now),
        last_used_at: Set(Some(now)),
        email: Set(None),
        linked_by: Set(None),
    }
}
