//! The outbox relay: delivers outbox rows to their sinks, in the background of `serve`.
//!
//! Design: one loop claims a batch of every sink's rows in one statement (a lease in the
//! database, so several instances can run relays at once), delivers each sink's share to it,
//! the sinks at once, and settles each row: delivered, or failed with exponential backoff and
//! jitter, or — after `max_attempts` — parked as dead, where it is kept, counted and replayable
//! (`login-api outbox replay`). A login wakes the loop; otherwise it polls. One loop rather than
//! one per sink: a claim and a settle per batch instead of per sink and batch (the relay was
//! about a tenth of a sequential login's instructions, BENCHMARKS.md), at the cost of a slow
//! sink holding the other's next batch until its timeout.

use std::{sync::Arc, time::Duration};

use tokio::sync::Notify;

use crate::domain::outbox::{OutboxMessage, Sink, member_data_of};
use crate::ports::{Clock, OutboxSink};
use crate::store::{ClaimLimits, ClaimedBatch, Settlement, SinkCounts, Store};

#[derive(Debug, Clone)]
pub struct RelaySettings {
    pub max_attempts: i32,
    pub retry_base: chrono::Duration,
    pub retry_max: chrono::Duration,
    pub poll_interval: Duration,
    /// How long a woken relay waits before it claims, so that the rows of the writes committed
    /// meanwhile go out in the same batch: under load, one claim and one settle per batch
    /// instead of per write (the linger of Kafka's producers). Zero claims at once.
    pub linger: Duration,
    /// How long a claim lasts; a relay that dies holds its rows no longer than this.
    pub lease: chrono::Duration,
}

/// What one `deliver_batch` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// Rows claimed (delivered, failed or dropped).
    pub claimed: usize,
    /// Whether a sink's share reached its `max_batch`: rows may be left behind.
    pub full: bool,
    /// Whether a row with the key of a delivered one is still pending.
    pub next_of_key_pending: bool,
}

pub struct Relay {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: RelaySettings,
    wake: Arc<Notify>,
    sinks: Vec<Arc<dyn OutboxSink>>,
    id: String,
}

