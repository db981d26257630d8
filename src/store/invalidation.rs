//! How every instance's read cache hears of a write, and how the writer knows they all have.
//!
//! Why acknowledged: a `NOTIFY` reaches the other instances' `LISTEN` connections at commit,
//! but asynchronously — a client told "logged out" by instance A could reach instance B before
//! B's listener has read the notification, and be served from B's cache. So the writer waits,
//! after its commit and before it answers, until every other instance whose cache may be
//! serving has applied the invalidation and said so on the writer's own acknowledgement
//! channel. A cache serves only under a [`LEASE`] that its listener renews in
//! `read_cache_leases` through its own connection (see `listener`); the writer waits for every
//! instance renewed within [`LEASE`] plus a margin, which includes one whose connection has just
//! ended without it knowing. Whom it cannot hear from — silent, or its own listener down, or the
//! lookup failed — it outwaits: by [`OUTWAIT`] after the commit, an instance that has not
//! applied the invalidation has lost its lease and stopped serving from the cache. Never a
//! stale "live".
//!
//! Who those instances are, and when the writer looks: `leases`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::watch;
use uuid::Uuid;

use super::cache::LEASE;
use super::leases::LEASEHOLDERS_SQL;
use super::{Store, StoreResult};

/// The channel of invalidations: `"<instance> <nonce> <last:0|1> <user>,<user>…"`.
pub const CHANNEL: &str = "login_api_invalidate";
/// Prefix of each instance's acknowledgement channel (`<prefix>_<instance>`): `"<nonce>
/// <acknowledging instance>"`, sent by the listener once it has applied the invalidation.
pub const ACK_CHANNEL: &str = "login_api_invalidated";
/// `application_name` of every listener connection, then a space and its instance (for
/// operators reading `pg_stat_activity`).
pub const LISTENER_NAME: &str = "login-api read cache";
/// How long after its commit a writer waits at most: a [`LEASE`] and a margin for the two
/// machines' clocks.
pub const OUTWAIT: Duration = LEASE.saturating_add(Duration::from_millis(50));
/// Users per notification: 150 × 37 bytes stays well under PostgreSQL's 8000-byte payload.
const USERS_PER_NOTIFICATION: usize = 150;

/// This instance's side of the protocol: who it is, whether its listener listens, and the
/// writes waiting for acknowledgements (by nonce: the instances that have acknowledged).
pub struct Acks {
    pub(super) instance: u64,
    /// `instance` as 16 hex digits.
    key: String,
    listening: AtomicBool,
    waiting: Mutex<Waiting>,
}

/// By nonce, the instances that have acknowledged that write.
type Waiting = HashMap<u128, watch::Sender<HashSet<u64>>>;

impl Default for Acks {
    fn default() -> Self {
        let instance = Uuid::new_v4().as_u64_pair().0;
        Self {
            instance,
            key: format!("{instance:016x}"),
            listening: AtomicBool::new(false),
            waiting: Mutex::default(),
        }
    }
}

impl Acks {
    fn waiting(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// This instance's `application_name` for its listener.
    pub(super) fn listener_name(&self) -> String {
        format!("{LISTENER_NAME} {}", self.instance_key())
    }

    /// This instance in `read_cache_leases` and on the wire: 16 hex digits.
    pub(super) fn instance_key(&self) -> &str {
        &self.key
    }

    /// The channel this instance hears acknowledgements of its own writes on.
    pub(super) fn ack_channel(&self) -> String {
        ack_channel(self.instance)
    }

    /// Whether this instance's listener listens now.
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    pub(super) fn set_listening(&self) {
        self.listening.store(true, Ordering::Release);
    }

    fn expect(self: &Arc<Self>) -> Pending {
        let nonce = Uuid::new_v4().as_u128();
        let (sender, acked) = watch::channel(HashSet::new());
        self.waiting().insert(nonce, sender);
        Pending {
            acks: self.clone(),
            nonce,
            acked,
        }
    }

    pub(super) fn acknowledged(&self, nonce: u128, instance: u64) {
        if let Some(sender) = self.waiting().get(&nonce) {
            sender.send_modify(|acked| {
                acked.insert(instance);
            });
        }
    }

    /// The listener is down: acknowledgements can no longer arrive, so every waiting writer
    /// is woken to outwait whom it still waits for.
    pub(super) fn deaf(&self) {
        self.listening.store(false, Ordering::Release);
        self.waiting().clear();
    }
}

pub(super) fn ack_channel(instance: u64) -> String {
    format!("{ACK_CHANNEL}_{instance:016x}")
}

/// A write's acknowledgements, registered before its commit (they may arrive before the
/// writer looks); dropping it unregisters.
struct Pending {
    acks: Arc<Acks>,
    nonce: u128,
    acked: watch::Receiver<HashSet<u64>>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.acks.waiting().remove(&self.nonce);
    }
}

/// What a transaction announced; [`Store::settle`] it after the commit.
pub(super) struct Announced {
    users: Vec<Uuid>,
    pending: Option<Pending>,
}

impl Store {
    /// Inside a transaction that changes these users or ends their sessions: every instance
    /// is told at commit (PostgreSQL `NOTIFY`; nothing on SQLite, which has one instance).
    pub(super) async fn announce(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        users: impl IntoIterator<Item = Uuid>,
    ) -> StoreResult<Announced> {
        let users: Vec<Uuid> = users.into_iter().collect();
        if txn.get_database_backend() != DbBackend::Postgres || users.is_empty() {
            return Ok(Announced {
                users,
                pending: None,
            });
        }
        let (announced, payloads) = self.announcement(users);
        for payload in payloads {
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await?;
        }
        Ok(announced)
    }

