//! Log out of this device, the others, or all; revoke one session by id.
//!
//! Revocation is a write to `sessions.revoked_at`; `authenticate` reads it on every request, so
//! the session's unexpired access tokens and its refresh tokens stop working at once.

use crate::domain::SessionId;
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
        let which = match scope {
            LogoutScope::Current => Sessions::Only(principal.session_id),
            LogoutScope::Others => Sessions::AllExcept(principal.session_id),
            LogoutScope::All => Sessions::All,
        };
        let ended = self
            .store
            .revoke_sessions(principal.user_id, which, self.clock.now())
            .await?;
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
            )
            .await?;
        if ended == 0 {
            return Err(SessionError::NotFound);
        }
        Ok(())
    }
}
