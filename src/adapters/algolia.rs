//! A small Algolia client: save one record per request, with Algolia's documented retry
//! strategy.
//!
//! Design: the `algoliasearch` crate is unmaintained (old reqwest, fixed hosts, no retries), so
//! this speaks the REST API directly on the process' one reqwest client. Writes go to the
//! application's main host first, then to its fallback hosts in random order; a network error,
//! a timeout or a 5xx moves on to the next host, a 4xx does not (the record itself is refused).
//! The API key travels only in the `X-Algolia-API-Key` header and never in an error.

use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

use crate::domain::outbox::{OutboxMessage, Sink};
use crate::ports::{DeliveryError, OutboxSink};

/// The fields of a search payload the indexer reads: which record, and whether to delete it.
#[derive(serde::Deserialize)]
struct Record<'a> {
    #[serde(rename = "objectID", borrow)]
    object_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    action: Option<std::borrow::Cow<'a, str>>,
}

/// The search index (`ALGOLIA_*`).
#[derive(Debug, Clone)]
pub struct AlgoliaSettings {
    pub app_id: String,
    pub api_key: SecretString,
    pub users_index: String,
    /// Base URLs, main host first; empty means Algolia's own hosts for the app id.
    pub hosts: Vec<reqwest::Url>,
    /// Per request and host.
    pub timeout: Duration,
}

pub struct AlgoliaIndexer {
    http: reqwest::Client,
    app_id: String,
    api_key: SecretString,
    index: String,
    /// The main host first, then the fallbacks (shuffled per request).
    hosts: Vec<reqwest::Url>,
    timeout: Duration,
}

impl AlgoliaIndexer {
    /// `hosts`: base URLs, main host first; empty means Algolia's own for `app_id`.
    pub fn new(
        http: reqwest::Client,
        app_id: String,
        api_key: SecretString,
        index: String,
        hosts: Vec<reqwest::Url>,
        timeout: Duration,
    ) -> Self {
        let hosts = if hosts.is_empty() {
            default_hosts(&app_id)
        } else {
            hosts
        };
        Self {
            http,
            app_id,
            api_key,
            index,
            hosts,
            timeout,
        }
    }

    fn hosts_in_order(&self) -> Vec<&reqwest::Url> {
        let (main, fallbacks) = self.hosts.split_first().expect("at least one host");
        let mut fallbacks: Vec<&reqwest::Url> = fallbacks.iter().collect();
        shuffle(&mut fallbacks);
        std::iter::once(main).chain(fallbacks).collect()
    }

    /// Saves the record (`PUT /1/indexes/{index}/{objectID}`), or deletes it when the message
    /// is `{"action": "delete", "objectID": …}` (`DELETE` on the same path; Algolia answers
    /// success for a record it does not have, so a retry is harmless).
    async fn write(&self, payload: &str) -> Result<(), DeliveryError> {
        let record: Record = serde_json::from_str(payload)
            .map_err(|error| DeliveryError::unreadable("a record", &error))?;
        let object_id = record
            .object_id
            .ok_or_else(|| DeliveryError("the record has no objectID".into()))?;
        let delete = record.action.as_deref() == Some("delete");
        let mut last_error = String::new();
        for host in self.hosts_in_order() {
            let mut url = host.clone();
            url.path_segments_mut()
                .map_err(|_| DeliveryError("an Algolia host is not a base URL".into()))?
                .pop_if_empty()
                .extend(["1", "indexes", &self.index, &object_id]);
            let request = if delete {
                self.http.delete(url)
            } else {
                // The record as written: JSON text, sent unparsed.
                self.http
                    .put(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(payload.to_owned())
            };
            let response = request
                .header("X-Algolia-Application-Id", &self.app_id)
                .header("X-Algolia-API-Key", self.api_key.expose_secret())
                .timeout(self.timeout)
                .send()
                .await;
            let host_name = host.host_str().unwrap_or("?");
            match response {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) if response.status().is_client_error() => {
                    let status = response.status();
                    let message = response
                        .json::<serde_json::Value>()
                        .await
                        .ok()
                        .and_then(|body| body["message"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    return Err(DeliveryError(format!(
                        "Algolia refused the record ({status}): {message}"
                    )));
                }
                Ok(response) => last_error = format!("{host_name} answered {}", response.status()),
                Err(error) if error.is_timeout() => last_error = format!("{host_name} timed out"),
                Err(error) => last_error = format!("{host_name}: {}", error.without_url()),
            }
        }
        Err(DeliveryError(format!(
            "every Algolia host failed; last: {last_error}"
        )))
    }
}

#[async_trait]
impl OutboxSink for AlgoliaIndexer {
    fn sink(&self) -> Sink {
        Sink::SearchIndex
    }

    fn max_batch(&self) -> usize {
        20
    }

    async fn deliver(&self, messages: &[OutboxMessage]) -> Vec<Result<(), DeliveryError>> {
        let mut results = Vec::with_capacity(messages.len());
        for message in messages {
            results.push(self.write(&message.payload).await);
        }
        results
    }
}

/// Algolia's write hosts: `{app}.algolia.net`, then `{app}-1..3.algolianet.com`.
fn default_hosts(app_id: &str) -> Vec<reqwest::Url> {
    let app = app_id.to_lowercase();
    std::iter::once(format!("https://{app}.algolia.net"))
        .chain((1..=3).map(|n| format!("https://{app}-{n}.algolianet.com")))
        .filter_map(|url| reqwest::Url::parse(&url).ok())
        .collect()
}

fn shuffle<T>(items: &mut [T]) {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let rng = SystemRandom::new();
    for i in (1..items.len()).rev() {
        let mut bytes = [0u8; 4];
        if rng.fill(&mut bytes).is_err() {
            return;
        }
        let j = (u32::from_le_bytes(bytes) as usize) % (i + 1);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_hosts_are_the_main_host_then_three_fallbacks() {
        let hosts: Vec<String> = default_hosts("ABC123")
            .iter()
            .map(|u| u.to_string())
            .collect();
        assert_eq!(
            hosts,
            [
                "https://abc123.algolia.net/",
                "https://abc123-1.algolianet.com/",
                "https://abc123-2.algolianet.com/",
                "https://abc123-3.algolianet.com/"
            ]
        );
    }

    #[test]
    fn the_main_host_always_comes_first() {
        let indexer = AlgoliaIndexer::new(
            reqwest::Client::new(),
            "app".into(),
            SecretString::from("key"),
            "users".into(),
            vec![],
            Duration::from_secs(1),
        );
        for _ in 0..20 {
            assert_eq!(
                indexer.hosts_in_order()[0].as_str(),
                "https://app.algolia.net/"
            );
            assert_eq!(indexer.hosts_in_order().len(), 4);
        }
    }
}
