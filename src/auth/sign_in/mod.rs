//! Sign-in, for every method: credential → verifier → verified identity → member → session.
//!
//! Design (after Kratos's strategies and Supabase Auth's providers): each method is a
//! `CredentialVerifier` that knows only its credential; the flow around it is written once here.
//! `sign_in` reads like that flow: parse, charge the rate limits, verify, resolve the member,
//! then `open_session`, the shared tail (membership rule, user upsert, one session per device,
//! refresh token, outbox rows, our tokens). A member comes only from the member directory
//! (Hybris); any other identity must already be linked to one.

mod password;
mod phone;
mod snapshot;

use std::net::IpAddr;

use crate::domain::audit::{AuditEvent, AuditType};
use crate::domain::{
    Device, InactiveReason, Membership, RefreshToken, VerifiedIdentity, device::DeviceFields,
    membership::today_in,
};
use crate::ports::{CredentialVerifier, IdpError};
use crate::store::{LoginMember, NewLogin, NotRecorded, Proof};

use super::limits::Settle;
use super::side_effects::login_side_effects;
use super::{Auth, Issued, LoginError};

pub use password::{LoginRequest, PasswordCredential, PasswordVerifier};
pub use phone::{PhoneCodeVerifier, ProvenPhone};
pub use snapshot::SnapshotRule;

/// A single-use value a sign-in consumes in its own transaction, so a refused sign-in leaves
/// it unused and of concurrent sign-ins with it exactly one opens a session.
#[derive(Debug)]
pub enum SignInProof {
    /// A phone code challenge: only for the member it was sent to.
    Challenge(crate::domain::ChallengeId),
    /// A login nonce bound by a provider token. The session's first refresh token is
    /// `refresh_token` (derived from the provider token and `rotation_nonce`, which the nonce
    /// keeps), so a retry of the same token can be given the same tokens.
    Nonce {
        hash: String,
        device_id: Option<String>,
        rotation_nonce: crate::domain::refresh_token::RotationNonce,
        refresh_token: RefreshToken,
    },
    /// A link token from a sign-in that found no member: its identity is linked to the member
    /// who signs in now.
    LinkToken { hash: String },
}

/// What every sign-in carries beside its credential.
#[derive(Debug, Default)]
pub struct SignInContext {
    pub device: DeviceFields,
    /// The caller's address, for the IP backstop limit; `None` when unknown.
    pub client_ip: Option<IpAddr>,
    /// A single-use proof (a code challenge) consumed in the sign-in's own transaction, and
    /// only for the member it was issued to: a refused sign-in leaves it unused, and of
    /// concurrent sign-ins with one proof exactly one opens a session.
    pub proof: Option<SignInProof>,
}

/// The member a verified identity signs in.
enum Member<'a> {
    /// Just read from the member directory: decided on that fresh profile and upserted.
    FromDirectory(&'a crate::domain::CustomerProfile),
    /// Linked to the identity: decided on the stored profile snapshot.
    Linked(crate::domain::User),
    /// Linked, with a snapshot too old to use: decided on the profile just re-read by uid.
    Refreshed(crate::domain::User, Box<crate::domain::CustomerProfile>),
}

impl Member<'_> {
    /// The membership rule, and before it the account's own state: a closed shop account
    /// signs in to nothing.
    fn check(&self, today: chrono::NaiveDate) -> Result<&Membership, InactiveReason> {
        let profile = match self {
            Self::FromDirectory(profile) => Some(*profile),
            Self::Refreshed(_, profile) => Some(profile.as_ref()),
            Self::Linked(_) => None,
        };
        if profile.is_some_and(|p| p.deactivated_on.is_some_and(|day| day <= today)) {
            return Err(InactiveReason::Closed);
        }
        let membership = match (profile, self) {
            (Some(profile), _) => profile.membership.as_ref(),
            (None, Self::Linked(user)) => user.membership.as_ref(),
            (None, _) => None,
        };
        Membership::check(membership, today)
    }
}

