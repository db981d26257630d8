//! Access tokens: JWTs we sign, with the public keys served as a JWK Set.
//!
//! Design: the algorithm is pinned by configuration and verification accepts only it, only with
//! our `kid`, issuer and audience. Expiry is checked against our `Clock`, not the system time, so
//! tests can move time. Keys are parsed once at start-up. Without a configured key an ephemeral
//! one is generated (tokens then do not survive a restart, which start-up warns about).

use std::path::Path;

use anyhow::{Context, anyhow, bail};
use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair},
};
use base64::{Engine, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation,
    jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash},
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::signer::Signer;
use crate::domain::Session;

/// How access tokens are signed (`JWT_*`).
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub algorithm: Algorithm,
    /// PKCS#8 PEM for ES256, RS256 and EdDSA; `None`: an ephemeral key.
    pub private_key_file: Option<std::path::PathBuf>,
    /// HS256 only, at least 32 bytes; `None`: an ephemeral secret.
    pub secret: Option<secrecy::SecretString>,
    pub issuer: String,
    pub audience: String,
}

/// The claims of our access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// How the session was opened, as RFC 8176 values (`["pwd"]`); absent in tokens of
    /// earlier releases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// `member` while the membership is active, then the roles Hybris reports. Informative.
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token is malformed or its signature is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

pub struct TokenKeys {
    algorithm: Algorithm,
    kid: String,
    signer: Signer,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    jwks: JwkSet,
    /// True when the key was generated at start-up.
    pub ephemeral: bool,
    /// Claims of tokens whose signature was checked, by SHA-256 of the token: an app sends one
    /// token many times, and its signature check (56 µs for ES256) is paid once. Bounded:
    /// emptied when full. A std Mutex: nothing awaits while it is held.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], AccessClaims>>,
}

/// Verified tokens remembered before the memory is emptied (≈ 3 MB).
const VERIFIED_CAPACITY: usize = 10_000;

impl TokenKeys {
    pub fn from_settings(settings: &JwtSettings) -> anyhow::Result<Self> {
        let algorithm = settings.algorithm;
        let (encoding, ephemeral) = if algorithm == Algorithm::HS256 {
            match &settings.secret {
                Some(secret) => (
                    EncodingKey::from_secret(secret.expose_secret().as_bytes()),
                    false,
                ),
                None => (EncodingKey::from_secret(&random_secret()?), true),
            }
        } else {
            let (pem, ephemeral) = match &settings.private_key_file {
                Some(path) => (read_pem(path)?, false),
                None => (generate_pem(algorithm)?, true),
            };
            let key = match algorithm {
                Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
                Algorithm::RS256 => EncodingKey::from_rsa_pem(pem.as_bytes()),
                Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
                other => bail!("unsupported JWT algorithm {other:?}"),
            }
            .map_err(|e| {
                anyhow!("JWT_PRIVATE_KEY_FILE: not a {algorithm:?} private key in PEM: {e}")
            })?;
            (key, ephemeral)
        };

        let (decoding, kid, jwks) = if algorithm == Algorithm::HS256 {
            let secret = encoding.as_bytes();
            let kid = URL_SAFE_NO_PAD.encode(
                &aws_lc_rs::hmac::sign(
                    &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
                    b"login-api key id",
                )
                .as_ref()[..12],
            );
            // A symmetric key is never published.
            (
                DecodingKey::from_secret(secret),
                kid,
                JwkSet { keys: vec![] },
            )
        } else {
            let mut jwk = Jwk::from_encoding_key(&encoding, algorithm)
                .context("deriving the public JWK from the private key")?;
            let kid = jwk
                .thumbprint(ThumbprintHash::SHA256)
                .context("computing the key's thumbprint")?;
            jwk.common.key_id = Some(kid.clone());
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            jwk.common.key_algorithm = Some(match algorithm {
                Algorithm::ES256 => KeyAlgorithm::ES256,
                Algorithm::RS256 => KeyAlgorithm::RS256,
                _ => KeyAlgorithm::EdDSA,
            });
            let decoding = DecodingKey::from_jwk(&jwk).context("building the verification key")?;
            (decoding, kid, JwkSet { keys: vec![jwk] })
        };

        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = false; // checked against our clock in `verify`
        validation.validate_nbf = false;
        validation.leeway = 0;

        Ok(Self {
            algorithm,
            kid,
            signer: Signer::new(algorithm, &encoding)?,
            decoding,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            jwks,
            ephemeral,
            verified: Default::default(),
        })
    }

    /// A signed access token of `session` carrying `roles`, valid from `now` to `expires_at`.
    pub fn issue(
        &self,
        session: &Session,
        roles: Vec<String>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> anyhow::Result<String> {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: session.user_id.to_string(),
            sid: session.id.to_string(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: Uuid::new_v4().to_string(),
            amr: vec![session.auth_method.amr().to_owned()],
            roles,
        };
        self.signer
            .compact(&header, &claims)
            .context("signing an access token")
    }

    /// Checks signature, algorithm, key id, issuer, audience and expiry at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        let claims = self.verify_signature(token)?;
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Everything `verify` checks but expiry: the claims of a token we issued, expired or not
    /// (to say why an expired token's session ended). Never grants access by itself.
    pub fn verify_signature(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let digest: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
                .as_ref()
                .try_into()
                .map_err(|_| TokenError::Invalid)?;
        let remembered = self.verified().get(&digest).cloned();
        if let Some(claims) = remembered {
            return Ok(claims);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != self.algorithm || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenError::Invalid);
        }
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)?;
        let mut verified = self.verified();
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    fn verified(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<[u8; 32], AccessClaims>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }
}

