//! Plain data types and the rules that need no I/O.
//!
//! Everything else in the crate speaks in these types: providers produce a
//! [`RemoteSnapshot`], the engine plans a [`Plan`], the store persists
//! [`Team`], [`Package`], [`Version`], … and the server reads them back.
//! Nothing in here does I/O or awaits, so the rules can be unit- and
//! property-tested directly.

mod access;
mod audit;
mod budget;
mod hooks;
mod ids;
mod plan;
mod records;
mod secret;
mod snapshot;
mod sync;
mod token_secret;
pub mod version;

pub use access::{Directory, access_for, may_install};
pub use audit::AuditEntry;
pub use budget::{Headroom, Pause, RunBudget, thousands, until};
pub use hooks::{HookState, HookTarget, HubSigner, InstalledHooks, QueuedTarget, hub_signature};
pub use ids::{IdError, IdentityKey, PackageName, RemoteId, RepoKey, SyncId, TeamKey, UserId};
pub use plan::{Change, Current, Plan, PlanSummary};
pub use records::{
    Abandoned, Access, Conflict, Identity, Package, Permission, Prefetch, Problem, Removal,
    RunSummary, Team, TeamKind, Timestamp, Token, TokenScope, User, Version, VersionKind,
    human_bytes,
};
pub use secret::Secret;
pub use snapshot::{
    Listing, Manifest, RefKind, RemoteAccount, RemoteOrg, RemoteRef, RemoteRepo, RemoteSnapshot,
    RemoteTeam, RepoRefs,
};
pub use sync::{Credential, GithubApi, MAX_RESYNC_MINUTES, ProviderKind, Sync};
pub use token_secret::{TOKEN_PREFIX, TokenShape, token_secret, token_shape};
