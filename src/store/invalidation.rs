//! How every instance's read cache hears of a write, and how the writer knows they all have.
//!
//! Why acknowledged: a `NOTIFY` reaches the other instances' `LISTEN` connections at commit,
//! but asynchronously — a client told "logged out" by instance A could reach instance B before
//! B's listener has read the notification, and be served from B's cache. So the writer waits,
//! after its commit and before it answers, until every other instance's listener has applied
//! the invalidation and said so on [`ACK_CHANNEL`]. The set of instances is PostgreSQL's own:
//! the connections in `pg_stat_activity` named [`LISTENER_NAME`] on this database (a listener
//! names itself only once it listens, and enables its cache only after that, so one that joins
//! later reads the committed state). A listener that does not answer within [`ACK_TIMEOUT`] is
//! cut off with `pg_terminate_backend`: its instance flushes its cache and reads the database
//! until it has listened again. Never a stale "live".

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tokio::sync::watch;
use uuid::Uuid;

use super::cache::ReadCache;
use super::{Store, StoreResult};

/// The channel of invalidations: `"<instance> <nonce> <last:0|1> <user>,<user>…"`.
pub const CHANNEL: &str = "login_api_invalidate";
/// The channel of acknowledgements: `"<nonce>"`, from the listener's connection.
pub const ACK_CHANNEL: &str = "login_api_invalidated";
/// `application_name` of every listener connection, by which writers find them.
pub const LISTENER_NAME: &str = "login-api read cache";
/// How long a writer waits for the other listeners before cutting off the silent ones.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// Users per notification: 150 × 37 bytes stays well under PostgreSQL's 8000-byte payload.
const USERS_PER_NOTIFICATION: usize = 150;

/// This instance's side of the protocol: who it is, its listener's backend pid while it
/// listens, and the writes waiting for acknowledgements.
pub struct Acks {
    instance: u64,
    /// `pg_backend_pid()` of this instance's listener; 0 while it does not listen.
    own_pid: AtomicU32,
    waiting: Mutex<HashMap<u128, watch::Sender<HashSet<u32>>>>,
}

impl Default for Acks {
    fn default() -> Self {
        Self {
            instance: rand_u64(),
            own_pid: AtomicU32::new(0),
            waiting: Mutex::default(),
        }
    }
}

fn rand_u64() -> u64 {
    Uuid::new_v4().as_u64_pair().0
}

impl Acks {
    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u128, watch::Sender<HashSet<u32>>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether this instance's listener listens now.
    pub fn listening(&self) -> bool {
        self.own_pid.load(Ordering::Acquire) != 0
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

    fn acknowledged(&self, nonce: u128, pid: u32) {
        if let Some(sender) = self.waiting().get(&nonce) {
            sender.send_modify(|acked| {
                acked.insert(pid);
            });
        }
    }

    /// The listener is down: acknowledgements can no longer arrive, so every waiting writer
    /// is woken to cut off whom it still waits for.
    fn deaf(&self) {
        self.own_pid.store(0, Ordering::Release);
        self.waiting().clear();
    }
}

/// A write's acknowledgements, registered before its commit (they may arrive before the
/// writer looks); dropping it unregisters.
struct Pending {
    acks: Arc<Acks>,
    nonce: u128,
    acked: watch::Receiver<HashSet<u32>>,
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
        let pending = self.acks.expect();
        let chunks = users.chunks(USERS_PER_NOTIFICATION);
        let count = chunks.len();
        for (index, chunk) in chunks.enumerate() {
            let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
            let payload = format!(
                "{:x} {:x} {} {}",
                self.acks.instance,
                pending.nonce,
                u8::from(index + 1 == count),
                ids.join(",")
            );
            txn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await?;
        }
        Ok(Announced {
            users,
            pending: Some(pending),
        })
    }

    /// After the commit: this instance forgets the users at once, then waits until every other
    /// instance has (see the module docs). Never fails: the write is committed.
    pub(super) async fn settle(&self, announced: Announced) {
        for user in &announced.users {
            self.cache.invalidate(*user);
        }
        if let Some(pending) = announced.pending {
            self.await_acknowledgements(pending).await;
        }
    }

