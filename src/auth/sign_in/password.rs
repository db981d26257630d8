//! Email and password, checked by the member directory (Hybris), which then reads the profile.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::{
    AuthMethod, Email, LoginSubject, OneTimeValue, Password, VerifiedIdentity, device::DeviceFields,
};
use crate::ports::{CredentialVerifier, IdpError, MemberDirectory, PasswordChecker};

use super::super::{Auth, Issued, LoginError};
use super::{SignInContext, SignInProof};

/// A password login as the API receives it.
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    pub device: DeviceFields,
    /// The caller's address, for the IP backstop limit; `None` when unknown.
    pub client_ip: Option<std::net::IpAddr>,
    /// A link token from a social sign-in that found no member: a successful login links
    /// that account to the member.
    pub link_token: Option<String>,
}

/// An email and password that parsed.
pub struct PasswordCredential {
    pub email: Email,
    pub password: Password,
}

/// The password method: the password check, then the profile read with what it granted (OCC
/// reads `users/current` with the member's own token).
pub struct PasswordVerifier {
    pub checker: Arc<dyn PasswordChecker>,
    pub directory: Arc<dyn MemberDirectory>,
}

#[async_trait]
impl CredentialVerifier for PasswordVerifier {
    type Credential = PasswordCredential;

    fn method(&self) -> AuthMethod {
        AuthMethod::Password
    }

    fn login_subject(&self, credential: &PasswordCredential) -> LoginSubject {
        LoginSubject::Email(credential.email.clone())
    }

    fn cost(&self, credential: &PasswordCredential) -> i64 {
        self.checker.tries(&credential.password)
    }

    async fn verify(&self, credential: &PasswordCredential) -> Result<VerifiedIdentity, IdpError> {
        let grant = self
            .checker
            .check_password(&credential.email, &credential.password)
            .await?;
        let profile = self.directory.current_member(&grant).await;
        // The grant has served either way; it is revoked off the member's path.
        let checker = self.checker.clone();
        tokio::spawn(async move { checker.revoke(grant).await });
        Ok(VerifiedIdentity::from_directory(profile?))
    }
}

impl Auth {
    /// Logs a member in with the club shop's email and password.
    pub async fn login(&self, request: LoginRequest) -> Result<Issued, LoginError> {
        // Parse everything before anything leaves the process.
        let credential = PasswordCredential {
            email: Email::parse(&request.email)?,
            password: Password::parse(&request.password)?,
        };
        // While Hybris is known to be down, answer at once: no limit is touched.
        if let crate::ports::Availability::Unavailable { retry_after } =
            self.password.checker.availability()
        {
            return Err(LoginError::UpstreamCircuitOpen { retry_after });
        }
        let proof = match &request.link_token {
            Some(raw) => {
                let hash = OneTimeValue::parse(raw)
                    .ok_or(LoginError::LinkTokenInvalid)?
                    .hash();
                // Checked before Hybris is asked; consumed with the session.
                if Box::pin(self.store.live_link_token(&hash, self.now()))
                    .await?
                    .is_none()
                {
                    return Err(LoginError::LinkTokenInvalid);
                }
                Some(SignInProof::LinkToken { hash })
            }
            None => None,
        };
        let context = SignInContext {
            device: request.device,
            client_ip: request.client_ip,
            proof,
        };
        self.sign_in(self.password.as_ref(), credential, context)
            .await
    }
}
