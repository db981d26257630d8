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
    /// The day the shop account closes (OCC `deactivationDate`): from then on no login,
    /// whatever the membership says. A date we cannot read counts as already past.
    pub deactivated_on: Option<chrono::NaiveDate>,
    /// Roles from the profile field `HYBRIS_ROLES_FIELD` names; empty without one.
    pub roles: Vec<String>,
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
    /// The roles Hybris last reported (`HYBRIS_ROLES_FIELD`).
    pub upstream_roles: Vec<String>,
    /// The phone enrolled for code sign-in, if any.
    pub phone: Option<EnrolledPhone>,
}

/// A phone number the member proved with a code; it signs them in by SMS code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolledPhone {
    /// E.164.
    pub number: String,
    pub verified_at: DateTime<Utc>,
}

/// The role every member holds while the membership is active.
pub const MEMBER_ROLE: &str = "member";

impl User {
    /// `member` while the membership is active on `today`, then the roles Hybris reported, each
    /// once. Informative: access is still decided by the session and the membership.
    pub fn roles(&self, today: chrono::NaiveDate) -> Vec<String> {
        let active = self.membership.as_ref().is_some_and(|m| m.is_active(today));
        let mut roles: Vec<String> = active.then(|| MEMBER_ROLE.to_owned()).into_iter().collect();
        for role in &self.upstream_roles {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
        roles
    }
}
