//! The audit trail and account deletion: `AUDIT_*`, `REAUTH_MAX_AGE_SECS`,
//! `DELETION_TOMBSTONE_DAYS`.

use secrecy::SecretString;

use super::read::{ConfigResult, Env, invalid};
use crate::auth::audit::{AuditSettings, DEVELOPMENT_AUDIT_KEY};

pub fn audit(env: &Env) -> ConfigResult<AuditSettings> {
    let hash_key = match env.get("AUDIT_HASH_KEY") {
        None => None,
        Some(key) if key.len() >= 32 => Some(SecretString::from(key)),
        Some(_) => {
            return Err(invalid(
                "AUDIT_HASH_KEY",
                "must be at least 32 characters (random, e.g. `openssl rand -base64 32`)",
            ));
        }
    };
    Ok(AuditSettings {
        development_key: hash_key.is_none(),
        hash_key: hash_key.unwrap_or_else(|| SecretString::from(DEVELOPMENT_AUDIT_KEY)),
        failures_per_ip_per_min: env.number("AUDIT_FAILURES_PER_IP_PER_MIN", 20, 1..=100_000)?,
        retention: chrono::Duration::days(env.number("AUDIT_RETENTION_DAYS", 90, 1..=3650)? as i64),
        record_refresh: env.switch("AUDIT_RECORD_REFRESH", false)?,
        reauth_max_age: chrono::Duration::seconds(env.number(
            "REAUTH_MAX_AGE_SECS",
            300,
            10..=86_400,
        )? as i64),
        tombstone: chrono::Duration::days(
            env.number("DELETION_TOMBSTONE_DAYS", 30, 1..=3650)? as i64
        ),
    })
}
