//! Simulated code hosts speaking each host's real REST API shape, for the
//! demo, tests and benchmarks. They depend on nothing but `domain` (never on
//! `providers`), so a provider bug cannot hide behind a matching simulator
//! bug.
//!
//! # Scenario TOML
//! ```toml
//! token = "ghp_demo"                 # the only token the simulator accepts
//! [org]
//! login = "acme"
//! name = "Acme Corp"
//!
//! [[members]]
//! login = "alice"
//! email = "alice@acme.test"
//! role = "admin"                     # or "member" (default)
//!
//! [[teams]]
//! slug = "platform"
//! name = "Platform"
//! members = ["alice"]
//! repos = { log = "admin", http-client = "push" }   # pull|triage|push|maintain|admin
//!
//! [[repos]]
//! name = "log"
//! default_branch = "main"            # default "main"
//! description = "PSR-3 logger"
//! branches = ["1.x"]                 # besides the default branch
//! tags = ["v1.0.0", "v0.9.0"]
//! invalid_composer = ["v0.9.0"]      # broken JSON at these refs
//! composer = { name = "acme/log", require = { php = ">=8.1" } }   # absent: no composer.json
//! overrides = { "v1.0.0" = { require = { php = ">=7.4" } } }      # per-ref top-level keys
//! ```
//! [`Scenario::generated`] builds large organizations for benchmarks.

mod archive;
pub mod bitbucket_cloud;
pub mod bitbucket_server;
pub mod budget;
pub mod faults;
pub mod github;
pub mod gitlab;
mod history;
mod hook_change;
pub mod hosts;
pub mod scenario;
mod server;
pub mod webhooks;

pub use bitbucket_cloud::BitbucketCloudSim;
pub use bitbucket_server::BitbucketServerSim;
pub use budget::{Charged, Limit, SimBudget, SimClock, Standing, Window};
pub use faults::{Faults, SimStats};
pub use github::{GithubSim, SimError};
pub use gitlab::GitlabSim;
pub use hosts::Simulator;
pub use scenario::{
    GeneratedSpec, MemberSpec, OrgRole, OrgSpec, RepoRole, RepoSpec, Scenario, ScenarioError,
    TeamSpec,
};

/// Locks simulator state. A test that panicked while holding the lock must
/// not take the simulator down for the others, so poisoning is ignored.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
