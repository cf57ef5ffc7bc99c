//! Request budgets the simulators enforce, on a clock tests control.
//!
//! Every code host limits how much a credential may ask, and each documents
//! its limits in one of three shapes ([`Window`]): a fixed window that opens
//! with the first request and resets a period later (GitHub's hour, GitLab's
//! minute), a rolling window counting what the last period sent (Bitbucket
//! Cloud's hour), or a token bucket refilled at a steady rate (Bitbucket Data
//! Center). A [`SimBudget`] holds one meter per *bucket* (a host's resource:
//! GitHub `core` and `graphql`, Bitbucket Cloud repository data and raw
//! files, …) and *key* (whoever the host counts against: a token, a user, an
//! app installation). A simulator charges each request's cost (1 for REST, a
//! query's points for GraphQL) with [`SimBudget::charge`] and answers the
//! refusal in its host's own way.
//!
//! [`SimClock`] is the wall clock plus an offset that tests move with
//! [`SimClock::advance`], so a test sees a window reset without waiting for
//! it. Simulators send their `Date` header from the same clock, so a client
//! measuring a reset against `Date` sees the simulated time.

use super::lock;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The simulators' clock: real time moved forward by what tests advanced it.
/// Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct SimClock {
    ahead_ms: Arc<AtomicU64>,
}

impl SimClock {
    pub fn now(&self) -> SystemTime {
        let ahead = Duration::from_millis(self.ahead_ms.load(Ordering::SeqCst));
        let now = SystemTime::now();
        now.checked_add(ahead).unwrap_or(now)
    }

    /// Seconds since the epoch, as rate-limit headers carry them.
    pub fn epoch_secs(&self) -> u64 {
        epoch_secs(self.now())
    }

    /// Moves the clock forward: windows that end within `by` reset.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.ahead_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// `Date` header value for a response sent now.
    pub fn http_date(&self) -> String {
        httpdate::fmt_http_date(self.now())
    }
}

fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whole seconds from `now` until `then`, rounded up (at least 1 when
/// `then` is later at all).
fn secs_until(now: SystemTime, then: SystemTime) -> u64 {
    then.duration_since(now)
        .map_or(0, |d| d.as_secs() + u64::from(d.subsec_nanos() > 0))
}

/// How a bucket's budget comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The whole limit comes back `period` after the first request of the
    /// window (GitHub: an hour; GitLab.com: a minute).
    Fixed(Duration),
    /// Each request counts for `period` after it was sent (Bitbucket Cloud:
    /// a rolling hour).
    Rolling(Duration),
    /// `refill` tokens come back every `every`, up to the limit (Bitbucket
    /// Data Center's token bucket).
    TokenBucket { refill: u64, every: Duration },
}

/// A documented limit: `limit` per window (the bucket size for a token
/// bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub limit: u64,
    pub window: Window,
}

impl Limit {
    pub const fn per_hour(limit: u64) -> Self {
        Self {
            limit,
            window: Window::Fixed(Duration::from_secs(3600)),
        }
    }

    pub const fn per_minute(limit: u64) -> Self {
        Self {
            limit,
            window: Window::Fixed(Duration::from_secs(60)),
        }
    }

    pub const fn rolling_hour(limit: u64) -> Self {
        Self {
            limit,
            window: Window::Rolling(Duration::from_secs(3600)),
        }
    }
}

/// A bucket's state for one key, as a host reports it in its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub limit: u64,
    pub used: u64,
    pub remaining: u64,
    /// Epoch seconds when enough budget is back for one more request: the
    /// window's end (fixed), when the oldest counted request leaves it
    /// (rolling), or when the next tokens arrive (bucket). Now when some is
    /// left.
    pub reset: u64,
    /// Whole seconds until `reset` from the moment of the charge, for
    /// `Retry-After` (0 while budget is left).
    pub retry_after: u64,
}

/// What the simulators were charged per bucket, for benchmarks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Charged {
    /// Cost granted per bucket (requests for REST, points for GraphQL).
    pub granted: BTreeMap<String, u64>,
    /// Requests refused per bucket because its budget was spent.
    pub refused: BTreeMap<String, u64>,
}

