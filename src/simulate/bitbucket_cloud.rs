//! A simulated Bitbucket Cloud on `127.0.0.1:0`: the 2.0 REST API under
//! `/2.0`, the 1.0 groups resource under `/1.0`, and the web host's archive
//! downloads at the root, all on one address (as `api.bitbucket.org` and
//! `bitbucket.org` would be).
//!
//! # How a [`Scenario`] maps onto Bitbucket Cloud
//! - `org.login` is the workspace slug ([`BitbucketCloudSim::org`]),
//!   `org.name` its name.
//! - `members` are workspace members; `role = "admin"` makes them workspace
//!   owners (`permission: "owner"` in `/2.0/workspaces/{ws}/permissions`),
//!   others plain `member`s. Emails are not published (Bitbucket hides them).
//! - `teams` are workspace groups (slug, name, members) listed with their
//!   members by `GET /1.0/groups/{ws}`; a team's `repos` are explicit group
//!   permissions on each repository (`permissions-config/groups`), GitHub's
//!   roles collapsed to Bitbucket's three: pull/triage → `read`,
//!   push/maintain → `write`, admin → `admin`.
//! - `repos` are repositories (slug = name, `mainbranch` = default branch),
//!   every ref a deterministic commit; `updated_on` moves on every change.
//! - `token` is accepted as `Authorization: Bearer` (workspace access token)
//!   and as the Basic-auth password of [`BitbucketCloudSim::username`] (API
//!   token or app password).
//!
//! # Host behaviour reproduced
//! Page envelopes (`values`, `pagelen` ≤ 100 (default 10), `size`, `page`,
//! `next` as an absolute URL), `{"type":"error","error":{"message"}}` bodies
//! for 401/403/404, branches and tags listed apart (`/refs/branches`,
//! `/refs/tags`) or together (`/refs`), raw files from the API's
//! `/src/{commit}/{path}` and the web host's `{ws}/{slug}/raw/{commit}/{path}`,
//! and `{ws}/{slug}/get/{commit}.zip` archives with a `{ws}-{slug}-{sha12}/`
//! top folder. The API documents no conditional requests, so no `ETag` is
//! sent.
//!
//! # Rate limits
//! Enforced per credential over a rolling hour on a [`SimClock`]
//! ([`BitbucketCloudSim::budget`]), as Atlassian documents them: 1,000
//! requests for repository data (`/2.0/repositories/*`), 5,000 raw file
//! downloads (`/raw/`), 5,000 archives (`/get/`). A spent bucket answers 429
//! with `Retry-After`. Only access tokens get `X-RateLimit-Limit`,
//! `X-RateLimit-Resource` and `X-RateLimit-NearLimit` (under a fifth left),
//! and only on repository data; no remaining count or reset is ever sent.
//!
//! # Webhooks
//! Repository hooks at `/2.0/repositories/{ws}/{slug}/hooks[/{uid}]`
//! (`webhook_subscription` bodies as in the fixture, paged like other
//! listings, 201 on create, 204 on delete, 400 for a missing URL or an
//! event only workspace hooks have, such as `repo:created`). Every push
//! (`add_tag`, `add_tag_at`, `push_branch`, `set_composer`) delivers
//! `repo:push` to the repository's active hooks subscribed to it, with
//! `X-Event-Key`, `X-Request-UUID`, `X-Hook-UUID` and, when the hook has a
//! secret, `X-Hub-Signature: sha256=…`. Deleting a repository deletes its
//! hooks.

mod json;
mod routes;
mod state;

use super::budget::{Limit, SimBudget, SimClock};
use super::history::record_push;
use super::lock;
use super::scenario::{RepoSpec, Scenario};
use super::server::{self, Running};
use super::webhooks::{Event, Hook, HookScope, Webhooks};
use super::{Faults, SimError, SimStats};
use crate::domain::{RefKind, hub_signature};
use serde_json::Value;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A running simulator. Stops when dropped or on [`BitbucketCloudSim::shutdown`].
pub struct BitbucketCloudSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Running,
}

