//! Every Hybris call goes through here: the bulkhead (at most `HYBRIS_MAX_IN_FLIGHT` at once),
//! the circuit breaker (outages only), and the latency and error metrics.

use super::{HybrisClient, breaker};
use crate::metrics;
use crate::ports::IdpError;

impl HybrisClient {
    /// Calls through the bulkhead and the breaker; records the latency, and the failure
    /// unless it was an answer about credentials.
    pub(super) async fn measured<T>(
        &self,
        endpoint: &'static str,
        call: impl std::future::Future<Output = Result<T, IdpError>>,
    ) -> Result<T, IdpError> {
        let Ok(_permit) = self.bulkhead.try_acquire() else {
            tracing::warn!(
                endpoint,
                "Hybris call refused: HYBRIS_MAX_IN_FLIGHT calls in flight"
            );
            return Err(IdpError::CircuitOpen {
                retry_after: std::time::Duration::from_secs(1),
            });
        };
        let admitted = match &self.breaker {
            None => None,
            Some(breaker) => match breaker.admit() {
                Ok((admitted, transition)) => {
                    self.transitioned(transition);
                    Some(admitted)
                }
                Err(retry_after) => return Err(IdpError::CircuitOpen { retry_after }),
            },
        };
        // Reported when the call ends; if its future is dropped first (the request was cut
        // off), the guard frees a probe's place instead.
        let guard = admitted.map(|admitted| ProbeGuard {
            breaker: self.breaker.as_ref(),
            admitted: Some(admitted),
        });
        let result = self.timed(endpoint, call).await;
        let outage = matches!(
            result,
            Err(IdpError::Unavailable(_)) | Err(IdpError::UnavailableAfterRefusals { .. })
        );
        if let Some(mut guard) = guard
            && let (Some(breaker), Some(admitted)) = (guard.breaker, guard.admitted.take())
        {
            self.transitioned(breaker.record(admitted, outage));
        }
        result
    }

    /// Records the call's latency, and its failure unless it was an answer about credentials.
    pub(super) async fn timed<T>(
        &self,
        endpoint: &'static str,
        call: impl std::future::Future<Output = Result<T, IdpError>>,
    ) -> Result<T, IdpError> {
        let started = std::time::Instant::now();
        let result = call.await;
        self.metrics
            .hybris_latency
            .get_or_create(&metrics::Endpoint { endpoint })
            .observe(started.elapsed().as_secs_f64());
        let kind = match &result {
            Err(IdpError::Unavailable(_)) => Some("unavailable"),
            Err(IdpError::TokenRejected(_)) => Some("token_rejected"),
            Err(IdpError::Unexpected(_)) => Some("unexpected"),
            Err(IdpError::InvalidData(_)) => Some("invalid_data"),
            _ => None,
        };
        if let Some(kind) = kind {
            self.metrics
                .hybris_errors
                .get_or_create(&metrics::HybrisError { endpoint, kind })
                .inc();
        }
        result
    }

    pub(super) fn transitioned(&self, transition: Option<breaker::Transition>) {
        let Some(transition) = transition else {
            return;
        };
        let (to, gauge) = match transition {
            breaker::Transition::Opened => ("open", 2),
            breaker::Transition::HalfOpened => ("half_open", 1),
            breaker::Transition::Closed => ("closed", 0),
        };
        match transition {
            breaker::Transition::Opened => tracing::error!(
                "the Hybris circuit breaker opened: password logins answer UPSTREAM_UNAVAILABLE at once"
            ),
            _ => tracing::warn!(to, "the Hybris circuit breaker changed state"),
        }
        if let Some(observer) = &self.observer {
            match transition {
                breaker::Transition::Opened => observer.circuit_changed("hybris", true),
                breaker::Transition::Closed => observer.circuit_changed("hybris", false),
                breaker::Transition::HalfOpened => {}
            }
        }
        self.metrics.hybris_breaker_state.set(gauge);
        self.metrics
            .hybris_breaker_transitions
            .get_or_create(&metrics::BreakerTransition { to })
            .inc();
    }
}

/// Frees an unreported probe's place when its call is dropped.
struct ProbeGuard<'a> {
    breaker: Option<&'a breaker::CircuitBreaker>,
    admitted: Option<breaker::Admitted>,
}

impl Drop for ProbeGuard<'_> {
    fn drop(&mut self) {
        if let (Some(breaker), Some(admitted)) = (self.breaker, self.admitted.take()) {
            breaker.abandon(admitted);
        }
    }
}
