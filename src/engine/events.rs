//! Events the engine broadcasts. Several clients (CLI progress bar, TUI,
//! attached admins) may listen at once; each gets every event.

use crate::domain::{Conflict, PlanSummary, RunSummary, SyncId};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EngineEvent {
    SyncStarted {
        sync: SyncId,
    },
    /// Progress within a phase of the snapshot ("teams", "repositories", …).
    PhaseChanged {
        sync: SyncId,
        phase: String,
        done: u64,
        total: u64,
    },
    /// The run's plan was committed to the store.
    PlanApplied {
        sync: SyncId,
        revision: u64,
    },
    SyncFinished {
        sync: SyncId,
        summary: RunSummary,
    },
    SyncFailed {
        sync: SyncId,
        error: String,
    },
    /// Webhook deliveries refreshed part of a sync: `scope` names the
    /// repositories and teams read again.
    HookRefreshed {
        sync: SyncId,
        scope: Vec<String>,
        changes: PlanSummary,
        /// Repositories that declared a name another repository owns.
        #[serde(default)]
        conflicts: Vec<Conflict>,
    },
    /// The engine never sends this: a transport between the engine and a
    /// client (the admin socket) dropped `missed` events because the client
    /// read too slowly. The client should reload its state.
    EventsMissed {
        missed: u64,
    },
}
