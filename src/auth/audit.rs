//! The security audit trail: who signed in, failed, logged out, linked, enrolled or was revoked,
//! from where, with which request.
//!
//! Design: events that record a change are handed to the store with the change and written in
//! its transaction (no change, no event; no event, no change). Failures change nothing, so they
//! are written on their own, and bounded: at most `AUDIT_FAILURES_PER_IP_PER_MIN` rows per client
//! network (IPv6 /64) and type each minute, the rest counted on one summary row, so a
//! credential-stuffing storm keeps its signal without flooding the database. Identifiers of
//! accounts we do not know are stored only as an HMAC under `AUDIT_HASH_KEY`.
//!
//! The request id and client address ride with the request in a task-local, as the request's
//! tracing span does, so every use case can stamp its events without each signature carrying
//! them.

use std::net::IpAddr;
use std::sync::Arc;

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::audit::{AuditEvent, AuditType};
use crate::domain::{AuthMethod, Device, LoginSubject};

use super::{Auth, LoginError, limits::ip_key};

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// A fixed key for development and tests, so hashes stay findable across restarts; production
/// refuses it unless `ALLOW_DEVELOPMENT_AUDIT_KEY=true`.
pub const DEVELOPMENT_AUDIT_KEY: &str = "login-api development audit key: never use in production";

/// Who is asking, as the audit trail records it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub client_ip: Option<IpAddr>,
}

/// Runs `future` as the request `context`: events it records carry the context. A plain
/// function, not an `async fn`: that would hold `future` twice (before and inside the scope).
pub fn in_request<F: std::future::Future>(
    context: RequestContext,
    future: F,
) -> tokio::task::futures::TaskLocalFuture<RequestContext, F> {
    REQUEST.scope(context, future)
}

fn current_request() -> RequestContext {
    REQUEST.try_with(Clone::clone).unwrap_or_default()
}

/// The audit trail's settings (`AUDIT_*`, `REAUTH_MAX_AGE_SECS`, `DELETION_TOMBSTONE_DAYS`).
#[derive(Clone)]
pub struct AuditSettings {
    /// The HMAC key for identifiers of unknown accounts, device ids and deleted members.
    pub hash_key: SecretString,
    /// Whether `hash_key` is the built-in development key.
    pub development_key: bool,
    /// Failure rows per client network and type per minute (`AUDIT_FAILURES_PER_IP_PER_MIN`).
    pub failures_per_ip_per_min: u64,
    /// How long events are kept (`AUDIT_RETENTION_DAYS`, 90).
    pub retention: chrono::Duration,
    /// Whether each refresh is recorded (`AUDIT_RECORD_REFRESH`, off).
    pub record_refresh: bool,
    /// How recently a session must have signed in to delete the account (300 s).
    pub reauth_max_age: chrono::Duration,
    /// How long a deleted account's tombstone is kept (`DELETION_TOMBSTONE_DAYS`, 30).
    pub tombstone: chrono::Duration,
}

impl std::fmt::Debug for AuditSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSettings")
            .field("development_key", &self.development_key)
            .field("failures_per_ip_per_min", &self.failures_per_ip_per_min)
            .field("retention", &self.retention)
            .field("record_refresh", &self.record_refresh)
            .field("reauth_max_age", &self.reauth_max_age)
            .field("tombstone", &self.tombstone)
            .finish_non_exhaustive()
    }
}

/// The settings in use, with the key ready.
pub struct AuditTrail {
    key: hmac::Key,
    pub settings: AuditSettings,
    /// Failures over the budget not yet added to their summary row, by summary key: written
    /// at most once a second per key, so a storm costs the database one write a second, not
    /// one per failure. A std Mutex: nothing awaits while it is held.
    pending_summaries: std::sync::Mutex<std::collections::HashMap<String, AuditEvent>>,
}

impl AuditTrail {
    pub fn new(settings: AuditSettings) -> Self {
        Self {
            key: hmac::Key::new(
                hmac::HMAC_SHA256,
                settings.hash_key.expose_secret().as_bytes(),
            ),
            settings,
            pending_summaries: Default::default(),
        }
    }

