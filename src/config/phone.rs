//! `SMS_*`, `OTP_*`, `TWILIO_*`, `HYBRIS_TRUSTED_CLIENT_*` and `MEMBERSHIP_*_SECS`: sign-in by
//! SMS code and the membership snapshot it decides on.
//!
//! Phone sign-in is on with `SMS_PROVIDER` set, and outside production also without it (the
//! `log` sender, so `cargo run` works). In production `log` is refused, no `SMS_PROVIDER` (or
//! `off`) turns phone sign-in off, and `OTP_HMAC_KEY` is required.

use std::time::Duration;

use secrecy::SecretString;

use super::read::{ConfigResult, Env, invalid};
use crate::adapters::sms::SmsSettings;
use crate::auth::SnapshotRule;
use crate::auth::phone::{PhoneLimits, PhoneSettings};
use crate::domain::{PhonePolicy, Region};

/// Phone sign-in when it is on.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    pub sms: SmsSettings,
    pub settings: PhoneSettings,
    /// `None` outside production: an ephemeral key (codes die with the process).
    pub hmac_key: Option<SecretString>,
    pub hmac_key_previous: Option<SecretString>,
}

/// The trusted OAuth client of Hybris (`HYBRIS_TRUSTED_CLIENT_ID`/`_SECRET`).
#[derive(Debug, Clone)]
pub struct TrustedClientSettings {
    pub client_id: String,
    pub client_secret: SecretString,
}

const DEFAULT_TEMPLATE: &str =
    "{code} is your club sign-in code. It expires in {minutes} minutes. Never share it.";

/// `None`: phone sign-in is off.
pub fn phone(env: &Env, production: bool) -> ConfigResult<Option<PhoneConfig>> {
    #[derive(Clone, Copy)]
    enum Provider {
        Off,
        Log,
        Webhook,
        Twilio,
        Aws,
    }
    let default = if production {
        Provider::Off
    } else {
        Provider::Log
    };
    let provider = env.choice(
        "SMS_PROVIDER",
        default,
        &[
            ("off", Provider::Off),
            ("log", Provider::Log),
            ("webhook", Provider::Webhook),
            ("twilio", Provider::Twilio),
            ("aws", Provider::Aws),
        ],
    )?;
    let sms = match provider {
        Provider::Off => return Ok(None),
        Provider::Log if production => {
            return Err(invalid(
                "SMS_PROVIDER",
                "log writes codes to the log: development only; choose webhook, twilio or aws (or off)",
            ));
        }
        Provider::Log => SmsSettings::Log,
        Provider::Webhook => {
            let when = "when SMS_PROVIDER=webhook";
            let secret = env.required("SMS_WEBHOOK_SECRET", when)?;
            if secret.len() < 16 {
                return Err(invalid(
                    "SMS_WEBHOOK_SECRET",
                    "must be at least 16 characters",
                ));
            }
            SmsSettings::Webhook {
                url: https_in_production(
                    env.http_url("SMS_WEBHOOK_URL")?
                        .ok_or_else(|| invalid("SMS_WEBHOOK_URL", format!("is required {when}")))?,
                    "SMS_WEBHOOK_URL",
                    production,
                )?,
                secret: SecretString::from(secret),
            }
        }
        Provider::Twilio => {
            let when = "when SMS_PROVIDER=twilio";
            SmsSettings::Twilio {
                base_url: match env.http_url("TWILIO_BASE_URL")? {
                    Some(url) => https_in_production(url, "TWILIO_BASE_URL", production)?,
                    None => reqwest::Url::parse("https://api.twilio.com").expect("a valid URL"),
                },
                account_sid: env.required("TWILIO_ACCOUNT_SID", when)?,
                auth_token: SecretString::from(env.required("TWILIO_AUTH_TOKEN", when)?),
                messaging_service_sid: env.required("TWILIO_MESSAGING_SERVICE_SID", when)?,
            }
        }
        Provider::Aws => SmsSettings::Aws {
            region: None,
            endpoint_url: None,
            static_credentials: None,
            sender_id: env.get("SMS_AWS_SENDER_ID"),
        },
    };
    let hmac_key = secret_key(env, "OTP_HMAC_KEY")?;
    if production && hmac_key.is_none() {
        return Err(invalid(
            "OTP_HMAC_KEY",
            "is required in production while phone sign-in is on (32 or more random bytes, e.g. `openssl rand -base64 32`)",
        ));
    }
    let region = |raw: &str| {
        Region::parse(raw).ok_or_else(|| format!("{raw:?} is not an ISO 3166 two-letter region"))
    };
    let default_region = match env.get("OTP_DEFAULT_REGION") {
        None => None,
        Some(raw) => Some(region(&raw).map_err(|reason| invalid("OTP_DEFAULT_REGION", reason))?),
    };
    let template = env
        .get("SMS_TEMPLATE")
        .unwrap_or_else(|| DEFAULT_TEMPLATE.into());
    if !template.contains("{code}") || template.chars().count() > 300 {
        return Err(invalid(
            "SMS_TEMPLATE",
            "must contain {code} and be at most 300 characters",
        ));
    }
    let count = |name, default, max| -> ConfigResult<i64> {
        Ok(env.number(name, default, 1..=max)? as i64)
    };
    Ok(Some(PhoneConfig {
        sms,
        settings: PhoneSettings {
            code_length: env.number("OTP_LENGTH", 6, 4..=10)? as usize,
            ttl: env.seconds("OTP_TTL_SECS", 300, 30..=3600)?,
            max_attempts: env.number("OTP_MAX_ATTEMPTS", 5, 1..=20)? as u32,
            live_per_number: 3,
            limits: PhoneLimits {
                resend_cooldown: Duration::from_secs(env.number(
                    "OTP_RESEND_COOLDOWN_SECS",
                    60,
                    1..=3600,
                )?),
                sends_per_number_hour: count("OTP_SENDS_PER_NUMBER_PER_HOUR", 5, 1000)?,
                sends_per_number_day: count("OTP_SENDS_PER_NUMBER_PER_DAY", 10, 10_000)?,
                failures_per_number_hour: count("OTP_FAILURES_PER_NUMBER_PER_HOUR", 10, 1000)?,
                sends_per_ip_hour: count("OTP_SENDS_PER_IP_PER_HOUR", 20, 1_000_000)?,
                sends_per_device_hour: count("OTP_SENDS_PER_DEVICE_PER_HOUR", 10, 1000)?,
                global_per_hour: count("SMS_GLOBAL_MAX_PER_HOUR", 500, 10_000_000)?,
            },
            policy: PhonePolicy {
                default_region,
                allowed_regions: env.list("OTP_ALLOWED_REGIONS", region)?,
            },
            template,
        },
        hmac_key,
        hmac_key_previous: secret_key(env, "OTP_HMAC_KEY_PREVIOUS")?,
    }))
}

