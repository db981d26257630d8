//! Verifying an OIDC ID token (OIDC Core §3.1.3.7) with `jsonwebtoken`: RS256 only, the key by
//! `kid` from the provider's JWKS, `iss` one of the provider's, `aud` one of ours, `exp` and
//! `iat` against our clock with at most `leeway` of skew.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::JwksCache;
use crate::ports::IdpError;

/// The claims we read; `jsonwebtoken` has checked `iss` and `aud`.
#[derive(Debug, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<EmailVerified>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub hd: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
}

/// Google sends a boolean; some issuers send the string "true".
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmailVerified {
    Bool(bool),
    Text(String),
}

impl IdClaims {
    pub fn email_verified(&self) -> bool {
        match &self.email_verified {
            Some(EmailVerified::Bool(verified)) => *verified,
            Some(EmailVerified::Text(text)) => text == "true",
            None => false,
        }
    }
}

/// What a provider's ID tokens must say.
pub struct IdTokenRules<'a> {
    pub issuers: &'a [&'a str],
    pub audiences: &'a [String],
    pub leeway_secs: i64,
}

/// Longer input is refused unread.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

pub async fn verify(
    token: &str,
    jwks: &JwksCache,
    rules: &IdTokenRules<'_>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<IdClaims, IdpError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(IdpError::InvalidCredentials);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| IdpError::InvalidCredentials)?;
    // The algorithm is ours to choose (RFC 8725 §3.1): `none`, HS256 and others never pass.
    if header.alg != Algorithm::RS256 {
        return Err(IdpError::InvalidCredentials);
    }
    let kid = header.kid.ok_or(IdpError::InvalidCredentials)?;
    let key = jwks.key(&kid).await?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(rules.issuers);
    validation.set_audience(rules.audiences);
    // Time is checked below against our clock, not the system's.
    validation.validate_exp = false;
    validation.required_spec_claims = HashSet::from(["iss".to_owned(), "aud".to_owned()]);
    let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
        .map_err(|_| IdpError::InvalidCredentials)?
        .claims;
    let now = now.timestamp();
    if claims.exp + rules.leeway_secs <= now || claims.iat - rules.leeway_secs > now {
        return Err(IdpError::InvalidCredentials);
    }
    Ok(claims)
}
