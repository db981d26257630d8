//! Google ID tokens (Google Identity: "Verify the Google ID token on your server side").
//!
//! RS256 only, keys from Google's JWKS (`https://www.googleapis.com/oauth2/v3/certs`), `iss`
//! `accounts.google.com` or `https://accounts.google.com`, `aud` one of our client ids (web,
//! iOS, Android), `exp`/`iat` with 60 s of leeway, and, when set, the Workspace domain `hd`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;

use super::id_token::{self, IdTokenRules};
use super::jwks::JwksCache;
use crate::domain::{Email, SocialProvider, VerifiedIdentity};
use crate::ports::{Clock, IdpError, SocialToken, SocialTokenVerifier};

const ISSUERS: [&str; 2] = ["accounts.google.com", "https://accounts.google.com"];

/// `GOOGLE_*`.
#[derive(Debug, Clone)]
pub struct GoogleSettings {
    /// `GOOGLE_CLIENT_IDS`: every client id of the apps (web/server, iOS, Android).
    pub client_ids: Vec<String>,
    /// `GOOGLE_JWKS_URL`.
    pub jwks_url: reqwest::Url,
    /// `GOOGLE_ALLOWED_HD`: only accounts of this Workspace domain.
    pub allowed_hd: Option<String>,
}

pub struct GoogleVerifier {
    settings: GoogleSettings,
    jwks: JwksCache,
    clock: Arc<dyn Clock>,
}

impl GoogleVerifier {
    pub fn new(
        settings: GoogleSettings,
        http: reqwest::Client,
        timeout: Duration,
        min_refetch: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let jwks = JwksCache::new(http, settings.jwks_url.clone(), timeout, min_refetch);
        Self {
            settings,
            jwks,
            clock,
        }
    }
}

#[async_trait]
impl SocialTokenVerifier for GoogleVerifier {
    fn provider(&self) -> SocialProvider {
        SocialProvider::Google
    }

    #[tracing::instrument(name = "google.verify", skip_all)]
    async fn verify(&self, token: &SocialToken) -> Result<VerifiedIdentity, IdpError> {
        let SocialToken::IdToken(token) = token else {
            return Err(IdpError::InvalidCredentials);
        };
        let rules = IdTokenRules {
            issuers: &ISSUERS,
            audiences: &self.settings.client_ids,
            leeway_secs: super::LEEWAY_SECS,
        };
        let claims =
            id_token::verify(token.expose_secret(), &self.jwks, &rules, self.clock.now()).await?;
        if let Some(allowed) = &self.settings.allowed_hd
            && claims.hd.as_deref() != Some(allowed.as_str())
        {
            return Err(IdpError::InvalidCredentials);
        }
        let email_verified = claims.email_verified();
        Ok(VerifiedIdentity {
            provider: SocialProvider::Google.provider(),
            email: claims.email.as_deref().and_then(|e| Email::parse(e).ok()),
            email_verified,
            first_name: claims.given_name,
            last_name: claims.family_name,
            directory_profile: None,
            nonce: claims.nonce,
            subject: claims.sub,
        })
    }
}
