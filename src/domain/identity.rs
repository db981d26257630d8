//! Identities: who vouched for a sign-in (provider and subject), how (the method), and whom an
//! attempt counts against (the login subject).
//!
//! Design: a member always comes from Hybris; every other way of signing in is an identity
//! linked to that member. A provider is an open name (`hybris` today) so that a new sign-in
//! method adds a verifier, not a change here.

use super::{Email, InvalidInput};

/// How a session was opened. Stored by name; access tokens carry it as the `amr` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// Email and password, checked by Hybris.
    Password,
    /// A one-time code sent by SMS to the member's enrolled phone.
    PhoneCode,
    /// A Google account linked to the member (a verified Google ID token).
    Google,
    /// A Facebook account linked to the member (a Limited Login token or a user access token).
    Facebook,
}

impl AuthMethod {
    /// Every method this release knows.
    pub const ALL: [Self; 4] = [
        Self::Password,
        Self::PhoneCode,
        Self::Google,
        Self::Facebook,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::PhoneCode => "phone_code",
            Self::Google => "google",
            Self::Facebook => "facebook",
        }
    }

    /// `None` for a name this release does not know.
    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "password" => Some(Self::Password),
            "phone_code" => Some(Self::PhoneCode),
            "google" => Some(Self::Google),
            "facebook" => Some(Self::Facebook),
            _ => None,
        }
    }

    /// The Authentication Method Reference value (RFC 8176 §2): `pwd` for a password, `sms`
    /// for a code confirmed by text message. RFC 8176 registers no value for a federated
    /// sign-in; `fed` is the one Microsoft Entra ID uses for it.
    pub fn amr(self) -> &'static str {
        match self {
            Self::Password => "pwd",
            Self::PhoneCode => "sms",
            Self::Google | Self::Facebook => "fed",
        }
    }
}

/// Who vouches for an identity: `hybris`, later `phone`, `google`, `facebook`. Lower-case
/// letters, digits, `-` and `_`, at most 32.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Provider(String);

impl Provider {
    /// The member directory: every member has exactly one `hybris` identity, subject = the
    /// Hybris customer id.
    pub const HYBRIS: &'static str = "hybris";

    /// An enrolled phone number: subject = the number in E.164.
    pub const PHONE: &'static str = "phone";

    pub fn hybris() -> Self {
        Self(Self::HYBRIS.to_owned())
    }

    pub fn phone() -> Self {
        Self(Self::PHONE.to_owned())
    }

    pub const GOOGLE: &'static str = "google";
    pub const FACEBOOK: &'static str = "facebook";

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let ok = !raw.is_empty()
            && raw.len() <= 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        ok.then(|| Self(raw.to_owned()))
            .ok_or_else(|| InvalidInput::new("provider", "must be a provider name"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_member_directory(&self) -> bool {
        self.0 == Self::HYBRIS
    }
}

/// A sign-in that a verifier accepted: the provider's stable subject and what the provider
/// vouches for.
#[derive(Debug, Clone)]
pub struct VerifiedIdentity {
    pub provider: Provider,
    /// The provider's stable id of the account (Hybris: the customer id; OIDC: `sub`).
    pub subject: String,
    pub email: Option<Email>,
    /// Whether the provider says it verified the email (OIDC `email_verified`).
    pub email_verified: bool,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The member directory vouches for the whole profile, membership included; no other
    /// provider does, so no other provider can create a member.
    pub directory_profile: Option<super::CustomerProfile>,
    /// The token's `nonce` claim (OIDC Core §2), when it carries one.
    pub nonce: Option<String>,
}

impl VerifiedIdentity {
    /// The identity the member directory vouches for with `profile`.
    pub fn from_directory(profile: super::CustomerProfile) -> Self {
        Self {
            provider: Provider::hybris(),
            subject: profile.customer_id.clone(),
            email: Some(profile.email.clone()),
            email_verified: true,
            first_name: profile.first_name.clone(),
            last_name: profile.last_name.clone(),
            directory_profile: Some(profile),
            nonce: None,
        }
    }
}

/// Whom a sign-in attempt counts against for rate limits, before anything is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginSubject {
    /// A password login: the normalised email.
    Email(Email),
    /// Any other method: the identifier it was given, under its provider.
    Identity { provider: Provider, subject: String },
}

impl LoginSubject {
    /// A stable text for counter keys (hashed before use: keys never hold it in clear).
    pub fn key_material(&self) -> String {
        match self {
            Self::Email(email) => email.as_str().to_owned(),
            Self::Identity { provider, subject } => format!("{}:{subject}", provider.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_round_trip_and_map_to_rfc_8176_values() {
        for method in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(method.as_str()), Some(method));
        }
        assert_eq!(AuthMethod::Password.amr(), "pwd");
        assert_eq!(AuthMethod::parse("telepathy"), None);
    }

    #[test]
    fn provider_names_are_short_lower_case_words() {
        assert!(Provider::parse("google").is_ok());
        assert!(Provider::parse("test_sso-2").is_ok());
        for bad in ["", "Google", "a b", "x".repeat(33).as_str(), "hybris;drop"] {
            assert!(Provider::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Provider::hybris().is_member_directory());
    }

    #[test]
    fn login_subjects_of_different_providers_never_share_a_key() {
        let email = LoginSubject::Email(Email::parse("a@example.org").unwrap());
        let other = LoginSubject::Identity {
            provider: Provider::parse("google").unwrap(),
            subject: "a@example.org".into(),
        };
        assert_ne!(email.key_material(), other.key_material());
    }
}
