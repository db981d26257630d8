//! Sign-in with Google or Facebook: the providers, the login nonces we issue, and the link
//! tokens that remember a verified identity until the member proves their club password.
//!
//! Design: a provider account never creates a member; it attaches to one. Nonces bind a
//! provider token to one sign-in (OIDC Core §3.1.2.1 `nonce`): we hand out a random value,
//! store only its SHA-256, and accept a token whose `nonce` claim is the raw value or its
//! SHA-256 hex (Google's SDKs put the raw value, Facebook's Limited Login the hash).

use aws_lc_rs::digest;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::Provider;

/// A provider whose accounts can be linked to a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SocialProvider {
    Google,
    Facebook,
}

impl SocialProvider {
    pub fn provider(self) -> Provider {
        Provider::parse(self.as_str()).expect("a valid provider name")
    }

    /// The provider name in identities and events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => Provider::GOOGLE,
            Self::Facebook => Provider::FACEBOOK,
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            Provider::GOOGLE => Some(Self::Google),
            Provider::FACEBOOK => Some(Self::Facebook),
            _ => None,
        }
    }

    pub fn method(self) -> super::AuthMethod {
        match self {
            Self::Google => super::AuthMethod::Google,
            Self::Facebook => super::AuthMethod::Facebook,
        }
    }
}

/// 256 random bits, base64url: shown once (a login nonce or a link token), stored hashed.
#[derive(Clone)]
pub struct OneTimeValue(String);

impl OneTimeValue {
    pub fn generate() -> Self {
        use aws_lc_rs::rand::SecureRandom;
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::SystemRandom::new()
            .fill(&mut bytes)
            .expect("the OS random number generator is available");
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// What the client sent: `None` unless it could be one of ours.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The stored form: SHA-256, hex.
    pub fn hash(&self) -> String {
        sha256_hex(&self.0)
    }
}

impl std::fmt::Debug for OneTimeValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimeValue([REDACTED])")
    }
}

pub fn sha256_hex(value: &str) -> String {
    super::to_hex(digest::digest(&digest::SHA256, value.as_bytes()).as_ref())
}

/// The stored hashes a token's `nonce` claim may name: the hash of the claim (the claim is
/// the raw nonce) and the claim itself (it is already the SHA-256 hex of the raw nonce).
pub fn nonce_hashes(claim: &str) -> Vec<String> {
    let mut hashes = vec![sha256_hex(claim)];
    if claim.len() == 64 && claim.bytes().all(|b| b.is_ascii_hexdigit()) {
        hashes.push(claim.to_ascii_lowercase());
    }
    hashes
}

/// Whether the raw nonce the app sent matches the token's claim (raw or hashed).
pub fn nonce_matches(raw: &str, claim: &str) -> bool {
    raw == claim || sha256_hex(raw).eq_ignore_ascii_case(claim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_names_the_nonce_raw_or_hashed() {
        let nonce = OneTimeValue::generate();
        assert!(nonce_hashes(nonce.expose()).contains(&nonce.hash()));
        assert!(nonce_hashes(&nonce.hash()).contains(&nonce.hash()));
        assert!(nonce_matches(nonce.expose(), nonce.expose()));
        assert!(nonce_matches(nonce.expose(), &nonce.hash()));
        assert!(!nonce_matches(nonce.expose(), "something else"));
    }

    #[test]
    fn one_time_values_are_256_bits_and_only_ours_parse() {
        let value = OneTimeValue::generate();
        assert_eq!(value.expose().len(), 43);
        assert!(OneTimeValue::parse(value.expose()).is_some());
        for bad in ["", "short", &"x".repeat(44), "a b"] {
            assert!(OneTimeValue::parse(bad).is_none());
        }
        assert_eq!(format!("{value:?}"), "OneTimeValue([REDACTED])");
    }

    #[test]
    fn providers_round_trip() {
        for provider in [SocialProvider::Google, SocialProvider::Facebook] {
            assert_eq!(SocialProvider::parse(provider.as_str()), Some(provider));
            assert_eq!(provider.provider().as_str(), provider.as_str());
        }
    }
}
