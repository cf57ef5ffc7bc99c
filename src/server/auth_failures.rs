//! Failed authentications per client address. Past the limit within a
//! window, a client's further failures are answered 429 with `Retry-After`
//! instead of 401, and logged once per window instead of per request.
//!
//! Only failures are counted and only failures are refused: a request with
//! a valid token never consults this, so one misconfigured job behind a
//! shared address (a NAT, a CI runner) does not slow anyone's valid token.
//! Guessing a token is hopeless anyway (32 random bytes); this keeps floods
//! of bad credentials cheap and the log readable.
//!
//! The client address is the connection's peer, or, when that peer is one
//! of the configured `trusted_proxies`, the address the proxies recorded in
//! `X-Forwarded-For` (the rightmost one that is not itself a trusted proxy).

use axum::http::HeaderMap;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Failures allowed per address and window before answers become 429.
pub const FAILURES_ALLOWED: u32 = 30;
pub const WINDOW: Duration = Duration::from_secs(60);

/// Addresses tracked at once; past it, expired windows are dropped first.
const TRACKED: usize = 100_000;

pub struct AuthFailures {
    allowed: u32,
    window: Duration,
    trusted_proxies: Vec<IpAddr>,
    seen: Mutex<HashMap<IpAddr, Window>>,
}

struct Window {
    started: Instant,
    failures: u32,
}

impl AuthFailures {
    pub fn new(trusted_proxies: Vec<IpAddr>) -> Self {
        Self::with_limit(FAILURES_ALLOWED, WINDOW, trusted_proxies)
    }

    pub fn with_limit(allowed: u32, window: Duration, trusted_proxies: Vec<IpAddr>) -> Self {
        Self {
            allowed,
            window,
            trusted_proxies,
            seen: Mutex::default(),
        }
    }

    /// The client's address: `peer`, or what trusted proxies forwarded.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        forwarded
            .into_iter()
            .rev()
            .find(|a| !self.trusted_proxies.contains(a))
            .unwrap_or(peer)
    }

    /// Counts a failure from `client`. Returns how long until it may try
    /// again when it is over the limit.
    pub fn record(&self, client: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= TRACKED && !seen.contains_key(&client) {
            seen.retain(|_, w| now.duration_since(w.started) < self.window);
            if seen.len() >= TRACKED {
                // Every entry is live: forget them rather than grow without
                // bound; the worst case is a fresh allowance for each.
                seen.clear();
            }
        }
        let window = seen.entry(client).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(window.started) >= self.window {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures += 1;
        if window.failures == self.allowed + 1 {
            tracing::warn!(
                %client,
                "more than {} failed authentications within {} s; answering 429 until the window ends",
                self.allowed,
                self.window.as_secs()
            );
        }
        (window.failures > self.allowed).then(|| {
            self.window
                .saturating_sub(now.duration_since(window.started))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(a: &str) -> IpAddr {
        a.parse().unwrap()
    }

    #[test]
    fn failures_past_the_limit_are_refused_per_address() {
        let failures = AuthFailures::with_limit(3, Duration::from_secs(60), Vec::new());
        for _ in 0..3 {
            assert_eq!(failures.record(ip("10.0.0.1")), None);
        }
        let wait = failures.record(ip("10.0.0.1")).expect("over the limit");
        assert!(wait <= Duration::from_secs(60));
        assert_eq!(failures.record(ip("10.0.0.2")), None, "another address");
    }

    #[test]
    fn window_starts_again_when_it_has_passed() {
        let failures = AuthFailures::with_limit(1, Duration::ZERO, Vec::new());
        assert_eq!(failures.record(ip("10.0.0.1")), None);
        assert_eq!(failures.record(ip("10.0.0.1")), None);
    }

    #[test]
    fn forwarded_address_counts_only_behind_a_trusted_proxy() {
        let failures = AuthFailures::new(vec![ip("10.0.0.9"), ip("10.0.0.8")]);
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.5, 198.51.100.7, 10.0.0.8"),
        );
        // The rightmost address no trusted proxy claims to be.
        assert_eq!(
            failures.client(ip("10.0.0.9"), &headers),
            ip("198.51.100.7")
        );
        // Anyone else could write the header themselves.
        assert_eq!(failures.client(ip("192.0.2.1"), &headers), ip("192.0.2.1"));
        assert_eq!(
            failures.client(ip("10.0.0.9"), &HeaderMap::new()),
            ip("10.0.0.9")
        );
    }
}