impl Charged {
    pub fn granted(&self, bucket: &str) -> u64 {
        self.granted.get(bucket).copied().unwrap_or(0)
    }

    pub fn refused(&self, bucket: &str) -> u64 {
        self.refused.get(bucket).copied().unwrap_or(0)
    }
}

/// Budgets of one simulated host, shared by its handlers. Cloning shares them.
#[derive(Debug, Clone, Default)]
pub struct SimBudget {
    clock: SimClock,
    inner: Arc<Mutex<Meters>>,
}

#[derive(Debug, Default)]
struct Meters {
    /// Enforced limits per bucket; a bucket absent here is not limited.
    limits: BTreeMap<String, Limit>,
    /// Per-key limits that override the bucket's (GitHub App installations
    /// get more than a token).
    key_limits: HashMap<(String, String), u64>,
    meters: HashMap<(String, String), Meter>,
    charged: Charged,
}

#[derive(Debug, Default)]
struct Meter {
    /// Fixed: when the current window ends. Bucket: when tokens were last
    /// added.
    mark: Option<SystemTime>,
    /// Fixed: used in the window. Bucket: tokens spent and not yet back.
    used: u64,
    /// Rolling: when each counted cost was sent.
    sent: VecDeque<(SystemTime, u64)>,
}

impl SimBudget {
    /// Budgets with `limits` per bucket, on `clock`.
    pub fn new(clock: SimClock, limits: &[(&str, Limit)]) -> Self {
        let budget = Self {
            clock,
            inner: Arc::default(),
        };
        for (bucket, limit) in limits {
            budget.set_limit(bucket, Some(*limit));
        }
        budget
    }

    pub fn clock(&self) -> &SimClock {
        &self.clock
    }

    /// Sets the limit of `bucket`; `None` stops enforcing it (a GHES with
    /// rate limiting off). Meters keep what they counted.
    pub fn set_limit(&self, bucket: &str, limit: Option<Limit>) {
        let mut meters = lock(&self.inner);
        match limit {
            Some(limit) => meters.limits.insert(bucket.to_owned(), limit),
            None => meters.limits.remove(bucket),
        };
    }

    pub fn limit(&self, bucket: &str) -> Option<Limit> {
        lock(&self.inner).limits.get(bucket).copied()
    }

    /// Gives `key` its own limit in `bucket` (same window as the bucket's).
    pub fn set_key_limit(&self, bucket: &str, key: &str, limit: u64) {
        lock(&self.inner)
            .key_limits
            .insert((bucket.to_owned(), key.to_owned()), limit);
    }

    /// Charges `cost` to `key` in `bucket`. `Ok(None)` when the bucket is
    /// not limited; `Ok` with the standing after the charge when the budget
    /// covered it; `Err` with the standing (nothing charged) when it did not.
    pub fn charge(&self, bucket: &str, key: &str, cost: u64) -> Result<Option<Standing>, Standing> {
        let now = self.clock.now();
        let mut meters = lock(&self.inner);
        let Some(limit) = meters.limit_of(bucket, key) else {
            *meters.charged.granted.entry(bucket.to_owned()).or_default() += cost;
            return Ok(None);
        };
        let meter = meters
            .meters
            .entry((bucket.to_owned(), key.to_owned()))
            .or_default();
        meter.catch_up(&limit, now);
        let granted = meter.used_now() + cost <= limit.limit;
        if granted {
            meter.spend(&limit, now, cost);
        }
        let standing = meter.standing(&limit, now, cost);
        let tally = if granted {
            &mut meters.charged.granted
        } else {
            &mut meters.charged.refused
        };
        *tally.entry(bucket.to_owned()).or_default() += if granted { cost } else { 1 };
        if granted {
            Ok(Some(standing))
        } else {
            Err(standing)
        }
    }

