//! Guards the sizes of the request path's futures.
//!
//! Each `.await` moves its future whole, and async-graphql boxes every field's future at the
//! size of the largest resolver of the merged root. Kilobyte futures made those copies the
//! largest user-space cost of a login (BENCHMARKS.md, ninth sitting). A use case that awaits a
//! sea-orm call inline grows by kilobytes and fails here: box the call (`Box::pin(…).await`) or
//! the path it is on.

use std::future::Future;
use std::mem::size_of;
use std::net::IpAddr;

use async_graphql::{ContainerType, Context};

use super::{Mutation, Query};
use crate::auth::{Auth, LoginRequest, Principal};

/// The size of the future `make` returns, without making one.
fn future_size<A, F: Future>(_make: impl FnOnce(A) -> F) -> usize {
    size_of::<F>()
}

/// Sizes in bytes, with their limits: what they were when the boxes went in, plus a quarter
/// (before: a Mutation field 14,560, a Query field 2,616, `login` 10,592, `refresh` 9,744,
/// `authenticate` 2,336, `me` 1,824; the store's own are checked in `store::future_sizes`).
/// Layout does not depend on the optimisation level: the release build's are the same size.
#[test]
fn request_path_futures_stay_small() {
    let sizes = [
        (
            "a Mutation field",
            future_size(
                |(root, ctx): (&'static Mutation, &'static Context<'static>)| {
                    root.resolve_field(ctx)
                },
            ),
            2560,
        ),
        (
            "a Query field",
            future_size(|(root, ctx): (&'static Query, &'static Context<'static>)| {
                root.resolve_field(ctx)
            }),
            1600,
        ),
        (
            "Auth::login",
            future_size(|(auth, request): (&'static Auth, LoginRequest)| auth.login(request)),
            6000,
        ),
        (
            "Auth::refresh",
            future_size(
                |(auth, token, ip): (&'static Auth, &'static str, Option<IpAddr>)| {
                    auth.refresh(token, ip)
                },
            ),
            5760,
        ),
        (
            "Auth::authenticate",
            future_size(|(auth, bearer): (&'static Auth, &'static str)| auth.authenticate(bearer)),
            800,
        ),
        (
            "Auth::me",
            future_size(|(auth, principal): (&'static Auth, Principal)| auth.me(principal)),
            256,
        ),
    ];
    let report: Vec<String> = sizes
        .iter()
        .map(|(name, size, limit)| format!("{name}: {size} bytes (limit {limit})"))
        .collect();
    println!("{}", report.join("\n"));
    for (name, size, limit) in sizes {
        assert!(
            size <= limit,
            "{name}'s future is {size} bytes, over its {limit}: box what it awaits off the hot path\n{}",
            report.join("\n")
        );
    }
}
