//! A circuit breaker on the Hybris calls, per instance, and a bulkhead on how many are in flight.
//!
//! Design: only outages count (connect errors, timeouts, 5xx): a wrong password is an answer.
//! Closed, it opens at ≥ `failure_ratio` outages over ≥ `min_calls` calls within `window`, or
//! after `consecutive` outages in a row. Open, every call is refused at once for `open_for`,
//! doubling after each failed probe up to `max_open`. Then half-open: one real call at a time
//! probes; its success closes the breaker, its outage opens it again. A small state machine of
//! our own rather than a crate: the ones we looked at (failsafe, circuitbreaker-rs, nobreak)
//! read the system clock (ours is injected, so tests move time instead of sleeping), and none
//! combines the ratio and the consecutive rule with a single half-open probe.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::call_window::CallWindow;
use crate::ports::Clock;

/// `HYBRIS_BREAKER_*`.
#[derive(Debug, Clone, Copy)]
pub struct BreakerSettings {
    pub failure_ratio: f64,
    pub min_calls: usize,
    pub window: Duration,
    pub consecutive: u32,
    pub open_for: Duration,
    pub max_open: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_ratio: 0.5,
            min_calls: 10,
            window: Duration::seconds(30),
            consecutive: 5,
            open_for: Duration::seconds(30),
            max_open: Duration::seconds(300),
        }
    }
}

/// What the breaker lets through now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Refusing for this long still.
    Open {
        retry_after: std::time::Duration,
    },
    /// A probe may go (or is on its way).
    HalfOpen,
}

#[derive(Debug)]
enum Inner {
    Closed {
        calls: CallWindow,
        consecutive: u32,
    },
    Open {
        until: DateTime<Utc>,
        /// How long the next opening lasts if the probe fails.
        next: Duration,
    },
    HalfOpen {
        /// When the probe in flight started; a probe never reported (its request was cut off)
        /// stops counting after `window`, so the breaker cannot stay half-open forever.
        probing: Option<DateTime<Utc>>,
        next: Duration,
    },
}

/// A call the breaker let through; report how it went with [`CircuitBreaker::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    probe: bool,
}

/// A state change, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Opened,
    HalfOpened,
    Closed,
}

pub struct CircuitBreaker {
    settings: BreakerSettings,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    pub fn new(settings: BreakerSettings, clock: Arc<dyn Clock>) -> Self {
        Self {
            settings,
            clock,
            inner: Mutex::new(closed()),
        }
    }

    /// Lets a call through, or says how long the breaker still refuses (at least a second).
    /// A std Mutex: nothing awaits while it is held.
    pub fn admit(&self) -> Result<(Admitted, Option<Transition>), std::time::Duration> {
        let now = self.clock.now();
        let mut inner = self.inner.lock().expect("breaker lock");
        match &mut *inner {
            Inner::Closed { .. } => Ok((Admitted { probe: false }, None)),
            Inner::Open { until, next } if now >= *until => {
                *inner = Inner::HalfOpen {
                    probing: Some(now),
                    next: *next,
                };
                Ok((Admitted { probe: true }, Some(Transition::HalfOpened)))
            }
            Inner::Open { until, .. } => Err(remaining(*until, now)),
            Inner::HalfOpen { probing, .. }
                if probing.is_none_or(|since| now - since > self.settings.window) =>
            {
                *probing = Some(now);
                Ok((Admitted { probe: true }, None))
            }
            // One probe at a time; the others are refused briefly.
            Inner::HalfOpen { .. } => Err(std::time::Duration::from_secs(1)),
        }
    }

    /// Records how an admitted call went: `outage` for connect errors, timeouts and 5xx.
    pub fn record(&self, admitted: Admitted, outage: bool) -> Option<Transition> {
        let now = self.clock.now();
        let settings = self.settings;
        let mut inner = self.inner.lock().expect("breaker lock");
        match &mut *inner {
            Inner::HalfOpen { next, .. } if admitted.probe => {
                if outage {
                    let open_for = *next;
                    *inner = Inner::Open {
                        until: now + open_for,
                        next: (open_for * 2).min(settings.max_open),
                    };
                    Some(Transition::Opened)
                } else {
                    *inner = closed();
                    Some(Transition::Closed)
                }
            }
            Inner::Closed { calls, consecutive } => {
                calls.record(now, outage, settings.window);
                *consecutive = if outage { *consecutive + 1 } else { 0 };
                let ratio_trips = calls.calls >= settings.min_calls
                    && calls.outages as f64 >= settings.failure_ratio * calls.calls as f64;
                if outage && (ratio_trips || *consecutive >= settings.consecutive) {
                    *inner = Inner::Open {
                        until: now + settings.open_for,
                        next: (settings.open_for * 2).min(settings.max_open),
                    };
                    return Some(Transition::Opened);
                }
                None
            }
            // A call admitted while closed that ends after the breaker moved on: nothing.
            _ => None,
        }
    }

    /// A probe whose call was dropped before it reported: the next call may probe.
    pub fn abandon(&self, admitted: Admitted) {
        if !admitted.probe {
            return;
        }
        if let Inner::HalfOpen { probing, .. } = &mut *self.inner.lock().expect("breaker lock") {
            *probing = None;
        }
    }

