//! Rate limits (`LOGIN_*`, `REFRESH_*`, `PARTNER_*`) and where their counters live (`REDIS_*`).

use std::time::Duration;

use secrecy::SecretString;

use super::read::{ConfigResult, Env, invalid};
use crate::auth::limits::{Limit, RateLimits};

/// SAP Commerce disables a customer after this many failed logins in many installations.
const HYBRIS_LOCKOUT_DEFAULT: u64 = 5;

/// `hybris_timeout` bounds how long an attempt waits for in-flight ones of its account.
pub fn rate_limits(env: &Env, hybris_timeout: Duration) -> ConfigResult<RateLimits> {
    let limit = |max_name: &'static str, max: u64, window_name: &'static str, window: u64| {
        Ok::<_, super::ConfigError>(Limit {
            max: env.number(max_name, max, 1..=1_000_000)? as i64,
            window: Duration::from_secs(env.number(window_name, window, 1..=86_400)?),
        })
    };
    // Our account limit stays below Hybris's lockout, or an attacker could use us to lock
    // members out of the shop (wrong passwords answer exactly like a disabled account there).
    let lockout = env.number("HYBRIS_LOCKOUT_THRESHOLD", HYBRIS_LOCKOUT_DEFAULT, 2..=1000)?;
    let account = limit(
        "LOGIN_ACCOUNT_MAX_FAILURES",
        lockout - 1,
        "LOGIN_ACCOUNT_WINDOW_SECS",
        900,
    )?;
    if account.max >= lockout as i64 {
        return Err(invalid(
            "LOGIN_ACCOUNT_MAX_FAILURES",
            format!(
                "must be below HYBRIS_LOCKOUT_THRESHOLD ({lockout}), or failed logins through us would lock members out of the shop"
            ),
        ));
    }
    Ok(RateLimits {
        account,
        account_device: limit(
            "LOGIN_DEVICE_MAX_FAILURES",
            5,
            "LOGIN_DEVICE_WINDOW_SECS",
            900,
        )?,
        ip: limit("LOGIN_IP_MAX_FAILURES", 50, "LOGIN_IP_WINDOW_SECS", 300)?,
        refresh_ip: limit("REFRESH_IP_MAX_FAILURES", 60, "REFRESH_IP_WINDOW_SECS", 300)?,
        partner_mint: limit(
            "PARTNER_MINT_MAX_PER_SESSION",
            10,
            "PARTNER_MINT_WINDOW_SECS",
            60,
        )?,
        partner_redeem: limit(
            "PARTNER_REDEEM_MAX_PER_PARTNER",
            600,
            "PARTNER_REDEEM_WINDOW_SECS",
            60,
        )?,
        // The longest an admitted attempt takes: up to three password forms, each a call.
        in_flight_wait: hybris_timeout * 3 + Duration::from_secs(1),
    })
}

/// `None`: counters live in this instance's memory.
pub fn redis_url(env: &Env) -> ConfigResult<Option<SecretString>> {
    let Some(url) = env.get("REDIS_URL") else {
        return Ok(None);
    };
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(invalid(
            "REDIS_URL",
            "must start with redis:// or rediss://",
        ));
    }
    Ok(Some(SecretString::from(url)))
}
