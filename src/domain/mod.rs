//! The domain core: types that parse instead of validate, and the rules of the club.
//!
//! Design: nothing here knows about HTTP, GraphQL, SQL or the upstream provider. A value that
//! exists is valid (an `Email` is normalised and well-formed, a `Membership` has its dates), so
//! the use cases never re-check input.

/// A UUIDv7 id newtype: `new()`, `Display` and `FromStr` of the hyphenated form.
macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                raw.parse().map(Self)
            }
        }
    };
}

pub mod audit;
pub mod device;
pub mod email;
pub mod identity;
pub mod membership;
pub mod otp;
pub mod outbox;
pub mod partner;
pub mod password;
pub mod phone;
pub mod refresh_token;
pub mod session;
pub mod social;
pub mod user;

pub use device::{Device, DeviceType};
pub use email::Email;
pub use identity::{AuthMethod, LoginSubject, Provider, VerifiedIdentity};
pub use membership::{InactiveReason, Membership};
pub use otp::{ChallengeId, ChallengePurpose, OtpCode, OtpKeys};
pub use password::Password;
pub use phone::{PhoneNumber, PhonePolicy, PhoneRefusal, Region};
pub use refresh_token::{OpaqueToken, RefreshToken, RefreshTokenHash};
pub use session::{EndReason, Session, SessionId, SessionLifetimes, SessionState};
pub use social::{OneTimeValue, SocialProvider};
pub use user::{CustomerProfile, EnrolledPhone, User, UserId};

/// Lower-case hex of `bytes`: how digests and MACs are stored.
pub fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Why an input value was refused; `field` names the GraphQL input field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct InvalidInput {
    pub field: &'static str,
    pub reason: String,
}

impl InvalidInput {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
}
