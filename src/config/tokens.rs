//! `JWT_*` and the lifetimes of what we issue: access and refresh tokens, sessions, partner
//! tokens.

use jsonwebtoken::Algorithm;
use secrecy::{ExposeSecret, SecretString};

use super::read::{ConfigResult, Env, invalid};
use crate::auth::tokens::JwtSettings;
use crate::domain::SessionLifetimes;

pub fn jwt(env: &Env) -> ConfigResult<JwtSettings> {
    let algorithm = env.choice(
        "JWT_ALGORITHM",
        Algorithm::ES256,
        &[
            ("ES256", Algorithm::ES256),
            ("RS256", Algorithm::RS256),
            ("EdDSA", Algorithm::EdDSA),
            ("HS256", Algorithm::HS256),
        ],
    )?;
    let private_key_file = env.get("JWT_PRIVATE_KEY_FILE").map(Into::into);
    let secret = env.get("JWT_SECRET").map(SecretString::from);
    if let Some(secret) = &secret {
        if algorithm != Algorithm::HS256 {
            return Err(invalid(
                "JWT_SECRET",
                "is only used with JWT_ALGORITHM=HS256",
            ));
        }
        if secret.expose_secret().len() < 32 {
            return Err(invalid("JWT_SECRET", "must be at least 32 bytes"));
        }
    }
    if private_key_file.is_some() && algorithm == Algorithm::HS256 {
        return Err(invalid(
            "JWT_PRIVATE_KEY_FILE",
            "is not used with HS256; set JWT_SECRET instead",
        ));
    }
    Ok(JwtSettings {
        algorithm,
        private_key_file,
        secret,
        issuer: env.get("JWT_ISSUER").unwrap_or_else(|| "login-api".into()),
        audience: env
            .get("JWT_AUDIENCE")
            .unwrap_or_else(|| "club-mobile-apps".into()),
    })
}

const DAY: u64 = 24 * 3600;
const YEAR: u64 = 366 * DAY;

/// The lifetimes, and the names of those set below production's minimums. Outside
/// production any whole number of seconds from 1 is taken, so that app testers can watch an
/// access token expire, a session idle out and the 401 interceptor fire within a test run;
/// production refuses anything below its minimums.
pub fn lifetimes(
    env: &Env,
    production: bool,
) -> ConfigResult<(SessionLifetimes, Vec<&'static str>)> {
    let mut short = Vec::new();
    let mut lifetime = |name: &'static str, default: u64, minimum: u64, max: u64| {
        let lowest = if production { minimum } else { 1 };
        let seconds = env.number(name, default, lowest..=max)?;
        if seconds < minimum {
            short.push(name);
        }
        Ok::<_, super::ConfigError>(chrono::Duration::seconds(seconds as i64))
    };
    let lifetimes = SessionLifetimes {
        access_token: lifetime("ACCESS_TOKEN_TTL_SECS", 900, 30, DAY)?,
        refresh_token: lifetime("REFRESH_TOKEN_TTL_SECS", 30 * DAY, 60, YEAR)?,
        idle: lifetime("SESSION_IDLE_TIMEOUT_SECS", 30 * DAY, 60, YEAR)?,
        max: lifetime("SESSION_MAX_LIFETIME_SECS", 90 * DAY, 60, 5 * YEAR)?,
        reuse_grace: env.seconds("REFRESH_REUSE_GRACE_SECS", 10, 0..=300)?,
    };
    Ok((lifetimes, short))
}

/// `SESSION_ACTIVITY_MIN_INTERVAL_SECS`: `touchSession` writes at most once per this long.
pub fn activity_min_interval(env: &Env) -> ConfigResult<chrono::Duration> {
    env.seconds("SESSION_ACTIVITY_MIN_INTERVAL_SECS", 60, 1..=3600)
}

/// `PARTNER_TOKEN_TTL_SECS`: at most 900.
pub fn partner_token_ttl(env: &Env) -> ConfigResult<chrono::Duration> {
    env.seconds("PARTNER_TOKEN_TTL_SECS", 300, 1..=900)
}
