//! The SAP Commerce (Hybris) OCC client: the password check (OAuth2 password grant) and the
//! member directory (the current customer's profile with the club's membership fields).
//!
//! Design: one pooled `reqwest::Client` for the process. Hybris's quirk lives here: members
//! registered through the original app had "illegal" characters stripped from their password
//! before Hybris saw it, so the stripped form is tried first and the password as typed second. Credentials travel only in the form
//! body and the bearer header, never in a URL, and no request or response body is logged.
//! Outcomes are sorted for the caller: refused credentials, an outage worth retrying
//! (connect errors, timeouts, 5xx), and anything else as unexpected.

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub mod breaker;
mod call_window;
mod endpoints;
mod guarded;
mod occ;
mod trusted;

pub use trusted::TrustedClient;

use crate::domain::{CustomerProfile, Email, Password};
use crate::metrics::Metrics;
use crate::ports::{IdpError, MemberDirectory, PasswordChecker, UpstreamGrant};
use endpoints::Endpoints;
use occ::OccCustomer;

/// The profile fields we ask OCC for, including the club's custom membership attributes.
pub const PROFILE_FIELDS: &str = "DEFAULT,deactivationDate,rccMembershipNumber,rccMemberShipEndDate,rccMemberShipStartDate,rccChapter";

/// Where and as which OAuth client we reach Hybris (`HYBRIS_*`).
#[derive(Debug, Clone)]
pub struct HybrisSettings {
    /// Without a trailing slash, e.g. `https://shop.example.org`.
    pub base_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The OCC base site, e.g. `rcc`.
    pub base_site: String,
}

pub struct HybrisClient {
    http: reqwest::Client,
    metrics: std::sync::Arc<Metrics>,
    /// Per request, so the process shares one client with other adapters.
    timeout: std::time::Duration,
    base_url: String,
    client_id: String,
    client_secret: SecretString,
    base_site: String,
    /// The `fields` of the profile read: ours, and the roles field when one is configured.
    profile_fields: String,
    /// The endpoints of every sign-in, parsed once; the error names `HYBRIS_BASE_URL`.
    endpoints: Result<Endpoints, String>,
    roles_field: Option<String>,
    /// Outage protection: `None` calls Hybris whatever happened before.
    breaker: Option<breaker::CircuitBreaker>,
    /// At most this many calls in flight (`HYBRIS_MAX_IN_FLIGHT`): a slow Hybris is answered
    /// fast instead of piling up requests.
    bulkhead: std::sync::Arc<tokio::sync::Semaphore>,
    /// Told when the breaker opens or closes.
    observer: Option<std::sync::Arc<dyn crate::ports::CircuitObserver>>,
}

impl HybrisClient {
    pub fn new(
        http: reqwest::Client,
        metrics: std::sync::Arc<Metrics>,
        timeout: std::time::Duration,
        base_url: String,
        client_id: String,
        client_secret: SecretString,
        base_site: String,
    ) -> Self {
        let endpoints = Endpoints::parse(&base_url, &base_site, PROFILE_FIELDS);
        Self {
            http,
            metrics,
            timeout,
            base_url,
            client_id,
            client_secret,
            base_site,
            endpoints,
            profile_fields: PROFILE_FIELDS.to_owned(),
            roles_field: None,
            breaker: None,
            bulkhead: std::sync::Arc::new(tokio::sync::Semaphore::new(
                tokio::sync::Semaphore::MAX_PERMITS,
            )),
            observer: None,
        }
    }

    /// Tells `observer` when the breaker opens or closes (the audit trail's
    /// `upstream.breaker_opened` / `_closed`).
    pub fn with_circuit_observer(
        mut self,
        observer: std::sync::Arc<dyn crate::ports::CircuitObserver>,
    ) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Puts the calls behind a circuit breaker and a bulkhead of `max_in_flight` calls.
    pub fn with_breaker(
        mut self,
        settings: breaker::BreakerSettings,
        max_in_flight: usize,
        clock: std::sync::Arc<dyn crate::ports::Clock>,
    ) -> Self {
        self.breaker = Some(breaker::CircuitBreaker::new(settings, clock));
        self.bulkhead = std::sync::Arc::new(tokio::sync::Semaphore::new(max_in_flight.max(1)));
        self
    }

