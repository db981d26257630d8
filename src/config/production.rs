//! Production never runs on stand-ins: the built-in Hybris simulator (its example members
//! would log in), an ephemeral signing key (tokens die with the process and differ between
//! instances), the log sinks (index updates and events would never reach Algolia or
//! EventBridge) and the development audit key (anyone could confirm a hashed email). Each
//! refuses start-up under `APP_ENV=production` unless its `ALLOW_…` opt-out is set;
//! development keeps its zero-configuration start.

use super::Settings;
use super::read::{ConfigResult, Env, invalid};

/// One error naming every missing setting, so an operator fixes them in one round.
pub fn refuse_stand_ins(env: &Env, settings: &Settings) -> ConfigResult<()> {
    let stand_ins = [
        (
            settings.hybris.is_none(),
            "ALLOW_HYBRIS_SIMULATOR",
            "HYBRIS_BASE_URL (with HYBRIS_CLIENT_ID, HYBRIS_CLIENT_SECRET, HYBRIS_BASE_SITE)",
        ),
        (
            settings.jwt.private_key_file.is_none() && settings.jwt.secret.is_none(),
            "ALLOW_EPHEMERAL_JWT_KEY",
            "JWT_PRIVATE_KEY_FILE (or JWT_SECRET with JWT_ALGORITHM=HS256)",
        ),
        (
            settings.algolia.is_none(),
            "ALLOW_LOG_SEARCH_INDEX",
            "ALGOLIA_APP_ID and ALGOLIA_API_KEY",
        ),
        (
            settings.eventbridge.is_none(),
            "ALLOW_LOG_EVENTS",
            "AWS_REGION (or AWS_ENDPOINT_URL_EVENTBRIDGE)",
        ),
        (
            settings.audit.development_key,
            "ALLOW_DEVELOPMENT_AUDIT_KEY",
            "AUDIT_HASH_KEY (32 or more random characters)",
        ),
    ];
    let mut missing = Vec::new();
    for (stands_in, opt_out, setting) in stand_ins {
        if stands_in && !env.switch(opt_out, false)? {
            missing.push(format!("{setting} (or {opt_out}=true)"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(invalid(
        "APP_ENV",
        format!(
            "production runs on no built-in stand-in; set {}",
            missing.join("; ")
        ),
    ))
}
