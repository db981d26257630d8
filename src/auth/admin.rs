//! The operators' use cases, behind `login-api partner …` and `login-api outbox …`: partners
//! and the outbox (the members' records are in `records`). They need no upstream and no
//! signing keys, only the database, a clock and the audit key.

use std::sync::Arc;

use crate::domain::{
    OpaqueToken,
    outbox::Sink,
    partner::{Claim, MAX_TOKEN_TTL_SECS, PartnerId},
    refresh_token::RotationNonce,
};
use crate::ports::Clock;
use crate::store::{PartnerRecord, SinkCounts, Store};

pub struct NewPartner {
    pub id: PartnerId,
    pub display_name: String,
    pub allowed_claims: Vec<Claim>,
    /// 1 to `MAX_TOKEN_TTL_SECS`.
    pub token_ttl_secs: i64,
}

/// Operator use cases; errors are for a person at a terminal.
#[derive(Clone)]
pub struct Admin {
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    /// The audit trail's key: to find an email's failures, and to pseudonymise deletions.
    pub(super) audit: Arc<super::audit::AuditTrail>,
}

impl Admin {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            audit: Arc::default(),
        }
    }

    /// Uses these audit settings (the default: the development key).
    pub fn with_audit(mut self, settings: super::audit::AuditSettings) -> Self {
        self.audit = Arc::new(super::audit::AuditTrail::new(settings));
        self
    }

    /// Registers a partner; returns its secret, which is shown this once.
    pub async fn add_partner(&self, partner: NewPartner) -> anyhow::Result<OpaqueToken> {
        anyhow::ensure!(
            (1..=MAX_TOKEN_TTL_SECS).contains(&partner.token_ttl_secs),
            "the token lifetime must be 1 to {MAX_TOKEN_TTL_SECS} seconds"
        );
        anyhow::ensure!(
            self.store.partner(&partner.id).await?.is_none(),
            "partner {:?} exists already",
            partner.id.as_str()
        );
        let secret = OpaqueToken::generate();
        self.store
            .add_partner(
                &PartnerRecord {
                    id: partner.id,
                    display_name: partner.display_name,
                    secret_hash: secret.hash(),
                    subject_salt: RotationNonce::generate().as_str().to_owned(),
                    allowed_claims: partner.allowed_claims,
                    token_ttl_secs: partner.token_ttl_secs,
                    active: true,
                },
                self.clock.now(),
            )
            .await?;
        Ok(secret)
    }

    /// Every partner (never their secrets).
    pub async fn partners(&self) -> anyhow::Result<Vec<PartnerRecord>> {
        Ok(self.store.partners().await?)
    }

    /// A new secret for the partner; the old one stops working at once.
    pub async fn rotate_partner_secret(&self, id: &PartnerId) -> anyhow::Result<OpaqueToken> {
        let secret = OpaqueToken::generate();
        anyhow::ensure!(
            self.store
                .update_partner(id, Some(&secret.hash()), None, self.clock.now())
                .await?,
            "no partner {:?}",
            id.as_str()
        );
        Ok(secret)
    }

    /// Stops a partner: its tokens can no longer be minted or redeemed.
    pub async fn disable_partner(&self, id: &PartnerId) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.store
                .update_partner(id, None, Some(false), self.clock.now())
                .await?,
            "no partner {:?}",
            id.as_str()
        );
        Ok(())
    }

    /// Pending, retrying, delivered and dead rows of each sink.
    pub async fn outbox_status(&self) -> anyhow::Result<Vec<(Sink, SinkCounts)>> {
        let mut counts = Vec::new();
        for sink in Sink::ALL {
            counts.push((sink, self.store.outbox_counts(sink).await?));
        }
        Ok(counts)
    }

    /// Makes dead rows deliverable again (of one sink, or all); returns how many.
    pub async fn replay_dead_outbox(&self, sink: Option<Sink>) -> anyhow::Result<u64> {
        Ok(self
            .store
            .replay_dead_outbox(sink, self.clock.now())
            .await?)
    }
}
