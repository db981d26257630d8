//! The `LISTEN` side of the read cache (see `invalidation` for the protocol): one connection
//! per instance that applies every instance's invalidations, acknowledges them to their writer,
//! hears the acknowledgements of this instance's writes, and renews the cache's lease.
//!
//! Why the lease is renewed through this connection: the lease may run only from a moment after
//! which every invalidation committed earlier has been applied. PostgreSQL sends a listening
//! session's notifications before the answer to its next statement, so once the renewal is
//! answered and the notifications buffered meanwhile are applied, the lease runs from when the
//! renewal was sent; and writers see in `read_cache_leases` who may still be serving.
//!
//! An instance without a running lease — connecting, or after renewals more than
//! [`LEASE_MARGIN`] apart — joins instead of renewing: under the join lock, and it empties its
//! cache once it has joined, since a login committed meanwhile may not have notified it (see
//! `leases`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::sqlx::{self, postgres::PgListener, postgres::PgNotification};

use super::cache::{LEASE, ReadCache};
use super::invalidation::{Acks, CHANNEL, ack_channel, parse};
use super::leases::LEASE_MARGIN;

/// How often the listener renews the lease: four times per [`LEASE`].
const PING_EVERY: Duration = Duration::from_millis(250);

/// PostgreSQL: runs the listener for as long as the process runs. The cache is used only while
/// the connection is up and answering; on any failure it is flushed and bypassed, and the
/// connection is made again (each second).
pub async fn listen(
    cache: Arc<ReadCache>,
    acks: Arc<Acks>,
    url: String,
    reset: Arc<tokio::sync::Notify>,
) {
    loop {
        match PgListener::connect(&url).await {
            Ok(mut listener) => {
                // Told of a lost connection at once, not after sqlx has made a new one.
                listener.eager_reconnect(false);
                let up = match serve(&mut listener, &cache, &acks, &reset).await {
                    Ok(up) => up,
                    Err(error) => {
                        tracing::warn!(%error, "the invalidation listener failed");
                        false
                    }
                };
                // Flushed before the lease is given up: no writer stops waiting for us while we
                // still serve from the cache. A lost connection's lease lapses on its own.
                cache.flush(false);
                acks.deaf();
                if up {
                    leave(listener, &acks).await;
                }
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

/// Gives up the lease on a connection that is still up, so that writers stop waiting for this
/// instance at once.
async fn leave(mut listener: PgListener, acks: &Acks) {
    let released = sqlx::query("DELETE FROM read_cache_leases WHERE instance = $1")
        .bind(acks.instance_key())
        .execute(&mut listener);
    let _ = tokio::time::timeout(Duration::from_secs(1), released).await;
}

/// Renews this instance's lease; `join`: takes it or takes it again, under the join lock
/// (`read_cache_lease_join`). Errors: a join that waited 100 ms for the lock fails with
/// `lock_not_available` ([`lock_unavailable`]), having written nothing.
async fn renew(listener: &mut PgListener, acks: &Acks, join: bool) -> Result<(), sqlx::Error> {
    let sql = if join {
        "SELECT 1 FROM read_cache_lease_join($1)"
    } else {
        "INSERT INTO read_cache_leases (instance, renewed_at) VALUES ($1, clock_timestamp()) \
         ON CONFLICT (instance) DO UPDATE SET renewed_at = EXCLUDED.renewed_at"
    };
    sqlx::query(sql)
        .bind(acks.instance_key())
        .execute(&mut *listener)
        .await?;
    Ok(())
}

/// Whether a renewal sent at `sent` must join: the last renewal that took effect was sent at
/// `last`, more than [`LEASE_MARGIN`] before (writers may no longer count that lease).
fn joins(last: Instant, sent: Instant) -> bool {
    sent.saturating_duration_since(last) > LEASE_MARGIN
}

/// Whether `error` is PostgreSQL's `lock_not_available` (55P03): a join that gave way to the
/// writers.
fn lock_unavailable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.code().as_deref() == Some("55P03"))
}

/// Joins, trying again until the join lock is free: when it was sent.
async fn join(listener: &mut PgListener, acks: &Acks) -> Result<Instant, sqlx::Error> {
    loop {
        let sent = Instant::now();
        match renew(listener, acks, true).await {
            Ok(()) => return Ok(sent),
            Err(error) if lock_unavailable(&error) => tokio::time::sleep(PING_EVERY).await,
            Err(error) => return Err(error),
        }
    }
}

/// Runs until the connection is lost (`Ok(false)`) or reset (`Ok(true)`: still up).
async fn serve(
    listener: &mut PgListener,
    cache: &ReadCache,
    acks: &Acks,
    reset: &tokio::sync::Notify,
) -> Result<bool, sqlx::Error> {
    let own_acks = acks.ack_channel();
    listener.listen_all([CHANNEL, own_acks.as_str()]).await?;
    // The lease guard (migration 15) refuses leases from sessions without the protocol mark:
    // listeners of earlier versions, which join without the lock, keep their caches off.
    sqlx::query(
        "SELECT set_config('application_name', $1, false), \
         set_config('login_api.read_cache_protocol', '2', false)",
    )
    .bind(acks.listener_name())
    .execute(&mut *listener)
    .await?;
    // Leases of instances gone for an hour: nobody waits for them, the rows just go.
    sqlx::query(
        "DELETE FROM read_cache_leases WHERE renewed_at < clock_timestamp() - interval '1 hour'",
    )
    .execute(&mut *listener)
    .await?;
    // Taken only once it listens: a writer that finds it is sure to be heard.
    let mut last = join(listener, acks).await?;
    acks.set_listening();
    // Whatever was cached before may have missed invalidations; the lease runs from the join.
    cache.flush(true);
    cache.confirm(last);
    tracing::info!("read cache on: listening for invalidations");
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = listener.try_recv() => match received? {
                Some(notification) => apply(listener, cache, acks, notification).await?,
                None => return Ok(false),
            },
            _ = ping.tick() => {
                let sent = Instant::now();
                let join = joins(last, sent);
                match tokio::time::timeout(LEASE, renew(listener, acks, join)).await {
                    Ok(Ok(())) => {}
                    // Not joined: no lease, and the next tick joins again.
                    Ok(Err(error)) if join && lock_unavailable(&error) => continue,
                    Ok(Err(error)) => return Err(error),
                    // The lease lapses meanwhile; a connection this slow is made again.
                    Err(_) => return Ok(false),
                }
                while let Some(notification) = listener.next_buffered() {
                    apply(listener, cache, acks, notification).await?;
                }
                if join {
                    // Logins committed while no lease of ours ran may not have notified us.
                    cache.flush(true);
                }
                cache.confirm(sent);
                last = sent;
            }
            () = reset.notified() => return Ok(true),
        }
    }
}

