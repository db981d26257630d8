//! The circuit breaker's window of recent calls (`breaker`), kept apart because its
//! bookkeeping is the one part whose cost grows with traffic: a record per call, scanned on
//! every call, cost 1.8 % of login-api's CPU under login load and memory in proportion to the
//! call rate.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

/// The calls within the window, counted per second of the clock: memory bounded by the
/// window's length in seconds whatever the call rate, and O(1) per call. A second leaves the
/// window once the current second is more than `window` after it, so a call counts for
/// `window` plus up to one second.
#[derive(Debug, Default)]
pub(super) struct CallWindow {
    /// (second since the epoch, calls, outages), oldest first.
    seconds: VecDeque<(i64, usize, usize)>,
    pub(super) calls: usize,
    pub(super) outages: usize,
}

impl CallWindow {
    pub(super) fn record(&mut self, now: DateTime<Utc>, outage: bool, window: Duration) {
        let second = now.timestamp();
        match self.seconds.back_mut() {
            Some((last, calls, outages)) if *last == second => {
                *calls += 1;
                *outages += usize::from(outage);
            }
            _ => self.seconds.push_back((second, 1, usize::from(outage))),
        }
        self.calls += 1;
        self.outages += usize::from(outage);
        while let Some(&(start, calls, outages)) = self.seconds.front() {
            if now.timestamp() - start <= window.num_seconds() {
                break;
            }
            self.seconds.pop_front();
            self.calls -= calls;
            self.outages -= outages;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::seconds(30);

    #[test]
    fn a_busy_window_keeps_a_count_per_second_not_a_record_per_call() {
        let mut window = CallWindow::default();
        let start = Utc::now();
        for second in 0..60 {
            for _ in 0..1000 {
                window.record(start + Duration::seconds(second), false, WINDOW);
            }
        }
        assert!(
            window.seconds.len() <= 31,
            "{} seconds kept",
            window.seconds.len()
        );
        assert_eq!(
            window.calls,
            window.seconds.iter().map(|s| s.1).sum::<usize>()
        );
    }

    #[test]
    fn a_call_counts_for_the_window_plus_less_than_a_second() {
        let second = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let at = second + Duration::milliseconds(900);
        for (after_ms, counted) in [(30_050, 10), (31_150, 1)] {
            let mut window = CallWindow::default();
            for i in 0..9 {
                window.record(at, i % 2 == 0, WINDOW);
            }
            window.record(at + Duration::milliseconds(after_ms), true, WINDOW);
            assert_eq!(window.calls, counted, "{after_ms} ms later");
            assert_eq!(window.outages, if counted == 10 { 6 } else { 1 });
        }
    }
}
