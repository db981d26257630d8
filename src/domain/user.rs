//! Users as we know them, and the customer profile Hybris gives us at login.

use chrono::{DateTime, Utc};

use super::{Email, Membership};

uuid_id!(
    /// Our id of a member: a UUIDv7, never the upstream customer id.
    UserId
);

/// What the member directory (Hybris) says about a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerProfile {
    /// Hybris' `customerId` (stable across email changes), else its `uid`.
    pub customer_id: String,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub membership: Option<Membership>,
    /// Whether the shop account is closed (OCC `deactivationDate` set): no login, whatever the
    /// membership says.
    pub closed: bool,
}

/// A member: the profile as Hybris last reported it (the membership snapshot), and our own
/// timestamps.
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub membership: Option<Membership>,
    pub created_at: DateTime<Utc>,
    /// When the profile snapshot was last written.
    pub updated_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}
