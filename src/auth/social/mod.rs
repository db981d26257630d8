//! Sign-in with Google or Facebook: a verified provider token signs in the member it is linked
//! to; it never creates one.
//!
//! Design: the token is verified by the provider's `SocialTokenVerifier`, then the nonce rules
//! (`nonce.rs`) and the resolution run here: a linked account signs its member in; a Google
//! account with a verified email that exactly one member has is linked automatically (when
//! `SOCIAL_AUTO_LINK=google_verified`); anything else gets a link token that a password login
//! redeems. Matching by email alone is not enough for Facebook (it does not say it verified
//! the email) nor for unverified Google emails: that is the classic account-takeover route.
//! The session is opened by the shared pipeline, with the nonce consumed in its transaction.

mod link;
mod nonce;

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::SecretString;

use crate::domain::audit::AuditType;
use crate::domain::{
    AuthMethod, Device, LoginSubject, OneTimeValue, SocialProvider, VerifiedIdentity,
    device::DeviceFields,
};
use crate::ports::{CredentialVerifier, IdpError, SocialToken, SocialTokenVerifier};

use super::sign_in::SignInContext;
use super::{Auth, Issued, LoginError};
use nonce::NonceUse;

/// How social sign-in behaves (`SOCIAL_*`, `LOGIN_NONCE_TTL_SECS`, `LINK_TOKEN_TTL_SECS`).
#[derive(Debug, Clone, Copy)]
pub struct SocialSettings {
    /// Refuse ID tokens without a nonce (`SOCIAL_REQUIRE_NONCE`).
    pub require_nonce: bool,
    /// Link a verified Google email that exactly one member has (`SOCIAL_AUTO_LINK`).
    pub auto_link_google: bool,
    pub nonce_ttl: chrono::Duration,
    pub link_token_ttl: chrono::Duration,
    /// Refused provider tokens per client IP (`SOCIAL_IP_MAX_FAILURES` per
    /// `SOCIAL_IP_WINDOW_SECS`): checked before the provider is asked.
    pub ip_failures: super::limits::Limit,
    /// `createLoginNonce` per client IP (`LOGIN_NONCE_MAX_PER_IP` per `SOCIAL_IP_WINDOW_SECS`).
    pub nonces_per_ip: super::limits::Limit,
}

impl Default for SocialSettings {
    fn default() -> Self {
        Self {
            require_nonce: false,
            auto_link_google: true,
            nonce_ttl: chrono::Duration::seconds(600),
            link_token_ttl: chrono::Duration::seconds(600),
            ip_failures: super::limits::Limit {
                max: 50,
                window: std::time::Duration::from_secs(300),
            },
            nonces_per_ip: super::limits::Limit {
                max: 60,
                window: std::time::Duration::from_secs(300),
            },
        }
    }
}

/// The configured providers.
#[derive(Default)]
pub struct SocialProviders {
    pub settings: SocialSettings,
    pub google: Option<Arc<dyn SocialTokenVerifier>>,
    pub facebook: Option<Arc<dyn SocialTokenVerifier>>,
}

