//! Users as we know them, and the customer profile Hybris gives us at login.

use super::{Email, Membership};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub uuid::Uuid);

impl UserId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl Default for UserId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What the identity provider says about a customer who just authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerProfile {
    /// Hybris' `customerId` (stable across email changes), else its `uid`.
    pub customer_id: String,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub membership: Option<Membership>,
}