/// Applies an invalidation (and acknowledges it to its writer), or records an acknowledgement
/// of one of this instance's writes.
async fn apply(
    listener: &mut PgListener,
    cache: &ReadCache,
    acks: &Acks,
    notification: PgNotification,
) -> Result<(), sqlx::Error> {
    if notification.channel() != CHANNEL {
        let mut parts = notification.payload().split(' ');
        let nonce = parts.next().and_then(|n| u128::from_str_radix(n, 16).ok());
        let from = parts.next().and_then(|i| u64::from_str_radix(i, 16).ok());
        if let (Some(nonce), Some(from)) = (nonce, from) {
            acks.acknowledged(nonce, from);
        }
        return Ok(());
    }
    let Some((writer, nonce, last, users)) = parse(notification.payload()) else {
        cache.flush(true);
        return Ok(());
    };
    for user in users {
        cache.invalidate(user);
    }
    // The writer forgot its own users in-process and does not wait for itself.
    if last && writer != acks.instance {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(ack_channel(writer))
            .bind(format!("{nonce:x} {:016x}", acks.instance))
            .execute(&mut *listener)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_joins_after_a_gap_longer_than_the_margin() {
        let last = Instant::now();
        assert!(!joins(last, last + PING_EVERY));
        assert!(!joins(last, last + LEASE_MARGIN));
        assert!(joins(last, last + LEASE_MARGIN + Duration::from_millis(1)));
        assert!(joins(last, last + 2 * LEASE));
    }
}
