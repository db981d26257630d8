//! Refresh: rotate the refresh token, with reuse detection and a grace window for retries.
//!
//! Design (OAuth 2.0 Security BCP, RFC 9700 §4.14): a used token presented again means it was
//! copied, so the whole session ends — unless it comes within `reuse_grace` of its first use,
//! when it is an app's concurrent refresh or a retry after a lost response. Those get the same
//! successor, re-derived from the presented token and the nonce stored at first use.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::domain::audit::AuditType;
use crate::domain::{
    EndReason, InactiveReason, Membership, RefreshToken, SessionState, membership::today_in,
    refresh_token::RotationNonce,
};
use crate::store::{Claim, Prospect, RefreshTokenRecord, Successor, UsedRefreshToken};

use super::{Auth, Issued, RefreshError};

impl Auth {
    /// Rotates `presented`; failed refreshes count toward the caller's IP limit.
    #[tracing::instrument(name = "refresh", skip_all, fields(session_id))]
    pub async fn refresh(
        &self,
        presented: &str,
        client_ip: Option<IpAddr>,
    ) -> Result<Issued, RefreshError> {
        if let Some(retry_after) = self.refresh_refused(client_ip).await {
            tracing::warn!(
                retry_after_secs = retry_after.as_secs(),
                "refresh refused: rate limit"
            );
            Box::pin(self.record_failure(
                self.audit_failure(AuditType::RateLimitTripped, "REFRESH"),
                None,
            ))
            .await;
            return Err(RefreshError::RateLimited {
                retry_after: retry_after.max(std::time::Duration::from_secs(1)),
            });
        }
        let result = self.rotate(presented).await;
        if matches!(result, Err(RefreshError::Invalid | RefreshError::Reused)) {
            self.refresh_failed(client_ip).await;
        }
        result
    }

    /// The paths off a plain rotation (replay, ended sessions, refusals) box their futures, so
    /// that a refresh's future, moved whole at each await, stays the size of the rotation.
    async fn rotate(&self, presented: &str) -> Result<Issued, RefreshError> {
        let token = RefreshToken::parse(presented).ok_or(RefreshError::Invalid)?;
        let now = self.clock.now();
        // Drawn before the lookup, so that deciding on the found token awaits nothing.
        let nonce = RotationNonce::generate();
        let successor = token.successor(&nonce);
        let successor_hash = successor.hash();
        let successor_expires_at = |record: &RefreshTokenRecord| {
            self.lifetimes
                .refresh_token_expires_at(now, record.session.expires_at)
        };
        // What `may_rotate` requires, as values: the store then finds and claims at once.
        let prospect = (!self.audit.settings.record_refresh).then(|| Prospect {
            nonce: &nonce,
            hash: &successor_hash,
            now,
            today: today_in(self.timezone, now),
            seen_after: now - self.lifetimes.idle,
            expires_by: self
                .lifetimes
                .refresh_token_expires_at(now, DateTime::<Utc>::MAX_UTC),
        });
        let (record, outcome) = self
            .store
            .rotate_refresh_token(&token.hash(), prospect, |record| {
                self.may_rotate(record, now)?;
                Ok(Successor {
                    nonce: &nonce,
                    hash: &successor_hash,
                    expires_at: successor_expires_at(record),
                    now,
                    audit: self.audit.settings.record_refresh.then(|| {
                        self.audit_event(AuditType::TokenRefreshed)
                            .of(record.user.id, Some(record.session.id))
                    }),
                })
            })
            .await?
            .ok_or(RefreshError::Invalid)?;
        tracing::Span::current().record("session_id", tracing::field::display(record.session.id));
        match outcome {
            Ok(Claim::Won) => {
                let expires_at = successor_expires_at(&record);
                let mut session = record.session;
                session.last_accessed_at = now;
                Ok(self.issue(record.user, session, successor, expires_at, now)?)
            }
            Ok(Claim::AlreadyUsed(used)) | Err(Refusal::Used(used)) => {
                Box::pin(self.replay(&token, (record, used), now)).await
            }
            Ok(Claim::SessionGone) | Err(Refusal::Invalid) => Err(RefreshError::Invalid),
            Err(Refusal::MembershipInactive(reason)) => {
                Box::pin(self.store.end_session(
                    record.session.id,
                    now,
                    EndReason::MembershipEnded,
                    None,
                ))
                .await?;
                tracing::info!(
                    reason = reason.as_str(),
                    "refresh refused: membership not active"
                );
                Err(RefreshError::MembershipInactive(reason))
            }
            Err(Refusal::Ended { at, reason }) => {
                // Recorded as of when it ended, not when someone noticed.
                Box::pin(self.store.end_session(record.session.id, at, reason, None)).await?;
                tracing::info!(
                    reason = reason.as_str(),
                    "refresh refused: session idle or past its lifetime"
                );
                Err(RefreshError::Invalid)
            }
        }
    }

    /// Whether the found token may be rotated now, or why not. Awaits nothing (the store holds
    /// a connection while it runs). `rotate`'s `Prospect` states the same rules as values: a
    /// change here changes it too.
    fn may_rotate(&self, record: &RefreshTokenRecord, now: DateTime<Utc>) -> Result<(), Refusal> {
        if record.session.revoked_at.is_some() {
            return Err(Refusal::Invalid);
        }
        // Before expiry: tokens expire with the membership, and the app should learn why.
        Membership::check(
            record.user.membership.as_ref(),
            today_in(self.timezone, now),
        )
        .map_err(Refusal::MembershipInactive)?;
        if record.expires_at <= now {
            return Err(Refusal::Invalid);
        }
        if let Some(used) = &record.used {
            return Err(Refusal::Used(used.clone()));
        }
        if let SessionState::Ended { at, reason } = self.lifetimes.state(&record.session, now) {
            return Err(Refusal::Ended { at, reason });
        }
        Ok(())
    }

    /// A used token presented again: its successor inside the grace window, else the session ends.
    async fn replay(
        &self,
        token: &RefreshToken,
        (record, used): (RefreshTokenRecord, UsedRefreshToken),
        now: DateTime<Utc>,
    ) -> Result<Issued, RefreshError> {
        if now >= used.used_at + self.lifetimes.reuse_grace {
            let event = self
                .audit_failure(AuditType::TokenReuseDetected, "REFRESH_TOKEN_REUSED")
                .of(record.user.id, Some(record.session.id));
            self.store
                .end_session(
                    record.session.id,
                    now,
                    EndReason::RefreshTokenReused,
                    Some(&event),
                )
                .await?;
            tracing::warn!("refresh token reused after its grace window: session ended");
            return Err(RefreshError::Reused);
        }
        if !self.is_live(&record.session, now) {
            return Err(RefreshError::Invalid);
        }
        // Exactly what the first use stored: same successor, same expiry.
        let successor = token.successor(&used.nonce);
        let expires_at = self
            .lifetimes
            .refresh_token_expires_at(used.used_at, record.session.expires_at);
        let mut session = record.session;
        session.last_accessed_at = session.last_accessed_at.max(used.used_at);
        tracing::info!("used refresh token presented inside its grace window: same successor");
        Ok(self.issue(record.user, session, successor, expires_at, now)?)
    }
}

/// Why a found token is not rotated.
enum Refusal {
    /// Revoked session or expired token.
    Invalid,
    MembershipInactive(InactiveReason),
    /// Used before: a replay inside the grace window, or reuse.
    Used(UsedRefreshToken),
    /// The session ended (idle or past its lifetime) at `at` without anyone recording it.
    Ended {
        at: DateTime<Utc>,
        reason: EndReason,
    },
}
