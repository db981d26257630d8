//! Sessions: refresh, list, log out, revoke.

use async_graphql::{Context, Enum, ID, Object};

use super::context::{api, auth, client_ip, counted, principal};
use super::error::ApiError;
use super::types::{AuthPayload, DeviceInput, Session, SessionStatus};
use crate::auth::LogoutScope as Scope;

/// Which sessions `logout` ends.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum LogoutScope {
    /// The session of the presented access token.
    Current,
    /// Every other session of the user.
    Others,
    /// Every session of the user.
    All,
}

#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The session of the presented access token.
    async fn current_session(&self, ctx: &Context<'_>) -> async_graphql::Result<Session> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let session = api(ctx, Box::pin(auth.current_session(principal)).await)?;
        Ok(Session::new(session, true))
    }

    /// One of the caller's own sessions, live or ended in the last 7 days, and why it ended.
    /// Another member's session, or a missing one, is `SESSION_NOT_FOUND`.
    async fn session_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<SessionStatus> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let Ok(session_id) = id.parse() else {
            return Err(ApiError::SessionNotFound.extend(ctx));
        };
        let status = api(
            ctx,
            Box::pin(auth.session_status(principal, session_id)).await,
        )?;
        Ok(status.into())
    }

    /// The user's live sessions, one per device, newest first.
    async fn sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Session>> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let sessions = api(ctx, Box::pin(auth.sessions(principal)).await)?;
        Ok(sessions
            .into_iter()
            .map(|s| {
                let current = s.id == principal.session_id;
                Session::new(s, current)
            })
            .collect())
    }
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Exchanges a refresh token for new tokens. Each refresh token works once; presenting it
    /// again within a few seconds returns the same new tokens, later it ends the session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        let auth = auth(ctx)?;
        let issued = counted(
            ctx,
            |m| &m.refreshes,
            Box::pin(auth.refresh(&refresh_token, client_ip(ctx))).await,
        )?;
        Ok(AuthPayload::new(issued, auth.today()))
    }

    /// Ends the current session, the others, or all of the user's sessions.
    async fn logout(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(LogoutScope::Current)")] scope: Option<LogoutScope>,
    ) -> async_graphql::Result<bool> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let scope = match scope.unwrap_or(LogoutScope::Current) {
            LogoutScope::Current => Scope::Current,
            LogoutScope::Others => Scope::Others,
            LogoutScope::All => Scope::All,
        };
        api(ctx, Box::pin(auth.logout(principal, scope)).await)?;
        Ok(true)
    }

    /// Updates the current session's device details (a rotated push token, an upgraded app, a
    /// renamed device) without a new login. Fields left out keep their value; an empty
    /// `pushToken` removes the token. A different `deviceId` is `BAD_USER_INPUT`.
    async fn update_device(
        &self,
        ctx: &Context<'_>,
        input: DeviceInput,
    ) -> async_graphql::Result<Session> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let session = api(
            ctx,
            Box::pin(auth.update_device(principal, input.into())).await,
        )?;
        Ok(Session::new(session, true))
    }

    /// Records that the member is active (apps call it about once a minute); the idle timeout
    /// counts from the later of the last refresh and the last activity. Writes at most once per
    /// `SESSION_ACTIVITY_MIN_INTERVAL_SECS`.
    async fn touch_session(&self, ctx: &Context<'_>) -> async_graphql::Result<Session> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let session = api(ctx, Box::pin(auth.touch_session(principal)).await)?;
        Ok(Session::new(session, true))
    }

    /// Ends one of the user's own sessions.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let Ok(session_id) = id.parse() else {
            return Err(ApiError::SessionNotFound.extend(ctx));
        };
        api(
            ctx,
            Box::pin(auth.revoke_session(principal, session_id)).await,
        )?;
        Ok(true)
    }
}
