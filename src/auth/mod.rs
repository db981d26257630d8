//! The use cases: sign in (every method), refresh, log out, who is calling, and the operators'.
//!
//! Design: each use case reads like the flow it implements and talks to the world only through
//! `ports` and the `store`. Errors are per use case and hold only what a caller acts on; the
//! GraphQL layer maps them to `extensions.code` in one place. Nothing here names axum,
//! async-graphql or reqwest.

pub mod admin;
pub mod audit;
pub mod deletion;
mod error;
pub mod limits;
mod link;
mod logout;
pub mod partner;
pub mod phone;
pub mod records;
mod refresh;
mod sessions;
pub mod side_effects;
pub mod sign_in;
mod signer;
pub mod social;
pub mod tokens;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub use crate::ports::Availability;
pub use error::{AuthError, CodeError, LinkError, LoginError, RefreshError, SessionError};
pub use logout::LogoutScope;
pub use sessions::{DeviceUpdateError, SessionStatus};
pub use sign_in::{LoginRequest, PasswordVerifier, SignInContext, SignInProof, SnapshotRule};

use crate::domain::{
    RefreshToken, Session, SessionId, SessionLifetimes, SessionState, User, UserId,
};
use crate::ports::{Clock, RateCounter};
use crate::store::Store;
use limits::RateLimits;
use tokens::TokenKeys;

/// The use cases and what they need; cheap to share behind an `Arc`.
pub struct Auth {
    store: Store,
    /// The password method; other methods' verifiers are passed to `sign_in` by their callers.
    password: Arc<PasswordVerifier>,
    clock: Arc<dyn Clock>,
    tokens: TokenKeys,
    lifetimes: SessionLifetimes,
    timezone: Tz,
    limits: RateLimits,
    partner_token_ttl: chrono::Duration,
    activity_min_interval: chrono::Duration,
    rate_counter: Arc<dyn RateCounter>,
    /// Told after a commit that wrote outbox rows, so the relay delivers them at once.
    outbox_written: Arc<tokio::sync::Notify>,
    /// Sign-in by SMS code; `None` when it is off.
    phone: Option<Arc<phone::PhoneCodes>>,
    /// Re-reads stale membership snapshots (Hybris's trusted client), when configured.
    member_lookup: Option<Arc<dyn crate::ports::MemberLookup>>,
    snapshot_rule: SnapshotRule,
    /// Sign-in with Google and Facebook; providers not configured are `None`.
    social: Arc<social::SocialProviders>,
    /// The security audit trail's key and budget.
    audit: Arc<audit::AuditTrail>,
}

/// The figures `/metrics` reads from the database.
pub struct Gauges {
    /// `None` when it could not be read.
    pub live_sessions: Option<i64>,
    pub outbox: Vec<(crate::domain::outbox::Sink, crate::store::SinkCounts)>,
    /// Whether authenticated reads are served from the read cache now.
    pub read_cache_enabled: bool,
    /// Sign-ins written since start, by path (`crate::store::LoginWrites::counts`).
    pub login_writes: [(&'static str, u64); 3],
}

/// The rules the use cases apply, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub lifetimes: SessionLifetimes,
    pub timezone: Tz,
    pub limits: RateLimits,
    /// How long a partner token lives (capped by the partner's own setting and 15 minutes).
    pub partner_token_ttl: chrono::Duration,
    /// `touchSession` writes at most once per session per this long.
    pub activity_min_interval: chrono::Duration,
    /// How old a membership snapshot may be for sign-ins without a password.
    pub snapshot: SnapshotRule,
}

/// The caller of an authenticated request: a user in one live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub session_id: SessionId,
}

/// What a login or a refresh hands back to the app.
pub struct Issued {
    pub access_token: String,
    pub access_token_expires_at: DateTime<Utc>,
    pub refresh_token: RefreshToken,
    pub refresh_token_expires_at: DateTime<Utc>,
    pub session: Session,
    pub user: User,
    pub now: DateTime<Utc>,
}

