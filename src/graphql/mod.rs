//! The GraphQL API: schema, resolvers split by area, and the error → `extensions.code` map.
//!
//! Design: resolvers are thin. They parse GraphQL inputs into use-case requests, call `Auth`,
//! and turn records into API types; the database never shapes the API. Every error leaves
//! through `error::ApiError`, so each carries its `extensions.code`.
//!
//! Each resolver boxes its use case's future (`Box::pin(auth.…(…)).await`). async-graphql
//! boxes every field's future at the size of the largest resolver of the merged root (15 KiB
//! before), and each await between it and the use case moves that future whole: the copies
//! were the largest user-space cost of a login (BENCHMARKS.md, ninth sitting).

mod account;
mod code;
mod context;
mod error;
#[cfg(test)]
mod future_sizes;
mod partners;
mod phone;
mod scalars;
mod security;
mod sessions;
mod social;
mod types;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::{EmptySubscription, MergedObject, Schema};

pub use code::ErrorCode;
pub use error::ApiError;

use crate::auth::{Auth, AuthError, Principal};
use crate::metrics::Metrics;

#[derive(MergedObject, Default)]
pub struct Query(
    account::AccountQuery,
    sessions::SessionQuery,
    security::SecurityQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    account::AccountMutation,
    sessions::SessionMutation,
    partners::PartnerMutation,
    phone::PhoneMutation,
    social::SocialMutation,
    security::SecurityMutation,
);

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits every operation must respect.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

pub fn build_schema(
    services: Option<(Arc<Auth>, Arc<Metrics>)>,
    limits: SchemaLimits,
) -> ApiSchema {
    builder(services, limits).finish()
}

/// The same schema under async-graphql's fast validation mode, which checks only fragment
/// cycles, uploads, complexity and depth: for a document that passed the full validation
/// before and whose validation cannot depend on the request (it declares no variables;
/// `http::documents` decides).
pub fn build_fast_schema(
    services: Option<(Arc<Auth>, Arc<Metrics>)>,
    limits: SchemaLimits,
) -> ApiSchema {
    builder(services, limits)
        .validation_mode(async_graphql::ValidationMode::Fast)
        .finish()
}

fn builder(
    services: Option<(Arc<Auth>, Arc<Metrics>)>,
    limits: SchemaLimits,
) -> async_graphql::SchemaBuilder<Query, Mutation, EmptySubscription> {
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .limit_recursive_depth(32)
        .limit_directives(10);
    if !limits.introspection {
        // "Did you mean …?" in validation errors would name fields and mutations: with
        // introspection off, no error text may reveal the schema.
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some((auth, metrics)) = services {
        builder = builder.data(auth).data(metrics);
    }
    builder
}

/// The SDL that `schema.graphql` must equal.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}

/// Who is calling, as established by the HTTP layer from the `Authorization` header.
#[derive(Debug)]
pub enum Caller {
    Anonymous,
    Authenticated(Principal),
    /// A bearer token was sent but not accepted; fields that need a user then make the whole
    /// response an HTTP 401, so apps can re-login. Public fields (login, refresh) still work.
    Rejected(AuthError),
}

/// Set when a field needed a user and the presented token was rejected.
#[derive(Default, Clone)]
pub struct Unauthorized(Arc<AtomicBool>);

impl Unauthorized {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Set when a field was refused by a rate limit: the longest wait asked for, in seconds.
#[derive(Default, Clone)]
pub struct Throttled(Arc<std::sync::atomic::AtomicU64>);

impl Throttled {
    pub fn retry_after(&self) -> Option<u64> {
        Some(self.0.load(Ordering::SeqCst)).filter(|s| *s > 0)
    }

    fn set(&self, seconds: u64) {
        self.0.fetch_max(seconds, Ordering::SeqCst);
    }
}

/// The client's address as the HTTP layer established it (proxies considered).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

/// A request may attempt one credential check (`login`, `loginWithCode`, `verifyPhone`):
/// aliases must not multiply guesses.
#[derive(Default)]
pub struct LoginOnce(AtomicBool);

impl LoginOnce {
    /// True the first time only.
    fn first(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }
}

/// A request id to quote in internal errors and find in logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);
