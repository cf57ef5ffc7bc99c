//! A credential's request budget at its code host, as packyard last saw it:
//! what `sync list`, the Synchronizations pane and a paused run show.

use super::Timestamp;
use serde::{Deserialize, Serialize};

/// One budget bucket of a host (GitHub `core` or `graphql`, GitLab's
/// per-minute API limit, Bitbucket Cloud's repository data, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headroom {
    /// The host as shown in messages, e.g. `api.github.com`.
    pub host: String,
    /// The host's name for the bucket.
    pub bucket: String,
    pub limit: u64,
    pub remaining: u64,
    /// When the budget is back, when known.
    pub resets_at: Option<Timestamp>,
    /// True when the host reports no count and packyard estimated it from
    /// its own requests (Bitbucket Cloud's rolling hour): shown with "≈".
    pub estimated: bool,
}

impl Headroom {
    fn approx(&self) -> &'static str {
        if self.estimated { "≈" } else { "" }
    }

    /// `rate limit of api.github.com spent: 0 of 5,000 left, resets at
    /// 05:19:07 UTC (in 58 min)`: what a paused run says.
    pub fn spent_message(&self, now: Timestamp) -> String {
        let a = self.approx();
        let mut text = format!(
            "rate limit of {} spent: {a}{} of {a}{} left",
            self.host,
            thousands(self.remaining),
            thousands(self.limit)
        );
        if let Some(at) = self.resets_at {
            text.push_str(&format!(
                ", resets at {a}{} UTC (in {})",
                clock(at, true),
                until(now, at)
            ));
        }
        text
    }

    /// `4,210/5,000 left, resets 05:19`: one line of `sync list`.
    pub fn describe(&self) -> String {
        let a = self.approx();
        let mut text = format!(
            "{}: {a}{}/{a}{} left",
            self.bucket,
            thousands(self.remaining),
            thousands(self.limit)
        );
        if let Some(at) = self.resets_at {
            text.push_str(&format!(", resets {a}{}", clock(at, false)));
        }
        text
    }
}

/// What a run records about the budget it used.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RunBudget {
    /// The run stopped on a spent budget.
    #[serde(default)]
    pub paused: Option<Pause>,
    /// Every bucket as the run left it.
    #[serde(default)]
    pub headroom: Vec<Headroom>,
}

/// A run stopped because the budget is spent; it resumes at `resumes_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub budget: Headroom,
    pub resumes_at: Timestamp,
}

impl Pause {
    /// `paused: rate limit, resumes 05:19`: the progress bar while paused.
    pub fn progress_text(&self) -> String {
        format!(
            "paused: rate limit, resumes {}{}",
            self.budget.approx(),
            clock(self.resumes_at, false)
        )
    }
}

/// `5000` → `5,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `05:19:07` (or `05:19`) in UTC.
fn clock(at: Timestamp, seconds: bool) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(at.0) else {
        return at.0.to_string();
    };
    if seconds {
        format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
    } else {
        format!("{:02}:{:02}", t.hour(), t.minute())
    }
}

/// `58 min`, `2 h 5 min`, `40 s`: the time from `now` to `at`, rounded up
/// to the minute above a minute.
pub fn until(now: Timestamp, at: Timestamp) -> String {
    let secs = at.0.saturating_sub(now.0).max(0);
    if secs < 60 {
        return format!("{secs} s");
    }
    let minutes = (secs + 59) / 60;
    match (minutes / 60, minutes % 60) {
        _ if minutes <= 60 => format!("{minutes} min"),
        (hours, 0) => format!("{hours} h"),
        (hours, rest) => format!("{hours} h {rest} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn github(remaining: u64) -> Headroom {
        Headroom {
            host: "api.github.com".into(),
            bucket: "core".into(),
            limit: 5000,
            remaining,
            // 2026-12-02T05:19:07Z
            resets_at: Some(Timestamp(1_796_188_747)),
            estimated: false,
        }
    }

    #[test]
    fn a_spent_budget_says_what_is_left_and_when_it_resets() {
        let now = Timestamp(1_796_188_747 - 58 * 60 + 13);
        assert_eq!(
            github(0).spent_message(now),
            "rate limit of api.github.com spent: 0 of 5,000 left, resets at 05:19:07 UTC (in 58 min)"
        );
        assert_eq!(
            github(4210).describe(),
            "core: 4,210/5,000 left, resets 05:19"
        );
    }

    #[test]
    fn an_estimated_budget_says_so() {
        let estimate = Headroom {
            estimated: true,
            bucket: "repository data".into(),
            limit: 1000,
            remaining: 0,
            ..github(0)
        };
        let pause = Pause {
            resumes_at: estimate.resets_at.unwrap(),
            budget: estimate.clone(),
        };
        assert_eq!(
            estimate.describe(),
            "repository data: ≈0/≈1,000 left, resets ≈05:19"
        );
        assert_eq!(pause.progress_text(), "paused: rate limit, resumes ≈05:19");
    }

    #[test]
    fn numbers_and_durations_read_like_a_person_wrote_them() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(12_500), "12,500");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(until(Timestamp(0), Timestamp(40)), "40 s");
        assert_eq!(until(Timestamp(0), Timestamp(61)), "2 min");
        assert_eq!(until(Timestamp(0), Timestamp(3600)), "60 min");
        assert_eq!(until(Timestamp(0), Timestamp(7200)), "2 h");
        assert_eq!(until(Timestamp(0), Timestamp(7500)), "2 h 5 min");
        assert_eq!(until(Timestamp(10), Timestamp(0)), "0 s");
    }
}
