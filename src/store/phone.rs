//! Code challenges and enrolled phones.
//!
//! Design: the rules that must hold under concurrency are single conditional statements. An
//! attempt is counted by `UPDATE … SET attempts = attempts + 1 WHERE attempts < max …` before the
//! code is compared, so N concurrent guesses can never make more than `max` comparisons; a right
//! code is consumed by `UPDATE … SET consumed_at … WHERE consumed_at IS NULL`, so of N concurrent
//! right answers exactly one wins. Every transaction here writes before it reads (SQLite fails a
//! transaction that read before another committed, `SQLITE_BUSY_SNAPSHOT`).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, TransactionTrait,
    sea_query::{Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::{
    NewOutboxMessage, Store, StoreResult,
    entities::{identities, phone_challenges as challenges, users},
    outbox,
    users::to_user,
};
use crate::domain::audit::AuditEvent;
use crate::domain::{ChallengeId, ChallengePurpose, PhoneNumber, Provider, User, UserId};

/// A challenge to store; its code only as `code_hmac`.
pub struct NewChallenge<'a> {
    pub id: ChallengeId,
    pub purpose: ChallengePurpose,
    pub phone: &'a PhoneNumber,
    /// Whom the code is for; `None` for a number nobody enrolled (no SMS goes out then).
    pub user_id: Option<UserId>,
    pub code_hmac: String,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// At most this many live challenges per number: older live ones expire now.
    pub live_per_number: u64,
}

/// A stored challenge.
#[derive(Debug, Clone)]
pub struct ChallengeRecord {
    pub id: ChallengeId,
    /// E.164.
    pub phone: String,
    pub user_id: Option<UserId>,
    pub code_hmac: String,
    pub attempts: u32,
}

/// What counting an attempt found.
pub enum Attempt {
    /// Counted; `attempts` includes this one. Compare the code now.
    Counted(ChallengeRecord),
    /// Every attempt of this live challenge is used up.
    Exhausted,
    /// Unknown, expired, consumed, or of another purpose.
    Dead,
}

/// What an enrolment changed, for its side effects.
pub struct Enrolment {
    pub user: User,
    /// The member whose verified number this was until now (carriers recycle numbers).
    pub previous_owner: Option<UserId>,
}

/// The outbox rows and audit events of an enrolment or removal, built from what was written.
type PhoneSideEffects<'a> =
    &'a (dyn Fn(&Enrolment) -> (Vec<NewOutboxMessage>, Vec<AuditEvent>) + Send + Sync);

impl Store {
    /// The member whose enrolled phone this is.
    pub async fn phone_owner(&self, phone: &PhoneNumber) -> StoreResult<Option<UserId>> {
        Ok(identities::Entity::find()
            .filter(identities::Column::Provider.eq(Provider::PHONE))
            .filter(identities::Column::Subject.eq(phone.as_str()))
            .one(&self.db)
            .await?
            .map(|identity| UserId(identity.user_id)))
    }

