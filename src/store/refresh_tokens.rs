//! Refresh tokens: stored as hashes, single use, each successor chained to its parent.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use super::{
    Store, StoreResult, direct,
    entities::{refresh_tokens, sessions, users},
    sessions::to_session,
    users::to_user,
};
use crate::domain::{RefreshTokenHash, Session, User, refresh_token::RotationNonce};

/// A stored refresh token with its session and user, as read before a rotation.
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used: Option<UsedRefreshToken>,
    pub session: Session,
    pub user: User,
}

#[derive(Debug, Clone)]
pub struct UsedRefreshToken {
    pub used_at: DateTime<Utc>,
    pub nonce: RotationNonce,
}

pub struct Successor<'a> {
    pub nonce: &'a RotationNonce,
    pub hash: &'a RefreshTokenHash,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// `token.refreshed`, written with the rotation when refreshes are audited.
    pub audit: Option<crate::domain::audit::AuditEvent>,
}

/// The successor of a rotation and the conditions under which the found token certainly may be
/// rotated (what `Auth::may_rotate` requires, as values): with them the find and the claim are
/// one statement on PostgreSQL. `decide` still judges the record; when the conditions do not
/// hold the rotation goes as without them.
pub struct Prospect<'a> {
    pub nonce: &'a RotationNonce,
    pub hash: &'a RefreshTokenHash,
    pub now: DateTime<Utc>,
    /// The membership must cover this day (today in the club's timezone).
    pub today: chrono::NaiveDate,
    /// The session must have been seen after this instant (`now` minus the idle timeout).
    pub seen_after: DateTime<Utc>,
    /// The successor expires at this instant, or with its session if that is sooner.
    pub expires_by: DateTime<Utc>,
}

pub enum Claim {
    /// This caller used the token; the successor is stored and the session touched.
    Won,
    /// Someone used it first (now or earlier).
    AlreadyUsed(UsedRefreshToken),
    /// The session was revoked between reading and claiming.
    SessionGone,
}

impl Store {
    /// The token with `hash`, its session and its user (`None`: no such token).
    #[tracing::instrument(name = "db.find_refresh_token", skip_all)]
    pub async fn find_refresh_token(
        &self,
        hash: &RefreshTokenHash,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        if self.backend() == sea_orm::DbBackend::Postgres {
            let mut conn = self.direct_connection().await?;
            return Ok(direct::find_refresh_token_row(&mut conn, hash.as_str())
                .await?
                .map(to_record));
        }
        // One round trip: the token, its session and its user, joined.
        Ok(
            match refresh_tokens::Entity::find()
                .filter(refresh_tokens::Column::TokenHash.eq(hash.as_str()))
                .find_also_related(sessions::Entity)
                .find_also(sessions::Entity, users::Entity)
                .one(&self.db)
                .await?
            {
                Some((token, Some(session), Some(user))) => Some(to_record((token, session, user))),
                _ => None,
            },
        )
    }

