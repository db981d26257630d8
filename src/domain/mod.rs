//! The domain core: types that parse instead of validate, and the rules of the club.
//!
//! Design: nothing here knows about HTTP, GraphQL, SQL or the upstream provider. A value that
//! exists is valid (an `Email` is normalised and well-formed, a `Membership` has its dates), so
//! the use cases never re-check input.

pub mod device;
pub mod email;
pub mod membership;
pub mod outbox;
pub mod partner;
pub mod password;
pub mod refresh_token;
pub mod session;
pub mod user;

pub use device::{Device, DeviceType};
pub use email::Email;
pub use membership::{InactiveReason, Membership};
pub use password::Password;
pub use refresh_token::{OpaqueToken, RefreshToken, RefreshTokenHash};
pub use session::SessionLifetimes;
pub use user::{CustomerProfile, UserId};

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
