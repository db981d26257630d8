//! login-api: the GraphQL login server of the club's mobile apps.
//!
//! A member logs in with their club shop (SAP Commerce "Hybris") credentials; we check the club
//! membership is current, keep the user and a session per device, and issue our own JWT access
//! tokens and rotating refresh tokens.
//!
//! # Layout
//! - [`domain`]: types that parse instead of validate, and the membership and lifetime rules.
//! - [`auth`]: the use cases — login, refresh, logout, authenticate — and JWT keys.
//! - [`ports`]: the small traits the use cases need (identity provider, clock).
//! - [`adapters`]: ports implemented over real technology: Hybris, Algolia, EventBridge, log sinks.
//! - [`store`]: persistence with sea-orm, one transaction per business operation; the outbox.
//! - [`relay`]: delivers outbox rows to the search index and the event bus.
//! - [`graphql`]: schema, resolvers, and the one map from errors to `extensions.code`.
//! - [`http`]: the axum router: `/graphql`, health, JWK Set.
//! - [`sim`]: the Hybris simulator (`login-api hybris-sim`, embedded default, tests).
//! - [`config`], [`startup`], [`telemetry`], [`metrics`]: settings, composition root, logs and
//!   traces, Prometheus metrics.

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
