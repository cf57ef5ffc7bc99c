//! Request budgets on packyard's side: what each credential may still ask of
//! its host, and who may spend it.
//!
//! A [`Budget`] belongs to a credential at a host, not to a sync: the
//! [`Budgets`] registry (one per engine, in [`ClientSettings`]) hands every
//! client built for the same credential and host the same budget, so two
//! syncs sharing a token share one budget. It starts from the host's
//! documented limits ([`HostLimits`]) and follows what the host reports:
//! `x-ratelimit-*` (GitHub per resource, Bitbucket Cloud's limit),
//! `RateLimit-*` (GitLab), 403/429 with `Retry-After` or a reset
//! ([`Budget::refused`]). Where a host sends no remaining count or reset
//! (Bitbucket Cloud's rolling hour), both are estimated from packyard's own
//! requests and marked as estimates.
//!
//! Before each request the client asks [`Budget::admit`] with the request's
//! [`Priority`]: a full run may spend down to the reserve
//! (`[sync] budget_reserve_percent`, default 10 %), which is kept for webhook
//! refreshes and other tools sharing the credential; archive downloads stop
//! at twice the reserve, so metadata goes first. When the budget is down to
//! its floor the answer is [`Admission::Spent`] with the time it is back.
//!
//! [`ClientSettings`]: super::ClientSettings

use crate::domain::{Headroom, Timestamp};
use reqwest::Url;
use reqwest::header::HeaderMap;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who a request is for, which decides how deep into the budget it may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Dist archive downloads: only while more than twice the reserve is
    /// left, after metadata.
    Archive,
    /// Full runs: down to the reserve.
    Run,
    /// Webhook refreshes, credential checks, hook management: the reserve
    /// is kept for them.
    Refresh,
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `work` with every request it sends at `priority`. Requests outside
/// any such scope are [`Priority::Refresh`].
pub async fn with_priority<F: Future>(priority: Priority, work: F) -> F::Output {
    PRIORITY.scope(priority, work).await
}

fn current_priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Refresh)
}

/// How a documented budget comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refill {
    /// All at once when the window ends; the host reports when.
    Window,
    /// Each request is given back `period` after it was sent; the host
    /// reports neither count nor reset, so both are estimated.
    Rolling(Duration),
}

/// A host's documented limit for one bucket, used until the host's own
/// headers say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Documented {
    pub bucket: &'static str,
    pub limit: u64,
    pub refill: Refill,
}

/// What a host documents about its budgets, and how its requests map onto
/// them.
#[derive(Debug)]
pub struct HostLimits {
    /// The bucket a request to `url` is charged to; `None` when it costs
    /// nothing (GitHub's `GET /rate_limit`).
    pub bucket: fn(&Url) -> Option<&'static str>,
    pub documented: &'static [Documented],
}

/// Hosts whose limits are not known in advance: whatever their headers say.
pub static UNDOCUMENTED: HostLimits = HostLimits {
    bucket: |_| Some("api"),
    documented: &[],
};

/// What [`Budget::admit`] decided about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Go,
    /// The host asked for a pause (`Retry-After`); send after it.
    Wait(Duration),
    /// The budget is down to this priority's floor until `until`.
    Spent {
        until: SystemTime,
        headroom: Headroom,
    },
}

/// Budgets by credential, shared by every client an engine builds. Cloning
/// shares the registry.
#[derive(Clone, Default)]
pub struct Budgets {
    inner: Arc<Mutex<HashMap<String, Arc<Budget>>>>,
}

impl std::fmt::Debug for Budgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.inner.lock().map_or(0, |m| m.len());
        f.debug_struct("Budgets")
            .field("credentials", &count)
            .finish()
    }
}

impl Budgets {
    /// The budget of `identity` at `host`. `identity` names the credential
    /// without revealing it: it is hashed before it is kept.
    pub fn of(
        &self,
        host: &str,
        identity: &[u8],
        limits: &'static HostLimits,
        reserve_percent: u8,
    ) -> Arc<Budget> {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        hash.update(host.as_bytes());
        hash.update([0]);
        hash.update(identity);
        let key = hex::encode(hash.finalize());
        let mut budgets = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        budgets
            .entry(key)
            .or_insert_with(|| Arc::new(Budget::new(host, limits, reserve_percent)))
            .clone()
    }
}

