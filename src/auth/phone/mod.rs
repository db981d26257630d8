//! Sign-in by SMS code: a member who enrolled a phone asks for a code, then signs in with it.
//!
//! Design: a phone number cannot create a member (membership lives in Hybris), so a number
//! signs in only once a member has enrolled it from a session (`enrol`). Anonymous callers
//! can only ever cause an SMS to such a number, and learn nothing about which numbers those
//! are: `send_login_code` stores a challenge for every number that passes the limits and
//! answers the same way, but the SMS goes out only for an enrolled number of a member whose
//! membership is active, after the answer. The code check (`check_code`) is the proof of
//! possession; the proven number then goes through the shared sign-in pipeline as the `phone`
//! identity. Limits come first (`limits`), before any provider call.

mod enrol;
mod limits;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::domain::audit::AuditType;
use crate::domain::{
    AuthMethod, ChallengeId, ChallengePurpose, Device, OtpCode, OtpKeys, PhoneNumber, PhonePolicy,
    UserId, device::DeviceFields,
};
use crate::ports::{Sms, SmsSender};
use crate::store::{Attempt, ChallengeRecord, NewChallenge};

use super::sign_in::{PhoneCodeVerifier, ProvenPhone, SignInContext, SignInProof};
use super::{Auth, CodeError, Issued, LoginError};

pub use limits::PhoneLimits;

/// How codes are made, checked and limited (`OTP_*`, `SMS_*`).
#[derive(Debug, Clone)]
pub struct PhoneSettings {
    /// Digits per code (`OTP_LENGTH`, 6).
    pub code_length: usize,
    /// How long a code lives (`OTP_TTL_SECS`, 300).
    pub ttl: chrono::Duration,
    /// Attempts per challenge (`OTP_MAX_ATTEMPTS`, 5).
    pub max_attempts: u32,
    /// Live challenges kept per number: a resend keeps earlier codes valid up to this many.
    pub live_per_number: u64,
    pub limits: PhoneLimits,
    pub policy: PhonePolicy,
    /// The text (`SMS_TEMPLATE`): `{code}` and `{minutes}` are filled in.
    pub template: String,
}

/// Phone sign-in, when it is on: its settings, the code key and the SMS sender.
pub struct PhoneCodes {
    pub settings: PhoneSettings,
    pub keys: OtpKeys,
    pub sender: Arc<dyn SmsSender>,
}

/// What the app is told after a send: the same for every number.
#[derive(Debug, Clone)]
pub struct CodeChallenge {
    pub id: ChallengeId,
    pub expires_at: DateTime<Utc>,
    pub resend_after: DateTime<Utc>,
    pub code_length: usize,
    /// The number masked but for its country code and last four digits.
    pub phone_hint: String,
}

/// A `sendLoginCode` as the API receives it.
pub struct CodeRequest {
    pub phone: String,
    pub region: Option<String>,
    pub device: DeviceFields,
    pub client_ip: Option<std::net::IpAddr>,
}

/// A `loginWithCode` as the API receives it.
pub struct CodeLogin {
    pub challenge_id: String,
    pub code: String,
    pub device: DeviceFields,
    pub client_ip: Option<std::net::IpAddr>,
}

impl Auth {
    /// Turns phone sign-in on.
    pub fn with_phone_codes(mut self, codes: PhoneCodes) -> Self {
        self.phone = Some(Arc::new(codes));
        self
    }

    fn phone_codes(&self) -> Result<&Arc<PhoneCodes>, CodeError> {
        self.phone.as_ref().ok_or(CodeError::NotConfigured)
    }

    /// Starts a code sign-in. The answer is the same for every number that passes the
    /// limits; only an enrolled number of an active member gets an SMS.
    #[tracing::instrument(name = "send_login_code", skip_all)]
    pub async fn send_login_code(&self, request: CodeRequest) -> Result<CodeChallenge, CodeError> {
        let codes = self.phone_codes()?.clone();
        let phone = PhoneNumber::parse(
            &request.phone,
            request.region.as_deref(),
            &codes.settings.policy,
        )
        .map_err(CodeError::InvalidPhone)?;
        let device = Device::parse(request.device)?;
        let number = phone.clone();
        let recipient = async move {
            let owner = self.store.phone_owner(&number).await?;
            // The same reads for an unknown number (a random id finds nobody): equal timing.
            let live = self
                .store
                .user(owner.unwrap_or_default())
                .await?
                .is_some_and(|user| self.may_be_live(&user));
            Ok::<_, CodeError>(owner.filter(|_| live))
        };
        self.send_code(
            &codes,
            ChallengePurpose::Login,
            phone,
            device.device_id.as_deref(),
            request.client_ip,
            recipient,
        )
        .await
    }

