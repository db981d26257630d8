//! Login nonces (OIDC Core §3.1.2.1): single use, so a nonce-bound token opens one session.
//!
//! A token whose `nonce` claim names a live nonce we issued consumes it in the sign-in's own
//! transaction. The same token again is refused, except from the same device within
//! `REFRESH_REUSE_GRACE_SECS` of the first use: the app lost the response, and gets the same
//! session's tokens (the refresh token is derived from the provider token and a value kept on
//! the nonce, so it is the same one, while neither is stored). Tokens without a nonce are
//! accepted unless `SOCIAL_REQUIRE_NONCE` (SDKs cache ID tokens for an hour), and Facebook
//! access tokens never carry one: they are checked live through `debug_token` every time.

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use crate::domain::refresh_token::RotationNonce;
use crate::domain::social::{nonce_hashes, nonce_matches};
use crate::domain::{OneTimeValue, RefreshToken, SessionId, VerifiedIdentity};
use crate::ports::SocialToken;

use super::super::{Auth, Issued, SignInProof};
use super::{SocialError, SocialLogin};

/// What the token's nonce means for this sign-in.
pub(super) enum NonceUse {
    /// No nonce: nothing to consume.
    None,
    /// A live nonce: consumed with the session.
    Consume(SignInProof),
    /// The same token again, from the same device, within the grace: the same tokens.
    Retry(Box<Issued>),
}

impl Auth {
    /// A fresh single-use nonce for the provider SDK, and until when it is good. `Err` with
    /// the wait when `client_ip` asked for too many.
    pub async fn create_login_nonce(
        &self,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<(OneTimeValue, DateTime<Utc>), SocialError> {
        if let Some(ip) = client_ip {
            let limit = self.social.settings.nonces_per_ip;
            let key = format!("social:nonce:ip:{}", super::super::limits::ip_key(ip));
            let window = self.count(&key, 1, limit).await;
            if window.count > limit.max {
                return Err(SocialError::RateLimited {
                    retry_after: window.resets_in.max(std::time::Duration::from_secs(1)),
                });
            }
        }
        let now = self.now();
        let nonce = OneTimeValue::generate();
        let expires_at = now + self.social.settings.nonce_ttl;
        self.store
            .create_nonce(&nonce.hash(), now, expires_at)
            .await?;
        Ok((nonce, expires_at))
    }

    pub(super) async fn nonce_use(
        &self,
        request: &SocialLogin,
        identity: &VerifiedIdentity,
        token: &SocialToken,
        device_id: Option<&str>,
    ) -> Result<NonceUse, SocialError> {
        let invalid = || SocialError::InvalidToken(request.provider);
        let claim = identity.nonce.as_deref();
        if let Some(raw) = &request.nonce
            && !claim.is_some_and(|claim| nonce_matches(raw, claim))
        {
            tracing::info!("provider token refused: its nonce is not the one the app sent");
            return Err(invalid());
        }
        let Some(claim) = claim else {
            if self.social.settings.require_nonce && matches!(token, SocialToken::IdToken(_)) {
                tracing::info!("provider token refused: no nonce (SOCIAL_REQUIRE_NONCE)");
                return Err(invalid());
            }
            return Ok(NonceUse::None);
        };
        let Some(record) = self.store.nonce(&nonce_hashes(claim)).await? else {
            tracing::info!("provider token refused: a nonce we did not issue");
            return Err(invalid());
        };
        let now = self.now();
        let secret = match token {
            SocialToken::IdToken(token) | SocialToken::AccessToken(token) => {
                token.expose_secret().as_bytes()
            }
        };
        if let Some(consumed_at) = record.consumed_at {
            let same_device = device_id.is_some() && record.device_id.as_deref() == device_id;
            if same_device
                && now - consumed_at <= self.lifetimes.reuse_grace
                && let (Some(session), Some(rotation)) = (record.session_id, record.rotation_nonce)
            {
                let refresh_token =
                    RefreshToken::derive(secret, &RotationNonce::from_stored(rotation));
                if let Some(issued) = self.reissue(session, refresh_token, now).await? {
                    tracing::info!(
                        "the same nonce-bound token again within the grace: same tokens"
                    );
                    return Ok(NonceUse::Retry(Box::new(issued)));
                }
            }
            tracing::warn!("provider token refused: its nonce was used already (a replay)");
            return Err(invalid());
        }
        if record.expires_at <= now {
            tracing::info!("provider token refused: its nonce has expired");
            return Err(invalid());
        }
        let rotation_nonce = RotationNonce::generate();
        let refresh_token = RefreshToken::derive(secret, &rotation_nonce);
        Ok(NonceUse::Consume(SignInProof::Nonce {
            hash: record.hash,
            device_id: device_id.map(str::to_owned),
            rotation_nonce,
            refresh_token,
        }))
    }

    /// The tokens of `session` again, when `refresh_token` is its current, unused one.
    async fn reissue(
        &self,
        session: SessionId,
        refresh_token: RefreshToken,
        now: DateTime<Utc>,
    ) -> Result<Option<Issued>, SocialError> {
        let Some(record) = self.store.find_refresh_token(&refresh_token.hash()).await? else {
            return Ok(None);
        };
        if record.session.id != session
            || record.used.is_some()
            || record.expires_at <= now
            || !self.is_live(&record.session, now)
        {
            return Ok(None);
        }
        Ok(Some(self.issue(
            record.user,
            record.session,
            refresh_token,
            record.expires_at,
            now,
        )?))
    }
}