    /// Stores a challenge, then expires the number's live challenges beyond the newest
    /// `live_per_number` (a resend keeps earlier codes valid, but not without bound).
    pub async fn create_challenge(&self, new: NewChallenge<'_>) -> StoreResult<()> {
        let phone = new.phone.as_str();
        let txn = self.db.begin().await?;
        challenges::Entity::insert(challenges::ActiveModel {
            id: Set(new.id.0),
            purpose: Set(new.purpose.as_str().to_owned()),
            phone: Set(phone.to_owned()),
            user_id: Set(new.user_id.map(|u| u.0)),
            code_hmac: Set(new.code_hmac),
            attempts: Set(0),
            created_at: Set(new.now),
            expires_at: Set(new.expires_at),
            consumed_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await?;
        let live = |query: &mut sea_orm::sea_query::SelectStatement| {
            query
                .and_where(challenges::Column::Phone.eq(phone))
                .and_where(challenges::Column::ConsumedAt.is_null())
                .and_where(challenges::Column::ExpiresAt.gt(new.now));
        };
        let mut newest = Query::select();
        newest
            .column(challenges::Column::Id)
            .from(challenges::Entity)
            .order_by(challenges::Column::CreatedAt, sea_orm::Order::Desc)
            .order_by(challenges::Column::Id, sea_orm::Order::Desc)
            .limit(new.live_per_number);
        live(&mut newest);
        challenges::Entity::update_many()
            .col_expr(challenges::Column::ExpiresAt, Expr::value(new.now))
            .filter(challenges::Column::Phone.eq(phone))
            .filter(challenges::Column::ConsumedAt.is_null())
            .filter(challenges::Column::ExpiresAt.gt(new.now))
            .filter(challenges::Column::Id.not_in_subquery(newest))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    pub async fn challenge(&self, id: ChallengeId) -> StoreResult<Option<ChallengeRecord>> {
        Ok(challenges::Entity::find_by_id(id.0)
            .one(&self.db)
            .await?
            .map(to_record))
    }

    /// Counts one attempt at a live challenge of `purpose`, in its own statement, before any
    /// comparison: at most `max_attempts` ever count.
    pub async fn count_attempt(
        &self,
        id: ChallengeId,
        purpose: ChallengePurpose,
        now: DateTime<Utc>,
        max_attempts: u32,
    ) -> StoreResult<Attempt> {
        let live = || {
            challenges::Entity::update_many()
                .filter(challenges::Column::Id.eq(id.0))
                .filter(challenges::Column::Purpose.eq(purpose.as_str()))
                .filter(challenges::Column::ConsumedAt.is_null())
                .filter(challenges::Column::ExpiresAt.gt(now))
        };
        let mut counted = live()
            .col_expr(
                challenges::Column::Attempts,
                Expr::col(challenges::Column::Attempts).add(1),
            )
            .filter(challenges::Column::Attempts.lt(max_attempts as i32))
            .exec_with_returning(&self.db)
            .await?;
        if let Some(row) = counted.pop() {
            return Ok(Attempt::Counted(to_record(row)));
        }
        let exhausted = challenges::Entity::find_by_id(id.0)
            .filter(challenges::Column::Purpose.eq(purpose.as_str()))
            .filter(challenges::Column::ConsumedAt.is_null())
            .filter(challenges::Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await?
            .is_some();
        Ok(if exhausted {
            Attempt::Exhausted
        } else {
            Attempt::Dead
        })
    }

    /// Consumes the enrolment challenge `id` of `user_id` and makes `phone` the member's
    /// phone identity, taking it from whoever held it; with the outbox rows, in one
    /// transaction. `None` when the challenge was no longer live (nothing changed).
    pub async fn enrol_phone(
        &self,
        id: ChallengeId,
        user_id: UserId,
        phone: &PhoneNumber,
        now: DateTime<Utc>,
        side_effects: PhoneSideEffects<'_>,
    ) -> StoreResult<Option<Enrolment>> {
        let mut attempt = 1;
        loop {
            match self
                .try_enrol_phone(id, user_id, phone, now, side_effects)
                .await
            {
                Err(error) if attempt < 3 && super::logins::is_unique_violation(&error) => {
                    tracing::info!(attempt, "enrolment lost a race for the number; again");
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// The statements are ordered for concurrency: the member's own row is written first (a
    /// row lock, so one member's enrolments run one after the other), and `users.phone` is
    /// unique, so two members proving one number at once meet on that index: the later one
    /// fails with a unique violation once the first commits, and its retry moves the number.
    async fn try_enrol_phone(
        &self,
        id: ChallengeId,
        user_id: UserId,
        phone: &PhoneNumber,
        now: DateTime<Utc>,
        side_effects: PhoneSideEffects<'_>,
    ) -> StoreResult<Option<Enrolment>> {
        let txn = self.db.begin().await?;
        if consume(&txn, id, Some(user_id), now).await? != 1 {
            txn.rollback().await?;
            return Ok(None);
        }
        let mut previous = users::Entity::update_many()
            .col_expr(users::Column::Phone, Expr::value(Option::<String>::None))
            .col_expr(
                users::Column::PhoneVerifiedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(users::Column::Phone.eq(phone.as_str()))
            .filter(users::Column::Id.ne(user_id.0))
            .exec_with_returning(&txn)
            .await?;
        let mut updated = users::Entity::update_many()
            .col_expr(users::Column::Phone, Expr::value(phone.as_str()))
            .col_expr(users::Column::PhoneVerifiedAt, Expr::value(now))
            .filter(users::Column::Id.eq(user_id.0))
            .exec_with_returning(&txn)
            .await?;
        let Some(user) = updated.pop() else {
            txn.rollback().await?;
            return Ok(None);
        };
        // The number's identity, whoever held it, and the member's earlier number.
        identities::Entity::delete_many()
            .filter(identities::Column::Provider.eq(Provider::PHONE))
            .filter(
                sea_orm::Condition::any()
                    .add(identities::Column::Subject.eq(phone.as_str()))
                    .add(identities::Column::UserId.eq(user_id.0)),
            )
            .exec(&txn)
            .await?;
        identities::Entity::insert(identities::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(user_id.0),
            provider: Set(Provider::PHONE.to_owned()),
            subject: Set(phone.as_str().to_owned()),
            created_at: Set(now),
            last_used_at: Set(None),
            email: Set(None),
            linked_by: Set(Some("code".to_owned())),
        })
        .exec_without_returning(&txn)
        .await?;
        let enrolment = Enrolment {
            user: to_user(user),
            previous_owner: previous.pop().map(|u| UserId(u.id)),
        };
        let (messages, audit) = side_effects(&enrolment);
        outbox::insert(&txn, now, messages).await?;
        super::audit::insert(&txn, &audit).await?;
        let changed: Vec<uuid::Uuid> = std::iter::once(enrolment.user.id.0)
            .chain(enrolment.previous_owner.map(|id| id.0))
            .collect();
        let announced = self.announce(&txn, changed.iter().copied()).await?;
        txn.commit().await?;
        self.settle(announced).await;
        super::audit::log(&audit);
        Ok(Some(enrolment))
    }

    /// Ends phone sign-in for the member: the identity goes, and the number from the user.
    /// `None` for an unknown member; side effects only when there was a phone.
    pub async fn remove_phone(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        side_effects: PhoneSideEffects<'_>,
    ) -> StoreResult<Option<User>> {
        let txn = self.db.begin().await?;
        let removed = identities::Entity::delete_many()
            .filter(identities::Column::Provider.eq(Provider::PHONE))
            .filter(identities::Column::UserId.eq(user_id.0))
            .exec(&txn)
            .await?
            .rows_affected;
        let mut updated = users::Entity::update_many()
            .col_expr(users::Column::Phone, Expr::value(Option::<String>::None))
            .col_expr(
                users::Column::PhoneVerifiedAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(users::Column::Id.eq(user_id.0))
            .exec_with_returning(&txn)
            .await?;
        let Some(user) = updated.pop().map(to_user) else {
            txn.rollback().await?;
            return Ok(None);
        };
        if removed > 0 {
            let enrolment = Enrolment {
                user,
                previous_owner: None,
            };
            let (messages, audit) = side_effects(&enrolment);
            outbox::insert(&txn, now, messages).await?;
            super::audit::insert(&txn, &audit).await?;
            let announced = self.announce(&txn, [enrolment.user.id.0]).await?;
            txn.commit().await?;
            self.settle(announced).await;
            super::audit::log(&audit);
            return Ok(Some(enrolment.user));
        }
        txn.commit().await?;
        Ok(Some(user))
    }
}

/// The one conditional update that consumes a live challenge (of `user_id`, when given).
pub(super) async fn consume(
    db: &impl sea_orm::ConnectionTrait,
    id: ChallengeId,
    user_id: Option<UserId>,
    now: DateTime<Utc>,
) -> StoreResult<u64> {
    let mut update = challenges::Entity::update_many()
        .col_expr(challenges::Column::ConsumedAt, Expr::value(now))
        .filter(challenges::Column::Id.eq(id.0))
        .filter(challenges::Column::ConsumedAt.is_null())
        .filter(challenges::Column::ExpiresAt.gt(now));
    if let Some(user_id) = user_id {
        update = update.filter(challenges::Column::UserId.eq(user_id.0));
    }
    Ok(update.exec(db).await?.rows_affected)
}

fn to_record(row: challenges::Model) -> ChallengeRecord {
    ChallengeRecord {
        id: ChallengeId(row.id),
        phone: row.phone,
        user_id: row.user_id.map(UserId),
        code_hmac: row.code_hmac,
        attempts: u32::try_from(row.attempts).unwrap_or(0),
    }
}