impl Auth {
    /// Signs in through `verifier`: the whole flow for any method.
    #[tracing::instrument(
        name = "login",
        skip_all,
        fields(method = verifier.method().as_str(), user_id, session_id, first_login)
    )]
    pub async fn sign_in<V: CredentialVerifier + ?Sized>(
        &self,
        verifier: &V,
        credential: V::Credential,
        context: SignInContext,
    ) -> Result<Issued, LoginError> {
        let device = Device::parse(context.device)?;
        let subject = verifier.login_subject(&credential);
        let method = verifier.method();
        let result = self
            .sign_in_as(
                verifier,
                credential,
                &subject,
                &device,
                (context.client_ip, context.proof),
            )
            .await;
        if let Err(error) = &result {
            // Boxed: the failure path's future would otherwise enlarge every sign-in's.
            Box::pin(self.record_login_failure(method, Some(&subject), Some(&device), error)).await;
        }
        result
    }

    async fn sign_in_as<V: CredentialVerifier + ?Sized>(
        &self,
        verifier: &V,
        credential: V::Credential,
        subject: &crate::domain::LoginSubject,
        device: &Device,
        (client_ip, proof): (Option<IpAddr>, Option<SignInProof>),
    ) -> Result<Issued, LoginError> {
        let charged = self
            .admit_login(
                subject,
                device.device_id.as_deref(),
                client_ip,
                verifier.cost(&credential),
            )
            .await?;
        let identity = match verifier.verify(&credential).await {
            Ok(identity) => identity,
            Err(error) => {
                let outcome = match &error {
                    IdpError::InvalidCredentials => Settle::WrongPassword,
                    IdpError::UnavailableAfterRefusals { refused, .. } => {
                        Settle::PartlyRefused(*refused)
                    }
                    _ => Settle::Other,
                };
                let error = refused(error);
                self.settle_login(charged, outcome).await;
                return Err(error);
            }
        };
        // The credential was right, whatever follows.
        self.settle_login(charged, Settle::Succeeded).await;

        let member = self.resolve_member(&identity).await?;
        self.open_session(verifier.method(), &identity, member, device, proof)
            .await
    }

    async fn resolve_member<'a>(
        &self,
        identity: &'a VerifiedIdentity,
    ) -> Result<Member<'a>, LoginError> {
        if identity.provider.is_member_directory() {
            // Only the member directory's own profile read signs a member in as `hybris`; a
            // verifier that names the provider without one vouches for nothing.
            return match &identity.directory_profile {
                Some(profile) => Ok(Member::FromDirectory(profile)),
                None => Err(LoginError::IdentityNotLinked),
            };
        }
        // Boxed, as below: a password sign-in never takes this path, and inline its futures
        // would enlarge every sign-in's.
        let Some(user) = Box::pin(
            self.store
                .user_by_identity(&identity.provider, &identity.subject),
        )
        .await?
        else {
            tracing::info!(
                provider = identity.provider.as_str(),
                "sign-in refused: identity not linked to a member"
            );
            return Err(LoginError::IdentityNotLinked);
        };
        Box::pin(self.current_snapshot(user)).await
    }

    /// The shared tail: membership rule, then one transaction for the member, the identity,
    /// the session, its refresh token and the outbox rows; then our tokens.
    async fn open_session(
        &self,
        method: crate::domain::AuthMethod,
        identity: &VerifiedIdentity,
        member: Member<'_>,
        device: &Device,
        proof: Option<SignInProof>,
    ) -> Result<Issued, LoginError> {
        let now = self.clock.now();
        let today = today_in(self.timezone, now);
        let membership = member.check(today).map_err(inactive)?;
        let session_expires_at = self
            .lifetimes
            .session_expires_at(now, membership.ends_at(self.timezone));
        let (refresh_token, store_proof) = match &proof {
            Some(SignInProof::Nonce {
                hash,
                device_id,
                rotation_nonce,
                refresh_token,
            }) => (
                refresh_token.clone_secret(),
                Some(Proof::Nonce {
                    hash,
                    device_id: device_id.as_deref(),
                    rotation_nonce: rotation_nonce.as_str(),
                }),
            ),
            Some(SignInProof::Challenge(id)) => {
                (RefreshToken::generate(), Some(Proof::Challenge(*id)))
            }
            Some(SignInProof::LinkToken { hash }) => {
                (RefreshToken::generate(), Some(Proof::LinkToken { hash }))
            }
            None => (RefreshToken::generate(), None),
        };
        let refresh_token_expires_at = self
            .lifetimes
            .refresh_token_expires_at(now, session_expires_at);
        let record = self
            .store
            .record_login(NewLogin {
                member: match &member {
                    Member::FromDirectory(profile) => LoginMember::Directory(profile),
                    Member::Linked(user) => LoginMember::Linked(user.id),
                    Member::Refreshed(user, profile) => LoginMember::Refreshed(user.id, profile),
                },
                identity: (&identity.provider, &identity.subject),
                method,
                device,
                proof: store_proof,
                now,
                session_expires_at,
                refresh_token: &refresh_token.hash(),
                refresh_token_expires_at,
                side_effects: &|record| login_side_effects(record, today),
                audit: &|record| self.login_audit(record, method, device),
            })
            .await?
            .map_err(|refusal| match (refusal, &proof) {
                (NotRecorded::Stale, Some(SignInProof::LinkToken { .. })) => {
                    LoginError::LinkTokenInvalid
                }
                (NotRecorded::Stale, _) => LoginError::IdentityNotLinked,
                (NotRecorded::LinkInUse, _) => LoginError::LinkInUse,
            })?;
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
}

impl Auth {
    /// `login.succeeded`, and `account.linked` when a link token linked an account.
    fn login_audit(
        &self,
        record: &crate::store::LoginRecord,
        method: crate::domain::AuthMethod,
        device: &Device,
    ) -> Vec<AuditEvent> {
        let (user_id, session_id) = (record.user.id, Some(record.session.id));
        let mut events = vec![
            self.on_device(self.audit_event(AuditType::LoginSucceeded), device)
                .with_method(method)
                .of(user_id, session_id),
        ];
        if let Some(provider) = &record.linked {
            let mut linked = self
                .audit_event(AuditType::AccountLinked)
                .of(user_id, session_id);
            linked.details.provider = Some(provider.as_str().to_owned());
            events.push(linked);
        }
        events
    }
}

fn inactive(reason: InactiveReason) -> LoginError {
    tracing::info!(
        reason = reason.as_str(),
        "login refused: membership not active"
    );
    LoginError::MembershipInactive(reason)
}

fn refused(error: IdpError) -> LoginError {
    match error {
        IdpError::InvalidCredentials => {
            tracing::info!("login refused: invalid credentials");
            LoginError::InvalidCredentials
        }
        IdpError::Unavailable(reason)
        | IdpError::TokenRejected(reason)
        | IdpError::UnavailableAfterRefusals { reason, .. } => {
            tracing::warn!(%reason, "login failed: upstream unavailable");
            LoginError::UpstreamUnavailable
        }
        IdpError::CircuitOpen { retry_after } => {
            tracing::info!(
                retry_after_secs = retry_after.as_secs(),
                "login refused at once: the Hybris circuit is open"
            );
            LoginError::UpstreamCircuitOpen { retry_after }
        }
        IdpError::InvalidData(error) => {
            LoginError::UpstreamDataInvalid(error.context("reading the member's profile"))
        }
        IdpError::Unexpected(error) => {
            LoginError::Unexpected(error.context("verifying the credential"))
        }
    }
}
