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
