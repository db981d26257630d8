//! Log in, and who am I.

use async_graphql::{Context, Object};

use super::context::{api, auth, client_ip, counted, first_login, principal};
use super::types::{AuthPayload, LoginInput, User};
use crate::auth::LoginRequest;

#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The member of the presented access token.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let user = api(ctx, auth.me(principal).await)?;
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
            auth.login(LoginRequest {
                email: input.email,
                password: input.password,
                device: input.device.unwrap_or_default().into(),
                client_ip: client_ip(ctx),
                link_token: input.link_token,
            })
            .await,
        )?;
        Ok(AuthPayload::new(issued, auth.today()))
    }
}