    /// Signs in with a code from `send_login_code`: the code proves the phone, and the phone's
    /// member signs in through the shared pipeline.
    #[tracing::instrument(name = "login_with_code", skip_all)]
    pub async fn login_with_code(&self, request: CodeLogin) -> Result<Issued, CodeError> {
        let codes = self.phone_codes()?.clone();
        // Bad device fields are refused before the code is tried.
        Device::parse(request.device.clone())?;
        let challenge = self
            .check_code(
                &codes,
                ChallengePurpose::Login,
                &request.challenge_id,
                &request.code,
                None,
            )
            .await?;
        let attempts_left = codes.settings.max_attempts - challenge.attempts;
        let invalid = CodeError::InvalidCode { attempts_left };
        let Some(phone) = PhoneNumber::from_stored(&challenge.phone) else {
            return Err(invalid);
        };
        // The challenge is used up in the sign-in's own transaction, and only for the member
        // it was sent to (the number may have moved since): a refusal on the way (membership,
        // snapshot) leaves the code usable, and of concurrent right answers exactly one wins.
        let context = SignInContext {
            device: request.device,
            client_ip: request.client_ip,
            proof: Some(SignInProof::Challenge(challenge.id)),
        };
        match self
            .sign_in(&PhoneCodeVerifier, ProvenPhone { phone }, context)
            .await
        {
            Err(LoginError::IdentityNotLinked) => Err(invalid),
            outcome => Ok(outcome?),
        }
    }

    /// Whether a code to this member can lead to a sign-in: the stored membership is active,
    /// or the snapshot is old enough to be re-read through the trusted client at sign-in (the
    /// member may have renewed since).
    fn may_be_live(&self, user: &crate::domain::User) -> bool {
        let active = user
            .membership
            .as_ref()
            .is_some_and(|m| m.is_active(self.today()));
        let rereadable = self.member_lookup.is_some()
            && self.now() - user.updated_at > self.snapshot_rule.refresh_after;
        active || rereadable
    }

    /// Admits the send, stores the challenge, and sends the SMS (after the answer) when
    /// `recipient` finds someone.
    async fn send_code(
        &self,
        codes: &Arc<PhoneCodes>,
        purpose: ChallengePurpose,
        phone: PhoneNumber,
        device_id: Option<&str>,
        client_ip: Option<std::net::IpAddr>,
        recipient: impl Future<Output = Result<Option<UserId>, CodeError>>,
    ) -> Result<CodeChallenge, CodeError> {
        let settings = &codes.settings;
        let next_send = self
            .admit_send(settings, &phone, device_id, client_ip)
            .await?;
        let recipient = recipient.await?;
        let now = self.now();
        let id = ChallengeId::new();
        let code = OtpCode::generate(settings.code_length);
        let expires_at = now + settings.ttl;
        self.store
            .create_challenge(NewChallenge {
                id,
                purpose,
                phone: &phone,
                user_id: recipient,
                code_hmac: codes.keys.seal(id, &code),
                now,
                expires_at,
                live_per_number: settings.live_per_number,
            })
            .await?;
        let challenge = CodeChallenge {
            id,
            expires_at,
            resend_after: now + chrono::Duration::from_std(next_send).unwrap_or_default(),
            code_length: settings.code_length,
            phone_hint: phone.hint(),
        };
        // One task for every number, spawned the same way: the budget, the text and the send
        // happen after the answer, so nothing on the request's path depends on the recipient.
        let counter = self.rate_counter.clone();
        let codes = codes.clone();
        tokio::spawn(async move {
            if recipient.is_none()
                || !limits::charge_sms_budget(counter.as_ref(), &codes.settings).await
            {
                return;
            }
            let settings = &codes.settings;
            let sms = Sms {
                body: SecretString::from(render(&settings.template, &code, settings.ttl)),
                to: phone,
                challenge_id: id,
                expires_at,
            };
            deliver(codes.sender.as_ref(), sms).await;
        });
        Ok(challenge)
    }

