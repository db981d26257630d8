//! The access-token signing key, parsed once.
//!
//! Why not `jsonwebtoken::encode`: it builds a signer from the key's DER on every call, and
//! aws-lc's parse is a large share of a signature (an EC key pair is checked with a scalar
//! multiplication: 14 % of a refresh's instructions; an RSA key's parse is 0.59 ms of a 1.31 ms
//! RS256 signature; BENCHMARKS.md). The signatures are aws-lc's, as jsonwebtoken's aws_lc provider
//! makes them, and every token is still verified by jsonwebtoken.

use aws_lc_rs::{
    hmac,
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// One parsed private key (or HMAC secret) of the algorithms we sign with.
pub(super) enum Signer {
    /// RFC 7518 §3.2.
    Hs256(Box<hmac::Key>),
    /// RFC 7518 §3.4: P-256, the fixed-width `r || s` signature.
    Es256(EcdsaKeyPair),
    /// RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256(RsaKeyPair),
    /// RFC 8037 §3.1: Ed25519.
    EdDsa(Ed25519KeyPair),
}

impl Signer {
    /// Parses `key` (the secret for HS256, the private key's DER otherwise) for `algorithm`.
    /// Errors when the key is not one of `algorithm`'s.
    pub(super) fn new(algorithm: Algorithm, key: &EncodingKey) -> anyhow::Result<Self> {
        if key.family() != algorithm.family() {
            anyhow::bail!("not a {algorithm:?} key");
        }
        let der = key.as_bytes();
        let invalid = |_| anyhow::anyhow!("not a valid {algorithm:?} private key");
        Ok(match algorithm {
            Algorithm::HS256 => Self::Hs256(Box::new(hmac::Key::new(hmac::HMAC_SHA256, der))),
            Algorithm::ES256 => Self::Es256(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(invalid)?,
            ),
            Algorithm::RS256 => Self::Rs256(RsaKeyPair::from_der(der).map_err(invalid)?),
            Algorithm::EdDSA => Self::EdDsa(Ed25519KeyPair::from_pkcs8(der).map_err(invalid)?),
            other => anyhow::bail!("unsupported JWT algorithm {other:?}"),
        })
    }

    fn sign(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let failed = |_| anyhow::anyhow!("the signature failed");
        Ok(match self {
            Self::Hs256(key) => hmac::sign(key, message).as_ref().to_vec(),
            Self::Es256(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec(),
            Self::Rs256(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                signature
            }
            Self::EdDsa(pair) => pair.sign(message).as_ref().to_vec(),
        })
    }

    /// The JWS compact serialization of `claims` under `header` (RFC 7515 §7.1):
    /// `BASE64URL(header) . BASE64URL(claims) . BASE64URL(signature)`.
    pub(super) fn compact<T: Serialize>(
        &self,
        header: &Header,
        claims: &T,
    ) -> anyhow::Result<String> {
        let mut token = String::with_capacity(512);
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(header)?, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compact_form_is_the_one_jsonwebtoken_makes() {
        // HS256, RS256 (PKCS#1 v1.5) and Ed25519 are deterministic: our tokens are byte for
        // byte jsonwebtoken's.
        let secret = EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef");
        let rsa = super::super::tokens::generate_pem(Algorithm::RS256).unwrap();
        let ed = super::super::tokens::generate_pem(Algorithm::EdDSA).unwrap();
        let keys = [
            (Algorithm::HS256, secret),
            (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(rsa.as_bytes()).unwrap(),
            ),
            (
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(ed.as_bytes()).unwrap(),
            ),
        ];
        let claims = serde_json::json!({"sub": "u", "exp": 1});
        for (algorithm, key) in keys {
            let mut header = Header::new(algorithm);
            header.kid = Some("k1".into());
            let ours = Signer::new(algorithm, &key)
                .unwrap()
                .compact(&header, &claims)
                .unwrap();
            let theirs = jsonwebtoken::encode(&header, &claims, &key).unwrap();
            assert_eq!(ours, theirs, "{algorithm:?}");
        }
    }

    #[test]
    fn a_key_of_another_algorithm_or_family_is_refused_at_parse() {
        let es = super::super::tokens::generate_pem(Algorithm::ES256).unwrap();
        let key = EncodingKey::from_ec_pem(es.as_bytes()).unwrap();
        assert!(Signer::new(Algorithm::ES256, &key).is_ok());
        for other in [
            Algorithm::EdDSA,
            Algorithm::RS256,
            Algorithm::ES384,
            Algorithm::HS256,
        ] {
            assert!(Signer::new(other, &key).is_err(), "{other:?}");
        }
        let secret = EncodingKey::from_secret(&[7; 32]);
        assert!(Signer::new(Algorithm::ES256, &secret).is_err());
    }
}