    /// Also reads the member's roles from this profile field (`HYBRIS_ROLES_FIELD`).
    pub fn with_roles_field(mut self, field: Option<String>) -> Self {
        if let Some(field) = &field {
            self.profile_fields = format!("{PROFILE_FIELDS},{field}");
            self.endpoints =
                Endpoints::parse(&self.base_url, &self.base_site, &self.profile_fields);
        }
        self.roles_field = field;
        self
    }

    #[tracing::instrument(name = "hybris.token", skip_all)]
    async fn password_grant(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<SecretString, IdpError> {
        let response = self
            .http
            .post(self.endpoints()?.token.clone())
            .form(&[
                ("grant_type", "password"),
                ("username", email.as_str()),
                ("password", password.expose()),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
            ])
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_success() {
            let token: TokenResponse = response.json().await.map_err(transport_error)?;
            return Ok(SecretString::from(token.access_token));
        }
        if status.is_server_error() {
            return Err(IdpError::Unavailable(format!(
                "token endpoint answered {status}"
            )));
        }
        let error: OAuthError = response.json().await.unwrap_or_default();
        match (status, error.error.as_str()) {
            (StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED, "invalid_grant") => {
                Err(IdpError::InvalidCredentials)
            }
            (_, "invalid_client" | "unauthorized_client") => Err(IdpError::Unexpected(anyhow!(
                "Hybris refused our OAuth client ({status}, {}): check HYBRIS_CLIENT_ID and HYBRIS_CLIENT_SECRET",
                error.error
            ))),
            _ => Err(IdpError::Unexpected(anyhow!(
                "token endpoint answered {status} with error {:?}{}",
                error.error,
                not_followed(status)
            ))),
        }
    }

    /// The parsed endpoints. Errors: `HYBRIS_BASE_URL` does not make a URL.
    fn endpoints(&self) -> Result<&Endpoints, IdpError> {
        self.endpoints
            .as_ref()
            .map_err(|error| IdpError::Unexpected(anyhow!("{error}")))
    }

    /// GETs the OCC customer at `url` (`Endpoints::current`, or `customer_url`'s) with `token`;
    /// a 5xx is an outage. The caller reads the status.
    async fn get_customer(
        &self,
        url: reqwest::Url,
        token: &SecretString,
    ) -> Result<reqwest::Response, IdpError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(token.expose_secret())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(IdpError::Unavailable(format!(
                "customer endpoint answered {status}"
            )));
        }
        Ok(response)
    }

    #[tracing::instrument(name = "hybris.profile", skip_all)]
    async fn current_customer(&self, access_token: &SecretString) -> Result<OccCustomer, IdpError> {
        let url = self.endpoints()?.current.clone();
        let response = self.get_customer(url, access_token).await?;
        let status = response.status();
        // A token it issued a moment ago refused: Hybris's fault (a token store failing
        // over), not the member's credentials. Worth retrying later.
        if status == StatusCode::UNAUTHORIZED {
            return Err(IdpError::TokenRejected(
                "profile endpoint refused the token just issued (InvalidTokenError)".into(),
            ));
        }
        if !status.is_success() {
            return Err(IdpError::Unexpected(anyhow!(
                "profile endpoint answered {status}{}",
                not_followed(status)
            )));
        }
        response
            .json::<OccCustomer>()
            .await
            .context("the profile endpoint sent a body that is not an OCC customer")
            .map_err(IdpError::InvalidData)
    }
}

