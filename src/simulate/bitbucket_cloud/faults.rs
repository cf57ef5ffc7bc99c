//! Fault switches of the Bitbucket Cloud simulator, shared with tests. Same
//! switches as the GitHub simulator's; a rate limit here is Bitbucket's 429
//! with `Retry-After`.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Switches a test flips to make the simulator misbehave. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct BitbucketCloudFaults {
    inner: Arc<Mutex<FaultState>>,
}

#[derive(Debug, Default)]
struct FaultState {
    latency: Duration,
    failures: Vec<Failure>,
    rate_limited_until: Option<Instant>,
}

#[derive(Debug)]
struct Failure {
    path_prefix: String,
    status: u16,
    remaining: u32,
}

impl BitbucketCloudFaults {
    fn state(&self) -> MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delays every response by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Answers the next `count` requests whose path starts with
    /// `path_prefix` with `status` (a 429 also carries `Retry-After: 1`).
    pub fn fail_next(&self, path_prefix: &str, count: u32, status: u16) {
        self.state().failures.push(Failure {
            path_prefix: path_prefix.to_owned(),
            status,
            remaining: count,
        });
    }

    /// Spends the rate limit: requests get 429 with `Retry-After` (whole
    /// seconds, rounded up) until `reset_in` from now.
    pub fn exhaust_rate_limit(&self, reset_in: Duration) {
        self.state().rate_limited_until = Some(Instant::now() + reset_in);
    }

    /// Turns every fault off.
    pub fn clear(&self) {
        *self.state() = FaultState::default();
    }

    pub(super) fn latency(&self) -> Duration {
        self.state().latency
    }

    /// The status to fail this request with, consuming one failure.
    pub(super) fn take_failure(&self, path: &str) -> Option<u16> {
        let mut state = self.state();
        let failure = state
            .failures
            .iter_mut()
            .find(|f| f.remaining > 0 && path.starts_with(&f.path_prefix))?;
        failure.remaining -= 1;
        let status = failure.status;
        state.failures.retain(|f| f.remaining > 0);
        Some(status)
    }

    /// Seconds until the spent rate limit recovers, while it is spent.
    pub(super) fn retry_after(&self) -> Option<u64> {
        let mut state = self.state();
        let left = state
            .rate_limited_until?
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero());
        match left {
            Some(d) => Some(d.as_secs() + u64::from(d.subsec_nanos() > 0)),
            None => {
                state.rate_limited_until = None;
                None
            }
        }
    }
}