impl Relay {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: RelaySettings,
        wake: Arc<Notify>,
        sinks: Vec<Arc<dyn OutboxSink>>,
    ) -> Self {
        Self {
            store,
            clock,
            settings,
            wake,
            sinks,
            id: format!("relay-{}", uuid::Uuid::new_v4().simple()),
        }
    }

    /// Runs the delivery loop until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        let relay = self.clone();
        let _guard = AbortOnDrop(vec![tokio::spawn(async move { relay.run_loop().await })]);
        // The counts in the log, at most once a minute and only when they moved, for operators
        // without a dashboard: an idle relay stays quiet.
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        let mut last_logged = std::collections::HashMap::new();
        loop {
            every_minute.tick().await;
            for sink in Sink::ALL {
                match self.store.outbox_counts(sink).await {
                    Ok(c) if !moved(&mut last_logged, sink, &c) => {}
                    Ok(c) => tracing::info!(
                        sink = sink.as_str(),
                        pending = c.pending,
                        retrying = c.retrying,
                        delivered = c.delivered,
                        dead = c.dead,
                        "outbox status"
                    ),
                    Err(error) => tracing::warn!(%error, "reading outbox counts failed"),
                }
            }
        }
    }

    async fn run_loop(&self) {
        loop {
            // Armed before the claim: a write committed while this batch is out wakes the next.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.deliver_batch().await {
                // A full share may have left rows behind, and a settled row may have made its
                // key's next row claimable (no write wakes the relay for that): at once again.
                Ok(batch) if batch.full || batch.next_of_key_pending => continue,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "outbox relay failed to claim")
                }
            }
            tokio::select! {
                () = woken => tokio::time::sleep(self.settings.linger).await,
                () = tokio::time::sleep(self.settings.poll_interval) => {},
            }
        }
    }

    /// The sink of `sink`, if this relay delivers to it.
    fn sink_for(&self, sink: Sink) -> Option<&dyn OutboxSink> {
        self.sinks
            .iter()
            .find(|s| s.sink() == sink)
            .map(|s| s.as_ref())
    }

    /// Claims, delivers and settles one batch of every sink's rows: how many rows it claimed,
    /// whether a sink's share was full, and whether a row of a delivered row's key is still
    /// pending. Two statements when all goes well: the claim (which also tells whose member
    /// was deleted) and the settle (which also drops rows whose member was deleted while they
    /// were out).
    #[tracing::instrument(name = "outbox.deliver", skip_all, fields(claimed))]
    pub async fn deliver_batch(&self) -> anyhow::Result<Batch> {
        let limits: ClaimLimits =
            Sink::ALL.map(|sink| self.sink_for(sink).map_or(0, |s| s.max_batch() as u64));
        let now = self.clock.now();
        let batch = self
            .store
            .claim_outbox_of_sinks(limits, &self.id, now, now + self.settings.lease)
            .await?;
        let claimed = batch.messages.len();
        tracing::Span::current().record("claimed", claimed);
        if claimed == 0 {
            return Ok(Batch::default());
        }
        let full = Sink::ALL.iter().zip(limits).any(|(sink, limit)| {
            limit > 0 && batch.messages.iter().filter(|m| m.sink == *sink).count() as u64 >= limit
        });
        let legacy = batch.written_before_member_id.clone();
        // Each sink's rows, oldest first.
        let mut shares: [Vec<OutboxMessage>; Sink::ALL.len()] = Default::default();
        for message in self.without_deleted_members(batch).await? {
            if let Some(i) = Sink::ALL.iter().position(|s| *s == message.sink) {
                shares[i].push(message);
            }
        }
        let delivering = Sink::ALL
            .iter()
            .zip(&shares)
            .map(|(sink, share)| self.deliver_share(*sink, share));
        let mut delivered = Vec::with_capacity(claimed);
        for share in futures_util::future::join_all(delivering).await {
            delivered.extend(share?);
        }
        // Delivered rows written before `member_id` whose member was deleted while they were
        // out, where the settle cannot tell: they go rather than stay delivered.
        let unsure: Vec<&OutboxMessage> = shares
            .iter()
            .flatten()
            .filter(|m| legacy.contains(&m.id) && delivered.contains(&m.id))
            .collect();
        if !unsure.is_empty() {
            // The rare paths' futures boxed: inline, they would make this future (created per
            // batch, and moved with it) several KB larger.
            let deleted = Box::pin(self.deleted_members(unsure.iter().copied())).await?;
            for message in unsure {
                if member_data_of(&message.payload).is_some_and(|m| deleted.contains(&m)) {
                    Box::pin(self.store.drop_outbox(message.id, &self.id)).await?;
                    delivered.retain(|id| *id != message.id);
                }
            }
        }
        let next_of_key_pending = self
            .store
            .settle_delivered(&delivered, &self.id, self.clock.now())
            .await?;
        Ok(Batch {
            claimed,
            full,
            next_of_key_pending,
        })
    }

    /// Delivers `share`, rows of `sink`, to it and settles those that failed at once, as a
    /// relay of that sink alone would (each its own statement: the rare path); the ids of those
    /// delivered, for one settle of the whole batch. A failed row whose member was deleted
    /// while it was out is dropped.
    async fn deliver_share(
        &self,
        sink: Sink,
        share: &[OutboxMessage],
    ) -> anyhow::Result<Vec<uuid::Uuid>> {
        // No sink, no share: its claim limit was 0.
        let (Some(to), false) = (self.sink_for(sink), share.is_empty()) else {
            return Ok(Vec::new());
        };
        let results = to.deliver(share).await;
        let now = self.clock.now();
        let mut delivered = Vec::with_capacity(share.len());
        let mut failed = Vec::new();
        for (message, result) in share.iter().zip(results) {
            match result {
                Ok(()) => delivered.push(message.id),
                Err(error) => failed.push((message, error)),
            }
        }
        if failed.is_empty() {
            return Ok(delivered);
        }
        let deleted_meanwhile =
            Box::pin(self.deleted_members(failed.iter().map(|(m, _)| *m))).await?;
        for (message, error) in failed {
            if member_data_of(&message.payload).is_some_and(|m| deleted_meanwhile.contains(&m)) {
                Box::pin(self.store.drop_outbox(message.id, &self.id)).await?;
                continue;
            }
            let attempts = message.attempts + 1;
            let dead = attempts >= self.settings.max_attempts;
            if dead {
                tracing::error!(sink = sink.as_str(), event_id = %message.id, attempts, %error, "outbox row parked as dead");
            } else {
                tracing::warn!(sink = sink.as_str(), event_id = %message.id, attempts, %error, "outbox delivery failed; will retry");
            }
            let settlement = Settlement::Failed {
                error: error.0,
                retry_at: now + self.backoff(attempts),
                dead,
            };
            Box::pin(
                self.store
                    .settle_outbox(message.id, &self.id, now, settlement),
            )
            .await?;
        }
        Ok(delivered)
    }

    /// Drops the rows about members deleted since they were written (a deletion keeps rows a
    /// relay held at that moment, so that nothing overtakes them): their data goes nowhere.
    async fn without_deleted_members(
        &self,
        batch: ClaimedBatch,
    ) -> anyhow::Result<Vec<OutboxMessage>> {
        let mut deleted = batch.of_deleted_members;
        if !batch.written_before_member_id.is_empty() {
            let legacy = |m: &&OutboxMessage| batch.written_before_member_id.contains(&m.id);
            let members =
                Box::pin(self.deleted_members(batch.messages.iter().filter(legacy))).await?;
            deleted.extend(
                batch
                    .messages
                    .iter()
                    .filter(legacy)
                    .filter(|m| member_data_of(&m.payload).is_some_and(|u| members.contains(&u)))
                    .map(|m| m.id),
            );
        }
        if deleted.is_empty() {
            return Ok(batch.messages);
        }
        let (dropped, kept): (Vec<_>, Vec<_>) = batch
            .messages
            .into_iter()
            .partition(|m| deleted.contains(&m.id));
        for message in &dropped {
            Box::pin(self.store.drop_outbox(message.id, &self.id)).await?;
            tracing::info!(event_id = %message.id, "outbox row dropped: its member was deleted");
        }
        Ok(kept)
    }

    async fn deleted_members(
        &self,
        messages: impl Iterator<Item = &OutboxMessage>,
    ) -> anyhow::Result<Vec<uuid::Uuid>> {
        let members: Vec<uuid::Uuid> = messages
            .filter_map(|m| member_data_of(&m.payload))
            .collect();
        Ok(self.store.deleted_among(&members).await?)
    }

    /// `base · 2^(attempts-1)`, capped, times a jitter factor in [0.5, 1.5).
    fn backoff(&self, attempts: i32) -> chrono::Duration {
        let exponent = (attempts - 1).clamp(0, 30) as u32;
        let base_ms = self.settings.retry_base.num_milliseconds().max(1);
        let capped = base_ms
            .saturating_mul(1i64 << exponent)
            .min(self.settings.retry_max.num_milliseconds());
        chrono::Duration::milliseconds((capped as f64 * (0.5 + jitter())) as i64)
    }
}

fn jitter() -> f64 {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 4];
    match SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u32::from_le_bytes(bytes) as f64 / (u32::MAX as f64 + 1.0),
        Err(_) => 0.5,
    }
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for handle in &self.0 {
            handle.abort();
        }
    }
}

/// Whether `counts` differ from what was last logged for `sink`; remembers them if so.
fn moved(
    last: &mut std::collections::HashMap<Sink, SinkCounts>,
    sink: Sink,
    counts: &SinkCounts,
) -> bool {
    if last.get(&sink) == Some(counts) {
        return false;
    }
    last.insert(sink, counts.clone());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_logged_only_when_the_counts_move() {
        let mut last = std::collections::HashMap::new();
        let idle = SinkCounts::default();
        assert!(moved(&mut last, Sink::EventBus, &idle), "the first line");
        assert!(!moved(&mut last, Sink::EventBus, &idle), "idle: quiet");
        assert!(
            moved(&mut last, Sink::SearchIndex, &idle),
            "each sink its own"
        );
        let busy = SinkCounts {
            pending: 3,
            ..Default::default()
        };
        assert!(moved(&mut last, Sink::EventBus, &busy));
        assert!(!moved(&mut last, Sink::EventBus, &busy));
    }
}
