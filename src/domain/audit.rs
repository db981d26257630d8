//! The security audit trail's vocabulary: what happened, to whom, how it went.
//!
//! Design: an event is written in the transaction of the change it records, so it exists
//! exactly when the change does; failures (which change nothing) are written on their own and
//! bounded per client network. `details` is a struct, not a map: only the fields named here can
//! ever be stored, so nothing secret or personal slips in by accident.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{AuthMethod, SessionId, UserId};

/// What an audit event records. Stored by `as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditType {
    LoginSucceeded,
    LoginFailed,
    /// A used refresh token came back after its grace window; the session ended.
    TokenReuseDetected,
    /// A refresh (only with `AUDIT_RECORD_REFRESH=true`).
    TokenRefreshed,
    /// Sessions ended from another of the member's sessions.
    SessionRevoked,
    /// The member logged out of this device (or of all, this one included).
    Logout,
    RateLimitTripped,
    AccountDeleted,
    AccountLinked,
    AccountUnlinked,
    PhoneEnrolled,
    PhoneRemoved,
    PartnerTokenRedeemed,
    PartnerTokenReplayed,
    UpstreamBreakerOpened,
    UpstreamBreakerClosed,
}

impl AuditType {
    pub const ALL: [Self; 16] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::TokenReuseDetected,
        Self::TokenRefreshed,
        Self::SessionRevoked,
        Self::Logout,
        Self::RateLimitTripped,
        Self::AccountDeleted,
        Self::AccountLinked,
        Self::AccountUnlinked,
        Self::PhoneEnrolled,
        Self::PhoneRemoved,
        Self::PartnerTokenRedeemed,
        Self::PartnerTokenReplayed,
        Self::UpstreamBreakerOpened,
        Self::UpstreamBreakerClosed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::TokenReuseDetected => "token.reuse_detected",
            Self::TokenRefreshed => "token.refreshed",
            Self::SessionRevoked => "session.revoked",
            Self::Logout => "logout",
            Self::RateLimitTripped => "rate_limit.tripped",
            Self::AccountDeleted => "account.deleted",
            Self::AccountLinked => "account.linked",
            Self::AccountUnlinked => "account.unlinked",
            Self::PhoneEnrolled => "phone.enrolled",
            Self::PhoneRemoved => "phone.removed",
            Self::PartnerTokenRedeemed => "partner.token.redeemed",
            Self::PartnerTokenReplayed => "partner.token.replayed",
            Self::UpstreamBreakerOpened => "upstream.breaker_opened",
            Self::UpstreamBreakerClosed => "upstream.breaker_closed",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == stored)
    }

    /// Whether the member sees it in `securityActivity`: their sign-ins, sessions ended,
    /// links, phone changes and revocations; not refreshes, partner redemptions or the
    /// operators' upstream events.
    pub fn shown_to_member(self) -> bool {
        !matches!(
            self,
            Self::TokenRefreshed
                | Self::PartnerTokenRedeemed
                | Self::UpstreamBreakerOpened
                | Self::UpstreamBreakerClosed
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutcome {
    Success,
    Failure,
}

impl AuditOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        match stored {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

/// The allow-listed details an event may carry; absent fields are not stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditDetails {
    /// The device's name as the app reported it (the "was this you?" screen shows it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The provider of a linked or unlinked account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The partner of a partner-token event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_id: Option<String>,
    /// How many sessions a logout or revocation ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
    /// The upstream of a breaker event (`hybris`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// The client network a summary row counts (an IPv4 address, an IPv6 /64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The start of the minute a summary row counts (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
}

impl AuditDetails {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One audit event as written.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    /// UUIDv7.
    pub id: uuid::Uuid,
    pub at: DateTime<Utc>,
    pub kind: AuditType,
    pub outcome: AuditOutcome,
    /// A stable code: the API's error code for failures (`INVALID_CREDENTIALS`, …), the end
    /// reason for ended sessions.
    pub reason: Option<String>,
    pub method: Option<AuthMethod>,
    pub user_id: Option<UserId>,
    pub session_id: Option<SessionId>,
    /// HMAC-SHA256 (hex) of the app's device id under the audit key.
    pub device_hash: Option<String>,
    pub client_ip: Option<IpAddr>,
    pub request_id: Option<String>,
    /// HMAC-SHA256 (hex) of the normalised identifier of an account we do not know.
    pub subject_hash: Option<String>,
    pub details: AuditDetails,
    /// How many events the row stands for: 1, or a summary row's count of the failures not
    /// written one by one.
    pub count: i64,
}

impl AuditEvent {
    pub fn new(kind: AuditType, outcome: AuditOutcome, at: DateTime<Utc>) -> Self {
        Self {
            id: uuid::Uuid::now_v7(),
            at,
            kind,
            outcome,
            reason: None,
            method: None,
            user_id: None,
            session_id: None,
            device_hash: None,
            client_ip: None,
            request_id: None,
            subject_hash: None,
            details: AuditDetails::default(),
            count: 1,
        }
    }

    pub fn success(kind: AuditType, at: DateTime<Utc>) -> Self {
        Self::new(kind, AuditOutcome::Success, at)
    }

    pub fn failure(kind: AuditType, reason: &str, at: DateTime<Utc>) -> Self {
        Self {
            reason: Some(reason.to_owned()),
            ..Self::new(kind, AuditOutcome::Failure, at)
        }
    }

    pub fn of(mut self, user_id: UserId, session_id: Option<SessionId>) -> Self {
        self.user_id = Some(user_id);
        self.session_id = session_id;
        self
    }

    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    pub fn with_method(mut self, method: AuthMethod) -> Self {
        self.method = Some(method);
        self
    }

    pub fn with_details(mut self, details: AuditDetails) -> Self {
        self.details = details;
        self
    }
}

/// The network an address is shown as: IPv4 by its /24, IPv6 by its /48 (`203.0.113.0/24`).
pub fn truncated_network(ip: IpAddr) -> String {
    // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d.
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_stored_name() {
        for kind in AuditType::ALL {
            assert_eq!(AuditType::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AuditType::parse("login.maybe"), None);
    }

    #[test]
    fn addresses_are_shown_by_their_slash_24_or_slash_48() {
        assert_eq!(
            truncated_network("203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
        assert_eq!(
            truncated_network("2001:db8:abcd:12:1::5".parse().unwrap()),
            "2001:db8:abcd::/48"
        );
        assert_eq!(
            truncated_network("::ffff:203.0.113.77".parse().unwrap()),
            "203.0.113.0/24"
        );
    }

    #[test]
    fn empty_details_store_nothing_and_set_fields_only_those() {
        assert_eq!(
            serde_json::to_string(&AuditDetails::default()).unwrap(),
            "{}"
        );
        let details = AuditDetails {
            provider: Some("google".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&details).unwrap(),
            r#"{"provider":"google"}"#
        );
    }
}
