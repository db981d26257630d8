//! Log in: check credentials at Hybris, check the membership, record the user and a session,
//! issue our tokens.

use crate::domain::{
    Device, Email, Membership, Password, RefreshToken, device::DeviceFields, membership::today_in,
};
use crate::ports::IdpError;
use crate::store::NewLogin;

use super::limits::Settle;
use super::side_effects::login_side_effects;

use super::{Auth, Issued, LoginError};

pub struct LoginRequest {
    pub email: String,
    pub password: String,
    pub device: DeviceFields,
    /// The caller's address, for the IP backstop limit; `None` when unknown.
    pub client_ip: Option<std::net::IpAddr>,
}

impl Auth {
    #[tracing::instrument(name = "login", skip_all, fields(user_id, session_id, first_login))]
    pub async fn login(&self, request: LoginRequest) -> Result<Issued, LoginError> {
        // Parse everything before anything leaves the process.
        let email = Email::parse(&request.email)?;
        let password = Password::parse(&request.password)?;
        let device = Device::parse(request.device)?;

        let charged = self
            .admit_login(&email, device.device_id.as_deref(), request.client_ip)
            .await?;
        let profile = match self.authenticate_upstream(&email, &password).await {
            Ok(profile) => profile,
            Err(error) => {
                let outcome = match error {
                    LoginError::InvalidCredentials => Settle::WrongPassword,
                    _ => Settle::Other,
                };
                self.settle_login(charged, outcome).await;
                return Err(error);
            }
        };
        // The password was right, whatever follows.
        self.settle_login(charged, Settle::Succeeded).await;

        let now = self.clock.now();
        let today = today_in(self.timezone, now);
        let membership =
            Membership::check(profile.membership.as_ref(), today).map_err(|reason| {
                tracing::info!(
                    reason = reason.as_str(),
                    "login refused: membership not active"
                );
                LoginError::MembershipInactive(reason)
            })?;
        let session_expires_at = self
            .lifetimes
            .session_expires_at(now, membership.ends_at(self.timezone));

        let refresh_token = RefreshToken::generate();
        let refresh_token_expires_at = self
            .lifetimes
            .refresh_token_expires_at(now, session_expires_at);
        let record = self
            .store
            .record_login(NewLogin {
                profile: &profile,
                device: &device,
                now,
                session_expires_at,
                refresh_token: &refresh_token.hash(),
                refresh_token_expires_at,
                side_effects: &|record| login_side_effects(record, today),
            })
            .await?;
        self.outbox_written.notify_waiters();

        let span = tracing::Span::current();
        span.record("user_id", tracing::field::display(record.user.id));
        span.record("session_id", tracing::field::display(record.session.id));
        span.record("first_login", record.first_login);
        tracing::info!("login succeeded");
        Ok(self.issue(
            record.user,
            record.session,
            refresh_token,
            refresh_token_expires_at,
            now,
        )?)
    }

    /// The two tries of the original flow: the legacy-stripped password first, then, only when
    /// Hybris refused it and stripping changed something, the password as typed. Never a second
    /// try on an outage.
    async fn authenticate_upstream(
        &self,
        email: &Email,
        password: &Password,
    ) -> Result<crate::domain::CustomerProfile, LoginError> {
        let stripped = password
            .legacy_stripped()
            .filter(|stripped| !stripped.expose().is_empty());
        let first_try = stripped.as_ref().unwrap_or(password);
        let outcome = match self.idp.authenticate(email, first_try).await {
            Err(IdpError::InvalidCredentials) if stripped.is_some() => {
                self.idp.authenticate(email, password).await
            }
            outcome => outcome,
        };
        outcome.map_err(|error| match error {
            IdpError::InvalidCredentials => {
                tracing::info!("login refused: invalid credentials");
                LoginError::InvalidCredentials
            }
            IdpError::Unavailable(reason) => {
                tracing::warn!(%reason, "login failed: Hybris unavailable");
                LoginError::UpstreamUnavailable
            }
            IdpError::Unexpected(error) => {
                LoginError::Unexpected(error.context("authenticating at Hybris"))
            }
        })
    }
}
