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

pub fn lifetimes(env: &Env) -> ConfigResult<SessionLifetimes> {
    Ok(SessionLifetimes {
        access_token: env.seconds("ACCESS_TOKEN_TTL_SECS", 900, 30..=DAY)?,
        refresh_token: env.seconds("REFRESH_TOKEN_TTL_SECS", 30 * DAY, 60..=YEAR)?,
        idle: env.seconds("SESSION_IDLE_TIMEOUT_SECS", 30 * DAY, 60..=YEAR)?,
        max: env.seconds("SESSION_MAX_LIFETIME_SECS", 90 * DAY, 60..=5 * YEAR)?,
        reuse_grace: env.seconds("REFRESH_REUSE_GRACE_SECS", 10, 0..=300)?,
    })
}

/// `PARTNER_TOKEN_TTL_SECS`: at most 900.
pub fn partner_token_ttl(env: &Env) -> ConfigResult<chrono::Duration> {
    env.seconds("PARTNER_TOKEN_TTL_SECS", 300, 1..=900)
}
