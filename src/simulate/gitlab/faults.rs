//! Fault switches of the GitLab simulator, shared with tests.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Switches a test flips to make the simulator misbehave. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct GitlabFaults {
    inner: Arc<Mutex<FaultState>>,
}

#[derive(Debug, Default)]
struct FaultState {
    latency: Duration,
    failures: Vec<Failure>,
    rate_limited_until: Option<u64>,
}

#[derive(Debug)]
struct Failure {
    path_prefix: String,
    status: u16,
    remaining: u32,
}

impl GitlabFaults {
    fn state(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Delays every response by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Answers the next `count` requests whose path (`/api/v4/…`, still
    /// percent-encoded) starts with `path_prefix` with `status` (a 429 also
    /// carries `Retry-After: 1`).
    pub fn fail_next(&self, path_prefix: &str, count: u32, status: u16) {
        self.state().failures.push(Failure {
            path_prefix: path_prefix.to_owned(),
            status,
            remaining: count,
        });
    }

    /// Spends the rate limit: requests get 429 with `Retry-After` until the
    /// reset, `reset_in` from now rounded up to a whole second.
    pub fn exhaust_rate_limit(&self, reset_in: Duration) {
        let until = SystemTime::now() + reset_in;
        let secs = until
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0));
        self.state().rate_limited_until = Some(secs);
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

    /// The reset (epoch seconds) while the rate limit is spent.
    pub(super) fn rate_limited_until(&self) -> Option<u64> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        let mut state = self.state();
        match state.rate_limited_until {
            Some(reset) if Duration::from_secs(reset) > now => Some(reset),
            Some(_) => {
                state.rate_limited_until = None;
                None
            }
            None => None,
        }
    }
}