#[async_trait]
impl PasswordChecker for HybrisClient {
    /// The forms of `Password::candidates` in order (legacy-stripped, as typed, NFC), the next
    /// only when Hybris refused the previous one. Never another try after an outage.
    async fn check_password(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<UpstreamGrant, IdpError> {
        let mut refused = 0;
        let mut outcome = Err(IdpError::InvalidCredentials);
        for form in password.candidates() {
            outcome = self
                .measured("token", self.password_grant(email, &form))
                .await;
            if !matches!(outcome, Err(IdpError::InvalidCredentials)) {
                break;
            }
            refused += 1;
        }
        let access_token = match outcome {
            // Hybris counted the refused forms toward its lockout: so must we.
            Err(IdpError::Unavailable(reason)) if refused > 0 => {
                return Err(IdpError::UnavailableAfterRefusals { refused, reason });
            }
            Err(IdpError::CircuitOpen { .. }) if refused > 0 => {
                return Err(IdpError::UnavailableAfterRefusals {
                    refused,
                    reason: "the circuit breaker refused the next form".into(),
                });
            }
            outcome => outcome?,
        };
        Ok(UpstreamGrant::new(email.clone(), access_token))
    }

    fn tries(&self, password: &Password) -> i64 {
        password.candidates().len() as i64
    }

    fn availability(&self) -> crate::ports::Availability {
        use crate::ports::Availability;
        match self.breaker.as_ref().map(|b| b.state()) {
            None | Some(breaker::BreakerState::Closed)
                if self.bulkhead.available_permits() == 0 =>
            {
                Availability::Degraded
            }
            None | Some(breaker::BreakerState::Closed) => Availability::Available,
            Some(breaker::BreakerState::HalfOpen) => Availability::Degraded,
            Some(breaker::BreakerState::Open { retry_after }) => {
                Availability::Unavailable { retry_after }
            }
        }
    }

    /// `POST /authorizationserver/oauth/revoke` with our client's credentials. Releases before
    /// the endpoint existed answer 302 (to a login page), 401 or 404: nothing to revoke there.
    #[tracing::instrument(name = "hybris.revoke", skip_all)]
    async fn revoke(&self, grant: UpstreamGrant) {
        let Ok(endpoints) = self.endpoints() else {
            return;
        };
        let response = self
            .http
            .post(endpoints.revoke.clone())
            .form(&[
                ("token", grant.access_token().expose_secret()),
                ("token_type_hint", "access_token"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
            ])
            .timeout(self.timeout)
            .send();
        // Best effort and off the member's path: never a probe, never counted by the breaker,
        // and skipped while Hybris is known to be down (the grant expires on its own).
        if self
            .breaker
            .as_ref()
            .is_some_and(|b| b.state() != breaker::BreakerState::Closed)
        {
            tracing::debug!("revocation skipped: the Hybris circuit is not closed");
            return;
        }
        let outcome = match self
            .timed("revoke", async { response.await.map_err(transport_error) })
            .await
        {
            Ok(response) => match response.status() {
                status if status.is_success() => return,
                StatusCode::FOUND | StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND => {
                    tracing::debug!(status = %response.status(), "Hybris has no token revocation");
                    return;
                }
                status => format!("revocation endpoint answered {status}"),
            },
            Err(error) => error.to_string(),
        };
        tracing::warn!(reason = %outcome, "revoking the upstream token failed; it expires on its own");
    }
}

#[async_trait]
impl MemberDirectory for HybrisClient {
    async fn current_member(&self, grant: &UpstreamGrant) -> Result<CustomerProfile, IdpError> {
        let customer = self
            .measured("profile", self.current_customer(grant.access_token()))
            .await?;
        customer
            .into_profile(&grant.username, self.roles_field.as_deref())
            .map_err(IdpError::InvalidData)
    }
}

/// What an operator needs to know of a redirect (`adapters::http_client` follows none): where
/// to look. Empty for any other status.
pub(super) fn not_followed(status: StatusCode) -> &'static str {
    if status.is_redirection() {
        ": a redirect, not followed (a 307 or 308 would send the credentials on): set HYBRIS_BASE_URL to the address Hybris redirects to"
    } else {
        ""
    }
}

fn transport_error(error: reqwest::Error) -> IdpError {
    // `without_url`: the URL holds no secret, but a habit of never logging URLs keeps it so.
    let error = error.without_url();
    if error.is_timeout() {
        IdpError::Unavailable("request timed out".into())
    } else if error.is_connect() {
        IdpError::Unavailable("connection failed".into())
    } else if error.is_decode() {
        IdpError::Unexpected(anyhow!(error).context("Hybris sent a body we could not decode"))
    } else {
        IdpError::Unavailable(format!("request failed: {error}"))
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

#[derive(Deserialize, Default)]
struct OAuthError {
    #[serde(default)]
    error: String,
}
