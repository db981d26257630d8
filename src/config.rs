//! Settings: read once from the environment (and an optional `.env`), validated, typed.
//!
//! Design: every variable is parsed here and nowhere else; a bad value stops start-up with a
//! message naming the variable and why, never echoing a secret. Secrets are `SecretString`, so
//! `Debug` of `Settings` is safe to log.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use chrono_tz::Tz;
use jsonwebtoken::Algorithm;
use secrecy::SecretString;

use crate::auth::limits::{Limit, RateLimits};
use crate::domain::SessionLifetimes;
use crate::relay::RelaySettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen_addr: SocketAddr,
    /// `None`: the embedded SQLite file under `./data`.
    pub database_url: Option<String>,
    pub run_migrations: bool,
    /// `None`: `serve` runs the built-in Hybris simulator in-process.
    pub hybris: Option<HybrisSettings>,
    pub hybris_timeout: Duration,
    pub membership_timezone: Tz,
    pub jwt: JwtSettings,
    pub lifetimes: SessionLifetimes,
    pub log_format: LogFormat,
    /// How often expired sessions and refresh tokens are purged.
    pub purge_interval: Duration,
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
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNetwork>,
    /// Origins allowed by CORS; empty: no cross-origin browser access.
    pub cors_allowed_origins: Vec<String>,
    pub introspection: bool,
    pub graphiql: bool,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
    pub request_timeout: Duration,
}

