//! Enrolling a phone from a session (proved by a code), and removing it.
//!
//! Design: the number becomes the member's `phone` identity only when the code sent to it comes
//! back from the same member. A number verified by another member moves to the new prover
//! (carriers recycle numbers): the previous owner's phone sign-in ends and
//! `user.phone_removed` (reason `moved`) records it. Both happen in the transaction that
//! consumes the code.

use super::{Auth, CodeChallenge, CodeError};
use crate::auth::Principal;
use crate::auth::side_effects::{PhoneRemoved, phone_removed_event, phone_verified_event};
use crate::domain::audit::AuditType;
use crate::domain::{AuthMethod, ChallengePurpose, PhoneNumber, User};

impl Auth {
    /// Sends a code to `phone` to prove it belongs to the caller. The send limits apply as to
    /// any send; the SMS goes out whatever the number (the member asked for it).
    #[tracing::instrument(name = "send_phone_verification_code", skip_all, fields(user_id = %principal.user_id))]
    pub async fn send_phone_verification_code(
        &self,
        principal: Principal,
        phone: &str,
        region: Option<&str>,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<CodeChallenge, CodeError> {
        let codes = self.phone_codes()?.clone();
        let phone = PhoneNumber::parse(phone, region, &codes.settings.policy)
            .map_err(CodeError::InvalidPhone)?;
        let member = principal.user_id;
        self.send_code(
            &codes,
            ChallengePurpose::Enrol,
            phone,
            // Enrolment sends count per member, under the per-device allowance.
            Some(&format!("member:{member}")),
            client_ip,
            async move { Ok(Some(member)) },
        )
        .await
    }

    /// Checks the code of the caller's enrolment challenge and enrols the number.
    #[tracing::instrument(name = "verify_phone", skip_all, fields(user_id = %principal.user_id))]
    pub async fn verify_phone(
        &self,
        principal: Principal,
        challenge_id: &str,
        code: &str,
    ) -> Result<User, CodeError> {
        let codes = self.phone_codes()?.clone();
        let challenge = self
            .check_code(
                &codes,
                ChallengePurpose::Enrol,
                challenge_id,
                code,
                Some(principal.user_id),
            )
            .await?;
        let invalid = CodeError::InvalidCode {
            attempts_left: codes.settings.max_attempts - challenge.attempts,
        };
        let Some(phone) = PhoneNumber::from_stored(&challenge.phone) else {
            return Err(invalid);
        };
        let now = self.now();
        let region = phone.region();
        let enrolment = self
            .store
            .enrol_phone(challenge.id, principal.user_id, &phone, now, &|enrolment| {
                let mut events = vec![phone_verified_event(enrolment.user.id, region, now)];
                let mut audit = vec![
                    self.audit_event(AuditType::PhoneEnrolled)
                        .with_method(AuthMethod::PhoneCode)
                        .of(enrolment.user.id, Some(principal.session_id)),
                ];
                if let Some(previous) = enrolment.previous_owner {
                    events.push(phone_removed_event(previous, PhoneRemoved::Moved, now));
                    // The previous owner sees the number leave, not who took it.
                    let mut moved = self
                        .audit_event(AuditType::PhoneRemoved)
                        .with_reason("MOVED");
                    moved.user_id = Some(previous);
                    moved.client_ip = None;
                    audit.push(moved);
                }
                (events, audit)
            })
            .await?
            .ok_or(invalid)?;
        self.outbox_written.notify_waiters();
        if enrolment.previous_owner.is_some() {
            tracing::info!(
                "phone enrolled; it moved from another member, whose phone sign-in ended"
            );
        } else {
            tracing::info!("phone enrolled");
        }
        Ok(enrolment.user)
    }

    /// Ends sign-in by phone code for the caller; sessions and everything else stay.
    #[tracing::instrument(name = "remove_phone", skip_all, fields(user_id = %principal.user_id))]
    pub async fn remove_phone(&self, principal: Principal) -> Result<User, CodeError> {
        self.phone_codes()?;
        let now = self.now();
        let user = self
            .store
            .remove_phone(principal.user_id, now, &|enrolment| {
                (
                    vec![phone_removed_event(
                        enrolment.user.id,
                        PhoneRemoved::Removed,
                        now,
                    )],
                    vec![
                        self.audit_event(AuditType::PhoneRemoved)
                            .with_reason("REMOVED")
                            .of(enrolment.user.id, Some(principal.session_id)),
                    ],
                )
            })
            .await?
            .ok_or_else(|| CodeError::Unexpected(anyhow::anyhow!("the caller's user is gone")))?;
        self.outbox_written.notify_waiters();
        Ok(user)
    }
}
