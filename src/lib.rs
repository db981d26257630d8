//! login-api: the GraphQL login server of the club's mobile apps.
//!
//! A member logs in with their club shop (SAP Commerce "Hybris") credentials; we check the club
//! membership is current, keep the user and a session per device, and issue our own JWT access
//! tokens and rotating refresh tokens.
//!
//! # Layout
//! Imports go one way (`tests/api/architecture.rs` checks it):
//! `domain ← {store, ports} ← auth ← graphql ← http ← startup ← cli ← main`, with
//! `adapters → {ports, domain, metrics, sim}` and `config` reading settings into the layers' own
//! types.
//! - [`domain`]: types that parse instead of validate (users, sessions, identities, tokens, E.164
//!   phone numbers, one-time codes), and the membership and lifetime rules.
//! - [`ports`]: the small traits the use cases need: a credential verifier per sign-in method,
//!   the password checker and member directory (Hybris), the trusted member lookup, SMS senders,
//!   outbox sinks, counters, the clock.
//! - [`store`]: persistence with sea-orm, one file per aggregate, one transaction per business
//!   operation; the outbox.
//! - [`auth`]: the use cases — the sign-in pipeline, phone codes (enrol, send, sign in), refresh,
//!   logout, linking, partner tokens, the operators' — and JWT keys.
//! - [`relay`]: delivers outbox rows to the search index and the event bus.
//! - [`adapters`]: ports implemented over real technology: Hybris (and its trusted client),
//!   Algolia, EventBridge, Redis, SMS (log, webhook, Twilio, SNS).
//! - [`graphql`]: schema, resolvers, and the one map from errors to `extensions.code`.
//! - [`http`]: the axum router: `/graphql`, health, metrics, the JWK Set, partner introspection.
//! - [`sim`]: the Hybris, Algolia and SMS gateway simulators (`login-api hybris-sim`, embedded
//!   default, tests).
//! - [`config`], [`startup`], [`cli`], [`telemetry`], [`metrics`]: settings, composition root,
//!   commands, logs and traces, Prometheus metrics.

pub mod adapters;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod ports;
pub mod relay;
pub mod sim;
pub mod startup;
pub mod store;
pub mod telemetry;