/// One credential's budget at one host.
#[derive(Debug)]
pub struct Budget {
    host: String,
    limits: &'static HostLimits,
    reserve_percent: u8,
    buckets: Mutex<BTreeMap<&'static str, Bucket>>,
}

#[derive(Debug, Clone)]
struct Bucket {
    limit: u64,
    /// The lowest count the host reported in the current window (answers
    /// arrive out of order; within a window the count only falls); `None`
    /// until the host reported one.
    remaining: Option<u64>,
    /// The host's own reset value for the current window, to tell windows
    /// apart.
    window: Option<u64>,
    resets_at: Option<SystemTime>,
    /// Rolling buckets: when each of packyard's own requests was sent.
    sent: VecDeque<SystemTime>,
    refill: Refill,
    /// Nothing goes out before this (`Retry-After`).
    blocked_until: Option<SystemTime>,
    /// Requests admitted and not yet answered: a count the host reports
    /// does not include them yet.
    in_flight: u64,
}

impl Bucket {
    fn estimated(&self) -> bool {
        matches!(self.refill, Refill::Rolling(_))
    }

    /// Forgets what the clock has moved past.
    fn catch_up(&mut self, now: SystemTime) {
        if let Refill::Rolling(period) = self.refill {
            while self
                .sent
                .front()
                .is_some_and(|at| at.checked_add(period).is_none_or(|out| out <= now))
            {
                self.sent.pop_front();
            }
        }
        if self.resets_at.is_some_and(|at| at <= now) {
            self.resets_at = None;
            self.window = None;
            self.remaining = None;
        }
        if self.blocked_until.is_some_and(|at| at <= now) {
            self.blocked_until = None;
        }
    }

    /// What is left now: the host's count less the requests it has not
    /// counted yet, or the estimate from own requests in the rolling window;
    /// `None` when nothing is known.
    fn left(&self) -> Option<u64> {
        match (self.remaining, self.refill) {
            (Some(known), _) => Some(known.saturating_sub(self.in_flight)),
            (None, Refill::Rolling(_)) => Some(self.limit.saturating_sub(self.sent.len() as u64)),
            (None, Refill::Window) => None,
        }
    }

    /// When the budget is back: the host's reset, or when the oldest own
    /// request leaves the rolling window.
    fn back_at(&self, now: SystemTime) -> Option<SystemTime> {
        if let Some(at) = self.resets_at {
            return Some(at);
        }
        match self.refill {
            Refill::Rolling(period) => self.sent.front().and_then(|at| at.checked_add(period)),
            Refill::Window => None,
        }
        .filter(|at| *at > now)
    }

    fn headroom(&self, host: &str, bucket: &str, now: SystemTime) -> Headroom {
        Headroom {
            host: host.to_owned(),
            bucket: bucket.to_owned(),
            limit: self.limit,
            remaining: self.left().unwrap_or(self.limit),
            resets_at: self.back_at(now).map(timestamp),
            estimated: self.estimated() && self.remaining.is_none(),
        }
    }
}

fn timestamp(at: SystemTime) -> Timestamp {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
}

fn system_time(at: Timestamp) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(at.0).ok()?))
}

fn header<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// A host's reset (epoch seconds by its clock) on our clock: the time from
/// the host's `Date` to the reset, added to `now`.
fn local_reset(reset: u64, headers: &HeaderMap, now: SystemTime) -> Option<SystemTime> {
    let host_now = header(headers, &["date"])
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .unwrap_or(now);
    let reset = UNIX_EPOCH.checked_add(Duration::from_secs(reset))?;
    now.checked_add(reset.duration_since(host_now).unwrap_or_default())
}

fn number(headers: &HeaderMap, names: &[&str]) -> Option<u64> {
    header(headers, names)?.parse().ok()
}

impl Budget {
    fn new(host: &str, limits: &'static HostLimits, reserve_percent: u8) -> Self {
        Self {
            host: host.to_owned(),
            limits,
            reserve_percent: reserve_percent.min(100),
            buckets: Mutex::new(BTreeMap::new()),
        }
    }