struct Shared {
    base: String,
    state: Mutex<state::State>,
    faults: Faults,
    stats: Mutex<SimStats>,
    budget: SimBudget,
    webhooks: Webhooks,
}

impl BitbucketCloudSim {
    pub async fn start(scenario: Scenario) -> io::Result<Self> {
        scenario
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (listener, addr) = server::bind().await?;
        let shared = Arc::new(Shared {
            base: format!("http://{addr}"),
            state: Mutex::new(state::State::new(&scenario)),
            faults: Faults::default(),
            stats: Mutex::new(SimStats::default()),
            budget: SimBudget::new(
                SimClock::default(),
                &[
                    (routes::REPOSITORY_DATA, Limit::rolling_hour(1_000)),
                    (routes::RAW_FILES, Limit::rolling_hour(5_000)),
                    (routes::ARCHIVES, Limit::rolling_hour(5_000)),
                ],
            ),
            webhooks: Webhooks::default(),
        });
        let server = Running::serve(listener, routes::router(shared.clone()), "Bitbucket Cloud");
        Ok(Self {
            shared,
            addr,
            server,
        })
    }

    /// The 2.0 API base URL, e.g. `http://127.0.0.1:41234/2.0`.
    pub fn api_url(&self) -> String {
        format!("http://{}/2.0", self.addr)
    }

    /// The token: a workspace access token, or the password of [`Self::username`].
    pub fn token(&self) -> String {
        lock(&self.shared.state).token.clone()
    }

    /// The Basic-auth username that goes with the token.
    pub fn username(&self) -> String {
        lock(&self.shared.state).username()
    }

    /// The workspace slug (the value of `Sync.org`).
    pub fn org(&self) -> String {
        lock(&self.shared.state).slug.clone()
    }