impl Auth {
    pub fn new(
        store: Store,
        password: PasswordVerifier,
        clock: Arc<dyn Clock>,
        tokens: TokenKeys,
        policy: Policy,
        rate_counter: Arc<dyn RateCounter>,
        outbox_written: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            store,
            password: Arc::new(password),
            clock,
            tokens,
            lifetimes: policy.lifetimes,
            timezone: policy.timezone,
            limits: policy.limits,
            partner_token_ttl: policy.partner_token_ttl,
            activity_min_interval: policy.activity_min_interval,
            rate_counter,
            outbox_written,
            phone: None,
            member_lookup: None,
            snapshot_rule: policy.snapshot,
            social: Arc::default(),
            audit: Arc::default(),
        }
    }

    /// Records the audit trail with these settings (the default: the development key).
    pub fn with_audit(mut self, settings: audit::AuditSettings) -> Self {
        self.audit = Arc::new(audit::AuditTrail::new(settings));
        self
    }

    pub fn tokens(&self) -> &TokenKeys {
        &self.tokens
    }

    /// Whether the database answers: the readiness check.
    pub async fn ready(&self) -> anyhow::Result<()> {
        Ok(self.store.ping().await?)
    }

    /// The gauges read at scrape time: live sessions, and outbox rows per sink and state. Each
    /// is read on its own: one that fails is left out (and logged), the others still count.
    pub async fn gauges(&self) -> Gauges {
        let now = self.clock.now();
        let live_sessions = self
            .store
            .count_live_sessions(now, now - self.lifetimes.idle)
            .await
            .inspect_err(
                |error| tracing::warn!(%error, "counting live sessions for metrics failed"),
            )
            .ok();
        let mut outbox = Vec::new();
        for sink in crate::domain::outbox::Sink::ALL {
            match self.store.outbox_counts(sink).await {
                Ok(counts) => outbox.push((sink, counts)),
                Err(error) => {
                    tracing::warn!(%error, sink = sink.as_str(), "counting outbox rows for metrics failed")
                }
            }
        }
        Gauges {
            live_sessions,
            outbox,
            read_cache_enabled: self.store.read_cache_enabled(),
            login_writes: self.store.login_writes().counts(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A session not refreshed for this long has ended.
    pub fn idle_timeout(&self) -> chrono::Duration {
        self.lifetimes.idle
    }

    /// Today in the club's timezone.
    pub fn today(&self) -> chrono::NaiveDate {
        crate::domain::membership::today_in(self.timezone, self.clock.now())
    }

    /// Verifies a bearer token and that its session is still live (from the store's read
    /// cache, which every session end invalidates on every instance), so a revoked session's
    /// tokens stop working at once. An ended session's token, expired
    /// or not, is refused with the reason it ended, so the app can tell the member why.
    #[tracing::instrument(name = "authenticate", skip_all)]
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        let now = self.clock.now();
        let claims = self
            .tokens
            .verify_signature(bearer)
            .map_err(|_| AuthError::InvalidToken)?;
        let expired = claims.exp <= now.timestamp();
        let (Ok(user_id), Ok(session_id)) = (
            claims.sub.parse::<UserId>(),
            claims.sid.parse::<SessionId>(),
        ) else {
            return Err(AuthError::InvalidToken);
        };
        let session = self
            .store
            .live_session(session_id, user_id, |s| self.lifetimes.is_live(s, now))
            .await
            .map_err(|e| AuthError::Unexpected(e.into()))?;
        let Some(session) = session else {
            // Gone: purged long after it ended, or its member deleted the account (the
            // tombstone says so, and only on this failure path is it read).
            let deleted = Box::pin(self.store.tombstone(user_id))
                .await
                .map_err(|e| AuthError::Unexpected(e.into()))?
                .is_some();
            return Err(if deleted {
                AuthError::SessionEnded(Some(crate::domain::EndReason::AccountDeleted))
            } else if expired {
                AuthError::Expired
            } else {
                AuthError::SessionEnded(None)
            });
        };
        if session.user_id != user_id {
            return Err(AuthError::InvalidToken);
        }
        if let SessionState::Ended { reason, .. } = self.lifetimes.state(&session, now) {
            return Err(AuthError::SessionEnded(Some(reason)));
        }
        if expired {
            return Err(AuthError::Expired);
        }
        Ok(Principal {
            user_id: session.user_id,
            session_id,
        })
    }

    pub async fn me(&self, principal: Principal) -> Result<User, SessionError> {
        self.store
            .cached_user(principal.user_id)
            .await
            .map_err(|e| SessionError::Unexpected(e.into()))?
            .ok_or(SessionError::NotFound)
    }

    /// Deletes expired and revoked rows, audit events past `AUDIT_RETENTION_DAYS` and
    /// deletion tombstones past `DELETION_TOMBSTONE_DAYS`, in bounded batches until none are
    /// left.
    pub async fn purge_expired(&self, batch: u64) -> anyhow::Result<u64> {
        let mut total = 0;
        loop {
            let now = self.clock.now();
            // Delivered outbox rows are kept a week for investigations, then go.
            let deleted = self
                .store
                .purge(now, now - self.lifetimes.idle, batch)
                .await?
                + self
                    .store
                    .purge_delivered_outbox(now - chrono::Duration::days(7), batch)
                    .await?
                + self
                    .store
                    .purge_audit(now - self.audit.settings.retention, batch)
                    .await?
                + self.store.purge_tombstones(now, batch).await?;
            total += deleted;
            if deleted < batch {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    fn is_live(&self, session: &Session, now: DateTime<Utc>) -> bool {
        self.lifetimes.is_live(session, now)
    }

    fn issue(
        &self,
        user: User,
        session: Session,
        refresh_token: RefreshToken,
        refresh_token_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Issued> {
        let access_token_expires_at = self
            .lifetimes
            .access_token_expires_at(now, session.expires_at);
        let roles = user.roles(crate::domain::membership::today_in(self.timezone, now));
        let access_token = self
            .tokens
            .issue(&session, roles, now, access_token_expires_at)?;
        Ok(Issued {
            access_token,
            access_token_expires_at,
            refresh_token,
            refresh_token_expires_at,
            session,
            user,
            now,
        })
    }
}
