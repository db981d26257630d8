//! The trusted client: reads any customer's profile by uid, to refresh the membership
//! snapshot of members who sign in without a password.
//!
//! SAP Commerce OCC: an OAuth client with `ROLE_TRUSTED_CLIENT` gets a token by the
//! client-credentials grant (RFC 6749 §4.4) and may then read `GET /occ/v2/{site}/users/{uid}`
//! for any customer (OCC's `UserMatchingFilter` makes that uid the current user). The token is
//! cached until shortly before its `expires_in`, and fetched again once if OCC refuses it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use async_trait::async_trait;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{HybrisClient, OccCustomer, transport_error};
use crate::domain::{CustomerProfile, Email};
use crate::ports::{IdpError, MemberLookup};

pub struct TrustedClient {
    hybris: Arc<HybrisClient>,
    client_id: String,
    client_secret: SecretString,
    /// The current token and when to stop using it. A Tokio mutex: held across the token
    /// request, so concurrent sign-ins share one grant.
    token: tokio::sync::Mutex<Option<(SecretString, Instant)>>,
}

#[derive(Deserialize)]
struct ClientToken {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl TrustedClient {
    /// `HYBRIS_TRUSTED_CLIENT_ID` / `HYBRIS_TRUSTED_CLIENT_SECRET` on the same Hybris.
    pub fn new(hybris: Arc<HybrisClient>, client_id: String, client_secret: SecretString) -> Self {
        Self {
            hybris,
            client_id,
            client_secret,
            token: tokio::sync::Mutex::new(None),
        }
    }

    async fn token(&self, fresh: bool) -> Result<SecretString, IdpError> {
        let mut cached = self.token.lock().await;
        if let (false, Some((token, until))) = (fresh, cached.as_ref())
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let hybris = &self.hybris;
        let response = hybris
            .http
            .post(hybris.endpoints()?.token.clone())
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
            ])
            .timeout(hybris.timeout)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_server_error() {
            return Err(IdpError::Unavailable(format!(
                "token endpoint answered {status} to the trusted client"
            )));
        }
        if status.is_redirection() {
            return Err(IdpError::Unexpected(anyhow!(
                "token endpoint answered {status} to the trusted client{}",
                super::not_followed(status)
            )));
        }
        if !status.is_success() {
            return Err(IdpError::Unexpected(anyhow!(
                "Hybris refused the trusted client ({status}): check HYBRIS_TRUSTED_CLIENT_ID and HYBRIS_TRUSTED_CLIENT_SECRET"
            )));
        }
        let token: ClientToken = response.json().await.map_err(transport_error)?;
        // A minute's margin, so a token never expires on its way.
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(300).saturating_sub(60));
        let secret = SecretString::from(token.access_token);
        *cached = Some((secret.clone(), Instant::now() + lifetime));
        Ok(secret)
    }

    async fn customer(&self, uid: &Email, token: &SecretString) -> Result<Read, IdpError> {
        let hybris = &self.hybris;
        let user =
            percent_encoding::utf8_percent_encode(uid.as_str(), percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let url = hybris
            .endpoints()?
            .customer(&user)
            .map_err(|error| IdpError::Unexpected(anyhow!("{error}")))?;
        let response = hybris.get_customer(url, token).await?;
        let status = response.status();
        match status {
            StatusCode::UNAUTHORIZED => return Ok(Read::TokenRefused),
            // OCC answers an unknown uid with `UnknownIdentifierError` (400, some releases 404).
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND => return Ok(Read::Unknown),
            status if !status.is_success() => {
                return Err(IdpError::Unexpected(anyhow!(
                    "customer endpoint answered {status} to the trusted client{}",
                    super::not_followed(status)
                )));
            }
            _ => {}
        }
        let customer: OccCustomer = response
            .json()
            .await
            .map_err(|e| IdpError::InvalidData(anyhow!(e.without_url())))?;
        customer
            .into_profile(uid, hybris.roles_field.as_deref())
            .map(|profile| Read::Found(Box::new(profile)))
            .map_err(IdpError::InvalidData)
    }
}

enum Read {
    Found(Box<CustomerProfile>),
    Unknown,
    TokenRefused,
}

#[async_trait]
impl MemberLookup for TrustedClient {
    #[tracing::instrument(name = "hybris.customer_by_uid", skip_all)]
    async fn member_by_uid(&self, uid: &Email) -> Result<Option<CustomerProfile>, IdpError> {
        let lookup = async {
            let token = self.token(false).await?;
            let read = match self.customer(uid, &token).await? {
                // An expired or revoked cached token: one fresh grant, then one more read.
                Read::TokenRefused => self.customer(uid, &self.token(true).await?).await?,
                read => read,
            };
            match read {
                Read::Found(profile) => Ok(Some(*profile)),
                Read::Unknown => Ok(None),
                Read::TokenRefused => Err(IdpError::Unavailable(
                    "the customer endpoint refused a fresh trusted-client token".into(),
                )),
            }
        };
        self.hybris.measured("customer", lookup).await
    }
}