/// `loginWithSocial` / `linkSocialAccount` as the API receives them.
pub struct SocialLogin {
    pub provider: SocialProvider,
    pub id_token: Option<String>,
    pub access_token: Option<String>,
    /// The raw nonce from `createLoginNonce`, when the SDK let the app set one.
    pub nonce: Option<String>,
    pub device: DeviceFields,
    pub client_ip: Option<std::net::IpAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error("this sign-in method is not available")]
    NotConfigured,
    #[error("{0}")]
    InvalidInput(#[from] crate::domain::InvalidInput),
    /// Bad signature, issuer, audience, expiry, nonce, another app's token, a replay.
    #[error("the provider token is not valid")]
    InvalidToken(SocialProvider),
    /// Verified, but linked to no member: log in with the password and `link_token`.
    #[error("this account is not linked to a club member yet")]
    NotLinked {
        provider: SocialProvider,
        link_token: OneTimeValue,
        expires_in: chrono::Duration,
    },
    #[error("this account is linked to another member")]
    InUse,
    #[error("the provider cannot be reached, please try again shortly")]
    Unavailable { retry_after: std::time::Duration },
    #[error("too many attempts, please wait")]
    RateLimited { retry_after: std::time::Duration },
    #[error(transparent)]
    Login(#[from] LoginError),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A refused social sign-in, and whether its audit event is written already.
enum Refused {
    Recorded(SocialError),
    Unrecorded(SocialError),
}

impl<E: Into<SocialError>> From<E> for Refused {
    fn from(error: E) -> Self {
        Self::Unrecorded(error.into())
    }
}

impl From<crate::store::StoreError> for SocialError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// A verifier for the pipeline that vouches for an identity verified just before.
struct Verified {
    method: AuthMethod,
}

#[async_trait]
impl CredentialVerifier for Verified {
    type Credential = VerifiedIdentity;

    fn method(&self) -> AuthMethod {
        self.method
    }

    fn login_subject(&self, identity: &VerifiedIdentity) -> LoginSubject {
        LoginSubject::Identity {
            provider: identity.provider.clone(),
            subject: identity.subject.clone(),
        }
    }

    /// The token was verified already; a sign-in costs nothing against guessing allowances.
    fn cost(&self, _identity: &VerifiedIdentity) -> i64 {
        0
    }

    async fn verify(&self, identity: &VerifiedIdentity) -> Result<VerifiedIdentity, IdpError> {
        Ok(identity.clone())
    }
}

impl Auth {
    /// Turns social sign-in on for the providers given.
    pub fn with_social(mut self, providers: SocialProviders) -> Self {
        self.social = Arc::new(providers);
        self
    }

    /// Signs in with a provider token.
    #[tracing::instrument(name = "login_with_social", skip_all, fields(provider = request.provider.as_str()))]
    pub async fn login_with_social(&self, request: SocialLogin) -> Result<Issued, SocialError> {
        let method = request.provider.method();
        match self.sign_in_with_social(request).await {
            Ok(issued) => Ok(issued),
            Err(Refused::Recorded(error)) => Err(error),
            Err(Refused::Unrecorded(error)) => {
                self.record_social_failure(method, &error).await;
                Err(error)
            }
        }
    }

    /// Refusals before the shared pipeline (which records its own): a token refused, an
    /// account linked to no member, a membership that may not sign in.
    async fn record_social_failure(&self, method: AuthMethod, error: &SocialError) {
        let (kind, reason, provider) = match error {
            SocialError::InvalidToken(provider) => {
                (AuditType::LoginFailed, "INVALID_SOCIAL_TOKEN", *provider)
            }
            SocialError::NotLinked { provider, .. } => (
                AuditType::LoginFailed,
                "SOCIAL_ACCOUNT_NOT_LINKED",
                *provider,
            ),
            SocialError::RateLimited { .. } => {
                let event = self.audit_failure(AuditType::RateLimitTripped, "SOCIAL");
                return self.record_failure(event, None).await;
            }
            SocialError::Login(error) => {
                return self.record_login_failure(method, None, None, error).await;
            }
            _ => return,
        };
        let event = self
            .audit_failure(kind, reason)
            .with_method(provider.method());
        self.record_failure(event, None).await;
    }

    async fn sign_in_with_social(&self, request: SocialLogin) -> Result<Issued, Refused> {
        let provider = request.provider;
        let device = Device::parse(request.device.clone())?;
        let (identity, token) = self.verify_social(&request).await?;
        let nonce = self
            .nonce_use(&request, &identity, &token, device.device_id.as_deref())
            .await?;
        let proof = match nonce {
            NonceUse::Retry(issued) => return Ok(*issued),
            NonceUse::Consume(proof) => Some(proof),
            NonceUse::None => None,
        };
        if self
            .store
            .user_by_identity(&identity.provider, &identity.subject)
            .await?
            .is_none()
            && let Err(refusal) = self.auto_link_or_refuse(provider, &identity).await
        {
            // A token that got no session still used its nonce: it cannot mint link tokens
            // (or link elsewhere) again.
            if let Some(super::SignInProof::Nonce { hash, .. }) = &proof {
                self.store.consume_nonce(hash, self.now()).await?;
            }
            return Err(refusal.into());
        }
        let context = SignInContext {
            device: request.device,
            client_ip: request.client_ip,
            proof,
        };
        let verifier = Verified {
            method: provider.method(),
        };
        // The shared pipeline records its own refusals.
        match self.sign_in(&verifier, identity, context).await {
            // The nonce was used by a concurrent sign-in, or the link went meanwhile.
            Err(LoginError::IdentityNotLinked) => {
                Err(Refused::Recorded(SocialError::InvalidToken(provider)))
            }
            outcome => outcome.map_err(|e| Refused::Recorded(e.into())),
        }
    }

    async fn verify_social(
        &self,
        request: &SocialLogin,
    ) -> Result<(VerifiedIdentity, SocialToken), SocialError> {
        let provider = request.provider;
        let verifier = match provider {
            SocialProvider::Google => self.social.google.clone(),
            SocialProvider::Facebook => self.social.facebook.clone(),
        }
        .ok_or(SocialError::NotConfigured)?;
        let given = |token: &Option<String>| token.as_deref().is_some_and(|t| !t.trim().is_empty());
        if request.id_token.is_some() && !given(&request.id_token)
            || request.access_token.is_some() && !given(&request.access_token)
        {
            return Err(crate::domain::InvalidInput::new(
                if request.id_token.is_some() {
                    "idToken"
                } else {
                    "accessToken"
                },
                "must not be empty",
            )
            .into());
        }
        let token = match (&request.id_token, &request.access_token, provider) {
            (Some(token), None, _) => SocialToken::IdToken(SecretString::from(token.clone())),
            (None, Some(token), SocialProvider::Facebook) => {
                SocialToken::AccessToken(SecretString::from(token.clone()))
            }
            (None, Some(_), SocialProvider::Google) => {
                return Err(crate::domain::InvalidInput::new(
                    "idToken",
                    "Google sign-in takes the ID token, not an access token",
                )
                .into());
            }
            _ => {
                return Err(crate::domain::InvalidInput::new(
                    "idToken",
                    "give exactly one of idToken and accessToken",
                )
                .into());
            }
        };
        let ip_key = request
            .client_ip
            .map(|ip| format!("social:ip:{}", super::limits::ip_key(ip)));
        let limit = self.social.settings.ip_failures;
        if let Some(key) = &ip_key {
            let failures = self.count(key, 0, limit).await;
            if failures.count >= limit.max {
                tracing::warn!("social sign-in refused: too many refused tokens from this IP");
                return Err(SocialError::RateLimited {
                    retry_after: failures.resets_in.max(std::time::Duration::from_secs(1)),
                });
            }
        }
        match verifier.verify(&token).await {
            Ok(identity) => Ok((identity, token)),
            Err(IdpError::InvalidCredentials) => {
                tracing::info!("provider token refused");
                if let Some(key) = &ip_key {
                    self.count(key, 1, limit).await;
                }
                Err(SocialError::InvalidToken(provider))
            }
            Err(
                IdpError::Unavailable(reason)
                | IdpError::TokenRejected(reason)
                | IdpError::UnavailableAfterRefusals { reason, .. },
            ) => {
                tracing::warn!(%reason, "social sign-in failed: provider unavailable");
                Err(SocialError::Unavailable {
                    retry_after: std::time::Duration::from_secs(30),
                })
            }
            Err(IdpError::CircuitOpen { retry_after }) => {
                Err(SocialError::Unavailable { retry_after })
            }
            Err(IdpError::InvalidData(e) | IdpError::Unexpected(e)) => {
                Err(SocialError::Unexpected(e))
            }
        }
    }
}