    /// HMAC-SHA256 (hex) of `value` for `purpose` (`email`, `phone`, `device`, `customer`):
    /// equal inputs give equal hashes, so rows can be found again, yet nothing is readable.
    pub fn hash(&self, purpose: &str, value: &str) -> String {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(purpose.as_bytes());
        context.update(b"\0");
        context.update(value.as_bytes());
        crate::domain::to_hex(context.sign().as_ref())
    }

    /// The hash under which failures for an identifier are stored and looked up.
    pub fn subject_hash(&self, subject: &LoginSubject) -> String {
        match subject {
            LoginSubject::Email(email) => self.hash("email", email.as_str()),
            LoginSubject::Identity { provider, subject } => {
                self.hash(provider.as_str(), subject.as_str())
            }
        }
    }
}

impl Default for AuditTrail {
    fn default() -> Self {
        Self::new(AuditSettings {
            hash_key: SecretString::from(DEVELOPMENT_AUDIT_KEY),
            development_key: true,
            failures_per_ip_per_min: 20,
            retention: chrono::Duration::days(90),
            record_refresh: false,
            reauth_max_age: chrono::Duration::seconds(300),
            tombstone: chrono::Duration::days(30),
        })
    }
}

/// The audit type and reason of a refused sign-in; `None` for refusals that say nothing about
/// the account (bad input, an upstream outage, our own errors).
pub(super) fn login_failure(error: &LoginError) -> Option<(AuditType, &'static str)> {
    let reason = match error {
        LoginError::InvalidCredentials => "INVALID_CREDENTIALS",
        LoginError::MembershipInactive(_) => "MEMBERSHIP_INACTIVE",
        LoginError::IdentityNotLinked => "IDENTITY_NOT_LINKED",
        LoginError::ReauthenticationRequired => "REAUTHENTICATION_REQUIRED",
        LoginError::LinkInUse => "SOCIAL_ACCOUNT_IN_USE",
        LoginError::LinkTokenInvalid => "LINK_TOKEN_INVALID",
        LoginError::RateLimited { .. } => return Some((AuditType::RateLimitTripped, "LOGIN")),
        LoginError::InvalidInput(_)
        | LoginError::UpstreamUnavailable
        | LoginError::UpstreamCircuitOpen { .. }
        | LoginError::UpstreamDataInvalid(_)
        | LoginError::Unexpected(_) => return None,
    };
    Some((AuditType::LoginFailed, reason))
}

impl Auth {
    /// A new event of this request (its id and client address), at the current time.
    pub(super) fn audit_event(&self, kind: AuditType) -> AuditEvent {
        let request = current_request();
        let mut event = AuditEvent::success(kind, self.clock.now());
        event.request_id = request.request_id.filter(|id| !id.is_empty());
        event.client_ip = request.client_ip;
        event
    }

    /// A failure of this request, with `reason`.
    pub(super) fn audit_failure(&self, kind: AuditType, reason: &str) -> AuditEvent {
        let mut event = self.audit_event(kind);
        event.outcome = crate::domain::audit::AuditOutcome::Failure;
        event.reason = Some(reason.to_owned());
        event
    }

    /// Stamps the device: its hashed id and (for the member's screen) its name.
    pub(super) fn on_device(&self, mut event: AuditEvent, device: &Device) -> AuditEvent {
        event.device_hash = device
            .device_id
            .as_deref()
            .map(|id| self.audit.hash("device", id));
        event.details.device_name = device.device_name.clone();
        event
    }