/// An address range such as `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNetwork {
    pub fn parse(raw: &str) -> Option<Self> {
        let (addr, prefix) = match raw.split_once('/') {
            Some((addr, prefix)) => (addr.parse().ok()?, Some(prefix.parse::<u8>().ok()?)),
            None => (raw.parse().ok()?, None),
        };
        let max = match addr {
            std::net::IpAddr::V4(_) => 32,
            std::net::IpAddr::V6(_) => 128,
        };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        let ip = match ip {
            V6(v6) => v6.to_ipv4_mapped().map(V4).unwrap_or(V6(v6)),
            v4 => v4,
        };
        match (self.addr, ip) {
            (V4(net), V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (V6(net), V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlgoliaSettings {
    pub app_id: String,
    pub api_key: SecretString,
    pub users_index: String,
    /// Base URLs, main host first; empty means Algolia's own hosts for the app id.
    pub hosts: Vec<reqwest::Url>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct EventBridgeSettings {
    pub bus_name: String,
    pub source: String,
    /// `None`: aws-config's standard resolution (`AWS_REGION`, profile).
    pub region: Option<String>,
    /// `None`: aws-config's standard resolution (`AWS_ENDPOINT_URL_EVENTBRIDGE`, `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Static credentials for local stand-ins; `None` (production): the standard credential chain.
    pub static_credentials: Option<(String, SecretString)>,
}

#[derive(Debug, Clone)]
pub struct HybrisSettings {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub base_site: String,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub algorithm: Algorithm,
    pub private_key_file: Option<PathBuf>,
    pub secret: Option<SecretString>,
    pub issuer: String,
    pub audience: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A variable that could not be used, and why. Never carries a secret's value.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

/// The defaults of the embedded simulator's OAuth client, used when `HYBRIS_BASE_URL` is unset.
pub const SIMULATOR_CLIENT_ID: &str = "mobile_app";
pub const SIMULATOR_CLIENT_SECRET: &str = "simulator-secret";
pub const SIMULATOR_BASE_SITE: &str = "rcc";

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
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let listen_addr = match get("LISTEN_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(v) => v.parse().map_err(|_| {
                invalid(
                    "LISTEN_ADDR",
                    format!("{v:?} is not a socket address like 127.0.0.1:8080"),
                )
            })?,
        };

        let database_url = get("DATABASE_URL");
        if let Some(url) = &database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.starts_with("sqlite:"))
        {
            return Err(invalid(
                "DATABASE_URL",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }

        let hybris = match get("HYBRIS_BASE_URL") {
            None => None,
            Some(base_url) => {
                let parsed = reqwest::Url::parse(&base_url)
                    .map_err(|e| invalid("HYBRIS_BASE_URL", format!("not a URL: {e}")))?;
                if !matches!(parsed.scheme(), "http" | "https") {
                    return Err(invalid(
                        "HYBRIS_BASE_URL",
                        "must be an http:// or https:// URL",
                    ));
                }
                let required = |name: &'static str| {
                    get(name)
                        .ok_or_else(|| invalid(name, "is required when HYBRIS_BASE_URL is set"))
                };
                Some(HybrisSettings {
                    base_url: base_url.trim_end_matches('/').to_owned(),
                    client_id: required("HYBRIS_CLIENT_ID")?,
                    client_secret: SecretString::from(required("HYBRIS_CLIENT_SECRET")?),
                    base_site: required("HYBRIS_BASE_SITE")?,
                })
            }
        };

        let membership_timezone = match get("MEMBERSHIP_TIMEZONE") {
            None => chrono_tz::UTC,
            Some(v) => v.parse::<Tz>().map_err(|_| {
                invalid(
                    "MEMBERSHIP_TIMEZONE",
                    format!("{v:?} is not an IANA timezone name"),
                )
            })?,
        };

        let algorithm = match get("JWT_ALGORITHM").as_deref() {
            None | Some("ES256") => Algorithm::ES256,
            Some("RS256") => Algorithm::RS256,
            Some("EdDSA") => Algorithm::EdDSA,
            Some("HS256") => Algorithm::HS256,
            Some(other) => {
                return Err(invalid(
                    "JWT_ALGORITHM",
                    format!("{other:?} is not one of ES256, RS256, EdDSA, HS256"),
                ));
            }
        };
        let private_key_file = get("JWT_PRIVATE_KEY_FILE").map(PathBuf::from);
        let secret = get("JWT_SECRET").map(SecretString::from);
        if secret.is_some() && algorithm != Algorithm::HS256 {
            return Err(invalid(
                "JWT_SECRET",
                "is only used with JWT_ALGORITHM=HS256",
            ));
        }
        if let Some(secret) = &secret
            && secrecy::ExposeSecret::expose_secret(secret).len() < 32
        {
            return Err(invalid("JWT_SECRET", "must be at least 32 bytes"));
        }
        if private_key_file.is_some() && algorithm == Algorithm::HS256 {
            return Err(invalid(
                "JWT_PRIVATE_KEY_FILE",
                "is not used with HS256; set JWT_SECRET instead",
            ));
        }

        let seconds =
            |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
                match get(name) {
                    None => Ok(default),
                    Some(v) => match v.trim().parse::<u64>() {
                        Ok(n) if (min..=max).contains(&n) => Ok(n),
                        _ => Err(invalid(
                            name,
                            format!("must be a whole number from {min} to {max}"),
                        )),
                    },
                }
            };
        let secs = |n: u64| chrono::Duration::seconds(n as i64);
        const YEAR: u64 = 366 * 24 * 3600;
        let lifetimes = SessionLifetimes {
            access_token: secs(seconds("ACCESS_TOKEN_TTL_SECS", 900, 30, 24 * 3600)?),
            refresh_token: secs(seconds("REFRESH_TOKEN_TTL_SECS", 2_592_000, 60, YEAR)?),
            idle: secs(seconds("SESSION_IDLE_TIMEOUT_SECS", 2_592_000, 60, YEAR)?),
            max: secs(seconds(
                "SESSION_MAX_LIFETIME_SECS",
                7_776_000,
                60,
                5 * YEAR,
            )?),
            reuse_grace: secs(seconds("REFRESH_REUSE_GRACE_SECS", 10, 0, 300)?),
        };

        let run_migrations = match get("RUN_MIGRATIONS").as_deref() {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(_) => return Err(invalid("RUN_MIGRATIONS", "must be true or false")),
        };
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(invalid("LOG_FORMAT", "must be text or json")),
        };

        let algolia = match (get("ALGOLIA_APP_ID"), get("ALGOLIA_API_KEY")) {
            (None, None) => None,
            (Some(app_id), Some(api_key)) => {
                let hosts = get("ALGOLIA_HOSTS")
                    .map(|hosts| {
                        hosts
                            .split(',')
                            .map(str::trim)
                            .filter(|h| !h.is_empty())
                            .map(|h| {
                                reqwest::Url::parse(h)
                                    .ok()
                                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                                    .ok_or_else(|| {
                                        invalid(
                                            "ALGOLIA_HOSTS",
                                            format!("{h:?} is not an http(s) base URL"),
                                        )
                                    })
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?
                    .unwrap_or_default();
                Some(AlgoliaSettings {
                    app_id,
                    api_key: SecretString::from(api_key),
                    users_index: get("ALGOLIA_USERS_INDEX").unwrap_or_else(|| "users".into()),
                    hosts,
                    timeout: Duration::from_millis(seconds(
                        "ALGOLIA_TIMEOUT_MS",
                        5000,
                        1,
                        120_000,
                    )?),
                })
            }
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

        let aws_configured = [
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_EVENTBRIDGE",
        ]
        .iter()
        .any(|name| get(name).is_some());
        let eventbridge = aws_configured.then(|| EventBridgeSettings {
            bus_name: get("EVENT_BUS_NAME").unwrap_or_else(|| "rides-service".into()),
            source: get("EVENT_SOURCE").unwrap_or_else(|| "club.login-api".into()),
            region: None,
            endpoint_url: None,
            static_credentials: None,
        });

        let relay = RelaySettings {
            max_attempts: seconds("OUTBOX_MAX_ATTEMPTS", 12, 1, 1000)? as i32,
            retry_base: chrono::Duration::milliseconds(seconds(
                "OUTBOX_RETRY_BASE_MS",
                1000,
                1,
                3_600_000,
            )? as i64),
            retry_max: chrono::Duration::seconds(
                seconds("OUTBOX_RETRY_MAX_SECS", 900, 1, 86_400)? as i64
            ),
            poll_interval: Duration::from_millis(seconds(
                "OUTBOX_POLL_INTERVAL_MS",
                1000,
                10,
                60_000,
            )?),
            lease: chrono::Duration::seconds(seconds("OUTBOX_LEASE_SECS", 60, 1, 3600)? as i64),
        };
        let relay_enabled = match get("OUTBOX_RELAY").as_deref() {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(_) => return Err(invalid("OUTBOX_RELAY", "must be true or false")),
        };

        let limit = |max_name: &'static str,
                     max: u64,
                     window_name: &'static str,
                     window: u64|
         -> Result<Limit, ConfigError> {
            Ok(Limit {
                max: seconds(max_name, max, 1, 1_000_000)? as i64,
                window: Duration::from_secs(seconds(window_name, window, 1, 86_400)?),
            })
        };
        let limits = RateLimits {
            account: limit(
                "LOGIN_ACCOUNT_MAX_FAILURES",
                10,
                "LOGIN_ACCOUNT_WINDOW_SECS",
                900,
            )?,
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
        };
        let partner_token_ttl =
            chrono::Duration::seconds(seconds("PARTNER_TOKEN_TTL_SECS", 300, 1, 900)? as i64);
        let redis_url = get("REDIS_URL");
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(invalid(
                "REDIS_URL",
                "must start with redis:// or rediss://",
            ));
        }

        let production = match get("APP_ENV").as_deref() {
            None | Some("development") | Some("test") => false,
            Some("production") => true,
            Some(_) => {
                return Err(invalid(
                    "APP_ENV",
                    "must be development, test or production",
                ));
            }
        };
        let switch = |name: &'static str| -> Result<bool, ConfigError> {
            match get(name).as_deref() {
                None => Ok(!production),
                Some("true") | Some("1") => Ok(true),
                Some("false") | Some("0") => Ok(false),
                Some(_) => Err(invalid(name, "must be true or false")),
            }
        };
        let trusted_proxies = get("TRUSTED_PROXIES")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        IpNetwork::parse(p).ok_or_else(|| {
                            invalid(
                                "TRUSTED_PROXIES",
                                format!("{p:?} is not an address or CIDR range"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let cors_allowed_origins = get("CORS_ALLOWED_ORIGINS")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(|o| {
                        let url = reqwest::Url::parse(o).ok().filter(|u| {
                            matches!(u.scheme(), "http" | "https")
                                && u.path() == "/"
                                && !o.ends_with('/')
                        });
                        url.map(|_| o.to_owned()).ok_or_else(|| {
                            invalid(
                                "CORS_ALLOWED_ORIGINS",
                                format!("{o:?} is not an origin like https://app.example.org"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let http = HttpSettings {
            trusted_proxies,
            cors_allowed_origins,
            introspection: switch("GRAPHQL_INTROSPECTION")?,
            graphiql: switch("GRAPHIQL")?,
            max_depth: seconds("GRAPHQL_MAX_DEPTH", 20, 2, 100)? as usize,
            max_complexity: seconds("GRAPHQL_MAX_COMPLEXITY", 300, 10, 100_000)? as usize,
            max_aliases: seconds("GRAPHQL_MAX_ALIASES", 15, 0, 1000)? as usize,
            max_root_fields: seconds("GRAPHQL_MAX_ROOT_FIELDS", 10, 1, 1000)? as usize,
            request_timeout: Duration::from_secs(seconds("REQUEST_TIMEOUT_SECS", 30, 1, 600)?),
        };

        Ok(Self {
            partner_token_ttl,
            limits,
            redis_url: redis_url.map(SecretString::from),
            redis_key_prefix: get("REDIS_KEY_PREFIX").unwrap_or_else(|| "login-api:rl:".into()),
            http,
            algolia,
            eventbridge,
            relay,
            relay_enabled,
            listen_addr,
            database_url,
            run_migrations,
            hybris,
            hybris_timeout: Duration::from_millis(seconds("HYBRIS_TIMEOUT_MS", 5000, 1, 120_000)?),
            membership_timezone,
            jwt: JwtSettings {
                algorithm,
                private_key_file,
                secret,
                issuer: get("JWT_ISSUER").unwrap_or_else(|| "login-api".into()),
                audience: get("JWT_AUDIENCE").unwrap_or_else(|| "club-mobile-apps".into()),
            },
            lifetimes,
            log_format,
            purge_interval: Duration::from_secs(seconds(
                "PURGE_INTERVAL_SECS",
                3600,
                1,
                7 * 24 * 3600,
            )?),
        })
    }

    /// The database to use: `DATABASE_URL`, or the embedded SQLite file.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| "sqlite://data/login-api.sqlite?mode=rwc".into())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn no_configuration_gives_the_embedded_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen_addr.to_string(), "127.0.0.1:8080");
        assert!(s.hybris.is_none());
        assert_eq!(s.jwt.algorithm, Algorithm::ES256);
        assert_eq!(s.lifetimes.access_token.num_seconds(), 900);
        assert_eq!(s.lifetimes.refresh_token.num_seconds(), 2_592_000);
        assert_eq!(s.hybris_timeout, Duration::from_millis(5000));
        assert!(s.database_url().starts_with("sqlite:"));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (vars, variable) in [
            (vec![("LISTEN_ADDR", "nowhere")], "LISTEN_ADDR"),
            (vec![("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (
                vec![("MEMBERSHIP_TIMEZONE", "Mars/Olympus")],
                "MEMBERSHIP_TIMEZONE",
            ),
            (vec![("JWT_ALGORITHM", "none")], "JWT_ALGORITHM"),
            (
                vec![("ACCESS_TOKEN_TTL_SECS", "-5")],
                "ACCESS_TOKEN_TTL_SECS",
            ),
            (vec![("HYBRIS_TIMEOUT_MS", "soon")], "HYBRIS_TIMEOUT_MS"),
            (vec![("HYBRIS_BASE_URL", "http://h")], "HYBRIS_CLIENT_ID"),
            (vec![("HYBRIS_BASE_URL", "ftp://h")], "HYBRIS_BASE_URL"),
        ] {
            let err = settings(&vars).unwrap_err();
            assert_eq!(err.variable, variable);
            assert!(err.to_string().contains(variable));
        }
    }

    #[test]
    fn production_turns_introspection_and_graphiql_off_unless_enabled() {
        let s = settings(&[("APP_ENV", "production")]).unwrap();
        assert!(!s.http.introspection && !s.http.graphiql);
        let s = settings(&[("APP_ENV", "production"), ("GRAPHIQL", "true")]).unwrap();
        assert!(s.http.graphiql && !s.http.introspection);
        let s = settings(&[]).unwrap();
        assert!(s.http.introspection && s.http.graphiql);
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let s = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::1")]).unwrap();
        let proxies = &s.http.trusted_proxies;
        assert!(proxies[0].contains("10.200.3.4".parse().unwrap()));
        assert!(!proxies[0].contains("11.0.0.1".parse().unwrap()));
        assert!(proxies[1].contains("192.168.1.7".parse().unwrap()));
        assert!(!proxies[1].contains("192.168.1.8".parse().unwrap()));
        assert!(proxies[2].contains("::1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "1.2.3.4/x"] {
            assert_eq!(
                settings(&[("TRUSTED_PROXIES", bad)]).unwrap_err().variable,
                "TRUSTED_PROXIES"
            );
        }
        assert_eq!(
            settings(&[("CORS_ALLOWED_ORIGINS", "https://app.example.org/path")])
                .unwrap_err()
                .variable,
            "CORS_ALLOWED_ORIGINS"
        );
    }

    #[test]
    fn secrets_are_never_printed() {
        let err = settings(&[
            ("JWT_ALGORITHM", "ES256"),
            ("JWT_SECRET", "super-secret-value"),
        ])
        .unwrap_err();
        assert!(!err.to_string().contains("super-secret-value"));
        let s = settings(&[
            ("HYBRIS_BASE_URL", "https://hybris.example.org/"),
            ("HYBRIS_CLIENT_ID", "app"),
            ("HYBRIS_CLIENT_SECRET", "client-secret-value"),
            ("HYBRIS_BASE_SITE", "rcc"),
            ("JWT_ALGORITHM", "HS256"),
            ("JWT_SECRET", "0123456789abcdef0123456789abcdef-secret"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("client-secret-value"));
        assert!(!debug.contains("0123456789abcdef0123456789abcdef-secret"));
        assert_eq!(s.hybris.unwrap().base_url, "https://hybris.example.org");
    }
}
