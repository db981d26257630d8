//! Rate limits on guessing: sign-in failures per login subject (the account or identifier a
//! method signs in with), per subject and device, and per client IP; refresh failures per IP.
//!
//! Design: the account is the real target of credential stuffing and password spraying, and
//! every failure we forward to Hybris also counts toward the member's lockout there, so the
//! account limit is the strict one and is checked before Hybris is called. Mobile carriers put
//! thousands of members behind one address (CGNAT), so the IP limit is only a backstop with a
//! higher threshold, and IPv6 clients are counted per /64. An attacker who exhausts an account's
//! limit must not lock the member out of their own phone: a device that already holds (or held)
//! a session of the account keeps its own, smaller allowance.
//!
//! Attempts reserve their place *before* the Hybris call (an in-flight count), so concurrent
//! guesses cannot all slip past a check; failures are recorded when Hybris answers "wrong", a
//! success clears the account's failures, and an outcome that was not a wrong password (outage,
//! inactive membership) records nothing.

use std::{net::IpAddr, time::Duration};

use aws_lc_rs::digest;

use super::{Auth, LoginError};
use crate::domain::LoginSubject;

#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub max: i64,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// Failed sign-ins per login subject (a password login: the normalised email).
    pub account: Limit,
    /// Failed logins per account from one known device; applies when the account limit is hit.
    pub account_device: Limit,
    /// Failed logins per client IP (or IPv6 /64): a backstop.
    pub ip: Limit,
    /// Failed refreshes per client IP.
    pub refresh_ip: Limit,
    /// Partner tokens minted per session.
    pub partner_mint: Limit,
    /// Introspection requests per partner.
    pub partner_redeem: Limit,
    /// How long an attempt past the account's allowance waits for in-flight attempts of the
    /// same account to settle (about the upstream timeout) before it is refused.
    pub in_flight_wait: Duration,
}

/// How often a waiting attempt looks whether the in-flight ones have settled.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(25);
const IN_FLIGHT_WINDOW: Duration = Duration::from_secs(3600);

/// The counters one login attempt was charged to.
#[derive(Clone)]
struct Keys {
    account: String,
    account_device: Option<String>,
    ip: Option<String>,
    /// Attempts of this subject admitted and not yet settled.
    in_flight: String,
    /// Failures this attempt counts as when wrong.
    cost: i64,
}

/// An admitted attempt. It must be settled; if its future is dropped first (the request timed
/// out, the client went away) it settles itself as a wrong password: it may well have reached
/// the upstream and failed there, and its in-flight place must not stay taken.
pub(super) struct Charged {
    keys: Keys,
    counter: std::sync::Arc<dyn crate::ports::RateCounter>,
    limits: RateLimits,
    settled: bool,
}

impl Drop for Charged {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (keys, counter, limits) = (self.keys.clone(), self.counter.clone(), self.limits);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                settle(counter.as_ref(), limits, &keys, Settle::WrongPassword).await;
            });
        }
    }
}

/// How the attempt ended, for settling its counters.
pub(super) enum Settle {
    Succeeded,
    WrongPassword,
    /// This many tries were refused before the upstream failed: they count, the rest not.
    PartlyRefused(i64),
    /// Nothing was learnt about the password: give the attempt back.
    Other,
}

impl Auth {
    /// Admits the attempt, before the upstream is called, or refuses it when a limit is
    /// exceeded. `cost` is how many failures a wrong credential makes upstream.
    ///
    /// Exact under concurrency: an attempt reserves `cost` in the subject's in-flight count
    /// (one atomic addition, so concurrent attempts see distinct totals) and is admitted only
    /// while recorded failures plus in-flight attempts stay within the allowance. Past it, it
    /// waits (at most `in_flight_wait`) while attempts of the subject are in flight: a success
    /// among them clears the failures, so correct concurrent logins all get in, while wrong
    /// ones never reach the upstream more often than the allowance.
    pub(super) async fn admit_login(
        &self,
        subject: &LoginSubject,
        device_id: Option<&str>,
        ip: Option<IpAddr>,
        cost: i64,
    ) -> Result<Charged, LoginError> {
        let limits = self.limits;
        let account_key = format!("login:acct:{}", digest_hex(&subject.key_material()));
        let charged = Keys {
            account_device: device_id.map(|d| format!("{account_key}:dev:{}", digest_hex(d))),
            ip: ip.map(|ip| format!("login:ip:{}", ip_key(ip))),
            in_flight: format!("{account_key}:inflight"),
            account: account_key,
            cost,
        };
        if let Some(key) = &charged.ip {
            let window = self.count(key, 1, limits.ip).await;
            if window.count > limits.ip.max {
                return Err(refused("client IP", window.resets_in));
            }
        }
        let waiting_since = tokio::time::Instant::now();
        loop {
            let in_flight = self
                .count(&charged.in_flight, cost, in_flight_limit())
                .await;
            let failures = self.count(&charged.account, 0, limits.account).await;
            if failures.count + in_flight.count <= limits.account.max
                // Boxed: only an exhausted account limit reads the database here.
                || Box::pin(self.known_device_allowed(&charged, subject, device_id)).await
            {
                return Ok(Charged {
                    keys: charged,
                    counter: self.rate_counter.clone(),
                    limits,
                    settled: false,
                });
            }
            let others = self
                .count(&charged.in_flight, -cost, in_flight_limit())
                .await;
            let used_up = failures.count + cost > limits.account.max;
            if (used_up && others.count <= 0) || waiting_since.elapsed() >= limits.in_flight_wait {
                if let Some(key) = &charged.ip {
                    self.count(key, -1, limits.ip).await;
                }
                return Err(refused("account", failures.resets_in));
            }
            if others.count > 0 {
                // Wait for those in flight; when nobody is, the room is there: look again now.
                tokio::time::sleep(IN_FLIGHT_POLL).await;
            }
        }
    }

