//! A per-instance cache of the two reads behind every authenticated request — the caller's
//! session (is it live?) and the `me` user view — invalidated through the database itself.
//!
//! Design: every transaction that ends a session or changes a user names that user: on
//! PostgreSQL with `pg_notify` inside the transaction (delivered at commit to every instance's
//! `LISTEN` connection, which acknowledges it before the writer answers, see `invalidation`),
//! and in-process right after the commit (the writing instance). An invalidation gives the user a fresh *epoch*; a read that
//! filled the cache from the database brings the epoch it saw before reading (its `Ticket`), and
//! the entry is kept only if the epoch is unchanged, so a read racing a write can never store
//! the state from before the write. While the `LISTEN` connection is down the cache is flushed
//! and bypassed (`connected = false`): requests read the database until it is back. The copy
//! is also used only under a *lease*: for [`LEASE`] after the listener last saw its connection
//! answer (every invalidation committed before had then been applied), so a listener that can
//! no longer hear — a stalled socket, a partition nobody has noticed — stops serving within
//! [`LEASE`] on its own, and a writer unsure of it need only wait that long. Never a
//! stale "live". On SQLite the cache stays off: nothing would tell one process about another's
//! writes to the same file.
//!
//! The cached session is used only to say "live": a session the copy says has ended (idle,
//! say: its `last_accessed_at` moves without invalidation) is read again from the database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use uuid::Uuid;

use crate::domain::{Session, User};

mod copies;
use copies::Copies;

/// How long after its listener's connection last answered an instance may serve from the
/// cache; writers wait this long for anyone who does not acknowledge (see `invalidation`).
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(1);

/// Epochs kept before all are voided (a bound on memory: about 3 MiB of table at most).
const CAPACITY: usize = 100_000;

pub struct ReadCache {
    /// Whether invalidations are known to arrive (PostgreSQL: the listener is connected).
    connected: AtomicBool,
    /// Nanoseconds after `base` at which the lease began (see [`LEASE`]).
    confirmed: AtomicU64,
    base: std::time::Instant,
    /// Whether the operator wants reads served from here (`READ_CACHE`).
    serving: AtomicBool,
    /// Source of fresh epochs.
    counter: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bumped by a flush: tickets from before it are void.
    generation: u64,
    epochs: HashMap<Uuid, u64>,
    sessions: Copies<Session>,
    users: Copies<User>,
}

/// What a reader saw before reading the database; an entry is stored only if it still holds.
#[derive(Debug, Clone, Copy)]
pub struct Ticket {
    generation: u64,
    epoch: u64,
}

impl ReadCache {
    /// `connected`: whether invalidations already arrive (true for SQLite's single instance).
    pub fn new(connected: bool) -> Self {
        Self {
            connected: AtomicBool::new(connected),
            confirmed: AtomicU64::new(0),
            base: std::time::Instant::now(),
            serving: AtomicBool::new(true),
            counter: AtomicU64::new(1),
            state: Mutex::default(),
        }
    }

    // A std Mutex: nothing awaits while it is held, and each hold is a map operation.
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether reads are served and stored: wanted, and invalidations arrive.
    pub fn enabled(&self) -> bool {
        self.serving.load(Ordering::Relaxed)
            && self.connected.load(Ordering::Acquire)
            && self.since_base(std::time::Instant::now())
                < self.confirmed.load(Ordering::Acquire) + LEASE.as_nanos() as u64
    }

    fn since_base(&self, at: std::time::Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    /// Every invalidation committed before `at` has been applied: the lease runs from `at`.
    pub fn confirm(&self, at: std::time::Instant) {
        self.confirmed
            .fetch_max(self.since_base(at), Ordering::AcqRel);
    }

    /// `READ_CACHE=false` keeps the cache off; invalidations are still heard and acknowledged.
    pub fn serve(&self, serving: bool) {
        self.serving.store(serving, Ordering::Relaxed);
    }

    pub fn ticket(&self, user_id: Uuid) -> Ticket {
        let state = self.state();
        Ticket {
            generation: state.generation,
            epoch: state.epochs.get(&user_id).copied().unwrap_or(0),
        }
    }

    fn holds(state: &State, ticket: Ticket, user_id: Uuid) -> bool {
        state.generation == ticket.generation
            && state.epochs.get(&user_id).copied().unwrap_or(0) == ticket.epoch
    }

    pub fn session(&self, id: Uuid) -> Option<Session> {
        if !self.enabled() {
            return None;
        }
        let state = self.state();
        let (session, epoch) = state.sessions.get(&id)?;
        let current = state.epochs.get(&session.user_id.0).copied().unwrap_or(0);
        (*epoch == current).then(|| session.clone())
    }

    pub fn put_session(&self, ticket: Ticket, session: &Session) {
        if !self.enabled() {
            return;
        }
        let mut state = self.state();
        let user_id = session.user_id.0;
        if Self::holds(&state, ticket, user_id) {
            state.sessions.insert(session.id.0, session, ticket.epoch);
        }
    }

    pub fn user(&self, id: Uuid) -> Option<User> {
        if !self.enabled() {
            return None;
        }
        let state = self.state();
        let (user, epoch) = state.users.get(&id)?;
        let current = state.epochs.get(&id).copied().unwrap_or(0);
        (*epoch == current).then(|| user.clone())
    }

    pub fn put_user(&self, ticket: Ticket, user: &User) {
        if !self.enabled() {
            return;
        }
        let mut state = self.state();
        if Self::holds(&state, ticket, user.id.0) {
            state.users.insert(user.id.0, user, ticket.epoch);
        }
    }

    /// The user changed, or one of their sessions ended: their entries are void.
    pub fn invalidate(&self, user_id: Uuid) {
        let epoch = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        if state.epochs.len() >= CAPACITY {
            // Forgetting epochs could revive an old ticket: void them all instead.
            flush(&mut state);
        }
        state.epochs.insert(user_id, epoch);
        state.users.remove(&user_id);
    }

    /// Everything is void (invalidations may have been missed); `connected` says whether new
    /// entries may be stored from now on. The lease is left as it was: only a renewal that
    /// writers can see in `read_cache_leases` extends it ([`ReadCache::confirm`]).
    pub fn flush(&self, connected: bool) {
        let mut state = self.state();
        flush(&mut state);
        self.connected.store(connected, Ordering::Release);
    }
}

fn flush(state: &mut State) {
    state.generation += 1;
    state.epochs.clear();
    state.sessions.clear();
    state.users.clear();
}

#[cfg(test)]
mod tests {
    use super::copies::{BUDGET_BYTES, entry_bytes};
    use super::*;
    use crate::domain::UserId;