    /// The standing of `key` in `bucket` without charging anything (GitHub's
    /// `GET /rate_limit`); `None` when the bucket is not limited.
    pub fn standing(&self, bucket: &str, key: &str) -> Option<Standing> {
        let now = self.clock.now();
        let mut meters = lock(&self.inner);
        let limit = meters.limit_of(bucket, key)?;
        let meter = meters
            .meters
            .entry((bucket.to_owned(), key.to_owned()))
            .or_default();
        meter.catch_up(&limit, now);
        Some(meter.standing(&limit, now, 1))
    }

    /// Spends what is left of `key`'s budget in `bucket`, as another tool
    /// sharing the credential would.
    pub fn spend_all(&self, bucket: &str, key: &str) {
        if let Some(left) = self.standing(bucket, key).map(|s| s.remaining)
            && left > 0
        {
            let _ = self.charge(bucket, key, left);
        }
    }

    /// What was charged since the start (or the last [`Self::reset_charged`]).
    pub fn charged(&self) -> Charged {
        lock(&self.inner).charged.clone()
    }

    pub fn reset_charged(&self) {
        lock(&self.inner).charged = Charged::default();
    }
}

impl Meters {
    fn limit_of(&self, bucket: &str, key: &str) -> Option<Limit> {
        let mut limit = *self.limits.get(bucket)?;
        if let Some(own) = self.key_limits.get(&(bucket.to_owned(), key.to_owned())) {
            limit.limit = *own;
        }
        Some(limit)
    }
}

impl Meter {
    /// Brings the meter to `now`: a fixed window that ended starts over,
    /// rolling entries older than the period leave, tokens come back.
    fn catch_up(&mut self, limit: &Limit, now: SystemTime) {
        match limit.window {
            Window::Fixed(_) => {
                if self.mark.is_some_and(|end| end <= now) {
                    self.mark = None;
                    self.used = 0;
                }
            }
            Window::Rolling(period) => {
                while self
                    .sent
                    .front()
                    .is_some_and(|(at, _)| at.checked_add(period).is_none_or(|out| out <= now))
                {
                    self.sent.pop_front();
                }
            }
            Window::TokenBucket { refill, every } => {
                let Some(mark) = self.mark else {
                    return;
                };
                let elapsed = now.duration_since(mark).unwrap_or_default();
                let every_ms = every.as_millis().max(1);
                let intervals = u64::try_from(elapsed.as_millis() / every_ms).unwrap_or(u64::MAX);
                if intervals > 0 {
                    self.used = self.used.saturating_sub(intervals.saturating_mul(refill));
                    let moved = every.saturating_mul(u32::try_from(intervals).unwrap_or(u32::MAX));
                    self.mark = mark.checked_add(moved).or(Some(now));
                    if self.used == 0 {
                        self.mark = None;
                    }
                }
            }
        }
    }

    fn used_now(&self) -> u64 {
        if self.sent.is_empty() {
            self.used
        } else {
            self.sent.iter().map(|(_, cost)| cost).sum()
        }
    }

    fn spend(&mut self, limit: &Limit, now: SystemTime, cost: u64) {
        match limit.window {
            Window::Fixed(period) => {
                if self.mark.is_none() {
                    self.mark = now.checked_add(period);
                }
                self.used += cost;
            }
            Window::Rolling(_) => self.sent.push_back((now, cost)),
            Window::TokenBucket { .. } => {
                if self.mark.is_none() {
                    self.mark = Some(now);
                }
                self.used += cost;
            }
        }
    }

