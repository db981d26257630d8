//! A sign-in's writes, all or nothing: the member, the identity used, this device's previous
//! session ended, the new session, its first refresh token, and the outbox rows describing it.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement, TransactionTrait,
    sea_query::Expr,
};
use uuid::Uuid;

use super::{
    NewOutboxMessage, Store, StoreResult,
    entities::{sessions, users},
    identities,
    members::{refresh_snapshot, release_moved_email, upsert_member},
    outbox, refresh_tokens,
    sessions::to_session,
    users::to_user,
};
use crate::domain::audit::AuditEvent;
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
    /// A single-use proof consumed in this transaction; nothing is written when it is no
    /// longer live (or, for a code challenge, not this member's).
    pub proof: Option<Proof<'a>>,
    pub now: DateTime<Utc>,
    pub session_expires_at: DateTime<Utc>,
    pub refresh_token: &'a RefreshTokenHash,
    pub refresh_token_expires_at: DateTime<Utc>,
    /// The side effects of this login, built from what was written; stored in the same
    /// transaction.
    pub side_effects: &'a (dyn Fn(&LoginRecord) -> Vec<NewOutboxMessage> + Send + Sync),
    /// The audit events of this login (`login.succeeded`, and `account.linked` for a link
    /// token), built from what was written; stored in the same transaction.
    pub audit: &'a (dyn Fn(&LoginRecord) -> Vec<AuditEvent> + Send + Sync),
}

/// A single-use value a sign-in consumes in its own transaction.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A phone code challenge, of the member signing in.
    Challenge(ChallengeId),
    /// A login nonce bound by the provider token; the session it opens is recorded on it.
    Nonce {
        hash: &'a str,
        device_id: Option<&'a str>,
        rotation_nonce: &'a str,
    },
    /// A link token: its identity is linked to the member signing in.
    LinkToken { hash: &'a str },
}

/// Why a sign-in wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRecorded {
    /// The proof was used or expired meanwhile, or the linked identity went.
    Stale,
    /// The link token's identity belongs to another member.
    LinkInUse,
}

