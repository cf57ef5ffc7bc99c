//! The audit log: admin actions, appended under an increasing sequence
//! number and never rewritten or removed by packyard.

use super::{Store, StoreError, decode, encode};
use crate::domain::AuditEntry;

impl Store {
    /// Appends `entry`; durable on return.
    pub fn apply_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        // Big-endian, so key order is the order of the actions.
        let k = self.db.generate_id()?.to_be_bytes();
        self.trees.audit.insert(k, encode("audit", &k, entry)?)?;
        self.flush()
    }

    /// The last `limit` entries, oldest first.
    pub fn load_audit(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries = self
            .trees
            .audit
            .iter()
            .rev()
            .take(limit)
            .map(|item| {
                let (k, v) = item?;
                decode("audit", &k, &v)
            })
            .collect::<Result<Vec<AuditEntry>, StoreError>>()?;
        entries.reverse();
        Ok(entries)
    }
}
