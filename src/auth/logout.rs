//! Log out of this device, the others, or all; revoke one session by id.
//!
//! Revocation is a write to `sessions.revoked_at`; `authenticate` reads it on every request, so
//! the session's unexpired access tokens and its refresh tokens stop working at once. Each
//! write carries its audit event (`logout`, `session.revoked`) in the same transaction.

use crate::domain::audit::AuditType;
use crate::domain::{EndReason, SessionId};
use crate::store::Sessions;

use super::{Auth, Principal, SessionError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutScope {
    Current,
    Others,
    All,
}

impl Auth {
    #[tracing::instrument(name = "logout", skip_all, fields(scope = ?scope, ended))]
    pub async fn logout(
        &self,
        principal: Principal,
        scope: LogoutScope,
    ) -> Result<u64, SessionError> {
        // This device's session ends as a logout; the others are revoked from here.
        let (this, others) = match scope {
            LogoutScope::Current => (true, false),
            LogoutScope::Others => (false, true),
            LogoutScope::All => (true, true),
        };
        let now = self.clock.now();
        let mut ended = 0;
        if others {
            ended += self
                .end_sessions(
                    principal,
                    Sessions::AllExcept(principal.session_id),
                    EndReason::Revoked,
                    now,
                )
                .await?;
        }
        if this {
            ended += self
                .end_sessions(
                    principal,
                    Sessions::Only(principal.session_id),
                    EndReason::Logout,
                    now,
                )
                .await?;
        }
        tracing::Span::current().record("ended", ended);
        Ok(ended)
    }

    /// Revokes one of the caller's own sessions; any other id is `NotFound`, revealing nothing.
    #[tracing::instrument(name = "revoke_session", skip_all)]
    pub async fn revoke_session(
        &self,
        principal: Principal,
        session_id: SessionId,
    ) -> Result<(), SessionError> {
        let reason = if session_id == principal.session_id {
            EndReason::Logout
        } else {
            EndReason::Revoked
        };
        let ended = self
            .end_sessions(
                principal,
                Sessions::Only(session_id),
                reason,
                self.clock.now(),
            )
            .await?;
        if ended == 0 {
            return Err(SessionError::NotFound);
        }
        Ok(())
    }

    /// Ends `which` of the caller's sessions with their audit event in the same transaction:
    /// `logout` for the caller's own, `session.revoked` for others (with how many ended).
    async fn end_sessions(
        &self,
        principal: Principal,
        which: Sessions,
        reason: EndReason,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, SessionError> {
        let kind = match reason {
            EndReason::Logout => AuditType::Logout,
            _ => AuditType::SessionRevoked,
        };
        let mut event = self
            .audit_event(kind)
            .with_reason(reason.as_str())
            .of(principal.user_id, Some(principal.session_id));
        if let Sessions::Only(id) = which {
            event.session_id = Some(id);
        }
        let ended = self
            .store
            .revoke_sessions(principal.user_id, which, now, reason, Some(&event))
            .await?;
        Ok(ended)
    }
}
