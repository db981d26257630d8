//! Sign-in by SMS code: enrol a phone from a session, then log in with a code.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::context::{api, auth, client_ip, counted, first_login, principal};
use super::scalars::DateTime;
use super::types::{AuthPayload, DeviceInput, User};
use crate::auth::phone::{CodeLogin, CodeRequest};

/// A code was sent (or, to any caller's eyes, might have been): where to type it, until when.
#[derive(SimpleObject)]
pub struct CodeChallenge {
    /// Send back with the code.
    pub id: ID,
    pub expires_at: DateTime,
    /// The earliest next send to this number.
    pub resend_after: DateTime,
    /// Digits in the code.
    pub code_length: i32,
    /// The number masked but for its country code and last four digits, e.g. `+44 •••• ••3456`.
    pub phone_hint: String,
}

impl From<crate::auth::phone::CodeChallenge> for CodeChallenge {
    fn from(challenge: crate::auth::phone::CodeChallenge) -> Self {
        Self {
            id: ID(challenge.id.to_string()),
            expires_at: DateTime(challenge.expires_at),
            resend_after: DateTime(challenge.resend_after),
            code_length: challenge.code_length as i32,
            phone_hint: challenge.phone_hint,
        }
    }
}

#[derive(InputObject)]
pub struct SendLoginCodeInput {
    /// E.164 (`+447400123456`), or national with `region`.
    pub phone: String,
    /// ISO 3166 two-letter region for a national number; else `OTP_DEFAULT_REGION`.
    pub region: Option<String>,
    pub device: Option<DeviceInput>,
}

#[derive(InputObject)]
pub struct LoginWithCodeInput {
    pub challenge_id: ID,
    pub code: String,
    pub device: Option<DeviceInput>,
}

#[derive(Default)]
pub struct PhoneMutation;

#[Object]
impl PhoneMutation {
    /// Sends a sign-in code to an enrolled phone. The answer is the same for every valid
    /// mobile number; only an enrolled number of an active member receives an SMS.
    async fn send_login_code(
        &self,
        ctx: &Context<'_>,
        input: SendLoginCodeInput,
    ) -> async_graphql::Result<CodeChallenge> {
        let auth = auth(ctx)?;
        let challenge = api(
            ctx,
            Box::pin(auth.send_login_code(CodeRequest {
                phone: input.phone,
                region: input.region,
                device: input.device.unwrap_or_default().into(),
                client_ip: client_ip(ctx),
            }))
            .await,
        )?;
        Ok(challenge.into())
    }

    /// Signs in with the code from `sendLoginCode`. One code sign-in per request.
    async fn login_with_code(
        &self,
        ctx: &Context<'_>,
        input: LoginWithCodeInput,
    ) -> async_graphql::Result<AuthPayload> {
        first_login(ctx)?;
        let auth = auth(ctx)?;
        let issued = counted(
            ctx,
            |m| &m.code_logins,
            Box::pin(auth.login_with_code(CodeLogin {
                challenge_id: input.challenge_id.0,
                code: input.code,
                device: input.device.unwrap_or_default().into(),
                client_ip: client_ip(ctx),
            }))
            .await,
        )?;
        Ok(AuthPayload::new(issued, auth.today()))
    }

    /// Sends a code to `phone` to enrol it for sign-in by code (needs a session).
    async fn send_phone_verification_code(
        &self,
        ctx: &Context<'_>,
        phone: String,
        region: Option<String>,
    ) -> async_graphql::Result<CodeChallenge> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let challenge = api(
            ctx,
            Box::pin(auth.send_phone_verification_code(
                principal,
                &phone,
                region.as_deref(),
                client_ip(ctx),
            ))
            .await,
        )?;
        Ok(challenge.into())
    }

    /// Enrols the phone the code went to (needs the session that asked for it). A number
    /// another member had verified moves to the caller. One per request.
    async fn verify_phone(
        &self,
        ctx: &Context<'_>,
        challenge_id: ID,
        code: String,
    ) -> async_graphql::Result<User> {
        let principal = principal(ctx)?;
        first_login(ctx)?;
        let auth = auth(ctx)?;
        let user = api(
            ctx,
            Box::pin(auth.verify_phone(principal, &challenge_id.0, &code)).await,
        )?;
        Ok(User::new(user, auth.today()))
    }

    /// Ends sign-in by phone code for the caller; sessions stay.
    async fn remove_phone(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let user = api(ctx, Box::pin(auth.remove_phone(principal)).await)?;
        Ok(User::new(user, auth.today()))
    }
}
