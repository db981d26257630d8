//! The capabilities the use cases need from the outside world, one small trait each.
//!
//! Design: `auth` depends on these traits only; `startup` picks the adapters. Tests run the real
//! adapters against simulators, so the traits exist for the seams, not for mocking.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use secrecy::SecretString;

use crate::domain::{
    AuthMethod, ChallengeId, CustomerProfile, Email, LoginSubject, Password, PhoneNumber,
    SocialProvider, VerifiedIdentity,
    outbox::{OutboxMessage, Sink},
};

/// One sign-in method: turns its credential into a verified identity. The flow around it (rate
/// limits, member resolution, membership rule, session, tokens, outbox) is written once, in
/// `auth::sign_in`; a new method adds a verifier, not a copy of that flow.
#[async_trait]
pub trait CredentialVerifier: Send + Sync {
    /// What the app sends for this method, already parsed.
    type Credential: Send + Sync;

    /// How sessions opened through this verifier are authenticated (the `amr` claim).
    fn method(&self) -> AuthMethod;

    /// Whom an attempt counts against, known before anything is verified.
    fn login_subject(&self, credential: &Self::Credential) -> LoginSubject;

    /// How many failures a refused `credential` counts as (the upstream tries it makes).
    fn cost(&self, _credential: &Self::Credential) -> i64 {
        1
    }

    /// `InvalidCredentials` when the credential is refused; `Unavailable` when nothing was
    /// learnt about it.
    async fn verify(&self, credential: &Self::Credential) -> Result<VerifiedIdentity, IdpError>;
}

/// Checks an email and password at the member directory (Hybris: the OAuth2 password grant,
/// RFC 6749 §4.3). Provider quirks, such as Hybris's legacy password stripping, stay inside.
#[async_trait]
pub trait PasswordChecker: Send + Sync {
    async fn check_password(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<UpstreamGrant, IdpError>;

    /// How many failed logins a wrong `password` costs upstream (each form tried is one), so
    /// limits stay below the upstream's lockout.
    fn tries(&self, password: &Password) -> i64;

    /// Ends the grant upstream once it has served (RFC 7009 token revocation), so a leaked
    /// copy dies. Best effort: failures are logged and counted, never returned.
    async fn revoke(&self, grant: UpstreamGrant);

    /// Whether password checks can be made now (the circuit breaker's view).
    fn availability(&self) -> Availability {
        Availability::Available
    }
}

/// Whether a dependency takes calls now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// Recovering: a probe decides.
    Degraded,
    /// Refused for this long.
    Unavailable {
        retry_after: std::time::Duration,
    },
}

/// Reads members' profiles, membership included, from the member directory (Hybris OCC).
#[async_trait]
pub trait MemberDirectory: Send + Sync {
    /// The profile of the member who was just granted `grant` (OCC `users/current`).
    async fn current_member(&self, grant: &UpstreamGrant) -> Result<CustomerProfile, IdpError>;
}

/// Told when an upstream's circuit breaker opens (`opened`) or closes again, for the audit
/// trail. Called on the request path: implementations hand the write off and return.
pub trait CircuitObserver: Send + Sync {
    fn circuit_changed(&self, upstream: &'static str, opened: bool);
}

/// Reads any member's profile by uid as a trusted client (Hybris: the client-credentials
/// grant, then OCC `users/{uid}`), to refresh the membership snapshot of a member who signs in
/// without a password.
#[async_trait]
pub trait MemberLookup: Send + Sync {
    /// `Ok(None)` when the directory knows no such customer.
    async fn member_by_uid(&self, uid: &Email) -> Result<Option<CustomerProfile>, IdpError>;
}

/// What a provider's SDK handed the app: an ID token (Google; Facebook Limited Login) or a
/// user access token (Facebook). Secrets: never logged, never stored.
pub enum SocialToken {
    IdToken(SecretString),
    AccessToken(SecretString),
}

/// Verifies provider tokens of one provider (Google, Facebook).
#[async_trait]
pub trait SocialTokenVerifier: Send + Sync {
    fn provider(&self) -> SocialProvider;

