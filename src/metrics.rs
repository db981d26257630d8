//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! Design: one registry per application (no global), handed to the parts that record. Label
//! values come from closed sets — outcome codes, endpoint names, sink names, root fields of our
//! schema — never from user data, so cardinality is bounded and nothing personal is exported.
//! Gauges that describe the database (live sessions, outbox rows) are read at scrape time.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Endpoint {
    pub endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HybrisError {
    pub endpoint: &'static str,
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Operation {
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkState {
    pub sink: &'static str,
    pub state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SmsOutcome {
    pub provider: &'static str,
    /// `sent` or `failed`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BreakerTransition {
    /// `open`, `half_open` or `closed`.
    pub to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WritePath {
    /// `one_statement`, `transaction` or `general` (`store::LoginWrites`).
    pub path: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub logins: Family<Outcome, Counter>,
    pub refreshes: Family<Outcome, Counter>,
    pub hybris_latency: Histograms<Endpoint>,
    pub hybris_errors: Family<HybrisError, Counter>,
    pub http_latency: Histograms<Operation>,
    pub live_sessions: Gauge,
    pub outbox: Family<SinkState, Gauge>,
    pub sms: Family<SmsOutcome, Counter>,
    pub code_logins: Family<Outcome, Counter>,
    pub social_logins: Family<Outcome, Counter>,
    /// 0 closed, 1 half-open, 2 open.
    pub hybris_breaker_state: Gauge,
    pub hybris_breaker_transitions: Family<BreakerTransition, Counter>,
    /// 1 while the read cache serves authenticated requests, 0 while they read the database.
    pub read_cache_enabled: Gauge,
    /// Copied from the store's counts at each scrape.
    pub login_writes: Family<WritePath, Counter>,
}

fn latency_histogram() -> Histogram {
    // 1 ms … ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("login_api");
        let logins = Family::<Outcome, Counter>::default();
        registry.register(
            "login_attempts",
            "Login attempts by outcome code",
            logins.clone(),
        );
        let refreshes = Family::<Outcome, Counter>::default();
        registry.register(
            "refreshes",
            "Session refreshes by outcome code",
            refreshes.clone(),
        );
        let hybris_latency: Histograms<Endpoint> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "hybris_request_duration_seconds",
            "Latency of requests to Hybris by endpoint",
            hybris_latency.clone(),
        );
        let hybris_errors = Family::<HybrisError, Counter>::default();
        registry.register(
            "hybris_errors",
            "Failed requests to Hybris by endpoint and kind",
            hybris_errors.clone(),
        );
        let http_latency: Histograms<Operation> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "GraphQL request latency by operation (first root field)",
            http_latency.clone(),
        );
        let live_sessions = Gauge::default();
        registry.register(
            "live_sessions",
            "Sessions neither revoked nor expired",
            live_sessions.clone(),
        );
        let outbox = Family::<SinkState, Gauge>::default();
        registry.register(
            "outbox_rows",
            "Outbox rows by sink and state",
            outbox.clone(),
        );
        let sms = Family::<SmsOutcome, Counter>::default();
        registry.register(
            "sms_messages",
            "Sign-in code messages handed to the SMS provider, by provider and outcome",
            sms.clone(),
        );
        let code_logins = Family::<Outcome, Counter>::default();
        registry.register(
            "code_login_attempts",
            "loginWithCode attempts by outcome code",
            code_logins.clone(),
        );
        let social_logins = Family::<Outcome, Counter>::default();
        registry.register(
            "social_login_attempts",
            "loginWithSocial attempts by outcome code",
            social_logins.clone(),
        );
        let hybris_breaker_state = Gauge::default();
        registry.register(
            "hybris_breaker_state",
            "The Hybris circuit breaker: 0 closed, 1 half-open, 2 open",
            hybris_breaker_state.clone(),
        );
        let hybris_breaker_transitions = Family::<BreakerTransition, Counter>::default();
        registry.register(
            "hybris_breaker_transitions",
            "Hybris circuit breaker state changes by new state",
            hybris_breaker_transitions.clone(),
        );
        let read_cache_enabled = Gauge::default();
        registry.register(
            "read_cache_enabled",
            "1 while sessions and user views are served from the invalidated read cache, 0 while every request reads the database",
            read_cache_enabled.clone(),
        );
        let login_writes = Family::<WritePath, Counter>::default();
        registry.register(
            "login_writes",
            "Sign-ins written to the database since start, by path: one_statement (a returning member's password login in one statement), transaction (a password login's transaction), general (every other sign-in, and those the two could not take)",
            login_writes.clone(),
        );
        Self {
            registry,
            login_writes,
            read_cache_enabled,
            hybris_breaker_state,
            hybris_breaker_transitions,
            sms,
            code_logins,
            social_logins,
            logins,
            refreshes,
            hybris_latency,
            hybris_errors,
            http_latency,
            live_sessions,
            outbox,
        }
    }
}

impl Metrics {
    pub fn outcome(code: Option<&str>) -> Outcome {
        Outcome {
            outcome: code.unwrap_or("SUCCESS").to_owned(),
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(error) = encode(&mut text, &self.registry) {
            tracing::warn!(%error, "encoding metrics failed");
        }
        text
    }
}
