//! `HYBRIS_*` and `MEMBERSHIP_TIMEZONE`: where members come from, and whose "today" decides.

use chrono_tz::Tz;
use secrecy::SecretString;

use super::read::{ConfigResult, Env, invalid};
use crate::adapters::hybris::HybrisSettings;

/// `None` when `HYBRIS_BASE_URL` is unset: `serve` then runs the built-in simulator.
pub fn hybris(env: &Env) -> ConfigResult<Option<HybrisSettings>> {
    let Some(base_url) = env.http_url("HYBRIS_BASE_URL")? else {
        return Ok(None);
    };
    let when = "when HYBRIS_BASE_URL is set";
    Ok(Some(HybrisSettings {
        base_url: base_url.as_str().trim_end_matches('/').to_owned(),
        client_id: env.required("HYBRIS_CLIENT_ID", when)?,
        client_secret: SecretString::from(env.required("HYBRIS_CLIENT_SECRET", when)?),
        base_site: env.required("HYBRIS_BASE_SITE", when)?,
    }))
}

pub fn membership_timezone(env: &Env) -> ConfigResult<Tz> {
    match env.get("MEMBERSHIP_TIMEZONE") {
        None => Ok(chrono_tz::UTC),
        Some(v) => v.parse::<Tz>().map_err(|_| {
            invalid(
                "MEMBERSHIP_TIMEZONE",
                format!("{v:?} is not an IANA timezone name"),
            )
        }),
    }
}

/// A field name of the OCC profile (letters, digits, `_`; at most 64), sent in `fields=`.
pub fn roles_field(env: &Env) -> ConfigResult<Option<String>> {
    let Some(field) = env.get("HYBRIS_ROLES_FIELD") else {
        return Ok(None);
    };
    let field = field.trim().to_owned();
    let ok = field.len() <= 64
        && field
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(invalid(
            "HYBRIS_ROLES_FIELD",
            "must be an OCC field name: letters, digits and _, at most 64",
        ));
    }
    Ok(Some(field))
}

/// `HYBRIS_BREAKER_*`: when the circuit breaker on the Hybris calls opens, and for how long.
pub fn breaker(env: &Env) -> ConfigResult<crate::adapters::hybris::breaker::BreakerSettings> {
    let percent = env.number("HYBRIS_BREAKER_FAILURE_PERCENT", 50, 1..=100)?;
    let settings = crate::adapters::hybris::breaker::BreakerSettings {
        failure_ratio: percent as f64 / 100.0,
        min_calls: env.number("HYBRIS_BREAKER_MIN_CALLS", 10, 1..=10_000)? as usize,
        window: env.seconds("HYBRIS_BREAKER_WINDOW_SECS", 30, 1..=3600)?,
        consecutive: env.number("HYBRIS_BREAKER_CONSECUTIVE_FAILURES", 5, 1..=10_000)? as u32,
        open_for: env.seconds("HYBRIS_BREAKER_OPEN_SECS", 30, 1..=3600)?,
        max_open: env.seconds("HYBRIS_BREAKER_MAX_OPEN_SECS", 300, 1..=86_400)?,
    };
    if settings.max_open < settings.open_for {
        return Err(invalid(
            "HYBRIS_BREAKER_MAX_OPEN_SECS",
            "must not be below HYBRIS_BREAKER_OPEN_SECS",
        ));
    }
    Ok(settings)
}
