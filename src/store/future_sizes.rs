//! Guards the sizes of the store's futures on the request path (`graphql::future_sizes` says
//! why: each `.await` above them moves them whole). A sea-orm call awaited inline adds
//! kilobytes: box the path it is on.

use std::future::Future;
use std::mem::size_of;

use super::{NewLogin, Store};
use crate::domain::UserId;

/// The size of the future `make` returns, without making one.
fn future_size<A, F: Future>(_make: impl FnOnce(A) -> F) -> usize {
    size_of::<F>()
}

/// Limits: the sizes when the boxes went in, with room (before them: `record_login` 6,336
/// bytes; `Auth::me`, which awaits only `cached_user`, 1,824).
#[test]
fn request_path_store_futures_stay_small() {
    let record_login = future_size(|(store, login): (&'static Store, NewLogin<'static>)| {
        store.record_login(login)
    });
    let cached_user = future_size(|(store, id): (&'static Store, UserId)| store.cached_user(id));
    println!("record_login: {record_login} bytes, cached_user: {cached_user} bytes");
    assert!(
        record_login <= 768,
        "record_login's future: {record_login} bytes"
    );
    assert!(
        cached_user <= 128,
        "cached_user's future: {cached_user} bytes"
    );
}