pub struct LoginRecord {
    pub user: User,
    pub session: Session,
    pub first_login: bool,
    /// The provider whose account this sign-in linked (a link token).
    pub linked: Option<Provider>,
    /// The audit events written with it.
    pub audited: Vec<AuditEvent>,
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
    pub async fn record_login(
        &self,
        login: NewLogin<'_>,
    ) -> StoreResult<Result<LoginRecord, NotRecorded>> {
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

    async fn try_record_login(
        &self,
        login: &NewLogin<'_>,
    ) -> StoreResult<Result<LoginRecord, NotRecorded>> {
        use std::sync::atomic::Ordering::Relaxed;
        if self.direct.is_some()
            && login.proof.is_none()
            && let LoginMember::Directory(profile) = login.member
        {
            // Each path boxed: inline, their futures (kilobytes each, sea-orm's most) would
            // enlarge every sign-in's, which is moved whole at each await above it.
            if let Some(record) = Box::pin(self.record_returning_login(login, profile)).await? {
                self.login_writes.one_statement.fetch_add(1, Relaxed);
                return Ok(Ok(record));
            }
            if let Some(record) = Box::pin(self.record_directory_login(login)).await? {
                self.login_writes.transaction.fetch_add(1, Relaxed);
                return Ok(Ok(record));
            }
        }
        Box::pin(self.record_login_in_transaction(login)).await
    }

    /// The general path, through sea-orm: SQLite, proofs, linked members, and directory
    /// logins that the direct statements could not take.
    async fn record_login_in_transaction(
        &self,
        login: &NewLogin<'_>,
    ) -> StoreResult<Result<LoginRecord, NotRecorded>> {
        use std::sync::atomic::Ordering::Relaxed;
        let NewLogin {
            device,
            now,
            identity: (provider, subject),
            ..
        } = *login;
        let txn = self.db.begin().await?;
        let consumed = match login.proof {
            Some(Proof::Challenge(challenge)) => {
                let owner = match login.member {
                    LoginMember::Linked(user_id) | LoginMember::Refreshed(user_id, _) => {
                        Some(user_id)
                    }
                    LoginMember::Directory(_) => None,
                };
                super::phone::consume(&txn, challenge, owner, now).await?
            }
            Some(Proof::Nonce {
                hash,
                device_id,
                rotation_nonce,
            }) => {
                super::social::consume_nonce(&txn, hash, device_id, Some(rotation_nonce), now)
                    .await?
            }
            Some(Proof::LinkToken { .. }) | None => 1,
        };
        if consumed != 1 {
            txn.rollback().await?;
            return Ok(Err(NotRecorded::Stale));
        }
        let mut changed = Vec::new();
        let (user, first_login) = match login.member {
            LoginMember::Directory(profile) => {
                changed = release_moved_email(&txn, profile).await?;
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
                    return Ok(Err(NotRecorded::Stale));
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
                    return Ok(Err(NotRecorded::Stale));
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

        let session = insert_session(&txn, login, user.id).await?;

        let mut linked = None;
        match login.proof {
            Some(Proof::Nonce { hash, .. }) => {
                super::social::bind_nonce(&txn, hash, session.id).await?;
            }
            Some(Proof::LinkToken { hash }) => {
                let Some(link) = super::social::consume_link_token(&txn, hash, now).await? else {
                    txn.rollback().await?;
                    return Ok(Err(NotRecorded::Stale));
                };
                let outcome = identities::link_in(
                    &txn,
                    UserId(user.id),
                    identities::NewLink {
                        provider: &link.provider,
                        subject: &link.subject,
                        email: link.email.as_deref(),
                        linked_by: "password",
                    },
                    now,
                )
                .await?;
                if outcome == identities::LinkOutcome::InUse {
                    txn.rollback().await?;
                    return Ok(Err(NotRecorded::LinkInUse));
                }
                linked = (outcome == identities::LinkOutcome::Linked).then_some(link.provider);
            }
            _ => {}
        }
        let mut record = LoginRecord {
            user: to_user(user),
            session: to_session(session),
            first_login,
            linked,
            audited: Vec::new(),
        };
        outbox::insert(&txn, now, (login.side_effects)(&record)).await?;
        record.audited = (login.audit)(&record);
        super::audit::insert(&txn, &record.audited).await?;
        changed.push(record.user.id.0);
        let announced = self.announce(&txn, changed.iter().copied()).await?;
        txn.commit().await?;
        self.login_writes.general.fetch_add(1, Relaxed);
        self.settle(announced).await;
        super::audit::log(&record.audited);
        Ok(Ok(record))
    }
}

/// The session's row and its first refresh token's, in one statement of data-modifying CTEs
/// on PostgreSQL (a round trip fewer; the token's foreign key is checked at the statement's
/// end), two inserts elsewhere.
const INSERT_SESSION_SQL: &str = "WITH session AS ( \
      INSERT INTO sessions (id, user_id, device_id, device_type, device_name, platform, \
        platform_version, app_version, push_token, auth_method, created_at, last_accessed_at, \
        last_active_at, expires_at, revoked_at, end_reason) \
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, NULL, $12, NULL, NULL) \
      RETURNING id, user_id, device_id, device_type, device_name, platform, platform_version, \
        app_version, push_token, auth_method, created_at, last_accessed_at, last_active_at, \
        expires_at, revoked_at, end_reason), \
    token AS ( \
      INSERT INTO refresh_tokens \
        (id, token_hash, session_id, parent_id, issued_at, used_at, rotation_nonce, expires_at) \
      SELECT $13, $14, id, NULL, $11, NULL, NULL, $15 FROM session) \
    SELECT * FROM session";

/// The session `login` opens for `user_id` at `now`, live until `expires_at`: its device's
/// details, its method, not yet active.
pub(super) fn new_session(
    login: &NewLogin<'_>,
    user_id: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> sessions::Model {
    let device = login.device;
    sessions::Model {
        id: Uuid::now_v7(),
        user_id,
        device_id: device.device_id.clone(),
        device_type: device.device_type.map(|t| t.as_str().to_owned()),
        device_name: device.device_name.clone(),
        platform: device.platform.clone(),
        platform_version: device.platform_version.clone(),
        app_version: device.app_version.clone(),
        push_token: device.push_token.clone(),
        auth_method: login.method.as_str().to_owned(),
        created_at: now,
        last_accessed_at: now,
        last_active_at: None,
        expires_at,
        revoked_at: None,
        end_reason: None,
    }
}

async fn insert_session(
    txn: &sea_orm::DatabaseTransaction,
    login: &NewLogin<'_>,
    user_id: Uuid,
) -> StoreResult<sessions::Model> {
    let now = login.now;
    let session = new_session(login, user_id, now, login.session_expires_at);
    if txn.get_database_backend() == DbBackend::Postgres {
        let s = session;
        let inserted = sessions::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                INSERT_SESSION_SQL,
                [
                    s.id.into(),
                    s.user_id.into(),
                    s.device_id.into(),
                    s.device_type.into(),
                    s.device_name.into(),
                    s.platform.into(),
                    s.platform_version.into(),
                    s.app_version.into(),
                    s.push_token.into(),
                    s.auth_method.into(),
                    now.into(),
                    s.expires_at.into(),
                    Uuid::now_v7().into(),
                    login.refresh_token.as_str().into(),
                    login.refresh_token_expires_at.into(),
                ],
            ))
            .one(txn)
            .await?;
        return inserted.ok_or_else(|| sea_orm::DbErr::RecordNotInserted.into());
    }
    let session = sessions::Entity::insert(sessions::ActiveModel::from(session))
        .exec_with_returning(txn)
        .await?;
    refresh_tokens::insert(
        txn,
        login.refresh_token,
        session.id,
        None,
        now,
        login.refresh_token_expires_at,
    )
    .await?;
    Ok(session)
}

pub(super) fn is_unique_violation(error: &super::StoreError) -> bool {
    matches!(
        error.0.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
