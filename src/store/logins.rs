//! A sign-in's writes, all or nothing: the member, the identity used, this device's previous
//! session ended, the new session, its first refresh token, and the outbox rows describing it.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, OnConflict},
};
use uuid::Uuid;

use super::{
    NewOutboxMessage, Store, StoreResult,
    entities::{sessions, users},
    identities, outbox, refresh_tokens,
    sessions::to_session,
    users::to_user,
};
use crate::domain::{
    AuthMethod, ChallengeId, CustomerProfile, Device, EndReason, Provider, RefreshTokenHash,
    Session, User, UserId,
};

/// Whose session a sign-in opens.
pub enum LoginMember<'a> {
    /// The member directory has just read this profile: upsert the member from it.
    Directory(&'a CustomerProfile),
    /// A member known through a linked identity; the stored profile snapshot stays as it is.
    Linked(UserId),
    /// A linked member whose profile the member directory has just re-read by uid: the
    /// snapshot is replaced (its email stays: it is what was looked up).
    Refreshed(UserId, &'a CustomerProfile),
}

/// Everything a successful sign-in writes, in one transaction.
pub struct NewLogin<'a> {
    pub member: LoginMember<'a>,
    /// The identity that signed in: (provider, subject).
    pub identity: (&'a Provider, &'a str),
    pub method: AuthMethod,
    pub device: &'a Device,
    /// A code challenge to consume first, for this member only; nothing is written when it
    /// is no longer live or not theirs.
    pub proof: Option<ChallengeId>,
    pub now: DateTime<Utc>,
    pub session_expires_at: DateTime<Utc>,
    pub refresh_token: &'a RefreshTokenHash,
    pub refresh_token_expires_at: DateTime<Utc>,
    /// The side effects of this login, built from what was written; stored in the same
    /// transaction.
    pub side_effects: &'a (dyn Fn(&LoginRecord) -> Vec<NewOutboxMessage> + Send + Sync),
}

pub struct LoginRecord {
    pub user: User,
    pub session: Session,
    pub first_login: bool,
}

/// How often a login transaction is tried when it loses a uniqueness race.
const ATTEMPTS: usize = 3;

