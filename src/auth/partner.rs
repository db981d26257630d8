//! Partner hand-off: a member mints a one-time token for a partner web app; the partner's server
//! redeems it (OAuth 2.0 Token Introspection, RFC 7662) to learn who the member is.
//!
//! Design: the token is opaque, 256 bits, stored hashed, bound to partner, member and session,
//! single use, and lives at most 15 minutes. Redemption consumes it atomically; anything that is
//! not a first redemption by the right partner of a live session's token is simply inactive,
//! revealing nothing. A second redemption is counted and logged as a replay: the token may have
//! leaked. Partner secrets are stored as SHA-256 and compared in constant time.

use std::time::Duration;

use aws_lc_rs::constant_time;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Auth, Principal, side_effects};
use crate::domain::audit::AuditType;
use crate::domain::{
    OpaqueToken, RefreshTokenHash,
    partner::{Claim, MAX_TOKEN_TTL_SECS, PartnerId, pairwise_subject},
};
use crate::store::{NewPartnerToken, PartnerRecord, Redemption};

#[derive(Debug, thiserror::Error)]
pub enum PartnerError {
    /// Unknown or disabled partner: indistinguishable on purpose.
    #[error("no such partner")]
    NotFound,
    #[error("too many partner tokens, please wait")]
    RateLimited { retry_after: Duration },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    /// Unknown partner, wrong secret, or disabled: HTTP 401.
    #[error("invalid partner credentials")]
    InvalidClient,
    #[error("too many introspection requests")]
    RateLimited { retry_after: Duration },
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub struct MintedPartnerToken {
    pub token: OpaqueToken,
    pub expires_at: DateTime<Utc>,
    pub partner: PartnerId,
}

/// What the partner learns: only its allowed claims, under its pairwise subject.
pub enum Introspection {
    Inactive,
    Active {
        subject: String,
        name: Option<String>,
        membership_number: Option<String>,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        partner: PartnerId,
    },
}

impl Auth {
    #[tracing::instrument(name = "partner.mint", skip_all, fields(partner = partner_id))]
    pub async fn create_partner_token(
        &self,
        principal: Principal,
        partner_id: &str,
    ) -> Result<MintedPartnerToken, PartnerError> {
        let partner_id = PartnerId::parse(partner_id).map_err(|_| PartnerError::NotFound)?;
        let key = format!("partner:mint:{}", principal.session_id);
        let window = self.count(&key, 1, self.limits.partner_mint).await;
        if window.count > self.limits.partner_mint.max {
            return Err(PartnerError::RateLimited {
                retry_after: window.resets_in.max(Duration::from_secs(1)),
            });
        }
        let partner = self
            .store
            .partner(&partner_id)
            .await
            .map_err(|e| PartnerError::Unexpected(e.into()))?
            .filter(|p| p.active)
            .ok_or(PartnerError::NotFound)?;
        let now = self.clock.now();
        let session = self
            .store
            .session(principal.session_id)
            .await
            .map_err(|e| PartnerError::Unexpected(e.into()))?
            .ok_or(PartnerError::NotFound)?;
        let ttl = partner
            .token_ttl_secs
            .min(self.partner_token_ttl.num_seconds())
            .clamp(1, MAX_TOKEN_TTL_SECS);
        let expires_at = (now + chrono::Duration::seconds(ttl)).min(session.expires_at);
        let token = OpaqueToken::generate();
        let id = Uuid::now_v7();
        self.store
            .insert_partner_token(
                NewPartnerToken {
                    id,
                    hash: &token.hash(),
                    partner: &partner.id,
                    user_id: principal.user_id,
                    session_id: principal.session_id,
                    now,
                    expires_at,
                },
                side_effects::partner_token_event(
                    side_effects::PARTNER_TOKEN_ISSUED,
                    &partner.id,
                    principal.user_id,
                    principal.session_id,
                    now,
                    serde_json::json!({"expiresAt": side_effects::rfc3339(expires_at)}),
                ),
            )
            .await
            .map_err(|e| PartnerError::Unexpected(e.into()))?;
        self.outbox_written.notify_waiters();
        tracing::info!(token_id = %id, "partner token issued");
        Ok(MintedPartnerToken {
            token,
            expires_at,
            partner: partner.id,
        })
    }

