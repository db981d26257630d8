//! Where the outbox delivers (`ALGOLIA_*`, the `AWS_*` variables, `EVENT_*`) and how the relay
//! retries (`OUTBOX_*`).

use secrecy::SecretString;

use super::read::{ConfigResult, Env, invalid, parse_http_url};
use crate::adapters::{algolia::AlgoliaSettings, eventbridge::EventBridgeSettings};
use crate::relay::RelaySettings;

/// `None` when neither `ALGOLIA_APP_ID` nor `ALGOLIA_API_KEY` is set: updates go to the log.
pub fn algolia(env: &Env) -> ConfigResult<Option<AlgoliaSettings>> {
    let (app_id, api_key) = match (env.get("ALGOLIA_APP_ID"), env.get("ALGOLIA_API_KEY")) {
        (None, None) => return Ok(None),
        (Some(app_id), Some(api_key)) => (app_id, api_key),
        (Some(_), None) => {
            return Err(invalid(
                "ALGOLIA_API_KEY",
                "is required with ALGOLIA_APP_ID",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "ALGOLIA_APP_ID",
                "is required with ALGOLIA_API_KEY",
            ));
        }
    };
    Ok(Some(AlgoliaSettings {
        app_id,
        api_key: SecretString::from(api_key),
        users_index: env
            .get("ALGOLIA_USERS_INDEX")
            .unwrap_or_else(|| "users".into()),
        hosts: env.list("ALGOLIA_HOSTS", |host| {
            parse_http_url(host).map_err(|_| format!("{host:?} is not an http(s) base URL"))
        })?,
        timeout: env.millis("ALGOLIA_TIMEOUT_MS", 5000, 1..=120_000)?,
    }))
}

/// `None` when no AWS variable says where: events go to the log.
pub fn eventbridge(env: &Env) -> Option<EventBridgeSettings> {
    let configured = [
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_EVENTBRIDGE",
    ]
    .iter()
    .any(|name| env.get(name).is_some());
    configured.then(|| EventBridgeSettings {
        bus_name: env
            .get("EVENT_BUS_NAME")
            .unwrap_or_else(|| "rides-service".into()),
        source: env
            .get("EVENT_SOURCE")
            .unwrap_or_else(|| "club.login-api".into()),
        region: None,
        endpoint_url: None,
        static_credentials: None,
    })
}

pub fn relay(env: &Env) -> ConfigResult<RelaySettings> {
    Ok(RelaySettings {
        max_attempts: env.number("OUTBOX_MAX_ATTEMPTS", 12, 1..=1000)? as i32,
        retry_base: chrono::Duration::milliseconds(env.number(
            "OUTBOX_RETRY_BASE_MS",
            1000,
            1..=3_600_000,
        )? as i64),
        retry_max: env.seconds("OUTBOX_RETRY_MAX_SECS", 900, 1..=86_400)?,
        poll_interval: env.millis("OUTBOX_POLL_INTERVAL_MS", 1000, 10..=60_000)?,
        linger: env.millis("OUTBOX_LINGER_MS", 5, 0..=1000)?,
        lease: env.seconds("OUTBOX_LEASE_SECS", 60, 1..=3600)?,
    })
}
