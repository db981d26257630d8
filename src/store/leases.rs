//! Who may be serving from a read cache: the instances whose lease in `read_cache_leases` may
//! still run, and the two ways a writer looks them up (the protocol: `invalidation`).
//!
//! - After the commit ([`LEASEHOLDERS_SQL`]): every instance that may serve then has a lease
//!   committed by then. The writer always notifies.
//! - Inside the writing statement ([`others!`], the logins): the other instances' leases are
//!   read under the join lock in shared mode, held to the commit, and the `NOTIFY` is sent only
//!   when there are any. Why: PostgreSQL serialises the commits of notifying transactions
//!   through their WAL flush, so a lone instance's logins queued behind each other's disk
//!   writes (BENCHMARKS.md). An instance with no lease running joins under the lock in
//!   exclusive mode and empties its cache once it has joined (`listener`): a writer either sees
//!   its lease or committed before it joined. An instance whose renewals keep coming less than
//!   [`LEASE_MARGIN`] apart has, whenever one of its leases may serve after a writer's commit, a
//!   renewal committed before that writer's lookup and within the window: the writer sees it.
//!
//! A lease runs from when its renewal was sent, never from later (a flush does not extend it),
//! so a lease that may serve always has a renewal that writers see within the window. Listeners
//! of earlier versions, which join without the lock, are refused a lease by the lease guard and
//! keep their caches off (a rolling upgrade stays exact).
//!
//! The functions, the lock and the guard: migration `m20261202_000015_read_cache_join_lock`.

use std::time::Duration;

/// How much longer than [`LEASE`](super::cache::LEASE) a writer counts a lease as running: a
/// renewal in flight. Also the longest gap between two renewals of a running lease: after a
/// longer one the listener joins again. Written into [`lease_window!`]; a test holds the two
/// equal.
pub(super) const LEASE_MARGIN: Duration = Duration::from_millis(500);

/// The window in which a lease may still run, as SQL: the lease and [`LEASE_MARGIN`].
macro_rules! lease_window {
    () => {
        "interval '1.5 seconds'"
    };
}
pub(super) use lease_window;

/// The leaseholders' lookup alone (`instance` as stored): renewed within the window.
pub(super) const LEASEHOLDERS_SQL: &str = concat!(
    "SELECT instance FROM read_cache_leases WHERE renewed_at > clock_timestamp() - ",
    lease_window!()
);

/// The CTE `others`: the other instances' leases within the window, read under the join lock
/// (shared, until the commit) with a snapshot taken after it. `$own` is the parameter that
/// holds this instance (`Acks::instance_key`).
macro_rules! others {
    ($own:literal) => {
        concat!(
            "others AS (SELECT instance FROM read_cache_others(",
            $own,
            "::text, ",
            $crate::store::leases::lease_window!(),
            ") AS o(instance))"
        )
    };
}
pub(super) use others;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_the_lease_and_its_margin() {
        let window = format!(
            "interval '{} seconds'",
            (super::super::cache::LEASE + LEASE_MARGIN).as_secs_f64()
        );
        assert!(LEASEHOLDERS_SQL.contains(&window), "{window}");
        assert!(others!("$1").contains(&window), "{window}");
    }
}
