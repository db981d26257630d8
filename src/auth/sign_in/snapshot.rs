//! The membership-snapshot rule for sign-ins without a password (phone codes, later Google and
//! Facebook): the membership comes from the member's stored Hybris profile, as last read.
//!
//! Design: a snapshot younger than `refresh_after` is used as it is. An older one is re-read
//! from Hybris with the trusted client (client-credentials grant, then OCC `users/{uid}`) when
//! one is configured; the re-read must name the same Hybris customer, or the member has to log
//! in with the password. Without a trusted client, a snapshot older than `max_age` answers
//! `REAUTHENTICATION_REQUIRED`. While Hybris is down, a snapshot within `max_age` still serves.
//! A code sign-in never outlives the membership: the session's end is capped by it as always.

use std::sync::Arc;

use crate::domain::{Provider, User};
use crate::ports::{IdpError, MemberLookup};

use super::super::{Auth, LoginError};
use super::Member;

/// How old a membership snapshot may be (`MEMBERSHIP_REFRESH_AFTER_SECS`,
/// `MEMBERSHIP_SNAPSHOT_MAX_AGE_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct SnapshotRule {
    /// Older than this, it is re-read when a trusted client is configured (1 day).
    pub refresh_after: chrono::Duration,
    /// Older than this, it is never used (30 days).
    pub max_age: chrono::Duration,
}

impl Default for SnapshotRule {
    fn default() -> Self {
        Self {
            refresh_after: chrono::Duration::days(1),
            max_age: chrono::Duration::days(30),
        }
    }
}

impl Auth {
    /// Re-reads stale membership snapshots through `lookup` (Hybris's trusted client).
    pub fn with_member_lookup(mut self, lookup: Arc<dyn MemberLookup>) -> Self {
        self.member_lookup = Some(lookup);
        self
    }

    /// Whether `user` may sign in now: the snapshot rule, then the membership rule. For
    /// decisions taken before a sign-in writes anything (an automatic link).
    pub(in crate::auth) async fn may_sign_in(&self, user: User) -> Result<(), LoginError> {
        let member = self.current_snapshot(user).await?;
        member
            .check(self.today())
            .map(|_| ())
            .map_err(LoginError::MembershipInactive)
    }

    /// The linked member, with a snapshot fit to decide on.
    pub(super) async fn current_snapshot(&self, user: User) -> Result<Member<'static>, LoginError> {
        let rule = self.snapshot_rule;
        let age = self.now() - user.updated_at;
        if age <= rule.refresh_after {
            return Ok(Member::Linked(user));
        }
        let Some(lookup) = &self.member_lookup else {
            if age > rule.max_age {
                tracing::info!(
                    age_days = age.num_days(),
                    "sign-in refused: membership snapshot too old and no trusted client to re-read it"
                );
                return Err(LoginError::ReauthenticationRequired);
            }
            return Ok(Member::Linked(user));
        };
        match lookup.member_by_uid(&user.email).await {
            Ok(Some(profile)) => {
                let customer = self
                    .store
                    .identities_of(user.id)
                    .await?
                    .into_iter()
                    .find(|(provider, _)| provider.as_str() == Provider::HYBRIS)
                    .map(|(_, subject)| subject);
                if customer.as_deref() != Some(profile.customer_id.as_str()) {
                    tracing::info!(
                        "sign-in refused: the member's email now belongs to another Hybris customer"
                    );
                    return Err(LoginError::ReauthenticationRequired);
                }
                tracing::info!("membership snapshot re-read through the trusted client");
                Ok(Member::Refreshed(user, Box::new(profile)))
            }
            Ok(None) => {
                tracing::info!("sign-in refused: Hybris no longer knows the member's uid");
                Err(LoginError::ReauthenticationRequired)
            }
            Err(IdpError::CircuitOpen { .. }) if age <= rule.max_age => {
                tracing::warn!(
                    "Hybris is not being called (circuit open); the stored snapshot serves"
                );
                Ok(Member::Linked(user))
            }
            Err(IdpError::CircuitOpen { retry_after }) => {
                Err(LoginError::UpstreamCircuitOpen { retry_after })
            }
            Err(IdpError::Unavailable(reason) | IdpError::TokenRejected(reason))
                if age <= rule.max_age =>
            {
                tracing::warn!(%reason, "re-reading the membership failed; the stored snapshot serves");
                Ok(Member::Linked(user))
            }
            Err(IdpError::Unavailable(reason))
            | Err(IdpError::TokenRejected(reason))
            | Err(IdpError::UnavailableAfterRefusals { reason, .. }) => {
                tracing::warn!(%reason, "re-reading the membership failed: upstream unavailable");
                Err(LoginError::UpstreamUnavailable)
            }
            Err(IdpError::InvalidCredentials) => Err(LoginError::Unexpected(anyhow::anyhow!(
                "Hybris refused the trusted client: check HYBRIS_TRUSTED_CLIENT_ID/SECRET"
            ))),
            Err(IdpError::InvalidData(error)) => Err(LoginError::UpstreamDataInvalid(
                error.context("re-reading the member's profile"),
            )),
            Err(IdpError::Unexpected(error)) => Err(LoginError::Unexpected(
                error.context("re-reading the member's profile"),
            )),
        }
    }
}