    /// A device that holds or held a session of the account keeps its own allowance while the
    /// account's is used up, so an attacker cannot lock a member out of their own phone.
    async fn known_device_allowed(
        &self,
        charged: &Keys,
        subject: &LoginSubject,
        device_id: Option<&str>,
    ) -> bool {
        let (Some(key), Some(device_id)) = (&charged.account_device, device_id) else {
            return false;
        };
        let failures = self.count(key, 0, self.limits.account_device).await;
        failures.count + charged.cost <= self.limits.account_device.max
            && self
                .store
                .has_device_session(subject, device_id)
                .await
                .unwrap_or(false)
    }

    /// Records how the attempt ended: a wrong credential's failures, or a success that clears
    /// them (as the upstream clears its own lockout count), then ends its in-flight reservation.
    pub(super) async fn settle_login(&self, mut charged: Charged, outcome: Settle) {
        settle(
            charged.counter.as_ref(),
            charged.limits,
            &charged.keys,
            outcome,
        )
        .await;
        charged.settled = true;
    }

    /// The seconds to wait when this IP has failed too many refreshes, else `None`.
    pub(super) async fn refresh_refused(&self, ip: Option<IpAddr>) -> Option<Duration> {
        let key = format!("refresh:ip:{}", ip_key(ip?));
        let window = self.count(&key, 0, self.limits.refresh_ip).await;
        (window.count >= self.limits.refresh_ip.max).then_some(window.resets_in)
    }

    pub(super) async fn refresh_failed(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            let key = format!("refresh:ip:{}", ip_key(ip));
            self.count(&key, 1, self.limits.refresh_ip).await;
        }
    }

    /// Counting never blocks a login: if even the fallback fails, the attempt is let through.
    pub(super) async fn count(&self, key: &str, delta: i64, limit: Limit) -> crate::ports::Window {
        count(self.rate_counter.as_ref(), key, delta, limit).await
    }
}

pub(super) async fn count(
    counter: &dyn crate::ports::RateCounter,
    key: &str,
    delta: i64,
    limit: Limit,
) -> crate::ports::Window {
    match counter.add(key, delta, limit.window).await {
        Ok(window) => window,
        Err(error) => {
            tracing::error!(error = %format!("{error:#}"), "rate limit counter failed; attempt allowed");
            crate::ports::Window {
                count: 0,
                resets_in: Duration::ZERO,
            }
        }
    }
}

async fn forget(counter: &dyn crate::ports::RateCounter, key: &str) {
    if let Err(error) = counter.reset(key).await {
        tracing::warn!(error = %format!("{error:#}"), "clearing a rate limit counter failed");
    }
}

/// The counts an attempt's outcome moves; the in-flight reservation ends last, so an attempt
/// waiting on this one looks again only once the failures are recorded.
async fn settle(
    counter: &dyn crate::ports::RateCounter,
    limits: RateLimits,
    keys: &Keys,
    outcome: Settle,
) {
    match outcome {
        Settle::WrongPassword | Settle::PartlyRefused(_) => {
            let failures = match outcome {
                Settle::PartlyRefused(refused) => refused.min(keys.cost),
                _ => keys.cost,
            };
            count(counter, &keys.account, failures, limits.account).await;
            if let Some(key) = &keys.account_device {
                count(counter, key, failures, limits.account_device).await;
            }
        }
        Settle::Succeeded => {
            forget(counter, &keys.account).await;
            if let Some(key) = &keys.account_device {
                forget(counter, key).await;
            }
            if let Some(key) = &keys.ip {
                count(counter, key, -1, limits.ip).await;
            }
        }
        Settle::Other => {
            if let Some(key) = &keys.ip {
                count(counter, key, -1, limits.ip).await;
            }
        }
    }
    count(counter, &keys.in_flight, -keys.cost, in_flight_limit()).await;
}

/// The in-flight count's window: far longer than any attempt, so it does not reset under
/// attempts still running; an instance that died mid-attempt leaves at most this long.
fn in_flight_limit() -> Limit {
    Limit {
        max: i64::MAX,
        window: IN_FLIGHT_WINDOW,
    }
}

fn refused(what: &str, retry_after: Duration) -> LoginError {
    tracing::warn!(
        limit = what,
        retry_after_secs = retry_after.as_secs(),
        "login refused: rate limit"
    );
    LoginError::RateLimited {
        retry_after: retry_after.max(Duration::from_secs(1)),
    }
}

/// Keys never hold an email or device id in clear.
pub(super) fn digest_hex(value: &str) -> String {
    crate::domain::to_hex(&digest::digest(&digest::SHA256, value.as_bytes()).as_ref()[..16])
}

/// IPv4 as is; IPv6 by its /64, which one subscriber usually holds whole.
pub(super) fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        assert_eq!(ip_key("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
    }

    #[test]
    fn keys_do_not_contain_the_email() {
        assert!(!digest_hex("anna@example.org").contains("anna"));
        assert_eq!(digest_hex("anna@example.org").len(), 32);
    }
}