    /// `InvalidCredentials` for any token that fails a check (signature, issuer, audience,
    /// expiry, another app's); `Unavailable` when the provider cannot be asked.
    async fn verify(&self, token: &SocialToken) -> Result<VerifiedIdentity, IdpError>;
}

/// An SMS to send: the text carries a code, so it is a secret outside the sender.
pub struct Sms {
    pub to: PhoneNumber,
    pub body: SecretString,
    /// Also the idempotency key of the delivery.
    pub challenge_id: ChallengeId,
    pub expires_at: DateTime<Utc>,
}

/// Sends text messages (`SMS_PROVIDER`: log, webhook, twilio, aws).
#[async_trait]
pub trait SmsSender: Send + Sync {
    /// The provider's name, for logs and metrics labels.
    fn provider(&self) -> &'static str;

    /// Hands the message to the provider; the error is safe to log (never the text).
    async fn send(&self, sms: &Sms) -> Result<(), SmsError>;
}

/// Why an SMS was not accepted, in words safe to log: no number, no text.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SmsError(pub String);

/// What a successful upstream password check grants: the member's own, short-lived upstream
/// access token. A secret: never logged, never stored, dropped after the sign-in.
pub struct UpstreamGrant {
    /// The email the member signed in with.
    pub username: Email,
    access_token: SecretString,
}

impl UpstreamGrant {
    pub fn new(username: Email, access_token: SecretString) -> Self {
        Self {
            username,
            access_token,
        }
    }

    pub fn access_token(&self) -> &SecretString {
        &self.access_token
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// The provider refused the credential (it does not say which part was wrong).
    #[error("the identity provider refused the credentials")]
    InvalidCredentials,
    /// Unreachable, timed out, or a 5xx: worth retrying later.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// `refused` forms of the credential were refused, then the provider became unavailable:
    /// those refusals count toward its lockout even though the attempt ends as an outage.
    #[error("the identity provider is unavailable after refusing {refused} tries: {reason}")]
    UnavailableAfterRefusals { refused: i64, reason: String },
    /// The provider refused a token it had just issued (a token store failing over, or a
    /// concurrent revocation of the same grant): retry later, but it is an answer, not an
    /// outage, so it never opens the circuit breaker.
    #[error("the identity provider refused a token it had just issued: {0}")]
    TokenRejected(String),
    /// Not asked: the circuit breaker is open after an outage (or too many calls are in
    /// flight); asking again is pointless before `retry_after`.
    #[error("the identity provider is not being called for now (circuit open)")]
    CircuitOpen { retry_after: std::time::Duration },
    /// The provider answered, but with data we cannot use (a malformed membership date, a
    /// profile without an id): its data needs fixing, not our code.
    #[error("the identity provider sent data we cannot read")]
    InvalidData(anyhow::Error),
    /// Anything else: a misconfiguration or a response we do not understand.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// A destination of outbox messages: the search index or the event bus.
#[async_trait]
pub trait OutboxSink: Send + Sync {
    fn sink(&self) -> Sink;

    /// How many messages one `deliver` call takes at most.
    fn max_batch(&self) -> usize;

    /// Delivers the messages; one result per message, in the same order, so a partial failure
    /// retries only what failed.
    async fn deliver(&self, messages: &[OutboxMessage]) -> Vec<Result<(), DeliveryError>>;
}

/// Why a delivery failed, in words safe to store in `outbox.last_error` (never a secret).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

impl DeliveryError {
    /// A payload a sink cannot read as `expected`: where the JSON went wrong, never its text
    /// (serde_json's own message may quote a value of the payload).
    pub fn unreadable(expected: &str, error: &serde_json::Error) -> Self {
        Self(format!(
            "the outbox payload is not {expected} ({:?} error at line {} column {})",
            error.classify(),
            error.line(),
            error.column()
        ))
    }
}

/// Fixed-window counters for rate limits, shared across instances when backed by Redis.
#[async_trait]
pub trait RateCounter: Send + Sync {
    /// Adds `delta` to `key`; a key's window opens at its first addition and lasts `window`.
    async fn add(
        &self,
        key: &str,
        delta: i64,
        window: std::time::Duration,
    ) -> anyhow::Result<Window>;

    /// Forgets `key`.
    async fn reset(&self, key: &str) -> anyhow::Result<()>;
}

/// A counter's value and the time until its window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub count: i64,
    pub resets_in: std::time::Duration,
}

/// Where "now" comes from; tests drive a `ManualClock` instead of sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }

    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }

    pub fn advance(&self, by: chrono::Duration) {
        *self.0.lock().expect("clock lock") += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        // A std Mutex: nothing awaits while it is held.
        *self.0.lock().expect("clock lock")
    }
}
