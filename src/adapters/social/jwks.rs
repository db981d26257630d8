//! A provider's JSON Web Key Set (RFC 7517), fetched over our one HTTP client and cached.
//!
//! Design: keys are cached for the response's `Cache-Control: max-age` (Google rotates its keys
//! and says how long each set is good for). A token naming a `kid` the cache does not hold may
//! be signed with a key published since, so the set is fetched again, but at most once per
//! `min_refetch`: tokens with made-up `kid`s must not turn us into a load generator against the
//! provider. When a fetch fails, a cached set still serves its keys; with none, the provider is
//! unavailable.

use std::time::{Duration, Instant};

use jsonwebtoken::{DecodingKey, jwk::JwkSet};

use crate::ports::IdpError;

pub struct JwksCache {
    http: reqwest::Client,
    url: reqwest::Url,
    timeout: Duration,
    min_refetch: Duration,
    /// A Tokio mutex: held across the fetch, so concurrent sign-ins share one request.
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: Option<JwkSet>,
    fresh_until: Option<Instant>,
    last_fetch: Option<Instant>,
    /// When a fetch last failed with no keys cached.
    failed_empty: Option<Instant>,
}

/// Without `Cache-Control: max-age`, a set is kept this long.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

impl JwksCache {
    pub fn new(
        http: reqwest::Client,
        url: reqwest::Url,
        timeout: Duration,
        min_refetch: Duration,
    ) -> Self {
        Self {
            http,
            url,
            timeout,
            min_refetch,
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    /// The key `kid` names: `InvalidCredentials` when the provider has no such key,
    /// `Unavailable` when the set cannot be fetched and none is cached.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, IdpError> {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        let fresh = state.fresh_until.is_some_and(|until| now < until);
        let known = |state: &State| state.keys.as_ref().and_then(|keys| keys.find(kid)).cloned();
        let may_refetch = state
            .last_fetch
            .is_none_or(|last| now.duration_since(last) >= self.min_refetch);
        // Stale: fetch. Fresh but without this kid: fetch, at most once per `min_refetch`.
        if state.keys.is_none()
            && state
                .failed_empty
                .is_some_and(|at| now.duration_since(at) < self.min_refetch)
        {
            return Err(IdpError::Unavailable(
                "the JWKS could not be fetched a moment ago".into(),
            ));
        }
        let fetch = !fresh || (known(&state).is_none() && may_refetch);
        if fetch {
            match self.fetch().await {
                Ok((keys, max_age)) => {
                    state.keys = Some(keys);
                    state.fresh_until = Some(Instant::now() + max_age);
                    state.last_fetch = Some(Instant::now());
                }
                Err(error) => {
                    // Not again before `min_refetch`: an outage must not make every sign-in
                    // wait for a fetch that fails.
                    state.last_fetch = Some(Instant::now());
                    if state.keys.is_some() {
                        state.fresh_until = Some(Instant::now() + self.min_refetch);
                    } else {
                        state.failed_empty = Some(Instant::now());
                    }
                    if known(&state).is_none() {
                        return Err(error);
                    }
                    tracing::warn!(%error, "fetching the JWKS failed; the cached keys serve");
                }
            }
        }
        let jwk = known(&state).ok_or(IdpError::InvalidCredentials)?;
        DecodingKey::from_jwk(&jwk).map_err(|_| IdpError::InvalidCredentials)
    }

    async fn fetch(&self) -> Result<(JwkSet, Duration), IdpError> {
        let response = self
            .http
            .get(self.url.clone())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| {
                IdpError::Unavailable(format!("JWKS request failed: {}", e.without_url()))
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(IdpError::Unavailable(format!("the JWKS answered {status}")));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age)
            .unwrap_or(DEFAULT_MAX_AGE);
        let keys = response
            .json::<JwkSet>()
            .await
            .map_err(|_| IdpError::Unavailable("the JWKS is not a JWK Set".into()))?;
        Ok((keys, max_age))
    }
}

/// `max-age` of a `Cache-Control` value (RFC 9111 §5.2.2.1), capped at a day.
fn max_age(value: &str) -> Option<Duration> {
    value.split(',').find_map(|directive| {
        let seconds = directive.trim().strip_prefix("max-age=")?.trim_matches('"');
        let seconds: u64 = seconds.parse().ok()?;
        Some(Duration::from_secs(seconds.min(86_400)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=21285, must-revalidate, no-transform"),
            Some(Duration::from_secs(21285))
        );
        assert_eq!(max_age("no-store"), None);
        assert_eq!(
            max_age("max-age=99999999"),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(max_age("max-age=abc"), None);
    }
}
