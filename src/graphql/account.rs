//! Log in, and who am I.

use async_graphql::{Context, Enum, Object, SimpleObject};

use super::context::{api, auth, client_ip, counted, first_login, principal};
use super::types::{AuthPayload, LoginInput, User};
use crate::auth::LoginRequest;

/// Whether a way of signing in works right now.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum ServiceAvailability {
    Available,
    /// Recovering from an outage: it may fail.
    Degraded,
    /// Down: it is not even tried (see `retryAfter`).
    Unavailable,
}

/// What works now, for the app to offer the right sign-in before the member types anything.
#[derive(SimpleObject)]
pub struct ServiceStatus {
    /// The club shop's email and password (Hybris).
    pub password_login: ServiceAvailability,
    /// Seconds until password login is tried again, while `UNAVAILABLE`.
    pub retry_after: Option<i32>,
}

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// Public and cheap: whether password login works now (when the shop is down, offer the
    /// phone code or Google/Facebook instead).
    async fn service_status(&self, ctx: &Context<'_>) -> async_graphql::Result<ServiceStatus> {
        use crate::auth::Availability;
        let auth = auth(ctx)?;
        Ok(match auth.password_login_availability() {
            Availability::Available => ServiceStatus {
                password_login: ServiceAvailability::Available,
                retry_after: None,
            },
            Availability::Degraded => ServiceStatus {
                password_login: ServiceAvailability::Degraded,
                retry_after: None,
            },
            Availability::Unavailable { retry_after } => ServiceStatus {
                password_login: ServiceAvailability::Unavailable,
                retry_after: Some(retry_after.as_secs().min(i32::MAX as u64) as i32),
            },
        })
    }

    /// The member of the presented access token.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let user = api(ctx, Box::pin(auth.me(principal)).await)?;
        Ok(User::new(user, auth.today()))
    }
}

#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
    /// Logs a member in with their club shop credentials. Succeeds only for a current
    /// membership; returns our tokens and a new session for the device.
    async fn login(
        &self,
        ctx: &Context<'_>,
        input: LoginInput,
    ) -> async_graphql::Result<AuthPayload> {
        first_login(ctx)?;
        let auth = auth(ctx)?;
        let issued = counted(
            ctx,
            |m| &m.logins,
            Box::pin(auth.login(LoginRequest {
                email: input.email,
                password: input.password,
                device: input.device.unwrap_or_default().into(),
                client_ip: client_ip(ctx),
                link_token: input.link_token,
            }))
            .await,
        )?;
        Ok(AuthPayload::new(issued, auth.today()))
    }
}
