//! Partner hand-off: a one-time token for a partner web app.

use async_graphql::{Context, ID, Object, SimpleObject};

use super::context::{api, auth, principal};
use super::scalars::DateTime;

/// A one-time token to hand to a partner web app; its server redeems it at
/// `POST /partner/introspect`.
#[derive(SimpleObject)]
pub struct PartnerToken {
    /// Opaque, single use; give it only to the partner it was made for.
    pub token: String,
    pub expires_at: DateTime,
    pub partner_id: ID,
}

#[derive(Default)]
pub struct PartnerMutation;

#[Object]
impl PartnerMutation {
    /// Mints a short-lived, single-use token that signs the member in to a partner web app.
    async fn create_partner_token(
        &self,
        ctx: &Context<'_>,
        partner_id: ID,
    ) -> async_graphql::Result<PartnerToken> {
        let principal = principal(ctx)?;
        let auth = auth(ctx)?;
        let minted = api(
            ctx,
            Box::pin(auth.create_partner_token(principal, &partner_id)).await,
        )?;
        Ok(PartnerToken {
            token: minted.token.expose().to_owned(),
            expires_at: DateTime(minted.expires_at),
            partner_id: ID(minted.partner.as_str().to_owned()),
        })
    }
}
