//! What a client asks of a simulated host's hook API, whatever the host
//! calls the fields: each simulator reads its own request body into a
//! [`HookChange`], which checks it as hosts do and applies it to the
//! [`Webhooks`] registry.

use super::webhooks::{Hook, HookScope, Webhooks};

/// The fields of a create or update request; on update, absent fields stay
/// as they are. An empty secret removes the secret.
#[derive(Debug, Default)]
pub(crate) struct HookChange {
    pub url: Option<String>,
    pub secret: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// Why a host refuses a request: the field at fault and a message.
pub(crate) type Refusal = (&'static str, String);

impl HookChange {
    /// What a host refuses: a create without a URL or events, an empty
    /// event list, or an event not in `allowed`.
    pub fn refusal(&self, creating: bool, allowed: &[&str]) -> Option<Refusal> {
        if creating && self.url.as_deref().is_none_or(str::is_empty) {
            return Some(("url", "This field is required.".to_owned()));
        }
        match &self.events {
            None if creating => Some(("events", "This field is required.".to_owned())),
            Some(events) if events.is_empty() => {
                Some(("events", "Select at least one event.".to_owned()))
            }
            Some(events) => events
                .iter()
                .find(|e| !allowed.contains(&e.as_str()))
                .map(|e| ("events", format!("\"{e}\" is not a valid event."))),
            None => None,
        }
    }

    /// Registers the hook (active unless asked otherwise).
    pub fn create(self, hooks: &Webhooks, scope: HookScope) -> Hook {
        hooks.create(
            scope,
            self.url.as_deref().unwrap_or_default(),
            self.secret.filter(|s| !s.is_empty()),
            self.events.unwrap_or_default(),
            self.active.unwrap_or(true),
        )
    }

    /// Applies the fields given to hook `id`; `None` when there is none.
    pub fn update(self, hooks: &Webhooks, scope: &HookScope, id: u64) -> Option<Hook> {
        hooks.update(scope, id, |hook| {
            if let Some(url) = self.url {
                hook.url = url;
            }
            if let Some(secret) = self.secret {
                hook.secret = Some(secret).filter(|s| !s.is_empty());
            }
            if let Some(events) = self.events {
                hook.events = events;
            }
            if let Some(active) = self.active {
                hook.active = active;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_names_the_field_when_a_host_would_refuse() {
        let allowed = ["repo:push"];
        let change = |url: Option<&str>, events: Option<&[&str]>| HookChange {
            url: url.map(str::to_owned),
            events: events.map(|e| e.iter().map(|s| (*s).to_owned()).collect()),
            ..HookChange::default()
        };
        let field = |c: HookChange, creating| c.refusal(creating, &allowed).map(|(f, _)| f);
        assert_eq!(field(change(None, Some(&["repo:push"])), true), Some("url"));
        assert_eq!(field(change(Some("http://a"), None), true), Some("events"));
        assert_eq!(
            field(change(Some("http://a"), Some(&[])), false),
            Some("events")
        );
        assert_eq!(
            field(change(None, Some(&["repo:created"])), false),
            Some("events")
        );
        assert_eq!(
            field(change(Some("http://a"), Some(&["repo:push"])), true),
            None
        );
        assert_eq!(field(HookChange::default(), false), None);
    }

    #[test]
    fn update_keeps_absent_fields_and_an_empty_secret_removes_it() {
        let hooks = Webhooks::default();
        let scope = HookScope::Repo("log".into());
        let created = HookChange {
            url: Some("http://a".into()),
            secret: Some("s".into()),
            events: Some(vec!["repo:push".into()]),
            active: None,
        }
        .create(&hooks, scope.clone());
        assert!(created.active);
        let updated = HookChange {
            secret: Some(String::new()),
            ..HookChange::default()
        }
        .update(&hooks, &scope, created.id)
        .unwrap();
        assert_eq!(updated.secret, None);
        assert_eq!((updated.url, updated.events), (created.url, created.events));
    }
}
