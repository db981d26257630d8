//! Log out of this device, the others, or all; revoke one session by id.
//!
//! Revocation is a write to `sessions.revoked_at`; `authenticate` reads it on every request, so
//! the session's unexpired access tokens and its refresh tokens stop working at once.

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
                .store
                .revoke_sessions(
                    principal.user_id,
                    Sessions::AllExcept(principal.session_id),
                    now,
                    EndReason::Revoked,
                )
                .await?;
        }
        if this {
            ended += self
                .store
                .revoke_sessions(
                    principal.user_id,
                    Sessions::Only(principal.session_id),
                    now,
                    EndReason::Logout,
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
        let ended = self
            .store
            .revoke_sessions(
                principal.user_id,
                Sessions::Only(session_id),
                self.clock.now(),
                if session_id == principal.session_id {
                    EndReason::Logout
                } else {
                    EndReason::Revoked
                },
            )
            .await?;
        if ended == 0 {
            return Err(SessionError::NotFound);
        }
        Ok(())
    }
}
