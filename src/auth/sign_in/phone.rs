//! The phone-code method: a number whose code came back, as the `phone` identity.
//!
//! The proof itself (challenge, attempts, consumption) is `auth::phone::check_code`: a database
//! operation with limits of its own (per challenge and per number), so it runs before the
//! pipeline and hands over the proven number. This verifier only vouches for it.

use async_trait::async_trait;

use crate::domain::{AuthMethod, LoginSubject, PhoneNumber, Provider, VerifiedIdentity};
use crate::ports::{CredentialVerifier, IdpError};

/// A number proved by a code sent to it.
pub struct ProvenPhone {
    pub phone: PhoneNumber,
}

pub struct PhoneCodeVerifier;

#[async_trait]
impl CredentialVerifier for PhoneCodeVerifier {
    type Credential = ProvenPhone;

    fn method(&self) -> AuthMethod {
        AuthMethod::PhoneCode
    }

    fn login_subject(&self, credential: &ProvenPhone) -> LoginSubject {
        LoginSubject::Identity {
            provider: Provider::phone(),
            subject: credential.phone.as_str().to_owned(),
        }
    }

    /// Wrong codes are limited per challenge and per number already; a proven number costs
    /// nothing against the account's password allowance.
    fn cost(&self, _credential: &ProvenPhone) -> i64 {
        0
    }

    async fn verify(&self, credential: &ProvenPhone) -> Result<VerifiedIdentity, IdpError> {
        Ok(VerifiedIdentity {
            provider: Provider::phone(),
            subject: credential.phone.as_str().to_owned(),
            email: None,
            email_verified: false,
            first_name: None,
            last_name: None,
            directory_profile: None,
            nonce: None,
        })
    }
}
