//! What the provider test suites share: the demo scenario, client
//! settings for tests, lookups into a snapshot, and comparing simulator
//! bodies with fixtures.

use packyard::domain::{Manifest, RemoteRepo, RemoteSnapshot, RemoteTeam};
use packyard::providers::{ClientSettings, ProgressFn};
use packyard::simulate::Scenario;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

pub fn demo() -> Scenario {
    Scenario::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/demo-github.toml"
    ))
    .unwrap()
}

pub fn settings() -> ClientSettings {
    ClientSettings {
        concurrency: 8,
        max_attempts: 3,
        timeout: Duration::from_secs(10),
        max_rate_limit_wait: Duration::from_secs(10),
        max_body_bytes: 1 << 20,
        ..ClientSettings::default()
    }
}

pub fn quiet() -> ProgressFn {
    Arc::new(|_| {})
}

pub fn repo<'a>(snapshot: &'a RemoteSnapshot, name: &str) -> &'a RemoteRepo {
    snapshot
        .repos
        .items
        .iter()
        .find(|r| r.full_name.ends_with(&format!("/{name}")))
        .unwrap_or_else(|| panic!("no repo {name}"))
}

pub fn logins(team: &RemoteTeam) -> Vec<&str> {
    team.members
        .items
        .iter()
        .map(|m| m.login.as_str())
        .collect()
}

pub fn manifest<'a>(repo: &'a RemoteRepo, reference: &str) -> &'a Manifest {
    &repo
        .refs
        .items
        .iter()
        .find(|r| r.name == reference)
        .unwrap_or_else(|| panic!("no ref {reference}"))
        .manifest
}

/// Field names of `sim` that the fixture lacks, recursively (arrays by
/// their first element).
pub fn extra_fields(sim: &Value, fixture: &Value, at: &str, out: &mut Vec<String>) {
    match (sim, fixture) {
        (Value::Object(s), Value::Object(f)) => {
            for (k, v) in s {
                match f.get(k) {
                    Some(fv) => extra_fields(v, fv, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}.{k}")),
                }
            }
        }
        (Value::Array(s), Value::Array(f)) => {
            if let (Some(s), Some(f)) = (s.first(), f.first()) {
                extra_fields(s, f, &format!("{at}[0]"), out);
            }
        }
        _ => {}
    }
}
