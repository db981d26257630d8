//! Wiring for the outbox's destinations (Algolia, EventBridge) and the AWS SDK configuration
//! they and the SNS sender share.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use crate::adapters::eventbridge::{EventBridgePublisher, EventBridgeSettings};
use crate::adapters::{algolia::AlgoliaIndexer, log_sink::LogSink};
use crate::config::Settings;
use crate::domain::outbox::Sink;
use crate::ports::OutboxSink;

/// The search index and event bus sinks: the real services when configured, else the log.
pub(super) async fn outbox_sinks(
    settings: &Settings,
    http: reqwest::Client,
) -> Vec<Arc<dyn OutboxSink>> {
    let search: Arc<dyn OutboxSink> = match &settings.algolia {
        Some(algolia) => Arc::new(AlgoliaIndexer::new(
            http,
            algolia.app_id.clone(),
            algolia.api_key.clone(),
            algolia.users_index.clone(),
            algolia.hosts.clone(),
            algolia.timeout,
        )),
        None => {
            tracing::warn!(
                "ALGOLIA_APP_ID/ALGOLIA_API_KEY are not set: search index updates are written to the log"
            );
            Arc::new(LogSink(Sink::SearchIndex))
        }
    };
    let events: Arc<dyn OutboxSink> = match &settings.eventbridge {
        Some(eventbridge) => Arc::new(EventBridgePublisher::new(
            eventbridge_client(eventbridge).await,
            eventbridge.bus_name.clone(),
            eventbridge.source.clone(),
        )),
        None => {
            tracing::warn!(
                "no AWS settings (AWS_REGION, AWS_ENDPOINT_URL…): login events are written to the log"
            );
            Arc::new(LogSink(Sink::EventBus))
        }
    };
    vec![search, events]
}

async fn eventbridge_client(settings: &EventBridgeSettings) -> aws_sdk_eventbridge::Client {
    // The outbox retries with backoff, so the SDK tries once; a hung endpoint costs at most
    // the operation timeout, never the relay.
    aws_sdk_eventbridge::Client::new(
        &aws_sdk_config(
            &settings.region,
            &settings.endpoint_url,
            &settings.static_credentials,
        )
        .await,
    )
}

/// The AWS SDK configuration: one try, short timeouts (callers retry in their own way), the
/// standard resolution for whatever is not given.
pub(super) async fn aws_sdk_config(
    region: &Option<String>,
    endpoint_url: &Option<String>,
    static_credentials: &Option<(String, SecretString)>,
) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(3))
                .operation_timeout(std::time::Duration::from_secs(10))
                .build(),
        );
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some((key_id, secret)) = static_credentials {
        loader = loader.credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            key_id,
            secret.expose_secret(),
            None,
            None,
            "login-api-settings",
        ));
    }
    loader.load().await
}
