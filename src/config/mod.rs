//! Settings: read once from the environment (and an optional `.env`), validated, typed.
//!
//! Design: every variable is read here and nowhere else, one file per section; a bad value stops
//! start-up with a message naming the variable and why, never echoing a secret. The settings
//! types belong to the layer that uses them (`JwtSettings` beside the token keys, `RateLimits`
//! beside the limits, `HybrisSettings` beside the Hybris client), so configuration depends on
//! the layers and no layer depends on configuration. Secrets are `SecretString`, so `Debug` of
//! `Settings` is safe to log.

mod audit;
mod http;
mod hybris;
mod limits;
mod outbox;
mod phone;
mod production;
mod read;
mod social;
mod tokens;

use std::net::SocketAddr;

use chrono_tz::Tz;
use secrecy::SecretString;

pub use crate::adapters::{
    algolia::AlgoliaSettings, eventbridge::EventBridgeSettings, hybris::HybrisSettings,
};
pub use crate::auth::tokens::JwtSettings;
pub use crate::http::{HttpSettings, IpNetwork};
pub use crate::sim::{SIMULATOR_BASE_SITE, SIMULATOR_CLIENT_ID, SIMULATOR_CLIENT_SECRET};
pub use crate::telemetry::LogFormat;
pub use phone::{PhoneConfig, TrustedClientSettings};
pub use read::ConfigError;
pub use social::SocialConfig;

use crate::auth::limits::RateLimits;
use crate::domain::SessionLifetimes;
use crate::relay::RelaySettings;
use read::{Env, invalid};

#[derive(Debug, Clone)]
pub struct Settings {
    /// `APP_ENV=production`: no stand-ins, introspection and GraphiQL off by default.
    pub production: bool,
    pub listen_addr: SocketAddr,
    /// `None`: the embedded SQLite file under `./data`.
    pub database_url: Option<String>,
    pub run_migrations: bool,
    /// `None`: `serve` runs the built-in Hybris simulator in-process.
    pub hybris: Option<HybrisSettings>,
    pub hybris_timeout: std::time::Duration,
    pub membership_timezone: Tz,
    pub jwt: JwtSettings,
    pub lifetimes: SessionLifetimes,
    /// Lifetimes set below production's minimums (allowed outside production; warned about).
    pub short_lifetimes: Vec<&'static str>,
    /// `touchSession` writes at most once per session per this long.
    pub activity_min_interval: chrono::Duration,
    /// `HYBRIS_ROLES_FIELD`: the profile field holding the member's roles.
    pub hybris_roles_field: Option<String>,
    pub log_format: LogFormat,
    /// How often expired sessions and refresh tokens are purged.
    pub purge_interval: std::time::Duration,
    /// `None`: index updates go to the log.
    pub algolia: Option<AlgoliaSettings>,
    /// `None`: events go to the log.
    pub eventbridge: Option<EventBridgeSettings>,
    pub relay: RelaySettings,
    /// Whether `serve` runs the outbox relay (`OUTBOX_RELAY`, default true).
    pub relay_enabled: bool,
    pub limits: RateLimits,
    /// `PARTNER_TOKEN_TTL_SECS`: at most 900.
    pub partner_token_ttl: chrono::Duration,
    /// `None`: rate-limit counters live in this instance's memory.
    pub redis_url: Option<SecretString>,
    pub redis_key_prefix: String,
    pub http: HttpSettings,
    /// Sign-in by SMS code; `None` when off.
    pub phone: Option<PhoneConfig>,
    /// Re-reads stale membership snapshots; `None`: the embedded simulator's, or none.
    pub hybris_trusted_client: Option<TrustedClientSettings>,
    /// How old a membership snapshot may be for sign-ins without a password.
    pub snapshot: crate::auth::SnapshotRule,
    /// Sign-in with Google and Facebook.
    pub social: SocialConfig,
    /// The circuit breaker on the Hybris calls.
    pub hybris_breaker: crate::adapters::hybris::breaker::BreakerSettings,
    /// `HYBRIS_MAX_IN_FLIGHT` (64): calls to Hybris in flight at once.
    pub hybris_max_in_flight: usize,
    /// The audit trail and account deletion (`AUDIT_*`, `REAUTH_MAX_AGE_SECS`,
    /// `DELETION_TOMBSTONE_DAYS`).
    pub audit: crate::auth::audit::AuditSettings,
    /// `READ_CACHE` (on): serve authenticated reads from the invalidated read cache on
    /// PostgreSQL (a writer answers only once every instance has applied its invalidation,
    /// see `store::invalidation`); no effect on SQLite.
    pub read_cache: bool,
}