    pub fn stats(&self) -> SimStats {
        lock(&self.shared.stats).clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = SimStats::default();
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    /// The rolling-hour budgets this simulator enforces (buckets
    /// `repository data`, `raw files`, `archives`; keys `access token` and
    /// `user`). A large paid workspace gets up to 10,000 an hour for
    /// repository data: `set_limit` it.
    pub fn budget(&self) -> SimBudget {
        self.shared.budget.clone()
    }

    /// The clock the budgets run on.
    pub fn clock(&self) -> SimClock {
        self.shared.budget.clock().clone()
    }

    /// The repository hooks registered through the API, and their deliveries.
    pub fn webhooks(&self) -> Webhooks {
        self.shared.webhooks.clone()
    }

    /// The repository's `{uuid}`.
    pub fn repo_id(&self, repo: &str) -> Option<String> {
        lock(&self.shared.state)
            .repos
            .get(repo)
            .map(|r| r.uuid.clone())
    }

    /// The commit a branch or tag points at.
    pub fn commit_of(&self, repo: &str, reference: &str) -> Option<String> {
        let state = lock(&self.shared.state);
        Some(state.repos.get(repo)?.git.resolve(reference)?.to_owned())
    }

    /// Tags a new commit (same composer.json as the main branch).
    pub fn add_tag(&self, repo: &str, tag: &str) -> Result<String, SimError> {
        self.push(repo, (RefKind::Tag, tag), |state| state.add_tag(repo, tag))
    }

    /// Tags the commit `target` (a branch, tag or SHA) points at.
    pub fn add_tag_at(&self, repo: &str, tag: &str, target: &str) -> Result<String, SimError> {
        self.push(repo, (RefKind::Tag, tag), |state| {
            state.add_tag_at(repo, tag, target)
        })
    }

    /// Creates `branch` or moves it to a new commit with the same files.
    pub fn push_branch(&self, repo: &str, branch: &str) -> Result<String, SimError> {
        self.push(repo, (RefKind::Branch, branch), |state| {
            state.push_branch(repo, branch)
        })
    }

    /// Points `reference` at a new commit whose composer.json is `composer`
    /// (`None` removes the file). Returns the new SHA.
    pub fn set_composer(
        &self,
        repo: &str,
        reference: &str,
        composer: Option<&Value>,
    ) -> Result<String, SimError> {
        let bytes = composer.and_then(|c| serde_json::to_vec_pretty(c).ok());
        let kind = lock(&self.shared.state)
            .repos
            .get(repo)
            .map_or(RefKind::Branch, |r| r.git.kind_of(reference));
        self.push(repo, (kind, reference), |state| {
            state.set_composer(repo, reference, bytes)
        })
    }

    /// Applies `change`, which moves ref `moved` of `repo`, then delivers
    /// `repo:push` to the repository's hooks, as a `git push` would.
    fn push(
        &self,
        repo: &str,
        moved: (RefKind, &str),
        change: impl FnOnce(&mut state::State) -> Result<String, SimError>,
    ) -> Result<String, SimError> {
        let (sha, body) = {
            let mut state = lock(&self.shared.state);
            let (sha, update) = record_push(
                &mut *state,
                |state| state.repos.get(repo).map(|r| &r.git),
                moved,
                change,
            )?;
            let body = state
                .repos
                .get(repo)
                .map(|r| json::push(&state, r, &update, &self.shared.base));
            (sha, body)
        };
        if let Some(body) = body {
            let event = Event {
                name: "repo:push",
                repo: Some(repo),
                body: serde_json::to_vec(&body).unwrap_or_default(),
            };
            self.shared
                .webhooks
                .deliver(event, delivery_headers("repo:push"));
        }
        Ok(sha)
    }

    /// Creates a repository; returns its `{uuid}`.
    pub fn create_repo(&self, spec: &RepoSpec) -> Result<String, SimError> {
        lock(&self.shared.state).create_repo(spec)
    }

    /// Deletes the repository with its hooks.
    pub fn delete_repo(&self, repo: &str) -> Result<(), SimError> {
        let mut state = lock(&self.shared.state);
        state.delete_repo(repo)?;
        let scope = HookScope::Repo(repo.to_owned());
        for hook in self.shared.webhooks.list(&scope) {
            self.shared.webhooks.delete(&scope, hook.id);
            state.hook_descriptions.remove(&hook.id);
        }
        Ok(())
    }

    /// Adds `login` to the group `team` (a scenario team slug).
    pub fn add_team_member(&self, team: &str, login: &str) -> Result<(), SimError> {
        lock(&self.shared.state).set_group_member(team, login, true)
    }

    pub fn remove_team_member(&self, team: &str, login: &str) -> Result<(), SimError> {
        lock(&self.shared.state).set_group_member(team, login, false)
    }

    /// Stops accepting requests and waits for the server task to end.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// The headers Bitbucket Cloud sends with an `event` delivery: the event,
/// the delivery's and the hook's UUIDs, and the body's HMAC when the hook
/// has a secret.
fn delivery_headers(event: &'static str) -> impl Fn(&Hook, &str, &[u8]) -> Vec<(String, String)> {
    move |hook, delivery, body| {
        let mut headers = vec![
            ("X-Event-Key".to_owned(), event.to_owned()),
            ("X-Request-UUID".to_owned(), delivery.to_owned()),
            (
                "X-Hook-UUID".to_owned(),
                json::hook_uuid(hook.id).trim_matches(['{', '}']).to_owned(),
            ),
            ("X-Attempt-Number".to_owned(), "1".to_owned()),
            ("User-Agent".to_owned(), "Bitbucket-Webhooks/2.0".to_owned()),
        ];
        if let Some(secret) = &hook.secret {
            headers.push(("X-Hub-Signature".to_owned(), hub_signature(secret, body)));
        }
        headers
    }
}