    /// RFC 7662 introspection by the partner's server, authenticated with its id and secret.
    #[tracing::instrument(name = "partner.introspect", skip_all, fields(partner = partner_id))]
    pub async fn introspect_partner_token(
        &self,
        partner_id: &str,
        partner_secret: &str,
        token: &str,
    ) -> Result<Introspection, IntrospectError> {
        let partner = self
            .authenticate_partner(partner_id, partner_secret)
            .await?;
        let key = format!("partner:redeem:{}", partner.id.as_str());
        let window = self.count(&key, 1, self.limits.partner_redeem).await;
        if window.count > self.limits.partner_redeem.max {
            return Err(IntrospectError::RateLimited {
                retry_after: window.resets_in.max(Duration::from_secs(1)),
            });
        }
        let Some(token) = OpaqueToken::parse(token) else {
            return Ok(Introspection::Inactive);
        };
        let now = self.clock.now();
        let partner_for_event = partner.id.clone();
        let redemption = self
            .store
            .redeem_partner_token(
                &token.hash(),
                &partner.id,
                now,
                now - self.lifetimes.idle,
                &|r| {
                    let (detail_type, record, extra) = match r {
                        Redemption::Active(t) => (
                            side_effects::PARTNER_TOKEN_REDEEMED,
                            t,
                            serde_json::json!({}),
                        ),
                        Redemption::Replayed(t) => (
                            side_effects::PARTNER_TOKEN_REPLAYED,
                            t,
                            serde_json::json!({"replays": t.replays}),
                        ),
                        Redemption::Inactive => return None,
                    };
                    Some(side_effects::partner_token_event(
                        detail_type,
                        &partner_for_event,
                        record.user.id,
                        record.session_id,
                        now,
                        extra,
                    ))
                },
                &|r| {
                    let (kind, record) = match r {
                        Redemption::Active(t) => (AuditType::PartnerTokenRedeemed, t),
                        Redemption::Replayed(t) => (AuditType::PartnerTokenReplayed, t),
                        Redemption::Inactive => return None,
                    };
                    let mut event = self
                        .audit_event(kind)
                        .of(record.user.id, Some(record.session_id));
                    if kind == AuditType::PartnerTokenReplayed {
                        event.outcome = crate::domain::audit::AuditOutcome::Failure;
                        event.reason = Some("PARTNER_TOKEN_REPLAYED".into());
                    }
                    event.details.partner_id = Some(partner_for_event.as_str().to_owned());
                    Some(event)
                },
            )
            .await
            .map_err(|e| IntrospectError::Unexpected(e.into()))?;
        self.outbox_written.notify_waiters();
        Ok(match redemption {
            Redemption::Active(record) => {
                tracing::info!(token_id = %record.id, "partner token redeemed");
                let allowed = |claim| partner.allowed_claims.contains(&claim);
                let user = &record.user;
                let name = [user.first_name.as_deref(), user.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                Introspection::Active {
                    subject: pairwise_subject(&partner.subject_salt, user.id),
                    name: allowed(Claim::Name)
                        .then_some(name)
                        .filter(|n| !n.is_empty()),
                    membership_number: allowed(Claim::MembershipNumber)
                        .then(|| user.membership.as_ref().map(|m| m.number.clone()))
                        .flatten(),
                    issued_at: record.issued_at,
                    expires_at: record.expires_at,
                    partner: partner.id,
                }
            }
            Redemption::Replayed(record) => {
                tracing::warn!(
                    token_id = %record.id,
                    replays = record.replays,
                    "partner token presented again after its redemption: it may have leaked"
                );
                Introspection::Inactive
            }
            Redemption::Inactive => Introspection::Inactive,
        })
    }

    async fn authenticate_partner(
        &self,
        partner_id: &str,
        secret: &str,
    ) -> Result<PartnerRecord, IntrospectError> {
        let id = PartnerId::parse(partner_id).map_err(|_| IntrospectError::InvalidClient)?;
        let partner = self
            .store
            .partner(&id)
            .await
            .map_err(|e| IntrospectError::Unexpected(e.into()))?;
        // Hash whatever was sent, so an unknown partner costs the same as a wrong secret.
        let presented = OpaqueToken::parse(secret)
            .map(|s| s.hash())
            .unwrap_or_else(|| RefreshTokenHash::from_stored(String::new()));
        let expected = partner
            .as_ref()
            .map(|p| p.secret_hash.as_str().to_owned())
            .unwrap_or_default();
        let matches = constant_time::verify_slices_are_equal(
            presented.as_str().as_bytes(),
            expected.as_bytes(),
        )
        .is_ok()
            && !expected.is_empty();
        match partner {
            Some(partner) if matches && partner.active => Ok(partner),
            _ => {
                tracing::warn!("partner authentication failed");
                Err(IntrospectError::InvalidClient)
            }
        }
    }
}
