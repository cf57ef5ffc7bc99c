//! The hooks registered at a simulated host, and their deliveries.
//!
//! Each simulator keeps a [`Webhooks`] registry behind its host's hook
//! endpoints, and after a mutation hands it the event in its host's payload
//! shape; the registry POSTs it to every matching hook in the background,
//! with the headers the host would send, and keeps a log tests can wait on.

use super::lock;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a hook is registered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HookScope {
    /// The organization, group or workspace.
    Org,
    /// One repository (project), by the simulator's repository name.
    Repo(String),
}

/// One registered hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: u64,
    pub scope: HookScope,
    pub url: String,
    pub secret: Option<String>,
    /// Event names as the host spells them in its hook API.
    pub events: Vec<String>,
    pub active: bool,
}

/// One delivery attempt, for tests and benchmarks.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub hook: u64,
    pub event: String,
    /// The delivery id header's value.
    pub delivery: String,
    pub sent_at: Instant,
    /// The receiver's HTTP status, or `None` when the request failed.
    pub status: Option<u16>,
}

#[derive(Default)]
struct Registry {
    hooks: BTreeMap<u64, Hook>,
    next_id: u64,
    log: Vec<DeliveryRecord>,
    next_delivery: u64,
}

/// A host's hook registry. Cheap to clone; clones share the registry.
#[derive(Clone, Default)]
pub struct Webhooks {
    registry: Arc<Mutex<Registry>>,
    client: reqwest::Client,
}

/// An event to deliver, in the host's own shape.
pub struct Event<'a> {
    /// The event name matched against [`Hook::events`].
    pub name: &'a str,
    /// The repository it happened in (None: an org-level event).
    pub repo: Option<&'a str>,
    pub body: Vec<u8>,
}

impl Webhooks {
    pub fn create(
        &self,
        scope: HookScope,
        url: &str,
        secret: Option<String>,
        events: Vec<String>,
        active: bool,
    ) -> Hook {
        let mut r = lock(&self.registry);
        r.next_id += 1;
        let hook = Hook {
            id: r.next_id,
            scope,
            url: url.to_owned(),
            secret,
            events,
            active,
        };
        r.hooks.insert(hook.id, hook.clone());
        hook
    }

    /// Applies `change` to hook `id` in `scope`; `None` when there is none.
    pub fn update(
        &self,
        scope: &HookScope,
        id: u64,
        change: impl FnOnce(&mut Hook),
    ) -> Option<Hook> {
        let mut r = lock(&self.registry);
        let hook = r.hooks.get_mut(&id).filter(|h| &h.scope == scope)?;
        change(hook);
        Some(hook.clone())
    }

    pub fn get(&self, scope: &HookScope, id: u64) -> Option<Hook> {
        lock(&self.registry)
            .hooks
            .get(&id)
            .filter(|h| &h.scope == scope)
            .cloned()
    }

    /// Deletes hook `id` in `scope`; false when there is none.
    pub fn delete(&self, scope: &HookScope, id: u64) -> bool {
        let mut r = lock(&self.registry);
        if r.hooks.get(&id).is_some_and(|h| &h.scope == scope) {
            r.hooks.remove(&id);
            return true;
        }
        false
    }

    /// The hooks of `scope`, by id.
    pub fn list(&self, scope: &HookScope) -> Vec<Hook> {
        lock(&self.registry)
            .hooks
            .values()
            .filter(|h| &h.scope == scope)
            .cloned()
            .collect()
    }

    /// Every hook, by id.
    pub fn all(&self) -> Vec<Hook> {
        lock(&self.registry).hooks.values().cloned().collect()
    }

    /// Every delivery attempted so far, in the order they were sent.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        lock(&self.registry).log.clone()
    }

    /// Sends `event` to every active hook of the org, or of `event.repo`,
    /// that subscribes to `event.name` (or to `"*"`), in the background.
    /// `headers` builds the host's headers for one hook and delivery id (the
    /// event name, the delivery id and the signature). Without a Tokio
    /// runtime nothing is sent: mutations outside one are not observed.
    pub fn deliver(
        &self,
        event: Event<'_>,
        headers: impl Fn(&Hook, &str, &[u8]) -> Vec<(String, String)>,
    ) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut r = lock(&self.registry);
        let matching: Vec<Hook> = r
            .hooks
            .values()
            .filter(|h| h.active)
            .filter(|h| match (&h.scope, event.repo) {
                (HookScope::Org, _) => true,
                (HookScope::Repo(name), Some(repo)) => name == repo,
                (HookScope::Repo(_), None) => false,
            })
            .filter(|h| h.events.iter().any(|e| e == event.name || e == "*"))
            .cloned()
            .collect();
        for hook in matching {
            r.next_delivery += 1;
            let delivery = format!("00000000-0000-4000-8000-{:012x}", r.next_delivery);
            let index = r.log.len();
            r.log.push(DeliveryRecord {
                hook: hook.id,
                event: event.name.to_owned(),
                delivery: delivery.clone(),
                sent_at: Instant::now(),
                status: None,
            });
            let request = self
                .client
                .post(&hook.url)
                .timeout(Duration::from_secs(10))
                .header("Content-Type", "application/json");
            let request = headers(&hook, &delivery, &event.body)
                .into_iter()
                .fold(request, |req, (k, v)| req.header(k, v));
            let request = request.body(event.body.clone());
            let registry = self.registry.clone();
            runtime.spawn(async move {
                let status = request.send().await.ok().map(|r| r.status().as_u16());
                if let Some(record) = lock(&registry).log.get_mut(index) {
                    record.status = status;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_scoped_and_updated_in_place() {
        let hooks = Webhooks::default();
        let org = hooks.create(
            HookScope::Org,
            "http://a/webhooks/x",
            None,
            vec!["push".into()],
            true,
        );
        let repo = HookScope::Repo("log".into());
        let on_repo = hooks.create(
            repo.clone(),
            "http://a/webhooks/x",
            None,
            vec!["*".into()],
            true,
        );
        assert_eq!(hooks.list(&HookScope::Org), vec![org.clone()]);
        assert!(
            hooks
                .update(&HookScope::Org, on_repo.id, |h| h.active = false)
                .is_none()
        );
        let updated = hooks
            .update(&repo, on_repo.id, |h| h.url = "http://b".into())
            .unwrap();
        assert_eq!(updated.url, "http://b");
        assert!(hooks.delete(&HookScope::Org, org.id));
        assert!(!hooks.delete(&HookScope::Org, org.id));
        assert_eq!(hooks.all(), vec![updated]);
    }
}
