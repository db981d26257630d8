//! The GraphQL API: schema, resolvers split by area, and the error → `extensions.code` map.
//!
//! Design: resolvers are thin. They parse GraphQL inputs into use-case requests, call `Auth`,
//! and turn records into API types; the database never shapes the API. Every error leaves
//! through `error::ApiError`, so each carries its `extensions.code`.

mod account;
mod error;
mod scalars;
mod sessions;
mod types;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::{EmptySubscription, MergedObject, Schema};

pub use error::ApiError;

use crate::auth::{Auth, AuthError, Principal};

#[derive(MergedObject, Default)]
pub struct Query(account::AccountQuery, sessions::SessionQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(account::AccountMutation, sessions::SessionMutation);

pub type ApiSchema = Schema<Query, Mutation, EmptySubscription>;

pub fn build_schema(auth: Option<Arc<Auth>>) -> ApiSchema {
    let builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription);
    match auth {
        Some(auth) => builder.data(auth).finish(),
        None => builder.finish(),
    }
}

/// The SDL that `schema.graphql` must equal.
pub fn sdl() -> String {
    build_schema(None).sdl()
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

/// A request id to quote in internal errors and find in logs.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);
