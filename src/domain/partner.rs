//! Partner web apps the member may sign in to with a one-time token.
//!
//! Design: a partner sees the member only through claims it was allowed, and under a
//! *pairwise subject*: `HMAC-SHA256(partner's subject salt, user id)`, stable for one partner and
//! different for every other, so two partners cannot join their data on our user id.

use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{InvalidInput, UserId};

/// The longest a partner token may live: the original flow's 15-minute bound.
pub const MAX_TOKEN_TTL_SECS: i64 = 900;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartnerId(String);

impl PartnerId {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let ok = (1..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidInput::new(
                "partnerId",
                "must be 1 to 64 of a-z, 0-9, - and _",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a partner may learn about the member, beyond the pairwise subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Name,
    MembershipNumber,
}

impl Claim {
    pub const ALL: [Claim; 2] = [Claim::Name, Claim::MembershipNumber];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::MembershipNumber => "membership_number",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw.trim())
    }

    /// `name,membership_number` → claims; unknown names are an error naming them.
    pub fn parse_list(raw: &str) -> Result<Vec<Claim>, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| {
                Claim::parse(c)
                    .ok_or_else(|| format!("unknown claim {c:?}: use name, membership_number"))
            })
            .collect()
    }

    pub fn join(claims: &[Claim]) -> String {
        claims
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The member's subject as one partner sees it.
pub fn pairwise_subject(subject_salt: &str, user_id: UserId) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, subject_salt.as_bytes());
    URL_SAFE_NO_PAD.encode(hmac::sign(&key, user_id.to_string().as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_subjects_are_stable_per_partner_and_differ_across_partners() {
        let user = UserId::new();
        assert_eq!(
            pairwise_subject("salt-a", user),
            pairwise_subject("salt-a", user)
        );
        assert_ne!(
            pairwise_subject("salt-a", user),
            pairwise_subject("salt-b", user)
        );
        assert!(!pairwise_subject("salt-a", user).contains(&user.to_string()));
    }

    #[test]
    fn partner_ids_and_claims_parse_strictly() {
        assert!(PartnerId::parse("rides-pwa_1").is_ok());
        for bad in ["", "Rides", "a b", "x".repeat(65).as_str(), "é"] {
            assert!(PartnerId::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Claim::parse_list("name, membership_number").unwrap(),
            vec![Claim::Name, Claim::MembershipNumber]
        );
        assert!(Claim::parse_list("name,email").is_err());
    }
}
