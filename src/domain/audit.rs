//! What admins did: one entry per change made through the admin API.

use super::Timestamp;
use serde::{Deserialize, Serialize};

/// One admin action, kept append-only in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// Who: the OS user (`uid 1000`) that ran the command in this process
    /// or connected to the daemon's admin socket.
    pub actor: String,
    /// Where from: `admin socket` or `this process`.
    pub via: String,
    /// What, in words: "revoked token 1a2b3c (ci)".
    pub action: String,
}