    /// The standing at `now`; `reset` is when `cost` more would fit.
    fn standing(&self, limit: &Limit, now: SystemTime, cost: u64) -> Standing {
        let used = self.used_now().min(limit.limit);
        let remaining = limit.limit - used;
        let back_at = if remaining >= cost {
            now
        } else {
            match limit.window {
                Window::Fixed(_) => self.mark.unwrap_or(now),
                Window::Rolling(period) => {
                    // The moment enough of the oldest requests have left.
                    let mut freed = remaining;
                    let mut at = now;
                    for (sent, c) in &self.sent {
                        freed += c;
                        at = sent.checked_add(period).unwrap_or(now);
                        if freed >= cost {
                            break;
                        }
                    }
                    at
                }
                Window::TokenBucket { refill, every } => {
                    let missing = cost - remaining;
                    let intervals = missing.div_ceil(refill.max(1));
                    let wait = every.saturating_mul(u32::try_from(intervals).unwrap_or(u32::MAX));
                    self.mark.and_then(|m| m.checked_add(wait)).unwrap_or(now)
                }
            }
        };
        let reset = match limit.window {
            // A fixed window reports its end even while budget is left.
            Window::Fixed(period) => self
                .mark
                .unwrap_or_else(|| now.checked_add(period).unwrap_or(now)),
            _ => back_at,
        };
        Standing {
            limit: limit.limit,
            used,
            remaining,
            reset: epoch_secs(reset),
            retry_after: secs_until(now, back_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn a_fixed_window_refuses_past_its_limit_and_resets_when_the_clock_passes_its_end() {
        let budget = SimBudget::new(SimClock::default(), &[("core", Limit::per_hour(3))]);
        for left in [2, 1, 0] {
            let standing = budget.charge("core", "t", 1).unwrap().unwrap();
            assert_eq!(standing.remaining, left);
        }
        let refused = budget.charge("core", "t", 1).unwrap_err();
        assert_eq!((refused.remaining, refused.used), (0, 3));
        assert!(refused.retry_after > 3590, "{refused:?}");
        assert!(
            budget.charge("core", "other", 1).is_ok(),
            "keys have their own budget"
        );
        budget.clock().advance(HOUR);
        assert_eq!(budget.charge("core", "t", 1).unwrap().unwrap().remaining, 2);
        let charged = budget.charged();
        assert_eq!((charged.granted("core"), charged.refused("core")), (5, 1));
    }

    #[test]
    fn a_rolling_window_gives_back_each_request_an_hour_after_it_was_sent() {
        let budget = SimBudget::new(SimClock::default(), &[("repo", Limit::rolling_hour(2))]);
        budget.charge("repo", "t", 1).unwrap();
        budget.clock().advance(Duration::from_secs(1800));
        budget.charge("repo", "t", 1).unwrap();
        let refused = budget.charge("repo", "t", 1).unwrap_err();
        assert!(
            (1799..=1801).contains(&refused.retry_after),
            "the first request leaves the window in half an hour: {refused:?}"
        );
        budget.clock().advance(Duration::from_secs(1800));
        assert_eq!(budget.charge("repo", "t", 1).unwrap().unwrap().remaining, 0);
    }

    #[test]
    fn a_token_bucket_refills_at_its_rate() {
        let limit = Limit {
            limit: 2,
            window: Window::TokenBucket {
                refill: 1,
                every: Duration::from_secs(10),
            },
        };
        let budget = SimBudget::new(SimClock::default(), &[("api", limit)]);
        budget.charge("api", "u", 2).unwrap();
        assert_eq!(budget.charge("api", "u", 1).unwrap_err().retry_after, 10);
        budget.clock().advance(Duration::from_secs(10));
        assert!(budget.charge("api", "u", 1).is_ok());
        assert!(budget.charge("api", "u", 1).is_err());
    }

    #[test]
    fn an_unlimited_bucket_counts_but_never_refuses_and_a_key_may_have_its_own_limit() {
        let budget = SimBudget::new(SimClock::default(), &[("core", Limit::per_hour(1))]);
        assert_eq!(budget.charge("graphql", "t", 400), Ok(None));
        budget.set_key_limit("core", "installation", 2);
        budget.charge("core", "installation", 2).unwrap();
        assert!(budget.charge("core", "token", 2).is_err());
        budget.set_limit("core", None);
        assert_eq!(budget.charge("core", "token", 2), Ok(None));
        assert_eq!(budget.charged().granted("graphql"), 400);
    }

    #[test]
    fn standing_is_free_and_spend_all_leaves_nothing() {
        let budget = SimBudget::new(SimClock::default(), &[("core", Limit::per_hour(5))]);
        assert_eq!(budget.standing("core", "t").unwrap().remaining, 5);
        budget.spend_all("core", "t");
        let standing = budget.standing("core", "t").unwrap();
        assert_eq!((standing.remaining, standing.used), (0, 5));
    }
}
