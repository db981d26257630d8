//! How long sessions, refresh tokens and access tokens live.
//!
//! Design: every lifetime is capped by the ones above it, so nothing we issue outlives its
//! session, and no session outlives the member's last membership day.

use chrono::{DateTime, Duration, Utc};

use super::{AuthMethod, Device, UserId};

uuid_id!(
    /// Our id of a session: the `sid` claim of its access tokens.
    SessionId
);

/// A member's session on one device.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub device: Device,
    /// How the session was opened; refreshes keep it.
    pub auth_method: AuthMethod,
    pub created_at: DateTime<Utc>,
    /// When the session last logged in or refreshed.
    pub last_accessed_at: DateTime<Utc>,
    /// The absolute end: login + maximum lifetime, capped by the membership end.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    pub access_token: Duration,
    pub refresh_token: Duration,
    /// A session not refreshed for this long ends.
    pub idle: Duration,
    /// A session ends this long after login, however active.
    pub max: Duration,
    /// How long a used refresh token is answered with its successor instead of reuse detection.
    pub reuse_grace: Duration,
}

impl SessionLifetimes {
    pub fn session_expires_at(
        &self,
        login_at: DateTime<Utc>,
        membership_ends_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        (login_at + self.max).min(membership_ends_at)
    }

    pub fn refresh_token_expires_at(
        &self,
        now: DateTime<Utc>,
        session_expires_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        (now + self.refresh_token)
            .min(now + self.idle)
            .min(session_expires_at)
    }

    pub fn access_token_expires_at(
        &self,
        now: DateTime<Utc>,
        session_expires_at: DateTime<Utc>,
    ) -> DateTime<Utc> {
        (now + self.access_token).min(session_expires_at)
    }

    /// Whether a session with these timestamps is still usable at `now`.
    pub fn is_live(
        &self,
        now: DateTime<Utc>,
        last_accessed_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        revoked_at: Option<DateTime<Utc>>,
    ) -> bool {
        revoked_at.is_none() && now < expires_at && now < last_accessed_at + self.idle
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lifetimes() -> SessionLifetimes {
        SessionLifetimes {
            access_token: Duration::minutes(15),
            refresh_token: Duration::days(30),
            idle: Duration::days(30),
            max: Duration::days(90),
            reuse_grace: Duration::seconds(10),
        }
    }

    #[test]
    fn lifetimes_are_capped_by_membership_end_and_session_end() {
        let now = "2026-03-31T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let membership_end = now + Duration::minutes(5);
        let l = lifetimes();
        let session_end = l.session_expires_at(now, membership_end);
        assert_eq!(session_end, membership_end);
        assert_eq!(l.refresh_token_expires_at(now, session_end), membership_end);
        assert_eq!(l.access_token_expires_at(now, session_end), membership_end);
        let far = now + Duration::days(400);
        assert_eq!(l.session_expires_at(now, far), now + Duration::days(90));
    }

    #[test]
    fn a_session_is_live_until_idle_expiry_or_revocation() {
        let l = lifetimes();
        let t0 = "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let end = t0 + Duration::days(90);
        assert!(l.is_live(t0, t0, end, None));
        assert!(l.is_live(
            t0 + Duration::days(30) - Duration::seconds(1),
            t0,
            end,
            None
        ));
        assert!(!l.is_live(t0 + Duration::days(30), t0, end, None));
        assert!(!l.is_live(end, end - Duration::days(1), end, None));
        assert!(!l.is_live(t0, t0, end, Some(t0)));
    }
}
