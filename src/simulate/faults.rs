//! Fault switches and request counters every simulator shares with tests:
//! latency, failures on chosen paths, and a spent rate limit (which each
//! host answers in its own way: GitHub with 403 and reset headers, GitLab
//! and Bitbucket with 429 and `Retry-After`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Switches a test flips to make the simulator misbehave. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct Faults {
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

impl Faults {
    fn state(&self) -> std::sync::MutexGuard<'_, FaultState> {
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

    /// Spends the rate limit: requests get 403 with `x-ratelimit-remaining: 0`
    /// until the reset, `reset_in` from now rounded up to a whole second (the
    /// header carries epoch seconds).
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

    pub(crate) fn latency(&self) -> Duration {
        self.state().latency
    }

    /// The status to fail this request with, consuming one failure.
    pub(crate) fn take_failure(&self, path: &str) -> Option<u16> {
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
    pub(crate) fn rate_limited_until(&self) -> Option<u64> {
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

    /// Whole seconds until the spent rate limit resets (at least 1), for a
    /// `Retry-After` header.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        let reset = self.rate_limited_until()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Some(reset.saturating_sub(now).max(1))
    }
}

/// What the simulator has been asked. 304s count as requests too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimStats {
    pub requests: u64,
    pub not_modified: u64,
    /// Requests per route template, e.g. `/repos/{owner}/{repo}/tags`.
    pub by_route: BTreeMap<String, u64>,
}

impl SimStats {
    /// Requests answered by `route` (a template as in `by_route`).
    pub fn route(&self, route: &str) -> u64 {
        self.by_route.get(route).copied().unwrap_or(0)
    }
}
