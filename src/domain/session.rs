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
    /// When the app last reported the member active (`touchSession`).
    pub last_active_at: Option<DateTime<Utc>>,
    /// The absolute end: login + maximum lifetime, capped by the membership end.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it was ended, when something ended it (rather than time).
    pub end_reason: Option<EndReason>,
}

impl Session {
    /// The later of the last refresh and the last reported activity: the idle timeout counts
    /// from here.
    pub fn last_seen_at(&self) -> DateTime<Utc> {
        self.last_active_at.map_or(self.last_accessed_at, |active| {
            active.max(self.last_accessed_at)
        })
    }
}

/// Why a session ended; the `extensions.reason` of the 401 its tokens then get. Stored by name;
/// new values may be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// The member logged out on this device.
    Logout,
    /// Ended from another of the member's sessions (log out of the others, or of one).
    Revoked,
    /// A new login on the same device replaced it.
    ReplacedByNewLogin,
    /// Neither refreshed nor active for the idle timeout.
    IdleTimeout,
    /// Past its maximum lifetime.
    MaxLifetime,
    /// The club membership ended.
    MembershipEnded,
    /// A used refresh token came back after its grace window: the token was copied.
    RefreshTokenReused,
    /// The member deleted their account (the session is gone; its tokens say why).
    AccountDeleted,
}

impl EndReason {
    pub const ALL: [Self; 8] = [
        Self::Logout,
        Self::Revoked,
        Self::ReplacedByNewLogin,
        Self::IdleTimeout,
        Self::MaxLifetime,
        Self::MembershipEnded,
        Self::RefreshTokenReused,
        Self::AccountDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "LOGOUT",
            Self::Revoked => "REVOKED",
            Self::ReplacedByNewLogin => "REPLACED_BY_NEW_LOGIN",
            Self::IdleTimeout => "IDLE_TIMEOUT",
            Self::MaxLifetime => "MAX_LIFETIME",
            Self::MembershipEnded => "MEMBERSHIP_ENDED",
            Self::RefreshTokenReused => "REFRESH_TOKEN_REUSED",
            Self::AccountDeleted => "ACCOUNT_DELETED",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == stored)
    }
}

#[cfg(test)]
impl Session {
    /// A live password session of `user_id`, opened now for a day (unit tests).
    pub fn fresh(user_id: UserId) -> Self {
        let now = chrono::Utc::now();
        Self {
            id: SessionId::new(),
            user_id,
            device: Default::default(),
            auth_method: super::AuthMethod::Password,
            created_at: now,
            last_accessed_at: now,
            last_active_at: None,
            expires_at: now + Duration::days(1),
            revoked_at: None,
            end_reason: None,
        }
    }
}

/// Whether a session can still be used at a given time, and if not, since when and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    Active,
    Ended {
        at: DateTime<Utc>,
        reason: EndReason,
    },
}

/// How long an ended session is kept, for `sessionStatus` and the reason of its 401s.
pub const ENDED_SESSION_RETENTION: Duration = Duration::days(7);

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

    /// Whether `session` is usable at `now`; if not, the first end it met: an explicit one
    /// (logout, revocation, reuse, replacement), the idle timeout (from the later of the last
    /// refresh and the last activity), or its absolute end (the maximum lifetime, or the
    /// membership end when that came first).
    pub fn state(&self, session: &Session, now: DateTime<Utc>) -> SessionState {
        let idle_at = session.last_seen_at() + self.idle;
        let lifetime_reason = if session.expires_at < session.created_at + self.max {
            EndReason::MembershipEnded
        } else {
            EndReason::MaxLifetime
        };
        let (at, reason) = if idle_at < session.expires_at {
            (idle_at, EndReason::IdleTimeout)
        } else {
            (session.expires_at, lifetime_reason)
        };
        // An explicit end counts only if it came first: revoking an already idle session (a
        // new login on its device, a logout of the others) does not rewrite why it ended.
        if let Some(revoked_at) = session.revoked_at.filter(|revoked| *revoked < at) {
            let reason = session.end_reason.unwrap_or(EndReason::Revoked);
            return SessionState::Ended {
                at: revoked_at,
                reason,
            };
        }
        if now >= at {
            SessionState::Ended { at, reason }
        } else {
            SessionState::Active
        }
    }

    /// Whether `session` is usable at `now`.
    pub fn is_live(&self, session: &Session, now: DateTime<Utc>) -> bool {
        self.state(session, now) == SessionState::Active
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

    fn session(created: DateTime<Utc>, expires_at: DateTime<Utc>) -> Session {
        Session {
            id: SessionId::new(),
            user_id: UserId::new(),
            device: Device::default(),
            auth_method: AuthMethod::Password,
            created_at: created,
            last_accessed_at: created,
            last_active_at: None,
            expires_at,
            revoked_at: None,
            end_reason: None,
        }
    }

    #[test]
    fn a_session_is_live_until_idle_expiry_or_revocation() {
        let l = lifetimes();
        let t0 = "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let s = session(t0, t0 + Duration::days(90));
        assert!(l.is_live(&s, t0));
        assert!(l.is_live(&s, t0 + Duration::days(30) - Duration::seconds(1)));
        assert_eq!(
            l.state(&s, t0 + Duration::days(30)),
            SessionState::Ended {
                at: t0 + Duration::days(30),
                reason: EndReason::IdleTimeout
            }
        );
        let mut revoked = s.clone();
        revoked.revoked_at = Some(t0);
        revoked.end_reason = Some(EndReason::Logout);
        assert_eq!(
            l.state(&revoked, t0),
            SessionState::Ended {
                at: t0,
                reason: EndReason::Logout
            }
        );
        // Revoked after it had idled out: it ended by idling, then.
        let mut late = s.clone();
        late.revoked_at = Some(t0 + Duration::days(40));
        late.end_reason = Some(EndReason::ReplacedByNewLogin);
        assert_eq!(
            l.state(&late, t0 + Duration::days(40)),
            SessionState::Ended {
                at: t0 + Duration::days(30),
                reason: EndReason::IdleTimeout
            }
        );
    }

    #[test]
    fn activity_postpones_the_idle_timeout_and_the_end_says_which_limit_came_first() {
        let l = lifetimes();
        let t0 = "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut s = session(t0, t0 + Duration::days(90));
        s.last_active_at = Some(t0 + Duration::days(20));
        assert!(l.is_live(&s, t0 + Duration::days(45)));
        assert_eq!(
            l.state(&s, t0 + Duration::days(50)),
            SessionState::Ended {
                at: t0 + Duration::days(50),
                reason: EndReason::IdleTimeout
            }
        );
        // Kept active, the session meets its maximum lifetime…
        s.last_active_at = Some(t0 + Duration::days(89));
        assert!(matches!(
            l.state(&s, t0 + Duration::days(90)),
            SessionState::Ended {
                reason: EndReason::MaxLifetime,
                ..
            }
        ));
        // …or, when the membership ends sooner, the membership's end.
        let short = session(t0, t0 + Duration::days(3));
        assert!(matches!(
            l.state(&short, t0 + Duration::days(3)),
            SessionState::Ended {
                reason: EndReason::MembershipEnded,
                ..
            }
        ));
    }

    #[test]
    fn end_reasons_round_trip_by_name() {
        for reason in EndReason::ALL {
            assert_eq!(EndReason::parse(reason.as_str()), Some(reason));
        }
    }
}
