//! The member's own row as a sign-in writes it: upserted from a fresh Hybris profile, its
//! snapshot replaced after a re-read, its email released when Hybris gave it to another
//! customer.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use super::{StoreResult, entities::users};
use crate::domain::CustomerProfile;

/// When Hybris gives this email to another customer id than the one we hold it for (a shop
/// account re-created), the stale member lets go of it: its email becomes a reserved
/// `.invalid` address (RFC 2606) until that member logs in again with its own.
///
/// One `UPDATE`, written first in the transaction: on SQLite a transaction that reads before
/// it writes fails with `SQLITE_BUSY_SNAPSHOT` when another login commits in between.
pub(super) async fn release_moved_email(
    txn: &sea_orm::DatabaseTransaction,
    profile: &CustomerProfile,
) -> StoreResult<Vec<uuid::Uuid>> {
    let released: Vec<uuid::Uuid> = users::Entity::update_many()
        .col_expr(
            users::Column::Email,
            Expr::cust("'released-' || upstream_customer_id || '@email-moved.invalid'"),
        )
        .filter(users::Column::Email.eq(profile.email.as_str()))
        .filter(users::Column::UpstreamCustomerId.ne(profile.customer_id.as_str()))
        .exec_with_returning(txn)
        .await?
        .into_iter()
        .map(|user| user.id)
        .collect();
    if !released.is_empty() {
        tracing::info!(
            "the login's email moved to another Hybris customer: released from the stale member"
        );
    }
    Ok(released)
}

/// One statement, so concurrent first logins of one member create one user.
pub(super) async fn upsert_member(
    txn: &sea_orm::DatabaseTransaction,
    new_id: Uuid,
    profile: &CustomerProfile,
    now: DateTime<Utc>,
) -> StoreResult<users::Model> {
    let membership = profile.membership.as_ref();
    Ok(users::Entity::insert(users::ActiveModel {
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
        roles: Set(Some(
            serde_json::to_string(&profile.roles).unwrap_or_else(|_| "[]".into()),
        )),
        phone: sea_orm::ActiveValue::NotSet,
        phone_verified_at: sea_orm::ActiveValue::NotSet,
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
                users::Column::Roles,
            ])
            .to_owned(),
    )
    .exec_with_returning(txn)
    .await?)
}

/// The snapshot columns set from a freshly read profile.
pub(super) fn refresh_snapshot(
    update: sea_orm::UpdateMany<users::Entity>,
    profile: &CustomerProfile,
    now: DateTime<Utc>,
) -> sea_orm::UpdateMany<users::Entity> {
    let membership = profile.membership.as_ref();
    update
        .col_expr(
            users::Column::FirstName,
            Expr::value(profile.first_name.clone()),
        )
        .col_expr(
            users::Column::LastName,
            Expr::value(profile.last_name.clone()),
        )
        .col_expr(
            users::Column::MembershipNumber,
            Expr::value(membership.map(|m| m.number.clone())),
        )
        .col_expr(
            users::Column::MembershipStartDate,
            Expr::value(membership.map(|m| m.start_date)),
        )
        .col_expr(
            users::Column::MembershipEndDate,
            Expr::value(membership.map(|m| m.end_date)),
        )
        .col_expr(
            users::Column::Chapter,
            Expr::value(membership.and_then(|m| m.chapter.clone())),
        )
        .col_expr(
            users::Column::Roles,
            Expr::value(serde_json::to_string(&profile.roles).unwrap_or_else(|_| "[]".into())),
        )
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
}