    pub fn state(&self) -> BreakerState {
        match &*self.inner.lock().expect("breaker lock") {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until, .. } if self.clock.now() < *until => BreakerState::Open {
                retry_after: remaining(*until, self.clock.now()),
            },
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

fn remaining(until: DateTime<Utc>, now: DateTime<Utc>) -> std::time::Duration {
    (until - now)
        .to_std()
        .unwrap_or_default()
        .max(std::time::Duration::from_secs(1))
}

fn closed() -> Inner {
    Inner::Closed {
        calls: CallWindow::default(),
        consecutive: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::ManualClock;

    fn breaker() -> (CircuitBreaker, ManualClock) {
        let clock = ManualClock::new(Utc::now());
        (
            CircuitBreaker::new(BreakerSettings::default(), Arc::new(clock.clone())),
            clock,
        )
    }

    fn call(breaker: &CircuitBreaker, outage: bool) -> bool {
        match breaker.admit() {
            Ok((admitted, _)) => {
                breaker.record(admitted, outage);
                true
            }
            Err(_) => false,
        }
    }

    #[test]
    fn five_outages_in_a_row_open_it_and_answers_never_do() {
        let (breaker, _) = breaker();
        for _ in 0..100 {
            assert!(call(&breaker, false));
        }
        for _ in 0..4 {
            call(&breaker, true);
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        call(&breaker, true);
        assert!(matches!(breaker.state(), BreakerState::Open { .. }));
        assert!(!call(&breaker, false));
    }

    #[test]
    fn calls_older_than_the_window_no_longer_count() {
        // Nine calls, five of them outages (never two in a row), then one more outage: with
        // the nine still in the 30 s window that is 6 of 10 and it opens; once they have left
        // it, one outage alone does not.
        for (elapsed, opens) in [(29, true), (31, false)] {
            let (subject, clock) = breaker();
            for i in 0..9 {
                call(&subject, i % 2 == 0);
            }
            clock.advance(chrono::Duration::seconds(elapsed));
            call(&subject, true);
            assert_eq!(
                matches!(subject.state(), BreakerState::Open { .. }),
                opens,
                "{elapsed} s later"
            );
        }
    }

    #[test]
    fn half_the_calls_failing_over_ten_opens_it_without_five_in_a_row() {
        let (breaker, _) = breaker();
        for i in 0..10 {
            call(&breaker, i % 2 == 1);
        }
        assert!(matches!(breaker.state(), BreakerState::Open { .. }));
    }

    #[test]
    fn one_probe_at_a_time_closes_it_or_doubles_the_opening_up_to_the_cap() {
        let (breaker, clock) = breaker();
        for _ in 0..5 {
            call(&breaker, true);
        }
        let mut open_for = 30;
        for _ in 0..6 {
            clock.advance(Duration::seconds(open_for - 1));
            assert!(breaker.admit().is_err(), "still open");
            clock.advance(Duration::seconds(1));
            let (probe, transition) = breaker.admit().expect("a probe");
            assert_eq!(transition, Some(Transition::HalfOpened));
            assert!(breaker.admit().is_err(), "a second probe at once");
            assert_eq!(breaker.record(probe, true), Some(Transition::Opened));
            open_for = (open_for * 2).min(300);
        }
        clock.advance(Duration::seconds(300));
        let (probe, _) = breaker.admit().expect("a probe");
        assert_eq!(breaker.record(probe, false), Some(Transition::Closed));
        assert!(call(&breaker, false));
    }

    #[test]
    fn an_abandoned_probe_frees_its_place_at_once() {
        let (breaker, clock) = breaker();
        for _ in 0..5 {
            call(&breaker, true);
        }
        clock.advance(Duration::seconds(30));
        let (lost, _) = breaker.admit().expect("a probe");
        breaker.abandon(lost);
        let (probe, _) = breaker.admit().expect("the next call probes");
        assert_eq!(breaker.record(probe, false), Some(Transition::Closed));
    }

    #[test]
    fn a_probe_that_never_reports_stops_blocking_after_the_window() {
        let (breaker, clock) = breaker();
        for _ in 0..5 {
            call(&breaker, true);
        }
        clock.advance(Duration::seconds(30));
        let _lost = breaker.admit().expect("a probe");
        assert!(breaker.admit().is_err());
        clock.advance(Duration::seconds(31));
        let (probe, _) = breaker.admit().expect("a new probe");
        assert_eq!(breaker.record(probe, false), Some(Transition::Closed));
    }

    /// Every sequence of up to 12 calls (answer or outage), as a property: the breaker opens
    /// exactly when the rules say, and never refuses while closed.
    #[test]
    fn every_short_sequence_opens_exactly_when_a_rule_says_so() {
        for length in 1..=12u32 {
            for bits in 0..(1u32 << length) {
                let (breaker, _) = breaker();
                let mut calls = Vec::new();
                let mut expected_open = false;
                for i in 0..length {
                    let outage = bits >> i & 1 == 1;
                    let admitted = call(&breaker, outage);
                    assert_eq!(admitted, !expected_open, "bits {bits:b}, call {i}");
                    if !admitted {
                        continue;
                    }
                    calls.push(outage);
                    let run = calls.iter().rev().take_while(|o| **o).count();
                    let outages = calls.iter().filter(|o| **o).count();
                    expected_open =
                        outage && (run >= 5 || (calls.len() >= 10 && outages * 2 >= calls.len()));
                }
            }
        }
    }
}