    async fn await_acknowledgements(&self, mut pending: Pending) {
        let own = self.acks.own_pid.load(Ordering::Acquire);
        let listeners = match self.listeners(own).await {
            Ok(listeners) => listeners,
            Err(error) => {
                tracing::error!(%error, "finding the read cache listeners failed: instances may serve stale reads until their listeners reconnect");
                return;
            }
        };
        if listeners.is_empty() {
            return;
        }
        // Without our own listener no acknowledgement can arrive: cut everyone off.
        let heard = own != 0
            && tokio::time::timeout(
                ACK_TIMEOUT,
                pending
                    .acked
                    .wait_for(|acked| listeners.iter().all(|pid| acked.contains(pid))),
            )
            .await
            .is_ok_and(|waited| waited.is_ok());
        if heard {
            return;
        }
        let acked = pending.acked.borrow().clone();
        let silent: Vec<i32> = listeners
            .into_iter()
            .filter(|pid| !acked.contains(pid))
            .filter_map(|pid| i32::try_from(pid).ok())
            .collect();
        tracing::warn!(
            listeners = silent.len(),
            "read cache listeners did not acknowledge an invalidation: cutting them off, their instances read the database until they listen again"
        );
        let cut = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                // Waits (up to 1 s, PostgreSQL 14+) until each backend has exited.
                "SELECT pg_terminate_backend(pid, 1000) FROM unnest($1::int4[]) AS pid",
                [silent.into()],
            ))
            .await;
        if let Err(error) = cut {
            tracing::error!(%error, "cutting off silent read cache listeners failed");
        }
    }

    /// Backend pids of the other instances' listeners on this database.
    async fn listeners(&self, own: u32) -> StoreResult<Vec<u32>> {
        let rows = self
            .db
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pid FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = $1 AND pid <> $2",
                [LISTENER_NAME.into(), i32::try_from(own).unwrap_or(0).into()],
            ))
            .await?;
        rows.iter()
            .map(|row| {
                let pid: i32 = row.try_get("", "pid")?;
                Ok(u32::try_from(pid).unwrap_or(0))
            })
            .collect()
    }
}

/// A parsed invalidation: whose writes, which, whether it is the write's last notification,
/// and the users; `None` for a payload of another version (the cache is then flushed).
fn parse(payload: &str) -> Option<(u64, u128, bool, Vec<Uuid>)> {
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

/// PostgreSQL: applies every instance's invalidations to `cache`, acknowledges them, and hears
/// acknowledgements for this instance's writes, for as long as the process runs. The cache is
/// used only while the `LISTEN` connection is up; on any failure it is flushed and bypassed,
/// and the connection is made again (each second).
pub async fn listen(
    cache: Arc<ReadCache>,
    acks: Arc<Acks>,
    url: String,
    reset: Arc<tokio::sync::Notify>,
) {
    use sea_orm::sqlx::postgres::PgListener;
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => {
                match serve(&mut listener, &cache, &acks, &reset).await {
                    Ok(()) => {}
                    Err(error) => tracing::warn!(%error, "the invalidation listener failed"),
                }
                // Flushed before the listener leaves the writers' set: none stops waiting for
                // us while we still serve from the cache.
                cache.flush(false);
                acks.deaf();
                leave(listener).await;
                tracing::warn!(
                    "read cache off: the invalidation listener lost its connection; reading the database until it is back"
                );
            }
            Err(error) => {
                tracing::warn!(%error, "connecting the invalidation listener failed")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Takes the listener's name off a connection that is still up, so that writers stop waiting
/// for it at once rather than after [`ACK_TIMEOUT`]; a lost connection has left already.
async fn leave(mut listener: sea_orm::sqlx::postgres::PgListener) {
    let unnamed = sea_orm::sqlx::query("SELECT set_config('application_name', '', false)")
        .execute(&mut listener);
    let _ = tokio::time::timeout(Duration::from_secs(1), unnamed).await;
}

async fn serve(
    listener: &mut sea_orm::sqlx::postgres::PgListener,
    cache: &ReadCache,
    acks: &Acks,
    reset: &tokio::sync::Notify,
) -> Result<(), sea_orm::sqlx::Error> {
    use sea_orm::sqlx;
    listener.listen_all([CHANNEL, ACK_CHANNEL]).await?;
    // Named only once it listens: a writer that finds it here is sure to be heard.
    sqlx::query("SELECT set_config('application_name', $1, false)")
        .bind(LISTENER_NAME)
        .execute(&mut *listener)
        .await?;
    let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
        .fetch_one(&mut *listener)
        .await?;
    acks.own_pid
        .store(u32::try_from(pid).unwrap_or(0), Ordering::Release);
    // Whatever was cached before may have missed invalidations.
    cache.flush(true);
    tracing::info!("read cache on: listening for invalidations");
    loop {
        let received = tokio::select! {
            received = listener.try_recv() => received?,
            () = reset.notified() => return Ok(()),
        };
        let Some(notification) = received else {
            return Ok(());
        };
        if notification.channel() == ACK_CHANNEL {
            if let Ok(nonce) = u128::from_str_radix(notification.payload(), 16) {
                acks.acknowledged(nonce, notification.process_id());
            }
            continue;
        }
        let Some((instance, nonce, last, users)) = parse(notification.payload()) else {
            cache.flush(true);
            continue;
        };
        for user in users {
            cache.invalidate(user);
        }
        // The writer forgot its own users in-process and does not wait for itself.
        if last && instance != acks.instance {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(ACK_CHANNEL)
                .bind(format!("{nonce:x}"))
                .execute(&mut *listener)
                .await?;
        }
    }
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