    /// The payloads on [`CHANNEL`] that announce `users` (PostgreSQL; at least one user), in
    /// the order they are to be sent, and what to [`Store::settle`] after the commit.
    pub(super) fn announcement(&self, users: Vec<Uuid>) -> (Announced, Vec<String>) {
        let pending = self.acks.expect();
        let chunks = users.chunks(USERS_PER_NOTIFICATION);
        let count = chunks.len();
        let payloads = chunks
            .enumerate()
            .map(|(index, chunk)| {
                let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
                format!(
                    "{:x} {:x} {} {}",
                    self.acks.instance,
                    pending.nonce,
                    u8::from(index + 1 == count),
                    ids.join(",")
                )
            })
            .collect();
        let announced = Announced {
            users,
            pending: Some(pending),
        };
        (announced, payloads)
    }

    /// After the commit: this instance forgets the users at once, then waits until every other
    /// instance has (see the module docs). Never fails: the write is committed.
    pub(super) async fn settle(&self, announced: Announced) {
        self.settle_among(announced, None).await;
    }

    /// [`Store::settle`], given the other leaseholders' `instance` column as the writing
    /// statement read it (`leases::others!`); `None` reads the leaseholders now.
    pub(super) async fn settle_among(
        &self,
        announced: Announced,
        leaseholders: Option<Vec<String>>,
    ) {
        for user in &announced.users {
            self.cache.invalidate(*user);
        }
        if let Some(pending) = announced.pending {
            self.await_acknowledgements(pending, leaseholders).await;
        }
    }

    async fn await_acknowledgements(&self, mut pending: Pending, read: Option<Vec<String>>) {
        let deadline = tokio::time::Instant::now() + OUTWAIT;
        let found = match read {
            Some(instances) => Ok(instances),
            // Boxed: inline, its statement's future would enlarge every sign-in's and logout's.
            None => Box::pin(self.leaseholders()).await,
        };
        let listeners = match found {
            Ok(instances) => self.others(instances),
            Err(error) => {
                tracing::warn!(%error, "finding the read cache leaseholders failed: outwaiting their leases");
                tokio::time::sleep_until(deadline).await;
                return;
            }
        };
        if listeners.is_empty() {
            return;
        }
        // Without our own listener no acknowledgement can arrive: outwait the leases.
        let heard = self.acks.listening()
            && tokio::time::timeout_at(
                deadline,
                pending
                    .acked
                    .wait_for(|acked| listeners.iter().all(|i| acked.contains(i))),
            )
            .await
            .is_ok_and(|waited| waited.is_ok());
        if !heard {
            tracing::warn!(
                listeners = listeners.len(),
                "read cache listeners did not acknowledge an invalidation: outwaiting their leases"
            );
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// The instances whose lease may still run (`instance` as stored): renewed within
    /// [`LEASE`] and `leases::LEASE_MARGIN`.
    async fn leaseholders(&self) -> StoreResult<Vec<String>> {
        // On the direct pool: one exchange, where sea-orm's pool adds its release ping.
        let mut conn = self.direct_connection().await?;
        conn.run(async |c| {
            sea_orm::sqlx::query_scalar(LEASEHOLDERS_SQL)
                .fetch_all(c)
                .await
        })
        .await
        .map_err(super::direct::query_error)
    }

    /// The other instances among the leaseholders' `instances`.
    fn others(&self, instances: Vec<String>) -> Vec<u64> {
        instances
            .iter()
            .filter_map(|instance| u64::from_str_radix(instance, 16).ok())
            .filter(|instance| *instance != self.acks.instance)
            .collect()
    }
}

/// A parsed invalidation: whose writes, which, whether it is the write's last notification,
/// and the users; `None` for a payload of another version (the cache is then flushed).
pub(super) fn parse(payload: &str) -> Option<(u64, u128, bool, Vec<Uuid>)> {
    let mut parts = payload.splitn(4, ' ');
    let instance = u64::from_str_radix(parts.next()?, 16).ok()?;
    let nonce = u128::from_str_radix(parts.next()?, 16).ok()?;
    let last = match parts.next()? {
        "0" => false,
        "1" => true,
        _ => return None,
    };
    let users = parts
        .next()?
        .split(',')
        .map(|id| id.parse().ok())
        .collect::<Option<Vec<Uuid>>>()?;
    Some((instance, nonce, last, users))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_parse_and_other_shapes_do_not() {
        let user = Uuid::new_v4();
        let other = Uuid::new_v4();
        assert_eq!(
            parse(&format!("ff 1a 1 {user},{other}")),
            Some((255, 26, true, vec![user, other]))
        );
        for hostile in [
            user.to_string(),
            format!("ff 1a 2 {user}"),
            format!("ff zz 1 {user}"),
            "ff 1a 1 ".to_owned(),
            "ff 1a 1 not-a-uuid".to_owned(),
            String::new(),
        ] {
            assert_eq!(parse(&hostile), None, "{hostile}");
        }
    }

    #[tokio::test]
    async fn acknowledgements_reach_the_waiting_write_and_a_deaf_listener_wakes_it() {
        let acks = Arc::new(Acks::default());
        let mut pending = acks.expect();
        acks.acknowledged(pending.nonce, 7);
        acks.acknowledged(pending.nonce ^ 1, 8);
        assert!(pending.acked.borrow().contains(&7));
        assert!(!pending.acked.borrow().contains(&8));
        acks.deaf();
        assert!(
            pending
                .acked
                .wait_for(|acked| acked.contains(&9))
                .await
                .is_err()
        );
        let nonce = pending.nonce;
        drop(pending);
        assert!(!acks.waiting().contains_key(&nonce));
    }
}
