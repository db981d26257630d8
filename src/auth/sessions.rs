//! The member's sessions: list them, ask one's status (and why it ended), record activity, keep
//! the device details current.
//!
//! Design: reads never write; `touch_session` writes at most once per session per
//! `activity_min_interval`, so an app syncing activity every minute costs one small update a
//! minute at most, and nothing within it.

use crate::domain::{
    Device, EndReason, InvalidInput, Session, SessionId, SessionState, device::DeviceFields,
};

use super::{Auth, Principal, SessionError};

/// A session as its owner may see it after it ended: when and why.
pub struct SessionStatus {
    pub session: Session,
    /// `None` while the session is active.
    pub ended: Option<(chrono::DateTime<chrono::Utc>, EndReason)>,
}

/// Why `update_device` refused.
#[derive(Debug, thiserror::Error)]
pub enum DeviceUpdateError {
    #[error("{0}")]
    InvalidInput(#[from] InvalidInput),
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl Auth {
    /// The caller's live sessions, newest first.
    pub async fn sessions(&self, principal: Principal) -> Result<Vec<Session>, SessionError> {
        let now = self.clock.now();
        Ok(self
            .store
            .live_sessions(principal.user_id, now, now - self.lifetimes.idle)
            .await?)
    }

    pub async fn current_session(&self, principal: Principal) -> Result<Session, SessionError> {
        self.store
            .session(principal.session_id)
            .await?
            .ok_or(SessionError::NotFound)
    }

    /// One of the caller's own sessions, live or ended within the retention: another member's
    /// id is `NotFound`, like a missing one.
    pub async fn session_status(
        &self,
        principal: Principal,
        id: SessionId,
    ) -> Result<SessionStatus, SessionError> {
        let session = self
            .store
            .session(id)
            .await?
            .filter(|s| s.user_id == principal.user_id)
            .ok_or(SessionError::NotFound)?;
        let ended = match self.lifetimes.state(&session, self.clock.now()) {
            SessionState::Active => None,
            SessionState::Ended { at, reason } => Some((at, reason)),
        };
        Ok(SessionStatus { session, ended })
    }

    /// Records that the member is active in the current session; the idle timeout then counts
    /// from now. Within `activity_min_interval` of the last record it answers without writing.
    #[tracing::instrument(name = "touch_session", skip_all, fields(written))]
    pub async fn touch_session(&self, principal: Principal) -> Result<Session, SessionError> {
        let now = self.clock.now();
        let written = self
            .store
            .touch_session(principal.session_id, now, self.activity_min_interval)
            .await?;
        tracing::Span::current().record("written", written);
        self.current_session(principal).await
    }

    /// Changes the current session's device details (a rotated push token, a new app version,
    /// a renamed device): fields sent replace, fields left out keep their value, and an empty
    /// `pushToken` removes the token. The device id is the session's identity on the device: a
    /// different one is refused.
    #[tracing::instrument(name = "update_device", skip_all)]
    pub async fn update_device(
        &self,
        principal: Principal,
        fields: DeviceFields,
    ) -> Result<Session, DeviceUpdateError> {
        let remove_push_token = fields
            .push_token
            .as_deref()
            .is_some_and(|token| token.trim().is_empty());
        let device = Device::parse(fields)?;
        let current = self.current_session(principal).await?;
        if device.device_id.is_some() && device.device_id != current.device.device_id {
            return Err(InvalidInput::new(
                "device.deviceId",
                "cannot change within a session: log in on the new device",
            )
            .into());
        }
        let kept = current.device;
        let device = Device {
            device_id: kept.device_id,
            device_type: device.device_type.or(kept.device_type),
            device_name: device.device_name.or(kept.device_name),
            platform: device.platform.or(kept.platform),
            platform_version: device.platform_version.or(kept.platform_version),
            app_version: device.app_version.or(kept.app_version),
            push_token: match remove_push_token {
                true => None,
                false => device.push_token.or(kept.push_token),
            },
        };
        if !self
            .store
            .update_device(principal.session_id, &device)
            .await
            .map_err(SessionError::from)?
        {
            return Err(SessionError::NotFound.into());
        }
        Ok(self.current_session(principal).await?)
    }
}

impl Auth {
    /// Whether password logins can reach the member directory now (its circuit breaker).
    pub fn password_login_availability(&self) -> crate::ports::Availability {
        self.password.checker.availability()
    }
}

impl Auth {
    /// The caller's own security events, newest first: up to `limit` older than the event
    /// `before` (the "was this you?" screen). Only the types a member sees
    /// (`AuditType::shown_to_member`).
    #[tracing::instrument(name = "security_activity", skip_all)]
    pub async fn security_activity(
        &self,
        principal: Principal,
        before: Option<uuid::Uuid>,
        limit: u64,
    ) -> Result<Vec<crate::domain::audit::AuditEvent>, SessionError> {
        let query = crate::store::AuditQuery {
            user_id: Some(principal.user_id),
            member_view: true,
            ..Default::default()
        };
        Ok(self.store.audit_events(&query, before, limit).await?)
    }
}
