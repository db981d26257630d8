//! The limits on codes, all checked before any provider call and counted through the shared
//! `RateCounter` (Redis across instances).
//!
//! Design (SMS pumping and guessing): a send is refused per client IP (IPv6 per /64), per
//! device id, by the resend cooldown and by sends per number per hour and per day; a global
//! hourly budget caps what an attack can cost at all and answers `SMS_UNAVAILABLE`. The budget
//! is spent only by messages actually sent, but checked for every send, so its answer is the
//! same for enrolled and unknown numbers. Wrong codes are counted per number across challenges,
//! so asking for a new code never resets guessing.

use std::time::Duration;

use super::super::limits::{Limit, count, digest_hex, ip_key};
use super::{Auth, CodeError, PhoneNumber, PhoneSettings};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The send and guess limits (`OTP_*`, `SMS_GLOBAL_MAX_PER_HOUR`).
#[derive(Debug, Clone, Copy)]
pub struct PhoneLimits {
    /// `OTP_RESEND_COOLDOWN_SECS` (60): one send per number per this long.
    pub resend_cooldown: Duration,
    /// Sends per number per hour (`OTP_SENDS_PER_NUMBER_PER_HOUR`, 5).
    pub sends_per_number_hour: i64,
    /// Sends per number per day (`OTP_SENDS_PER_NUMBER_PER_DAY`, 10).
    pub sends_per_number_day: i64,
    /// Wrong codes per number per hour, across challenges (`OTP_FAILURES_PER_NUMBER_PER_HOUR`, 10).
    pub failures_per_number_hour: i64,
    /// Sends per client IP (IPv6 /64) per hour (`OTP_SENDS_PER_IP_PER_HOUR`, 20).
    pub sends_per_ip_hour: i64,
    /// Sends per device id per hour (`OTP_SENDS_PER_DEVICE_PER_HOUR`, 10).
    pub sends_per_device_hour: i64,
    /// SMS sent per hour by this service as a whole (`SMS_GLOBAL_MAX_PER_HOUR`, 500).
    pub global_per_hour: i64,
}

impl Default for PhoneLimits {
    fn default() -> Self {
        Self {
            resend_cooldown: Duration::from_secs(60),
            sends_per_number_hour: 5,
            sends_per_number_day: 10,
            failures_per_number_hour: 10,
            sends_per_ip_hour: 20,
            sends_per_device_hour: 10,
            global_per_hour: 500,
        }
    }
}

const GLOBAL_KEY: &str = "otp:sms:global";

impl Auth {
    /// Charges a send to every limit it counts against, or refuses it. Returns how long until
    /// the number's next send is allowed (`CodeChallenge.resendAfter`): the cooldown, or the
    /// hour's or the day's window when this send used it up. The same for every number.
    pub(super) async fn admit_send(
        &self,
        settings: &PhoneSettings,
        phone: &PhoneNumber,
        device_id: Option<&str>,
        ip: Option<std::net::IpAddr>,
    ) -> Result<Duration, CodeError> {
        let limits = settings.limits;
        let per_hour = |max| Limit { max, window: HOUR };
        if let Some(ip) = ip {
            let key = format!("otp:send:ip:{}", ip_key(ip));
            self.charge(&key, per_hour(limits.sends_per_ip_hour), "client IP")
                .await?;
        }
        if let Some(device_id) = device_id {
            let key = format!("otp:send:dev:{}", digest_hex(device_id));
            self.charge(&key, per_hour(limits.sends_per_device_hour), "device")
                .await?;
        }
        let budget = self
            .count(GLOBAL_KEY, 0, per_hour(limits.global_per_hour))
            .await;
        if budget.count >= limits.global_per_hour {
            tracing::warn!("code send refused: the global SMS budget is spent");
            return Err(CodeError::SmsUnavailable {
                retry_after: budget.resets_in.max(Duration::from_secs(1)),
            });
        }
        let number = digest_hex(phone.as_str());
        let cooldown = Limit {
            max: 1,
            window: limits.resend_cooldown,
        };
        let mut next = self
            .charge(
                &format!("otp:send:cool:{number}"),
                cooldown,
                "resend cooldown",
            )
            .await?
            .resets_in;
        let per_number = [
            (
                per_hour(limits.sends_per_number_hour),
                "h",
                "number per hour",
            ),
            (
                Limit {
                    max: limits.sends_per_number_day,
                    window: DAY,
                },
                "d",
                "number per day",
            ),
        ];
        for (limit, window, what) in per_number {
            let key = format!("otp:send:num:{window}:{number}");
            let charged = self.charge(&key, limit, what).await?;
            if charged.count >= limit.max {
                next = next.max(charged.resets_in);
            }
        }
        Ok(next)
    }

    /// Reserves a wrong code against the number's cap before the attempt (one atomic addition,
    /// so concurrent guesses cannot all slip past it), or refuses the attempt when it is full.
    /// An attempt that turns out right, or never compared, gives it back (`code_not_wrong`).
    pub(super) async fn reserve_failure(
        &self,
        settings: &PhoneSettings,
        phone: &str,
    ) -> Result<(), CodeError> {
        let limit = failures(settings);
        let window = self.count(&failure_key(phone), 1, limit).await;
        if window.count > limit.max {
            self.count(&failure_key(phone), -1, limit).await;
            tracing::warn!("code attempt refused: too many wrong codes for this number");
            return Err(CodeError::RateLimited {
                retry_after: window.resets_in.max(Duration::from_secs(1)),
            });
        }
        Ok(())
    }

    pub(super) async fn code_not_wrong(&self, settings: &PhoneSettings, phone: &str) {
        self.count(&failure_key(phone), -1, failures(settings))
            .await;
    }

    async fn charge(
        &self,
        key: &str,
        limit: Limit,
        what: &str,
    ) -> Result<crate::ports::Window, CodeError> {
        let window = self.count(key, 1, limit).await;
        if window.count > limit.max {
            tracing::warn!(
                limit = what,
                retry_after_secs = window.resets_in.as_secs(),
                "code send refused: rate limit"
            );
            return Err(CodeError::RateLimited {
                retry_after: window.resets_in.max(Duration::from_secs(1)),
            });
        }
        Ok(window)
    }
}

fn failures(settings: &PhoneSettings) -> Limit {
    Limit {
        max: settings.limits.failures_per_number_hour,
        window: HOUR,
    }
}

fn failure_key(phone: &str) -> String {
    format!("otp:fail:num:{}", digest_hex(phone))
}

/// Spends one SMS of the global budget; false when a concurrent send took the last one (the
/// SMS is then not sent: the caller was already answered like everyone else).
pub(super) async fn charge_sms_budget(
    counter: &dyn crate::ports::RateCounter,
    settings: &PhoneSettings,
) -> bool {
    let limit = Limit {
        max: settings.limits.global_per_hour,
        window: HOUR,
    };
    let window = count(counter, GLOBAL_KEY, 1, limit).await;
    if window.count > limit.max {
        count(counter, GLOBAL_KEY, -1, limit).await;
        tracing::warn!("the global SMS budget ran out during the send: SMS not sent");
        return false;
    }
    true
}
