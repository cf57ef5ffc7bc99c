//! Token last use, written in batches: a request only notes it in memory
//! (see `TokenEntry::record_use`), and this writes what was noted once a
//! minute and at shutdown, so Composer's many requests per install cost no
//! disk write.

use crate::composer::Catalog;
use crate::store::{Store, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often noted uses are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(60);

/// Writes every use noted since the last flush; returns how many tokens.
/// Blocking sled writes.
pub fn flush_token_use(catalog: &Catalog, store: &Store) -> Result<usize, StoreError> {
    let used = catalog.take_token_use();
    for (token, at) in &used {
        store.apply_token_used(token, *at)?;
    }
    Ok(used.len())
}

/// Flushes every [`FLUSH_EVERY`] until `shutdown`, then once more.
pub(super) async fn flush_periodically(
    catalog: Catalog,
    store: Store,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(FLUSH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = ticks.tick() => false,
        };
        let (catalog, store) = (catalog.clone(), store.clone());
        match tokio::task::spawn_blocking(move || flush_token_use(&catalog, &store)).await {
            Ok(Ok(_)) => {}
            // Bookkeeping only: the uses are lost, access is not affected.
            Ok(Err(e)) => tracing::warn!(error = %e, "could not record token use"),
            Err(e) => tracing::warn!(error = %e, "token use task failed"),
        }
        if last {
            return;
        }
    }
}
