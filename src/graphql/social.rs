//! Sign-in with Google or Facebook, and linking those accounts to the member.

use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject};

use super::context::{api, auth, client_ip, counted, first_login, principal};
use super::error::ApiError;
use super::scalars::DateTime;
use super::types::{AuthPayload, DeviceInput, User};
use crate::auth::social::SocialLogin;
use crate::domain;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(rename_items = "SCREAMING_SNAKE_CASE")]
pub enum SocialProvider {
    Google,
    Facebook,
}

impl From<SocialProvider> for domain::SocialProvider {
    fn from(provider: SocialProvider) -> Self {
        match provider {
            SocialProvider::Google => Self::Google,
            SocialProvider::Facebook => Self::Facebook,
        }
    }
}

#[derive(InputObject)]
pub struct SocialLoginInput {
    pub provider: SocialProvider,
    /// Google ID token; Facebook Limited Login token (iOS).
    pub id_token: Option<String>,
    /// Facebook user access token (Android; iOS with tracking allowed).
    pub access_token: Option<String>,
    /// The raw nonce from `createLoginNonce`, when the SDK let the app set one.
    pub nonce: Option<String>,
    pub device: Option<DeviceInput>,
}

impl SocialLoginInput {
    fn into_request(self, ctx: &Context<'_>) -> SocialLogin {
        SocialLogin {
            provider: self.provider.into(),
            id_token: self.id_token,
            access_token: self.access_token,
            nonce: self.nonce,
            device: self.device.unwrap_or_default().into(),
            client_ip: client_ip(ctx),
        }
    }
}

/// A single-use nonce for the provider SDK's sign-in request.
#[derive(SimpleObject)]
pub struct LoginNonce {
    /// Give it to the SDK as is (Google) or as the SDK asks (Facebook Limited Login hashes it).
    pub nonce: String,
    pub expires_at: DateTime,
}

/// A Google or Facebook account linked to the member.
#[derive(SimpleObject)]
pub struct LinkedAccount {
    pub provider: SocialProvider,
    /// The account's email as the provider reported it when linked.
    pub email: Option<String>,
    pub linked_at: DateTime,
    pub last_used_at: Option<DateTime>,
}

#[ComplexObject]
impl User {
    /// The Google and Facebook accounts that sign this member in.
    async fn linked_accounts(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<LinkedAccount>> {
        let auth = auth(ctx)?;
        let id = self.id.parse().map_err(|_| {
            ApiError::Internal(anyhow::anyhow!("a user id that is not a UUID")).extend(ctx)
        })?;
        let accounts = api(
            ctx,
            Box::pin(auth.linked_accounts(domain::UserId(id)))
                .await
                .map_err(ApiError::Internal),
        )?;
        Ok(accounts
            .into_iter()
            .filter_map(|account| {
                let provider = match domain::SocialProvider::parse(account.provider.as_str())? {
                    domain::SocialProvider::Google => SocialProvider::Google,
                    domain::SocialProvider::Facebook => SocialProvider::Facebook,
                };
                Some(LinkedAccount {
                    provider,
                    email: account.email,
                    linked_at: DateTime(account.linked_at),
                    last_used_at: account.last_used_at.map(DateTime),
                })
            })
            .collect())
    }
}

#[derive(Default)]
pub struct SocialMutation;

#[Object]
impl SocialMutation {
    /// A single-use nonce to bind the next provider token to one sign-in
    /// (`LOGIN_NONCE_TTL_SECS`).
    async fn create_login_nonce(&self, ctx: &Context<'_>) -> async_graphql::Result<LoginNonce> {
        let auth = auth(ctx)?;
        let (nonce, expires_at) =
            api(ctx, Box::pin(auth.create_login_nonce(client_ip(ctx))).await)?;
        Ok(LoginNonce {
            nonce: nonce.expose().to_owned(),
            expires_at: DateTime(expires_at),
        })
    }

    /// Signs the member linked to the Google or Facebook account in. One per request.
    async fn login_with_social(
        &self,
        ctx: &Context<'_>,
        input: SocialLoginInput,
    ) -> async_graphql::Result<AuthPayload> {
        first_login(ctx)?;
        let auth = auth(ctx)?;
        let issued = counted(
            ctx,
            |m| &m.social_logins,
            Box::pin(auth.login_with_social(input.into_request(ctx))).await,
        )?;
        Ok(AuthPayload::new(issued, auth.today()))
    }

    /// Links the Google or Facebook account to the caller (needs a session).
    async fn link_social_account(
        &self,
        ctx: &Context<'_>,
        input: SocialLoginInput,
    ) -> async_graphql::Result<User> {
        let principal = principal(ctx)?;
        first_login(ctx)?;
        let auth = auth(ctx)?;
        let request = input.into_request(ctx);
        let user = api(
            ctx,
            Box::pin(auth.link_social_account(principal, request)).await,
        )?;
        Ok(User::new(user, auth.today()))
    }

    /// Unlinks the caller's account of `provider` (needs a session); the password stays.
    async fn unlink_social_account(
        &self,
        ctx: &Context<'_>,
        provider: SocialProvider,
    ) -> async_graphql::Result<User> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let user = api(
            ctx,
            Box::pin(auth.unlink_social_account(principal, provider.into())).await,
        )?;
        Ok(User::new(user, auth.today()))
    }
}