    /// Counts one attempt at the challenge and compares the code: the challenge when it is
    /// right (for `Enrol`, only the enrolling member's own challenge is).
    async fn check_code(
        &self,
        codes: &PhoneCodes,
        purpose: ChallengePurpose,
        challenge_id: &str,
        code: &str,
        member: Option<UserId>,
    ) -> Result<ChallengeRecord, CodeError> {
        let settings = &codes.settings;
        let code = OtpCode::parse(code, settings.code_length)?;
        let unknown = CodeError::InvalidCode { attempts_left: 0 };
        let Ok(id) = challenge_id.trim().parse::<ChallengeId>() else {
            return Err(unknown);
        };
        let Some(challenge) = self.store.challenge(id).await? else {
            return Err(unknown);
        };
        if let Err(error) = self.reserve_failure(settings, &challenge.phone).await {
            self.record_code_failure(purpose, &challenge, "CODE").await;
            return Err(error);
        }
        let counted = self
            .store
            .count_attempt(id, purpose, self.now(), settings.max_attempts)
            .await;
        let challenge = match counted {
            Ok(Attempt::Counted(challenge)) => challenge,
            other => {
                self.code_not_wrong(settings, &challenge.phone).await;
                return match other? {
                    Attempt::Exhausted => {
                        self.record_code_failure(purpose, &challenge, "CODE_ATTEMPTS_EXCEEDED")
                            .await;
                        Err(CodeError::AttemptsExceeded)
                    }
                    _ => Err(unknown),
                };
            }
        };
        let right = codes.keys.verify(id, &code, &challenge.code_hmac)
            && challenge.user_id.is_some()
            && (member.is_none() || challenge.user_id == member);
        if right {
            self.code_not_wrong(settings, &challenge.phone).await;
        } else {
            tracing::info!(
                attempts = challenge.attempts,
                "code refused: wrong or not for this caller"
            );
            self.record_code_failure(purpose, &challenge, "INVALID_CODE")
                .await;
            return Err(CodeError::InvalidCode {
                attempts_left: settings.max_attempts.saturating_sub(challenge.attempts),
            });
        }
        Ok(challenge)
    }
}

impl Auth {
    /// A refused code, against the member it was sent to: a wrong code or a spent challenge
    /// is `login.failed` (sign-in) or `phone.enrolled` failed (enrolment); a full failure
    /// budget (`reason` `CODE`) is `rate_limit.tripped`.
    async fn record_code_failure(
        &self,
        purpose: ChallengePurpose,
        challenge: &ChallengeRecord,
        reason: &str,
    ) {
        let kind = match (reason, purpose) {
            ("CODE", _) => AuditType::RateLimitTripped,
            (_, ChallengePurpose::Login) => AuditType::LoginFailed,
            (_, ChallengePurpose::Enrol) => AuditType::PhoneEnrolled,
        };
        let mut event = self
            .audit_failure(kind, reason)
            .with_method(AuthMethod::PhoneCode);
        event.user_id = challenge.user_id;
        self.record_failure(event, None).await;
    }
}

/// The SMS text: `{code}` and `{minutes}` filled in.
fn render(template: &str, code: &OtpCode, ttl: chrono::Duration) -> String {
    template
        .replace("{code}", code.expose())
        .replace("{minutes}", &ttl.num_minutes().max(1).to_string())
}

/// Hands the SMS to the provider, off the request's path; a failure is logged and counted by
/// the sender, never told to the caller.
async fn deliver(sender: &dyn SmsSender, sms: Sms) {
    {
        match sender.send(&sms).await {
            Ok(()) => tracing::info!(
                provider = sender.provider(),
                challenge_id = %sms.challenge_id,
                "sign-in code sent"
            ),
            Err(error) => tracing::warn!(
                provider = sender.provider(),
                challenge_id = %sms.challenge_id,
                %error,
                "sending a sign-in code failed"
            ),
        }
    }
}
