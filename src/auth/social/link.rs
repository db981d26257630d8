//! Linking provider accounts to members: from a session, automatically for a verified Google
//! email that exactly one member has, or later by a password login with a link token.

use crate::domain::audit::AuditType;
use crate::domain::{OneTimeValue, SocialProvider, User, VerifiedIdentity};
use crate::store::{LinkOutcome, LinkTokenRecord, NewLink};

use super::super::side_effects::{USER_SOCIAL_LINKED, USER_SOCIAL_UNLINKED, social_event};
use super::super::{Auth, Principal};
use super::nonce::NonceUse;
use super::{SocialError, SocialLogin};

impl Auth {
    /// Links the provider account to the caller.
    #[tracing::instrument(name = "link_social_account", skip_all, fields(provider = request.provider.as_str()))]
    pub async fn link_social_account(
        &self,
        principal: Principal,
        request: SocialLogin,
    ) -> Result<User, SocialError> {
        let provider = request.provider;
        let (identity, token) = self.verify_social(&request).await?;
        if let NonceUse::Consume(crate::auth::SignInProof::Nonce { hash, .. }) =
            self.nonce_use(&request, &identity, &token, None).await?
            && !self.store.consume_nonce(&hash, self.now()).await?
        {
            return Err(SocialError::InvalidToken(provider));
        }
        self.link(
            principal.user_id,
            &identity,
            "session",
            Some(principal.session_id),
        )
        .await?;
        self.me(principal)
            .await
            .map_err(|e| SocialError::Unexpected(anyhow::anyhow!("{e}")))
    }

    /// Unlinks the caller's account of `provider`; the password method always stays.
    pub async fn unlink_social_account(
        &self,
        principal: Principal,
        provider: SocialProvider,
    ) -> Result<User, SocialError> {
        let now = self.now();
        let event = social_event(
            USER_SOCIAL_UNLINKED,
            principal.user_id,
            provider.as_str(),
            None,
            now,
        );
        let mut audit = self
            .audit_event(AuditType::AccountUnlinked)
            .of(principal.user_id, Some(principal.session_id));
        audit.details.provider = Some(provider.as_str().to_owned());
        self.store
            .unlink_social(
                principal.user_id,
                &provider.provider(),
                now,
                (vec![event], vec![audit]),
            )
            .await?;
        self.outbox_written.notify_waiters();
        self.me(principal)
            .await
            .map_err(|e| SocialError::Unexpected(anyhow::anyhow!("{e}")))
    }

    /// The provider accounts linked to a member.
    pub async fn linked_accounts(
        &self,
        user_id: crate::domain::UserId,
    ) -> anyhow::Result<Vec<crate::store::LinkedAccountRecord>> {
        Ok(self.store.linked_accounts(user_id).await?)
    }

    /// Links a verified Google email that exactly one member has, when allowed; else refuses
    /// with a link token that remembers the identity.
    pub(super) async fn auto_link_or_refuse(
        &self,
        provider: SocialProvider,
        identity: &VerifiedIdentity,
    ) -> Result<(), SocialError> {
        if provider == SocialProvider::Google
            && self.social.settings.auto_link_google
            && identity.email_verified
            && let Some(email) = &identity.email
            && let [member] = self.store.members_with_email(email).await?.as_slice()
            && !self
                .store
                .was_unlinked(&identity.provider, &identity.subject)
                .await?
            // A member with an account of this provider already links another one explicitly.
            && !self
                .store
                .linked_accounts(*member)
                .await?
                .iter()
                .any(|account| account.provider == identity.provider)
        {
            // Only a member who may sign in now gets the link: a refused sign-in leaves none.
            if let Some(user) = self.store.user(*member).await? {
                self.may_sign_in(user).await?;
            }
            tracing::info!("verified Google email matches exactly one member: linking it");
            return self.link(*member, identity, "auto_email", None).await;
        }
        let now = self.now();
        let link_token = OneTimeValue::generate();
        let expires_in = self.social.settings.link_token_ttl;
        self.store
            .create_link_token(
                &link_token.hash(),
                &LinkTokenRecord {
                    provider: identity.provider.clone(),
                    subject: identity.subject.clone(),
                    email: identity.email.as_ref().map(|e| e.as_str().to_owned()),
                },
                now,
                now + expires_in,
            )
            .await?;
        tracing::info!("social sign-in refused: account not linked; link token issued");
        Err(SocialError::NotLinked {
            provider,
            link_token,
            expires_in,
        })
    }

    async fn link(
        &self,
        user_id: crate::domain::UserId,
        identity: &VerifiedIdentity,
        linked_by: &str,
        session_id: Option<crate::domain::SessionId>,
    ) -> Result<(), SocialError> {
        let now = self.now();
        let event = social_event(
            USER_SOCIAL_LINKED,
            user_id,
            identity.provider.as_str(),
            Some(linked_by),
            now,
        );
        let mut audit = self
            .audit_event(AuditType::AccountLinked)
            .with_reason(&linked_by.to_ascii_uppercase())
            .of(user_id, session_id);
        audit.details.provider = Some(identity.provider.as_str().to_owned());
        let outcome = self
            .store
            .link_social(
                user_id,
                NewLink {
                    provider: &identity.provider,
                    subject: &identity.subject,
                    email: identity.email.as_ref().map(|e| e.as_str()),
                    linked_by,
                },
                now,
                (vec![event], vec![audit]),
            )
            .await?;
        self.outbox_written.notify_waiters();
        match outcome {
            LinkOutcome::Linked | LinkOutcome::AlreadyLinked => Ok(()),
            LinkOutcome::InUse => Err(SocialError::InUse),
        }
    }
}