impl Store {
    /// Records the sign-in; `None` when a linked identity was unlinked meanwhile (nothing is
    /// written then).
    ///
    /// PostgreSQL's `ON CONFLICT` settles races on its arbiter index only: two first logins of
    /// one member can both pass the customer-id check and meet on the unique email index,
    /// where the later one fails with a unique violation once the first commits. Trying the
    /// whole transaction again then finds the committed member and updates it.
    #[tracing::instrument(name = "db.record_login", skip_all)]
    pub async fn record_login(&self, login: NewLogin<'_>) -> StoreResult<Option<LoginRecord>> {
        let mut attempt = 1;
        loop {
            match self.try_record_login(&login).await {
                Err(error) if attempt < ATTEMPTS && is_unique_violation(&error) => {
                    tracing::info!(attempt, "login transaction lost a uniqueness race; again");
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn try_record_login(&self, login: &NewLogin<'_>) -> StoreResult<Option<LoginRecord>> {
        let NewLogin {
            device,
            now,
            identity: (provider, subject),
            ..
        } = *login;
        let txn = self.db.begin().await?;
        if let Some(proof) = login.proof {
            let owner = match login.member {
                LoginMember::Linked(user_id) | LoginMember::Refreshed(user_id, _) => Some(user_id),
                LoginMember::Directory(_) => None,
            };
            if super::phone::consume(&txn, proof, owner, now).await? != 1 {
                txn.rollback().await?;
                return Ok(None);
            }
        }
        let (user, first_login) = match login.member {
            LoginMember::Directory(profile) => {
                release_moved_email(&txn, profile).await?;
                let new_id = Uuid::now_v7();
                let user = upsert_member(&txn, new_id, profile, now).await?;
                identities::upsert_directory_identity(
                    &txn,
                    UserId(user.id),
                    provider,
                    subject,
                    now,
                )
                .await?;
                let first_login = user.id == new_id;
                (user, first_login)
            }
            LoginMember::Linked(user_id) | LoginMember::Refreshed(user_id, _) => {
                if !identities::touch_linked_identity(&txn, user_id, provider, subject, now).await?
                {
                    txn.rollback().await?;
                    return Ok(None);
                }
                let mut update = users::Entity::update_many()
                    .col_expr(users::Column::LastLoginAt, Expr::value(now))
                    .filter(users::Column::Id.eq(user_id.0));
                if let LoginMember::Refreshed(_, profile) = login.member {
                    update = refresh_snapshot(update, profile, now);
                }
                let mut touched = update.exec_with_returning(&txn).await?;
                let Some(user) = touched.pop() else {
                    txn.rollback().await?;
                    return Ok(None);
                };
                (user, false)
            }
        };

        if let Some(device_id) = &device.device_id {
            sessions::Entity::update_many()
                .col_expr(sessions::Column::RevokedAt, Expr::value(now))
                .col_expr(
                    sessions::Column::EndReason,
                    Expr::value(EndReason::ReplacedByNewLogin.as_str()),
                )
                .filter(sessions::Column::UserId.eq(user.id))
                .filter(sessions::Column::DeviceId.eq(device_id.as_str()))
                .filter(sessions::Column::RevokedAt.is_null())
                .exec(&txn)
                .await?;
        }

        let session = sessions::Entity::insert(sessions::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user.id),
            device_id: Set(device.device_id.clone()),
            device_type: Set(device.device_type.map(|t| t.as_str().to_owned())),
            device_name: Set(device.device_name.clone()),
            platform: Set(device.platform.clone()),
            platform_version: Set(device.platform_version.clone()),
            app_version: Set(device.app_version.clone()),
            push_token: Set(device.push_token.clone()),
            auth_method: Set(login.method.as_str().to_owned()),
            created_at: Set(now),
            last_accessed_at: Set(now),
            last_active_at: Set(None),
            expires_at: Set(login.session_expires_at),
            revoked_at: Set(None),
            end_reason: Set(None),
        })
        .exec_with_returning(&txn)
        .await?;
        refresh_tokens::insert(
            &txn,
            login.refresh_token,
            session.id,
            None,
            now,
            login.refresh_token_expires_at,
        )
        .await?;

        let record = LoginRecord {
            user: to_user(user),
            session: to_session(session),
            first_login,
        };
        outbox::insert(&txn, now, (login.side_effects)(&record)).await?;
        txn.commit().await?;
        Ok(Some(record))
    }
}

/// When Hybris gives this email to another customer id than the one we hold it for (a shop
/// account re-created), the stale member lets go of it: its email becomes a reserved
/// `.invalid` address (RFC 2606) until that member logs in again with its own.
///
/// One `UPDATE`, written first in the transaction: on SQLite a transaction that reads before
/// it writes fails with `SQLITE_BUSY_SNAPSHOT` when another login commits in between.
async fn release_moved_email(
    txn: &sea_orm::DatabaseTransaction,
    profile: &CustomerProfile,
) -> StoreResult<()> {
    let released = users::Entity::update_many()
        .col_expr(
            users::Column::Email,
            Expr::cust("'released-' || upstream_customer_id || '@email-moved.invalid'"),
        )
        .filter(users::Column::Email.eq(profile.email.as_str()))
        .filter(users::Column::UpstreamCustomerId.ne(profile.customer_id.as_str()))
        .exec(txn)
        .await?
        .rows_affected;
    if released > 0 {
        tracing::info!(
            "the login's email moved to another Hybris customer: released from the stale member"
        );
    }
    Ok(())
}

/// One statement, so concurrent first logins of one member create one user.
async fn upsert_member(
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
fn refresh_snapshot(
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

pub(super) fn is_unique_violation(error: &super::StoreError) -> bool {
    matches!(
        error.0.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
