//! Linking: a signed-in member attaches another identity (a provider's account) to themself,
//! after which that identity signs them in.

use crate::domain::VerifiedIdentity;
use crate::store::{LinkOutcome, NewLink};

use super::{Auth, LinkError, Principal};

impl Auth {
    /// Links `identity`, which a verifier has just vouched for, to the caller. Linking the
    /// member directory's own identity is refused: a member has exactly the one Hybris gave.
    #[tracing::instrument(name = "link_identity", skip_all, fields(provider = identity.provider.as_str()))]
    pub async fn link_identity(
        &self,
        principal: Principal,
        identity: &VerifiedIdentity,
    ) -> Result<(), LinkError> {
        if identity.provider.is_member_directory() {
            return Err(LinkError::InUse);
        }
        let outcome = self
            .store
            .link_identity(
                principal.user_id,
                NewLink {
                    provider: &identity.provider,
                    subject: &identity.subject,
                    email: identity.email.as_ref().map(|e| e.as_str()),
                    linked_by: "session",
                },
                self.clock.now(),
            )
            .await?;
        match outcome {
            LinkOutcome::Linked | LinkOutcome::AlreadyLinked => {
                tracing::info!("identity linked");
                Ok(())
            }
            LinkOutcome::InUse => Err(LinkError::InUse),
        }
    }
}
