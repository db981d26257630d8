//! Facebook: Limited Login ID tokens (iOS) and user access tokens (Android; iOS with tracking).
//!
//! - Limited Login: RS256 against Facebook's Limited Login JWKS, `iss`
//!   `https://www.facebook.com` or `https://limited.facebook.com`, `aud` our app id.
//! - Access tokens ("Manually Build a Login Flow: Inspecting Access Tokens"): `debug_token`
//!   with our app token must say `is_valid`, our `app_id`, type `USER` and an `expires_at` still
//!   ahead; then `/me?fields=id,name,email` with `appsecret_proof` (HMAC-SHA256 of the token
//!   keyed with the app secret), whose `id` must be `debug_token`'s `user_id`. The Graph
//!   version is pinned. Tokens travel in the `Authorization` header, except `debug_token`'s
//!   `input_token`, which Graph takes only as a parameter: URLs are never logged.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::id_token::{self, IdTokenRules};
use super::jwks::JwksCache;
use crate::domain::{Email, SocialProvider, VerifiedIdentity};
use crate::ports::{Clock, IdpError, SocialToken, SocialTokenVerifier};

const ISSUERS: [&str; 2] = ["https://www.facebook.com", "https://limited.facebook.com"];

/// `FACEBOOK_*`.
#[derive(Debug, Clone)]
pub struct FacebookSettings {
    pub app_id: String,
    pub app_secret: SecretString,
    /// `FACEBOOK_JWKS_URL`: the Limited Login keys.
    pub jwks_url: reqwest::Url,
    /// `FACEBOOK_GRAPH_URL`, e.g. `https://graph.facebook.com`.
    pub graph_url: reqwest::Url,
    /// `FACEBOOK_GRAPH_VERSION`, e.g. `v21.0`.
    pub graph_version: String,
}

pub struct FacebookVerifier {
    settings: FacebookSettings,
    audiences: Vec<String>,
    http: reqwest::Client,
    timeout: Duration,
    jwks: JwksCache,
    clock: Arc<dyn Clock>,
}

impl FacebookVerifier {
    pub fn new(
        settings: FacebookSettings,
        http: reqwest::Client,
        timeout: Duration,
        min_refetch: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let jwks = JwksCache::new(
            http.clone(),
            settings.jwks_url.clone(),
            timeout,
            min_refetch,
        );
        Self {
            audiences: vec![settings.app_id.clone()],
            settings,
            http,
            timeout,
            jwks,
            clock,
        }
    }

    fn graph(&self, path: &str) -> String {
        format!(
            "{}/{}/{path}",
            self.settings.graph_url.as_str().trim_end_matches('/'),
            self.settings.graph_version
        )
    }

    /// A Graph answer: its body, or why there is none to use. Graph signals throttling with
    /// 4xx and error codes 4, 17, 32 or 613 (rate limits): that is an outage to us, not a bad
    /// token.
    async fn get(&self, request: reqwest::RequestBuilder) -> Result<serde_json::Value, GraphError> {
        let response = request.timeout(self.timeout).send().await.map_err(|e| {
            GraphError::Unavailable(format!("Graph request failed: {}", e.without_url()))
        })?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(GraphError::Unavailable(format!("Graph answered {status}")));
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if let Some(code) = body["error"]["code"].as_i64() {
            return Err(if matches!(code, 4 | 17 | 32 | 613) {
                GraphError::Unavailable(format!("Graph is throttling us (error code {code})"))
            } else {
                GraphError::Refused(code)
            });
        }
        if !status.is_success() {
            return Err(GraphError::Refused(0));
        }
        Ok(body)
    }

