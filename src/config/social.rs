//! `GOOGLE_*`, `FACEBOOK_*`, `SOCIAL_*`, `JWKS_MIN_REFETCH_SECS`, `LOGIN_NONCE_TTL_SECS`,
//! `LINK_TOKEN_TTL_SECS`: sign-in with Google and Facebook. A provider is on when its settings
//! are given; outside production, with neither given, `serve` wires the built-in simulators.

use std::time::Duration;

use secrecy::SecretString;

use super::read::{ConfigResult, Env, invalid, parse_http_url};
use crate::adapters::social::{FacebookSettings, GoogleSettings};
use crate::auth::limits::Limit;
use crate::auth::social::SocialSettings;

#[derive(Debug, Clone)]
pub struct SocialConfig {
    pub google: Option<GoogleSettings>,
    pub facebook: Option<FacebookSettings>,
    pub settings: SocialSettings,
    /// `SOCIAL_HTTP_TIMEOUT_MS` (3000).
    pub timeout: Duration,
    /// `JWKS_MIN_REFETCH_SECS` (60).
    pub min_refetch: Duration,
}

/// Keys and Graph answers decide who signs in: in production they come over https only.
fn url(
    env: &Env,
    name: &'static str,
    default: &str,
    production: bool,
) -> ConfigResult<reqwest::Url> {
    let url = match env.http_url(name)? {
        Some(url) => url,
        None => parse_http_url(default).map_err(|reason| invalid(name, reason))?,
    };
    if production && url.scheme() != "https" {
        return Err(invalid(name, "must be an https:// URL in production"));
    }
    Ok(url)
}

pub fn social(env: &Env, production: bool) -> ConfigResult<SocialConfig> {
    let window = Duration::from_secs(env.number("SOCIAL_IP_WINDOW_SECS", 300, 1..=86_400)?);
    let client_ids = env.list("GOOGLE_CLIENT_IDS", |id| Ok(id.to_owned()))?;
    let google = if client_ids.is_empty() {
        None
    } else {
        Some(GoogleSettings {
            client_ids,
            jwks_url: url(
                env,
                "GOOGLE_JWKS_URL",
                "https://www.googleapis.com/oauth2/v3/certs",
                production,
            )?,
            allowed_hd: env.get("GOOGLE_ALLOWED_HD"),
        })
    };
    let facebook = match (env.get("FACEBOOK_APP_ID"), env.get("FACEBOOK_APP_SECRET")) {
        (None, None) => None,
        (Some(app_id), Some(secret)) => Some(FacebookSettings {
            app_id,
            app_secret: SecretString::from(secret),
            jwks_url: url(
                env,
                "FACEBOOK_JWKS_URL",
                "https://limited.facebook.com/.well-known/oauth/openid/jwks/",
                production,
            )?,
            graph_url: url(
                env,
                "FACEBOOK_GRAPH_URL",
                "https://graph.facebook.com",
                production,
            )?,
            graph_version: graph_version(env)?,
        }),
        (Some(_), None) => {
            return Err(invalid(
                "FACEBOOK_APP_SECRET",
                "is required with FACEBOOK_APP_ID",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                "FACEBOOK_APP_ID",
                "is required with FACEBOOK_APP_SECRET",
            ));
        }
    };
    Ok(SocialConfig {
        google,
        facebook,
        settings: SocialSettings {
            require_nonce: env.switch("SOCIAL_REQUIRE_NONCE", false)?,
            auto_link_google: env.choice(
                "SOCIAL_AUTO_LINK",
                true,
                &[("google_verified", true), ("off", false)],
            )?,
            nonce_ttl: env.seconds("LOGIN_NONCE_TTL_SECS", 600, 30..=3600)?,
            link_token_ttl: env.seconds("LINK_TOKEN_TTL_SECS", 600, 30..=3600)?,
            ip_failures: Limit {
                max: env.number("SOCIAL_IP_MAX_FAILURES", 50, 1..=1_000_000)? as i64,
                window,
            },
            nonces_per_ip: Limit {
                max: env.number("LOGIN_NONCE_MAX_PER_IP", 60, 1..=1_000_000)? as i64,
                window,
            },
        },
        timeout: env.millis("SOCIAL_HTTP_TIMEOUT_MS", 3000, 100..=60_000)?,
        min_refetch: Duration::from_secs(env.number("JWKS_MIN_REFETCH_SECS", 60, 1..=3600)?),
    })
}

/// `vNN.N`, pinned: Graph answers change between versions.
fn graph_version(env: &Env) -> ConfigResult<String> {
    let version = env
        .get("FACEBOOK_GRAPH_VERSION")
        .unwrap_or_else(|| "v21.0".into());
    let ok = version
        .strip_prefix('v')
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(major, minor)| {
            !major.is_empty()
                && !minor.is_empty()
                && major
                    .bytes()
                    .chain(minor.bytes())
                    .all(|b| b.is_ascii_digit())
        });
    if !ok {
        return Err(invalid("FACEBOOK_GRAPH_VERSION", "must look like v21.0"));
    }
    Ok(version)
}