fn read_pem(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("JWT_PRIVATE_KEY_FILE: cannot read {}", path.display()))
}

fn random_secret() -> anyhow::Result<[u8; 32]> {
    let mut secret = [0u8; 32];
    aws_lc_rs::rand::SecureRandom::fill(&SystemRandom::new(), &mut secret)
        .map_err(|_| anyhow!("the OS random number generator failed"))?;
    Ok(secret)
}

/// A fresh PKCS#8 private key in PEM, as an operator's key file would hold it.
pub fn generate_pem(algorithm: Algorithm) -> anyhow::Result<String> {
    let rng = SystemRandom::new();
    let failed = |_| anyhow!("generating an ephemeral {algorithm:?} key failed");
    let der: Vec<u8> = match algorithm {
        Algorithm::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::EdDSA => Ed25519KeyPair::generate_pkcs8v1(&rng)
            .map_err(failed)?
            .as_ref()
            .to_vec(),
        Algorithm::RS256 => {
            let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(failed)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der = key.as_der().map_err(failed)?;
            der.as_ref().to_vec()
        }
        other => bail!("no key pair for {other:?}"),
    };
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    Ok(format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(algorithm: Algorithm) -> JwtSettings {
        JwtSettings {
            algorithm,
            private_key_file: None,
            secret: None,
            issuer: "login-api".into(),
            audience: "apps".into(),
        }
    }

    fn session() -> Session {
        Session::fresh(crate::domain::UserId::new())
    }

    #[test]
    fn a_remembered_token_is_the_exact_token_and_a_tampered_one_is_still_checked() {
        let keys = TokenKeys::from_settings(&JwtSettings {
            algorithm: Algorithm::ES256,
            private_key_file: None,
            secret: None,
            issuer: "iss".into(),
            audience: "aud".into(),
        })
        .unwrap();
        let now = Utc::now();
        let token = keys
            .issue(&session(), vec![], now, now + chrono::Duration::minutes(5))
            .unwrap();
        let first = keys.verify_signature(&token).unwrap();
        assert_eq!(keys.verify_signature(&token).unwrap(), first, "remembered");
        let (head, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.ends_with('A') { 'B' } else { 'A' };
        let tampered = format!("{head}.{}{flipped}", &signature[..signature.len() - 1]);
        assert!(keys.verify_signature(&tampered).is_err());
        let mut payload: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"someone-else"}"#);
        payload[1] = &forged;
        assert!(keys.verify_signature(&payload.join(".")).is_err());
    }

    #[test]
    fn every_algorithm_signs_and_verifies_and_publishes_only_public_keys() {
        let now = Utc::now();
        for algorithm in [
            Algorithm::ES256,
            Algorithm::RS256,
            Algorithm::EdDSA,
            Algorithm::HS256,
        ] {
            let keys = TokenKeys::from_settings(&settings(algorithm)).unwrap();
            let token = keys
                .issue(&session(), vec![], now, now + chrono::Duration::minutes(15))
                .unwrap();
            let claims = keys.verify(&token, now).unwrap();
            assert_eq!(claims.aud, "apps");
            assert_eq!(claims.amr, ["pwd"], "RFC 8176: a password login");
            let published = serde_json::to_string(keys.jwks()).unwrap();
            assert!(
                !published.contains("\"d\""),
                "{algorithm:?} published a private part"
            );
            if algorithm == Algorithm::HS256 {
                assert_eq!(keys.jwks().keys.len(), 0);
            }
        }
    }

    #[test]
    fn expiry_is_checked_against_the_given_time() {
        let keys = TokenKeys::from_settings(&settings(Algorithm::ES256)).unwrap();
        let now = Utc::now();
        let exp = now + chrono::Duration::minutes(15);
        let token = keys.issue(&session(), vec![], now, exp).unwrap();
        assert!(
            keys.verify(&token, exp - chrono::Duration::seconds(1))
                .is_ok()
        );
        assert_eq!(keys.verify(&token, exp), Err(TokenError::Expired));
    }

    #[test]
    fn tokens_of_another_key_audience_or_algorithm_are_invalid() {
        let now = Utc::now();
        let exp = now + chrono::Duration::minutes(15);
        let ours = TokenKeys::from_settings(&settings(Algorithm::ES256)).unwrap();
        let theirs = TokenKeys::from_settings(&settings(Algorithm::ES256)).unwrap();
        let token = theirs.issue(&session(), vec![], now, exp).unwrap();
        assert_eq!(ours.verify(&token, now), Err(TokenError::Invalid));

        let mut other_audience = settings(Algorithm::ES256);
        other_audience.audience = "someone-else".into();
        let token = TokenKeys::from_settings(&other_audience)
            .unwrap()
            .issue(&session(), vec![], now, exp)
            .unwrap();
        assert_eq!(ours.verify(&token, now), Err(TokenError::Invalid));

        for garbage in ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0.e30."] {
            assert_eq!(ours.verify(garbage, now), Err(TokenError::Invalid));
        }
    }
}