    /// A rotation: finds the token with `hash`, asks `decide` for its successor (or why there
    /// is none), and claims the token for that successor. `None`: no such token.
    ///
    /// On PostgreSQL, with a `prospect`, the find and the claim are one statement that claims
    /// only when the prospect's conditions hold (`decide` is asked all the same; should it
    /// refuse a claimed token, which the prospect's rules rule out, the refusal stands and is
    /// logged as an error, and the token stays used with its successor stored). Otherwise the
    /// find and the claim share one connection of the direct pool (`connections`); when the
    /// rotation writes an audit row (`record_refresh`, and then there is no prospect), the
    /// claim is a transaction on a connection of sea-orm's pool, taken after the first is given
    /// back. `decide` is a plain function, not a future, so that nothing else can wait for a
    /// connection while this one is held.
    #[tracing::instrument(name = "db.rotate_refresh_token", skip_all)]
    pub async fn rotate_refresh_token<'s, E>(
        &self,
        hash: &RefreshTokenHash,
        prospect: Option<Prospect<'_>>,
        decide: impl FnOnce(&RefreshTokenRecord) -> Result<Successor<'s>, E>,
    ) -> StoreResult<Option<(RefreshTokenRecord, Result<Claim, E>)>> {
        // sea-orm's futures are boxed here (kilobytes each): inline, they would enlarge every
        // refresh's future, which is moved whole at each await above this one.
        if self.backend() != sea_orm::DbBackend::Postgres {
            let Some(record) = Box::pin(self.find_refresh_token(hash)).await? else {
                return Ok(None);
            };
            let outcome = match decide(&record) {
                Ok(successor) => Ok(Box::pin(self.claim_in_transaction(&record, successor)).await?),
                Err(refusal) => Err(refusal),
            };
            return Ok(Some((record, outcome)));
        }
        let mut conn = self.direct_connection().await?;
        let found = match &prospect {
            Some(prospect) => {
                direct::find_and_claim_refresh_token_row(&mut conn, hash.as_str(), prospect).await?
            }
            None => direct::find_refresh_token_row(&mut conn, hash.as_str())
                .await?
                .map(|row| (row, None)),
        };
        let Some((row, claimed)) = found else {
            return Ok(None);
        };
        let record = to_record(row);
        let successor = match decide(&record) {
            Ok(successor) => successor,
            Err(refusal) => {
                if claimed.is_some() {
                    tracing::error!(
                        "a refresh token claimed by its prospect was refused: the prospect's conditions are laxer than the rules"
                    );
                }
                return Ok(Some((record, Err(refusal))));
            }
        };
        let claim = match claimed {
            Some(true) => Claim::Won,
            Some(false) => Claim::SessionGone,
            None if successor.audit.is_none() => {
                claim_in_one_statement(&mut conn, &record, &successor).await?
            }
            None => {
                drop(conn);
                Box::pin(self.claim_in_transaction(&record, successor)).await?
            }
        };
        Ok(Some((record, Ok(claim))))
    }

    /// Marks the token used if nobody did yet and, in the same transaction, stores its
    /// successor and touches the session. The `WHERE used_at IS NULL` decides the race.
    async fn claim_in_transaction(
        &self,
        token: &RefreshTokenRecord,
        successor: Successor<'_>,
    ) -> StoreResult<Claim> {
        let txn = self.db.begin().await?;
        let claimed = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::UsedAt, Expr::value(successor.now))
            .col_expr(
                refresh_tokens::Column::RotationNonce,
                Expr::value(successor.nonce.as_str()),
            )
            .filter(refresh_tokens::Column::Id.eq(token.id))
            .filter(refresh_tokens::Column::UsedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if claimed == 0 {
            let row = refresh_tokens::Entity::find_by_id(token.id)
                .one(&txn)
                .await?;
            txn.rollback().await?;
            return Ok(match row.as_ref().and_then(used) {
                Some(used) => Claim::AlreadyUsed(used),
                None => Claim::SessionGone,
            });
        }
        let touched = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastAccessedAt, Expr::value(successor.now))
            .filter(sessions::Column::Id.eq(token.session.id.0))
            .filter(sessions::Column::RevokedAt.is_null())
            .exec(&txn)
            .await?
            .rows_affected;
        if touched == 0 {
            txn.rollback().await?;
            return Ok(Claim::SessionGone);
        }
        insert(
            &txn,
            successor.hash,
            token.session.id.0,
            Some(token.id),
            successor.now,
            successor.expires_at,
        )
        .await?;
        let events = Vec::from_iter(successor.audit);
        super::audit::insert(&txn, &events).await?;
        txn.commit().await?;
        super::audit::log(&events);
        Ok(Claim::Won)
    }
}

/// The claim as one statement on `conn` (PostgreSQL, no audit row to write).
async fn claim_in_one_statement(
    conn: &mut super::connections::DirectConnection,
    token: &RefreshTokenRecord,
    successor: &Successor<'_>,
) -> StoreResult<Claim> {
    let (claimed, inserted) = direct::claim_refresh_token_row(conn, token.id, successor).await?;
    if claimed == 0 {
        // On the same connection: taking another could wait for this one.
        return Ok(match direct::refresh_token_use(conn, token.id).await? {
            Some((used_at, nonce)) => Claim::AlreadyUsed(UsedRefreshToken {
                used_at,
                nonce: RotationNonce::from_stored(nonce),
            }),
            None => Claim::SessionGone,
        });
    }
    Ok(if inserted == 1 {
        Claim::Won
    } else {
        Claim::SessionGone
    })
}

fn to_record(
    (token, session, user): (refresh_tokens::Model, sessions::Model, users::Model),
) -> RefreshTokenRecord {
    RefreshTokenRecord {
        id: token.id,
        expires_at: token.expires_at,
        used: used(&token),
        session: to_session(session),
        user: to_user(user),
    }
}

/// Stores a new, unused token of `session_id`.
pub(super) async fn insert(
    db: &impl sea_orm::ConnectionTrait,
    hash: &RefreshTokenHash,
    session_id: Uuid,
    parent_id: Option<Uuid>,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
        id: Set(Uuid::now_v7()),
        token_hash: Set(hash.as_str().to_owned()),
        session_id: Set(session_id),
        parent_id: Set(parent_id),
        issued_at: Set(now),
        used_at: Set(None),
        rotation_nonce: Set(None),
        expires_at: Set(expires_at),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

fn used(token: &refresh_tokens::Model) -> Option<UsedRefreshToken> {
    Some(UsedRefreshToken {
        used_at: token.used_at?,
        nonce: RotationNonce::from_stored(token.rotation_nonce.clone()?),
    })
}