    /// Writes a failure on its own, within the per-network budget; never fails the request
    /// (a failure it cannot write is logged).
    pub(super) async fn record_failure(
        &self,
        mut event: AuditEvent,
        subject: Option<&LoginSubject>,
    ) {
        let limit = self.audit.settings.failures_per_ip_per_min as i64;
        let summary_key = event.client_ip.map(|ip| {
            let minute = event.at.timestamp() / 60;
            format!("{}|{}|{minute}", event.kind.as_str(), ip_key(ip))
        });
        let over_budget = match &summary_key {
            Some(key) => match self
                .rate_counter
                .add(
                    &format!("audit:{key}"),
                    1,
                    std::time::Duration::from_secs(120),
                )
                .await
            {
                Ok(window) => window.count > limit,
                // Without a counter, write the row: the signal matters more than the bound.
                Err(error) => {
                    tracing::warn!(%error, "counting audit failures failed; writing the row");
                    false
                }
            },
            None => false,
        };
        let written = match (&summary_key, over_budget) {
            (Some(key), true) => {
                // The summary row names the network, never one address, and no member.
                let minute_start = event.at.timestamp() / 60 * 60;
                event.details.window_start = chrono::DateTime::from_timestamp(minute_start, 0)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
                event.user_id = None;
                event.session_id = None;
                event.subject_hash = None;
                event.device_hash = None;
                event.details.device_name = None;
                event.reason = Some("SUMMARY".into());
                event.details.network = event.client_ip.map(ip_key);
                event.client_ip = None;
                event.request_id = None;
                self.count_on_summary(event, key.clone());
                return;
            }
            _ => {
                // Looked up only for rows that are written.
                if let Some(subject) = subject {
                    match self.known_member(subject).await {
                        Some(user_id) => event.user_id = Some(user_id),
                        None => event.subject_hash = Some(self.audit.subject_hash(subject)),
                    }
                }
                self.store.record_audit(std::slice::from_ref(&event)).await
            }
        };
        if let Err(error) = written {
            tracing::error!(%error, event_type = event.kind.as_str(), "writing an audit event failed");
        }
    }

    /// Adds one failure to the pending count of its summary row; the first starts the
    /// second after which the count is written.
    fn count_on_summary(&self, event: AuditEvent, key: String) {
        let first = {
            let mut pending = self
                .audit
                .pending_summaries
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match pending.get_mut(&key) {
                Some(counted) => {
                    counted.count += 1;
                    false
                }
                None => {
                    pending.insert(key.clone(), event);
                    true
                }
            }
        };
        if first {
            let (store, trail) = (self.store.clone(), self.audit.clone());
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                let taken = trail
                    .pending_summaries
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
                if let Some(event) = taken
                    && let Err(error) = store.count_audit_summary(&event, &key).await
                {
                    tracing::error!(%error, count = event.count, "writing an audit summary failed");
                }
            });
        }
    }

    /// Records a refused sign-in of `subject` (when it says something about the account):
    /// against the member when we know them, else under the identifier's hash.
    pub(super) async fn record_login_failure(
        &self,
        method: AuthMethod,
        subject: Option<&LoginSubject>,
        device: Option<&Device>,
        error: &LoginError,
    ) {
        let Some((kind, reason)) = login_failure(error) else {
            return;
        };
        let mut event = self.audit_failure(kind, reason).with_method(method);
        if let Some(device) = device {
            event = self.on_device(event, device);
        }
        self.record_failure(event, subject).await;
    }

    async fn known_member(&self, subject: &LoginSubject) -> Option<crate::domain::UserId> {
        let found = match subject {
            LoginSubject::Email(email) => self
                .store
                .members_with_email(email)
                .await
                .map(|ids| ids.first().copied()),
            LoginSubject::Identity { provider, subject } => self
                .store
                .user_by_identity(provider, subject)
                .await
                .map(|user| user.map(|u| u.id)),
        };
        found
            .inspect_err(|error| tracing::warn!(%error, "looking up a failed sign-in's member"))
            .ok()
            .flatten()
    }
}

/// Records the upstream circuit breaker's transitions (`upstream.breaker_opened` /
/// `_closed`), each in a short transaction of its own, off the request path.
pub struct CircuitAudit {
    pub store: crate::store::Store,
    pub clock: Arc<dyn crate::ports::Clock>,
}

impl crate::ports::CircuitObserver for CircuitAudit {
    fn circuit_changed(&self, upstream: &'static str, opened: bool) {
        let kind = if opened {
            AuditType::UpstreamBreakerOpened
        } else {
            AuditType::UpstreamBreakerClosed
        };
        let mut event = AuditEvent::success(kind, self.clock.now());
        event.details.upstream = Some(upstream.to_owned());
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.record_audit(std::slice::from_ref(&event)).await {
                tracing::error!(%error, "writing a circuit breaker audit event failed");
            }
        });
    }
}