impl Settings {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(invalid(".env", e.to_string())),
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests can configure without touching the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&lookup);
        let production = env.choice(
            "APP_ENV",
            false,
            &[
                ("development", false),
                ("test", false),
                ("production", true),
            ],
        )?;
        let hybris_timeout = env.millis("HYBRIS_TIMEOUT_MS", 5000, 1..=120_000)?;
        let (lifetimes, short_lifetimes) = tokens::lifetimes(&env, production)?;
        let settings = Self {
            production,
            listen_addr: match env.get("LISTEN_ADDR") {
                None => SocketAddr::from(([127, 0, 0, 1], 8080)),
                Some(v) => v.parse().map_err(|_| {
                    invalid(
                        "LISTEN_ADDR",
                        format!("{v:?} is not a socket address like 127.0.0.1:8080"),
                    )
                })?,
            },
            database_url: database_url(&env)?,
            run_migrations: env.switch("RUN_MIGRATIONS", true)?,
            hybris: hybris::hybris(&env)?,
            hybris_timeout,
            membership_timezone: hybris::membership_timezone(&env)?,
            jwt: tokens::jwt(&env)?,
            lifetimes,
            short_lifetimes,
            activity_min_interval: tokens::activity_min_interval(&env)?,
            hybris_roles_field: hybris::roles_field(&env)?,
            log_format: env.choice(
                "LOG_FORMAT",
                LogFormat::Text,
                &[("text", LogFormat::Text), ("json", LogFormat::Json)],
            )?,
            purge_interval: std::time::Duration::from_secs(env.number(
                "PURGE_INTERVAL_SECS",
                3600,
                1..=7 * 24 * 3600,
            )?),
            algolia: outbox::algolia(&env)?,
            eventbridge: outbox::eventbridge(&env),
            relay: outbox::relay(&env)?,
            relay_enabled: env.switch("OUTBOX_RELAY", true)?,
            limits: limits::rate_limits(&env, hybris_timeout)?,
            partner_token_ttl: tokens::partner_token_ttl(&env)?,
            redis_url: limits::redis_url(&env)?,
            redis_key_prefix: env
                .get("REDIS_KEY_PREFIX")
                .unwrap_or_else(|| "login-api:rl:".into()),
            http: http::http(&env, production)?,
            phone: phone::phone(&env, production)?,
            hybris_trusted_client: phone::trusted_client(&env)?,
            snapshot: phone::snapshot_rule(&env)?,
            social: social::social(&env, production)?,
            hybris_breaker: hybris::breaker(&env)?,
            hybris_max_in_flight: env.number("HYBRIS_MAX_IN_FLIGHT", 64, 1..=100_000)? as usize,
            audit: audit::audit(&env)?,
            read_cache: env.switch("READ_CACHE", true)?,
        };
        if production {
            production::refuse_stand_ins(&env, &settings)?;
            if settings.phone.is_some() && settings.redis_url.is_none() {
                return Err(invalid(
                    "REDIS_URL",
                    "is required in production while phone sign-in is on: the SMS budget and the send limits must be shared by every instance",
                ));
            }
        }
        Ok(settings)
    }

    /// The database to use: `DATABASE_URL`, or the embedded SQLite file.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| "sqlite://data/login-api.sqlite?mode=rwc".into())
    }
}

fn database_url(env: &Env) -> Result<Option<String>, ConfigError> {
    let url = env.get("DATABASE_URL");
    if let Some(url) = &url
        && !["postgres://", "postgresql://", "sqlite:"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
    {
        return Err(invalid(
            "DATABASE_URL",
            "must start with postgres://, postgresql:// or sqlite:",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod sign_in_tests;
#[cfg(test)]
mod tests;