/// Codes and credentials never travel in clear text in production.
fn https_in_production(
    url: reqwest::Url,
    name: &'static str,
    production: bool,
) -> ConfigResult<reqwest::Url> {
    if production && url.scheme() != "https" {
        return Err(invalid(name, "must be an https:// URL in production"));
    }
    Ok(url)
}

/// A key of at least 32 bytes; its value is never repeated in an error.
fn secret_key(env: &Env, name: &'static str) -> ConfigResult<Option<SecretString>> {
    match env.get(name) {
        None => Ok(None),
        Some(key) if key.len() >= 32 => Ok(Some(SecretString::from(key))),
        Some(_) => Err(invalid(name, "must be at least 32 characters (random)")),
    }
}

/// Both `HYBRIS_TRUSTED_CLIENT_ID` and `_SECRET`, or neither.
pub fn trusted_client(env: &Env) -> ConfigResult<Option<TrustedClientSettings>> {
    match (
        env.get("HYBRIS_TRUSTED_CLIENT_ID"),
        env.get("HYBRIS_TRUSTED_CLIENT_SECRET"),
    ) {
        (None, None) => Ok(None),
        (Some(client_id), Some(secret)) => Ok(Some(TrustedClientSettings {
            client_id,
            client_secret: SecretString::from(secret),
        })),
        (Some(_), None) => Err(invalid(
            "HYBRIS_TRUSTED_CLIENT_SECRET",
            "is required with HYBRIS_TRUSTED_CLIENT_ID",
        )),
        (None, Some(_)) => Err(invalid(
            "HYBRIS_TRUSTED_CLIENT_ID",
            "is required with HYBRIS_TRUSTED_CLIENT_SECRET",
        )),
    }
}

pub fn snapshot_rule(env: &Env) -> ConfigResult<SnapshotRule> {
    let rule = SnapshotRule {
        refresh_after: env.seconds("MEMBERSHIP_REFRESH_AFTER_SECS", 86_400, 60..=365 * 86_400)?,
        max_age: env.seconds(
            "MEMBERSHIP_SNAPSHOT_MAX_AGE_SECS",
            30 * 86_400,
            3600..=365 * 86_400,
        )?,
    };
    if rule.max_age < rule.refresh_after {
        return Err(invalid(
            "MEMBERSHIP_SNAPSHOT_MAX_AGE_SECS",
            "must not be below MEMBERSHIP_REFRESH_AFTER_SECS",
        ));
    }
    Ok(rule)
}