    async fn access_token(&self, token: &SecretString) -> Result<VerifiedIdentity, IdpError> {
        let token = token.expose_secret();
        if token.is_empty() || token.len() > 4096 {
            return Err(IdpError::InvalidCredentials);
        }
        let app_token = format!(
            "{}|{}",
            self.settings.app_id,
            self.settings.app_secret.expose_secret()
        );
        let debug = self
            .get(
                self.http
                    .get(self.graph("debug_token"))
                    .query(&[("input_token", token)])
                    .bearer_auth(app_token),
            )
            .await
            .map_err(|error| match error {
                GraphError::Unavailable(reason) => IdpError::Unavailable(reason),
                // debug_token itself refused: our app token, not the member's.
                GraphError::Refused(code) => IdpError::Unexpected(anyhow::anyhow!(
                    "Facebook refused our app token (error code {code}): check FACEBOOK_APP_ID and FACEBOOK_APP_SECRET"
                )),
            })?;
        let data: DebugData = serde_json::from_value(debug["data"].clone())
            .map_err(|_| IdpError::InvalidCredentials)?;
        let now = self.clock.now().timestamp();
        let ours = data.is_valid
            && data.app_id.as_deref() == Some(self.settings.app_id.as_str())
            && data.r#type.as_deref() == Some("USER")
            && data.expires_at.is_none_or(|at| at == 0 || at > now);
        let Some(user_id) = data.user_id.filter(|_| ours) else {
            return Err(IdpError::InvalidCredentials);
        };
        let me = self
            .get(
                self.http
                    .get(self.graph("me"))
                    .query(&[
                        ("fields", "id,name,email"),
                        (
                            "appsecret_proof",
                            appsecret_proof(&self.settings.app_secret, token).as_str(),
                        ),
                    ])
                    .bearer_auth(token),
            )
            .await
            .map_err(|error| match error {
                GraphError::Unavailable(reason) => IdpError::Unavailable(reason),
                GraphError::Refused(_) => IdpError::InvalidCredentials,
            })?;
        let me: Me = serde_json::from_value(me).map_err(|_| IdpError::InvalidCredentials)?;
        if me.id != user_id {
            return Err(IdpError::InvalidCredentials);
        }
        Ok(identity(me.id, me.email, me.name, None))
    }
}

/// `appsecret_proof`: hex HMAC-SHA256 of the access token keyed with the app secret.
pub fn appsecret_proof(secret: &SecretString, token: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_secret().as_bytes());
    crate::domain::to_hex(hmac::sign(&key, token.as_bytes()).as_ref())
}

fn identity(
    subject: String,
    email: Option<String>,
    name: Option<String>,
    nonce: Option<String>,
) -> VerifiedIdentity {
    VerifiedIdentity {
        provider: SocialProvider::Facebook.provider(),
        subject,
        email: email.as_deref().and_then(|e| Email::parse(e).ok()),
        // Facebook does not say whether it verified the email: never trusted for linking.
        email_verified: false,
        first_name: name,
        last_name: None,
        directory_profile: None,
        nonce,
    }
}

/// Why a Graph call gave nothing to use.
enum GraphError {
    Unavailable(String),
    /// Graph's `error.code` (0: an error status without one).
    Refused(i64),
}

#[derive(Deserialize)]
struct DebugData {
    #[serde(default)]
    is_valid: bool,
    app_id: Option<String>,
    r#type: Option<String>,
    expires_at: Option<i64>,
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct Me {
    id: String,
    name: Option<String>,
    email: Option<String>,
}

#[async_trait]
impl SocialTokenVerifier for FacebookVerifier {
    fn provider(&self) -> SocialProvider {
        SocialProvider::Facebook
    }

    #[tracing::instrument(name = "facebook.verify", skip_all)]
    async fn verify(&self, token: &SocialToken) -> Result<VerifiedIdentity, IdpError> {
        match token {
            SocialToken::AccessToken(token) => self.access_token(token).await,
            SocialToken::IdToken(token) => {
                let rules = IdTokenRules {
                    issuers: &ISSUERS,
                    audiences: &self.audiences,
                    leeway_secs: super::LEEWAY_SECS,
                };
                let claims =
                    id_token::verify(token.expose_secret(), &self.jwks, &rules, self.clock.now())
                        .await?;
                let name = claims.given_name.clone();
                Ok(identity(claims.sub, claims.email, name, claims.nonce))
            }
        }
    }
}
