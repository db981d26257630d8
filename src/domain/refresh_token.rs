//! Opaque refresh tokens: shown once, stored only as a SHA-256 hash.
//!
//! Design: a token is 256 bits from the OS CSPRNG, base64url without padding. When a token is
//! used, its successor is derived from the presented token and a random nonce stored on the used
//! row (`HMAC-SHA256(key = token, nonce)`), so a retry inside the reuse grace window can be given
//! the very same successor while neither plaintext is ever stored. Knowing a used token is not
//! enough to compute its successor without the database row.

use super::to_hex as hex;
use aws_lc_rs::{digest, hmac, rand::SecureRandom};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

const TOKEN_BYTES: usize = 32;
/// base64url of 32 bytes.
const TOKEN_CHARS: usize = 43;

pub struct RefreshToken(String);

/// Partner tokens and partner secrets have the same shape: 256 random bits, shown once, stored
/// only as a SHA-256 hash.
pub type OpaqueToken = RefreshToken;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash(String);

/// The random value stored on a used token's row, from which its successor is derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationNonce(String);

fn random_bytes() -> [u8; TOKEN_BYTES] {
    let mut bytes = [0u8; TOKEN_BYTES];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random number generator is available");
    bytes
}

impl RefreshToken {
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_bytes()))
    }

    /// Accepts only strings that could be one of our tokens; anything else is simply invalid.
    pub fn parse(raw: &str) -> Option<Self> {
        let well_formed = raw.len() == TOKEN_CHARS
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        well_formed.then(|| Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A copy; explicit, as copies of a secret should be.
    pub fn clone_secret(&self) -> Self {
        Self(self.0.clone())
    }

    pub fn hash(&self) -> RefreshTokenHash {
        let digest = digest::digest(&digest::SHA256, self.0.as_bytes());
        RefreshTokenHash(hex(digest.as_ref()))
    }

    /// The one successor of this token for a given nonce.
    /// The refresh token a login proved by `secret` (a provider token) opens, with `nonce`
    /// stored on the login's nonce row: a retry presenting the same `secret` gets the same
    /// token back, while neither is stored.
    pub fn derive(secret: &[u8], nonce: &RotationNonce) -> RefreshToken {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let tag = hmac::sign(&key, nonce.0.as_bytes());
        RefreshToken(URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    pub fn successor(&self, nonce: &RotationNonce) -> RefreshToken {
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.0.as_bytes());
        let tag = hmac::sign(&key, nonce.0.as_bytes());
        RefreshToken(URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

impl RefreshTokenHash {
    pub fn from_stored(hash: String) -> Self {
        Self(hash)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl RotationNonce {
    pub fn generate() -> Self {
        Self(URL_SAFE_NO_PAD.encode(random_bytes()))
    }

    pub fn from_stored(nonce: String) -> Self {
        Self(nonce)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_base64url_and_unique() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_eq!(a.expose().len(), TOKEN_CHARS);
        assert_ne!(a.expose(), b.expose());
        assert!(RefreshToken::parse(a.expose()).is_some());
    }

    #[test]
    fn the_hash_is_sha256_hex_and_not_the_token() {
        let token = RefreshToken::generate();
        let hash = token.hash();
        assert_eq!(hash.as_str().len(), 64);
        assert!(!hash.as_str().contains(token.expose()));
        assert_eq!(hash, RefreshToken::parse(token.expose()).unwrap().hash());
    }

    #[test]
    fn the_successor_depends_on_token_and_nonce_and_is_itself_a_token() {
        let token = RefreshToken::generate();
        let nonce = RotationNonce::generate();
        let once = token.successor(&nonce);
        assert_eq!(once.expose(), token.successor(&nonce).expose());
        assert_ne!(
            once.expose(),
            token.successor(&RotationNonce::generate()).expose()
        );
        assert!(RefreshToken::parse(once.expose()).is_some());
    }

    #[test]
    fn malformed_tokens_are_not_parsed() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(43),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad:?}");
        }
    }
}
