//! Google and Facebook token verification behind `SocialTokenVerifier`.
//!
//! Design: every check an attacker probes is made here, with `jsonwebtoken` for signatures and
//! our one reqwest client for the JWKS and the Graph API; the provider's quirks stay inside
//! (Google's two issuer spellings, Facebook's two token kinds). No token is ever logged.

mod facebook;
mod google;
pub mod id_token;
pub mod jwks;

pub use facebook::{FacebookSettings, FacebookVerifier};
pub use google::{GoogleSettings, GoogleVerifier};

/// Clock skew allowed on `exp` and `iat`.
pub const LEEWAY_SECS: i64 = 60;