    fn session(user: Uuid) -> Session {
        Session::fresh(UserId(user))
    }

    #[test]
    fn a_read_that_raced_a_write_is_never_stored() {
        let cache = ReadCache::new(true);
        let user = Uuid::now_v7();
        let s = session(user);
        let ticket = cache.ticket(user);
        cache.invalidate(user); // the write commits while the read is in flight
        cache.put_session(ticket, &s);
        assert!(cache.session(s.id.0).is_none());
        let ticket = cache.ticket(user);
        cache.put_session(ticket, &s);
        assert!(cache.session(s.id.0).is_some());
        cache.invalidate(user);
        assert!(
            cache.session(s.id.0).is_none(),
            "an invalidation voids the entry"
        );
    }

    #[test]
    fn the_copies_never_hold_more_than_their_budget_however_large_each_is() {
        let cache = ReadCache::new(true);
        // The longest push token `Device::parse` takes, in four-byte characters: 16 KiB.
        let token = "\u{1D11E}".repeat(4096);
        let mut kept = Vec::new();
        for i in 0..1_000 {
            let user = Uuid::now_v7();
            let mut s = session(user);
            s.device.push_token = Some(token.clone());
            cache.put_session(cache.ticket(user), &s);
            // Stored again: counted once.
            cache.put_session(cache.ticket(user), &s);
            kept.push(s.id.0);
            let state = cache.state();
            let held: usize = state
                .sessions
                .entries
                .values()
                .map(|entry| entry_bytes(&entry.0))
                .sum();
            assert_eq!(state.sessions.bytes, held, "after {i}");
            assert!(held <= BUDGET_BYTES, "{held} bytes after {i}");
        }
        let last = *kept.last().unwrap();
        assert!(cache.session(last).is_some(), "the newest copy is kept");
        assert!(
            cache.session(kept[0]).is_none(),
            "the oldest went with an emptying"
        );
    }

    #[test]
    fn without_a_fresh_confirmation_the_lease_lapses_and_nothing_is_served() {
        let cache = ReadCache {
            base: std::time::Instant::now() - 5 * LEASE,
            ..ReadCache::new(true)
        };
        let user = Uuid::now_v7();
        let s = session(user);
        cache.put_session(cache.ticket(user), &s);
        assert!(!cache.enabled());
        assert!(cache.session(s.id.0).is_none());
        cache.confirm(std::time::Instant::now());
        cache.put_session(cache.ticket(user), &s);
        assert!(cache.session(s.id.0).is_some());
        // A late answer to an older ping does not shorten the lease.
        cache.confirm(std::time::Instant::now() - 2 * LEASE);
        assert!(cache.enabled());
    }

    #[test]
    fn a_flush_does_not_extend_the_lease() {
        // A lease must run from a renewal writers can see, not from whenever we emptied the map.
        let cache = ReadCache {
            base: std::time::Instant::now() - 5 * LEASE,
            ..ReadCache::new(true)
        };
        cache.flush(true);
        assert!(!cache.enabled());
        cache.confirm(std::time::Instant::now());
        assert!(cache.enabled());
    }

    #[test]
    fn while_disconnected_nothing_is_served_or_stored_and_a_flush_voids_old_tickets() {
        let cache = ReadCache::new(true);
        let user = Uuid::now_v7();
        let s = session(user);
        let old = cache.ticket(user);
        cache.flush(false);
        cache.put_session(cache.ticket(user), &s);
        assert!(cache.session(s.id.0).is_none());
        cache.flush(true);
        cache.put_session(old, &s);
        assert!(
            cache.session(s.id.0).is_none(),
            "a ticket from before the flush"
        );
        cache.put_session(cache.ticket(user), &s);
        assert!(cache.session(s.id.0).is_some());
    }
}
