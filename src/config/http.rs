//! What the HTTP and GraphQL layer is told: proxies, CORS, explorer and introspection switches,
//! operation limits.

use super::read::{ConfigResult, Env};
use crate::http::{HttpSettings, IpNetwork};

/// `production` turns introspection and GraphiQL off unless switched on explicitly.
pub fn http(env: &Env, production: bool) -> ConfigResult<HttpSettings> {
    Ok(HttpSettings {
        trusted_proxies: env.list("TRUSTED_PROXIES", |p| {
            IpNetwork::parse(p).ok_or_else(|| format!("{p:?} is not an address or CIDR range"))
        })?,
        cors_allowed_origins: env.list("CORS_ALLOWED_ORIGINS", |o| {
            reqwest::Url::parse(o)
                .ok()
                .filter(|u| {
                    matches!(u.scheme(), "http" | "https") && u.path() == "/" && !o.ends_with('/')
                })
                .map(|_| o.to_owned())
                .ok_or_else(|| format!("{o:?} is not an origin like https://app.example.org"))
        })?,
        introspection: env.switch("GRAPHQL_INTROSPECTION", !production)?,
        graphiql: env.switch("GRAPHIQL", !production)?,
        max_depth: env.number("GRAPHQL_MAX_DEPTH", 20, 2..=100)? as usize,
        max_complexity: env.number("GRAPHQL_MAX_COMPLEXITY", 300, 10..=100_000)? as usize,
        max_aliases: env.number("GRAPHQL_MAX_ALIASES", 15, 0..=1000)? as usize,
        max_root_fields: env.number("GRAPHQL_MAX_ROOT_FIELDS", 10, 1..=1000)? as usize,
        request_timeout: std::time::Duration::from_secs(env.number(
            "REQUEST_TIMEOUT_SECS",
            30,
            1..=600,
        )?),
    })
}