    /// The bucket a request to `url` is charged to (`None`: free).
    pub fn bucket_of(&self, url: &Url) -> Option<&'static str> {
        (self.limits.bucket)(url)
    }

    fn with_bucket<T>(&self, bucket: &'static str, f: impl FnOnce(&mut Bucket) -> T) -> T {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = buckets.entry(bucket).or_insert_with(|| {
            let documented = self.limits.documented.iter().find(|d| d.bucket == bucket);
            Bucket {
                limit: documented.map_or(0, |d| d.limit),
                remaining: None,
                window: None,
                resets_at: None,
                sent: VecDeque::new(),
                refill: documented.map_or(Refill::Window, |d| d.refill),
                blocked_until: None,
                in_flight: 0,
            }
        });
        f(entry)
    }

    /// The floor `priority` may not spend below in a bucket of `limit`.
    fn floor(&self, limit: u64, priority: Priority) -> u64 {
        let reserve = (limit * u64::from(self.reserve_percent)).div_ceil(100);
        match priority {
            Priority::Refresh => 0,
            Priority::Run => reserve,
            Priority::Archive => reserve * 2,
        }
    }

    /// Decides whether a request to `bucket` may go now, at the priority
    /// of the calling task; one that may is counted as sent.
    pub fn admit(&self, bucket: &'static str, now: SystemTime) -> Admission {
        let priority = current_priority();
        self.with_bucket(bucket, |b| {
            b.catch_up(now);
            if let Some(until) = b.blocked_until {
                return Admission::Wait(until.duration_since(now).unwrap_or_default());
            }
            if let Some(left) = b.left()
                && b.limit > 0
                && left <= self.floor(b.limit, priority)
                && let Some(until) = b.back_at(now)
            {
                return Admission::Spent {
                    until,
                    headroom: b.headroom(&self.host, bucket, now),
                };
            }
            if matches!(b.refill, Refill::Rolling(_)) {
                b.sent.push_back(now);
            }
            b.in_flight += 1;
            Admission::Go
        })
    }

    /// Takes in the answer to a request [`Self::admit`] let go (empty
    /// `headers` when none came): the limit, remaining count and reset the
    /// host reports (`x-ratelimit-*`, `RateLimit-*`). Answers that cost
    /// nothing (GitHub's 304s) leave the count where it was. A reset is
    /// measured against the host's `Date`, so a skewed clock does not
    /// matter.
    pub fn observe(&self, bucket: &'static str, headers: &HeaderMap, now: SystemTime) {
        let limit = number(headers, &["x-ratelimit-limit", "ratelimit-limit"]);
        let remaining = number(headers, &["x-ratelimit-remaining", "ratelimit-remaining"]);
        let reset = number(headers, &["x-ratelimit-reset", "ratelimit-reset"]);
        let resets_at = reset.and_then(|r| local_reset(r, headers, now));
        self.with_bucket(bucket, |b| {
            b.in_flight = b.in_flight.saturating_sub(1);
            b.catch_up(now);
            if let Some(limit) = limit {
                b.limit = limit;
            }
            if let Some(remaining) = remaining {
                let same_window = reset.is_none() || b.window == reset;
                b.remaining = Some(match b.remaining {
                    Some(low) if same_window => low.min(remaining),
                    _ => remaining,
                });
                if reset.is_some() {
                    b.window = reset;
                    b.resets_at = resets_at;
                }
            }
        });
    }

    /// The host refused a request in `bucket` for its rate limit and asked
    /// for `wait`. Short waits block the bucket; the budget counts as spent
    /// until then either way.
    pub fn refused(&self, bucket: &'static str, wait: Duration, now: SystemTime) {
        let Some(until) = now.checked_add(wait) else {
            return;
        };
        self.with_bucket(bucket, |b| {
            b.remaining = Some(0);
            b.resets_at = Some(b.resets_at.map_or(until, |at| at.max(until)));
            b.blocked_until = Some(until);
        });
    }

    /// Replaces what is known of `bucket` with a report from the host's free
    /// rate-limit endpoint (epoch seconds for `reset`, measured against the
    /// `Date` of `headers`, the answer's).
    pub fn report(
        &self,
        bucket: &'static str,
        limit: u64,
        remaining: u64,
        reset: u64,
        headers: &HeaderMap,
    ) {
        let resets_at = local_reset(reset, headers, SystemTime::now());
        self.with_bucket(bucket, |b| {
            b.limit = limit;
            b.remaining = Some(remaining);
            b.window = Some(reset);
            b.resets_at = resets_at;
            if remaining > 0 {
                b.blocked_until = None;
            }
        });
    }

    /// A request [`Self::admit`] let go was dropped unanswered (its task
    /// was cancelled): it no longer counts as in flight.
    pub fn abandoned(&self, bucket: &'static str) {
        self.with_bucket(bucket, |b| b.in_flight = b.in_flight.saturating_sub(1));
    }

    /// Every bucket as known now, for `sync list` and the TUI.
    pub fn headroom(&self) -> Vec<Headroom> {
        let now = SystemTime::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .iter_mut()
            .filter_map(|(name, b)| {
                b.catch_up(now);
                // A bucket the host has reported nothing about yet is not
                // shown as if it were full.
                (b.limit > 0 && b.left().is_some()).then(|| b.headroom(&self.host, name, now))
            })
            .collect()
    }

    /// Starts a budget nothing was sent with yet from what an earlier run
    /// (maybe in another process) saw, so a spent budget is not spent again
    /// to learn it is spent. Buckets this budget already knows are kept, and
    /// estimates are not carried over: they were only ever this process's
    /// count, and the host's own refusal is the better witness.
    pub fn seed(&self, seen: &[Headroom]) {
        let now = SystemTime::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        for headroom in seen.iter().filter(|h| !h.estimated) {
            let Some(bucket) = self.documented_name(&headroom.bucket) else {
                continue;
            };
            let Some(resets_at) = headroom
                .resets_at
                .and_then(system_time)
                .filter(|at| *at > now)
            else {
                continue;
            };
            buckets.entry(bucket).or_insert(Bucket {
                limit: headroom.limit,
                remaining: Some(headroom.remaining),
                window: None,
                resets_at: Some(resets_at),
                sent: VecDeque::new(),
                refill: Refill::Window,
                blocked_until: None,
                in_flight: 0,
            });
        }
    }

    /// The `'static` name of a bucket this host documents or was seen with.
    fn documented_name(&self, name: &str) -> Option<&'static str> {
        self.limits
            .documented
            .iter()
            .map(|d| d.bucket)
            .find(|b| *b == name)
    }

    pub fn host(&self) -> &str {
        &self.host
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    static GITHUB_LIKE: HostLimits = HostLimits {
        bucket: |url| (url.path() != "/rate_limit").then_some("core"),
        documented: &[Documented {
            bucket: "core",
            limit: 5000,
            refill: Refill::Window,
        }],
    };

    static ROLLING: HostLimits = HostLimits {
        bucket: |_| Some("repository data"),
        documented: &[Documented {
            bucket: "repository data",
            limit: 10,
            refill: Refill::Rolling(Duration::from_secs(3600)),
        }],
    };

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn budget(limits: &'static HostLimits) -> Arc<Budget> {
        Budgets::default().of("h.test", b"token", limits, 10)
    }

    #[test]
    fn two_clients_with_one_credential_share_one_budget() {
        let budgets = Budgets::default();
        let a = budgets.of("api.github.com", b"t1", &GITHUB_LIKE, 10);
        let b = budgets.of("api.github.com", b"t1", &GITHUB_LIKE, 10);
        let other = budgets.of("api.github.com", b"t2", &GITHUB_LIKE, 10);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &other));
        assert!(!format!("{budgets:?}").contains("t1"));
    }

    #[tokio::test]
    async fn a_run_stops_at_the_reserve_and_a_refresh_may_spend_it() {
        let budget = budget(&GITHUB_LIKE);
        let now = SystemTime::now();
        let reset = now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 600;
        budget.observe(
            "core",
            &headers(&[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", "501"),
                ("x-ratelimit-reset", &reset.to_string()),
                ("date", &httpdate::fmt_http_date(now)),
            ]),
            now,
        );
        let run = with_priority(Priority::Run, async {
            (budget.admit("core", now), budget.admit("core", now))
        })
        .await;
        assert_eq!(run.0, Admission::Go, "501 left, the reserve is 500");
        let Admission::Spent { until, headroom } = run.1 else {
            panic!("{:?}", run.1);
        };
        assert_eq!(headroom.remaining, 500);
        let wait = until.duration_since(now).unwrap().as_secs();
        assert!((599..=600).contains(&wait), "{wait}");
        assert_eq!(budget.admit("core", now), Admission::Go, "webhooks may");
        let archive = with_priority(Priority::Archive, async { budget.admit("core", now) }).await;
        assert!(matches!(archive, Admission::Spent { .. }), "{archive:?}");
    }

    #[test]
    fn a_new_window_replaces_the_count_and_a_passed_reset_forgets_it() {
        let budget = budget(&GITHUB_LIKE);
        let now = SystemTime::now();
        let epoch = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        budget.report("core", 5000, 0, epoch + 60, &HeaderMap::new());
        assert!(matches!(budget.admit("core", now), Admission::Spent { .. }));
        let later = now + Duration::from_secs(61);
        assert_eq!(
            budget.admit("core", later),
            Admission::Go,
            "the window reset"
        );
    }

    #[test]
    fn requests_in_flight_count_until_answered_and_a_late_older_answer_changes_nothing() {
        let budget = budget(&GITHUB_LIKE);
        let now = SystemTime::now();
        let reset = (now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 600).to_string();
        let answer = |remaining: &str| {
            headers(&[
                ("x-ratelimit-limit", "5000"),
                ("x-ratelimit-remaining", remaining),
                ("x-ratelimit-reset", &reset),
            ])
        };
        budget.observe("core", &answer("100"), now);
        for _ in 0..3 {
            assert_eq!(budget.admit("core", now), Admission::Go);
        }
        assert_eq!(budget.headroom()[0].remaining, 97, "three in flight");
        budget.observe("core", &answer("98"), now);
        budget.observe("core", &answer("99"), now);
        assert_eq!(budget.headroom()[0].remaining, 97, "the lowest count wins");
        budget.observe("core", &answer("98"), now);
        assert_eq!(
            budget.headroom()[0].remaining,
            98,
            "a free answer (304) gave back what was counted for it"
        );
    }

    #[test]
    fn a_rolling_hour_is_estimated_from_own_requests() {
        let budget = budget(&ROLLING);
        let start = SystemTime::now();
        for _ in 0..10 {
            assert_eq!(budget.admit("repository data", start), Admission::Go);
        }
        let headroom = budget.headroom();
        assert_eq!(headroom[0].remaining, 0);
        assert!(headroom[0].estimated);
        let Admission::Spent { until, .. } = budget.admit("repository data", start) else {
            panic!("ten of ten sent");
        };
        assert_eq!(until, start + Duration::from_secs(3600));
        let later = start + Duration::from_secs(3600);
        assert_eq!(budget.admit("repository data", later), Admission::Go);
    }

    #[test]
    fn a_refusal_blocks_the_bucket_until_the_wait_is_over() {
        let budget = budget(&GITHUB_LIKE);
        let now = SystemTime::now();
        budget.refused("core", Duration::from_secs(30), now);
        assert_eq!(
            budget.admit("core", now),
            Admission::Wait(Duration::from_secs(30))
        );
        assert_eq!(
            budget.admit("core", now + Duration::from_secs(31)),
            Admission::Go
        );
    }

    #[test]
    fn a_remembered_spent_budget_is_seeded_into_a_fresh_one() {
        let first = budget(&GITHUB_LIKE);
        let now = SystemTime::now();
        let epoch = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
        first.report("core", 5000, 0, epoch + 600, &HeaderMap::new());
        let seen = first.headroom();
        let fresh = Budgets::default().of("h.test", b"token", &GITHUB_LIKE, 10);
        fresh.seed(&seen);
        assert!(matches!(fresh.admit("core", now), Admission::Spent { .. }));
    }
}
