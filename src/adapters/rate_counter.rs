//! Rate-limit counters: in memory, in Redis, and Redis with memory as the fallback.
//!
//! Design: fixed windows (a key's window opens at its first counted event; checking a key
//! stores nothing, and a key whose count is back at 0 goes), counts never below 0. In
//! Redis one atomic script does `INCRBY` (clamped) + `PEXPIRE … NX` + `PTTL`, so instances
//! sharing Redis share limits, and both counters agree on what a count is.
//! If Redis fails, counting goes on in memory — limits then hold per instance only — and the
//! switch is logged (at most once a minute), so the service never stops for its limiter.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::{Clock, RateCounter, Window};

/// Counters in this process; time from the `Clock`, so tests can move windows.
pub struct MemoryCounter {
    clock: Arc<dyn Clock>,
    // A std Mutex: nothing awaits while it is held.
    counters: Mutex<HashMap<String, (i64, DateTime<Utc>)>>,
}

impl MemoryCounter {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            counters: Mutex::default(),
        }
    }
}

#[async_trait]
impl RateCounter for MemoryCounter {
    async fn add(&self, key: &str, delta: i64, window: Duration) -> anyhow::Result<Window> {
        let now = self.clock.now();
        let mut counters = self.counters.lock().expect("counter lock");
        let live = |ends: &DateTime<Utc>| *ends > now;
        let nothing = Window {
            count: 0,
            resets_in: window,
        };
        if delta <= 0 && !counters.get(key).is_some_and(|(_, ends)| live(ends)) {
            // A check, or a count given back, opens no window: every sign-in checks its
            // limits, and an entry per checked key would hold memory for nothing.
            return Ok(nothing);
        }
        if counters.len() > 100_000 {
            counters.retain(|_, (_, ends)| live(ends));
        }
        let entry = counters
            .entry(key.to_owned())
            .and_modify(|(count, ends)| {
                if *ends <= now {
                    *count = 0;
                    *ends = now + chrono::Duration::from_std(window).unwrap_or_default();
                }
            })
            .or_insert((
                0,
                now + chrono::Duration::from_std(window).unwrap_or_default(),
            ));
        entry.0 = (entry.0 + delta).max(0);
        if entry.0 == 0 {
            // Back at nothing (an in-flight attempt settled): the key goes, as in Redis.
            counters.remove(key);
            return Ok(nothing);
        }
        Ok(Window {
            count: entry.0,
            resets_in: (entry.1 - now).to_std().unwrap_or_default(),
        })
    }

    async fn reset(&self, key: &str) -> anyhow::Result<()> {
        self.counters.lock().expect("counter lock").remove(key);
        Ok(())
    }
}

/// `INCRBY`, the window opened by the first addition (`PEXPIRE … NX`), and the time left: one
/// atomic script, which agrees with the memory counter. A check (`delta` 0) or a give-back of
/// an absent key writes nothing, and a key whose count falls to 0 or below is deleted: a count
/// taken back after its window was reset would otherwise stay negative and let extra attempts
/// through.
const ADD_SCRIPT: &str = r#"
if tonumber(ARGV[1]) <= 0 and redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, tonumber(ARGV[2])}
end
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if count <= 0 then
  redis.call('DEL', KEYS[1])
  return {0, tonumber(ARGV[2])}
end
redis.call('PEXPIRE', KEYS[1], ARGV[2], 'NX')
return {count, redis.call('PTTL', KEYS[1])}
"#;

/// Counters in Redis, shared by every instance using the same server and prefix.
pub struct RedisCounter {
    client: redis::Client,
    prefix: String,
    connection: tokio::sync::Mutex<Option<redis::aio::ConnectionManager>>,
}

impl RedisCounter {
    pub fn new(url: &str, prefix: String) -> anyhow::Result<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix,
            connection: tokio::sync::Mutex::new(None),
        })
    }

    async fn connection(&self) -> anyhow::Result<redis::aio::ConnectionManager> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let connection =
            redis::aio::ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }
}

#[async_trait]
impl RateCounter for RedisCounter {
    async fn add(&self, key: &str, delta: i64, window: Duration) -> anyhow::Result<Window> {
        let key = format!("{}{key}", self.prefix);
        let mut connection = self.connection().await?;
        let (count, ttl_ms): (i64, i64) = redis::cmd("EVAL")
            .arg(ADD_SCRIPT)
            .arg(1)
            .arg(&key)
            .arg(delta)
            .arg(window.as_millis() as u64)
            .query_async(&mut connection)
            .await?;
        Ok(Window {
            count: count.max(0),
            resets_in: Duration::from_millis(ttl_ms.max(0) as u64),
        })
    }

    async fn reset(&self, key: &str) -> anyhow::Result<()> {
        let mut connection = self.connection().await?;
        redis::cmd("DEL")
            .arg(format!("{}{key}", self.prefix))
            .query_async::<()>(&mut connection)
            .await?;
        Ok(())
    }
}

/// Redis first; memory when Redis fails.
pub struct FallbackCounter {
    primary: RedisCounter,
    fallback: MemoryCounter,
    last_warning: Mutex<Option<Instant>>,
}

impl FallbackCounter {
    pub fn new(primary: RedisCounter, fallback: MemoryCounter) -> Self {
        Self {
            primary,
            fallback,
            last_warning: Mutex::new(None),
        }
    }

    fn warn(&self, error: &anyhow::Error) {
        let mut last = self.last_warning.lock().expect("warning lock");
        if last.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(
                error = %format!("{error:#}"),
                "Redis is unavailable: rate limits fall back to this instance's memory"
            );
        }
    }
}

#[async_trait]
impl RateCounter for FallbackCounter {
    async fn add(&self, key: &str, delta: i64, window: Duration) -> anyhow::Result<Window> {
        match self.primary.add(key, delta, window).await {
            Ok(window) => Ok(window),
            Err(error) => {
                self.warn(&error);
                self.fallback.add(key, delta, window).await
            }
        }
    }

    async fn reset(&self, key: &str) -> anyhow::Result<()> {
        if let Err(error) = self.primary.reset(key).await {
            self.warn(&error);
        }
        self.fallback.reset(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_and_give_backs_of_absent_keys_store_nothing() {
        let clock = Arc::new(crate::ports::ManualClock::new(Utc::now()));
        let counter = MemoryCounter::new(clock.clone());
        let window = Duration::from_secs(60);
        for (key, delta) in [("checked", 0), ("given back", -1)] {
            let seen = counter.add(key, delta, window).await.unwrap();
            assert_eq!(
                seen,
                Window {
                    count: 0,
                    resets_in: window
                }
            );
        }
        assert!(counter.counters.lock().unwrap().is_empty());

        assert_eq!(counter.add("counted", 1, window).await.unwrap().count, 1);
        clock.advance(chrono::Duration::seconds(10));
        let seen = counter.add("counted", 0, window).await.unwrap();
        assert_eq!(seen.count, 1, "a check reads a live window");
        assert_eq!(seen.resets_in, Duration::from_secs(50));
        clock.advance(chrono::Duration::seconds(50));
        assert_eq!(counter.add("counted", 0, window).await.unwrap().count, 0);

        assert_eq!(counter.add("in flight", 2, window).await.unwrap().count, 2);
        assert_eq!(counter.add("in flight", -2, window).await.unwrap().count, 0);
        assert!(!counter.counters.lock().unwrap().contains_key("in flight"));
    }
}
