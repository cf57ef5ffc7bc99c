//! The only owner of sled. Everything packyard keeps lives here, in typed
//! trees, and a sync run's changes land in one atomic transaction.
//!
//! # Layout
//! - `meta`: schema version and the store revision (bumped by every apply)
//! - `syncs`, `credentials`: sync records and their secrets (apart, so listing
//!   syncs never reads a secret)
//! - `teams`, `identities`, `packages`, `versions`, `package_mtime`: synced state
//! - `users`: people, each owning identities on one or more syncs
//! - `tokens`: Composer tokens by SHA-256 hash
//! - `etags`, `manifests`, `refs`, `dists`: provider and dist caches
//! - `hook_secrets`: each sync's webhook secret (its installed hooks are on
//!   the sync record, like its last run)
//! - `hook_queue`, `hook_deliveries`, `hook_delivery_log`: refreshes webhooks
//!   asked for, and the delivery ids already seen
//!
//! Values are JSON: small, debuggable with any sled dump, and serde already
//! describes every record. sled holds an exclusive lock on the directory, so
//! one process owns a data dir at a time.

mod caches;
mod changes;
mod hooks;
mod state;
mod syncs;
mod tokens;

pub use caches::{DistInfo, EtagEntry};
pub use changes::{ChangeFeed, Changed};
pub use hooks::{Enqueued, REMEMBERED_DELIVERIES};
pub use tokens::token_hash;

use serde::{Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};

/// Bumped when the on-disk layout changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the data directory {} is in use by another packyard process (usually `packyard serve`). Run this command where that process runs, or stop it first",
        .dir.display()
    )]
    Locked { dir: PathBuf },
    #[error("cannot open the data directory {}: {source}. Check that it exists and that this user may write to it", .dir.display())]
    NotWritable {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the data directory {} holds store schema {found}, but this packyard uses schema {expected}. Use the packyard version that created it, or move the directory aside to start fresh",
        .dir.display()
    )]
    SchemaMismatch {
        dir: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("stored {tree} record {key:?} is unreadable: {reason}")]
    Corrupt {
        tree: &'static str,
        key: String,
        reason: String,
    },
    #[error("a synchronization named {0:?} already exists")]
    SyncExists(String),
    #[error("no synchronization named {0:?}. `packyard sync list` shows the configured ones")]
    NoSuchSync(String),
    #[error(
        "the store changed while this run was planning (revision {expected} became {found}); the run will be retried"
    )]
    Conflict { expected: u64, found: u64 },
    #[error("store error: {0}")]
    Sled(#[from] sled::Error),
}

/// A transaction fails with what its closure aborted with, or with sled.
impl From<sled::transaction::TransactionError<StoreError>> for StoreError {
    fn from(e: sled::transaction::TransactionError<StoreError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

impl StoreError {
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Locked { .. })
    }
}

/// Handle to the store. Cheap to clone; every clone shares one sled database.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    trees: Trees,
    changes: ChangeFeed,
}

#[derive(Clone)]
struct Trees {
    meta: sled::Tree,
    syncs: sled::Tree,
    credentials: sled::Tree,
    teams: sled::Tree,
    identities: sled::Tree,
    packages: sled::Tree,
    versions: sled::Tree,
    package_mtime: sled::Tree,
    tokens: sled::Tree,
    users: sled::Tree,
    etags: sled::Tree,
    manifests: sled::Tree,
    refs: sled::Tree,
    dists: sled::Tree,
    hook_secrets: sled::Tree,
    hook_queue: sled::Tree,
    hook_deliveries: sled::Tree,
    hook_delivery_log: sled::Tree,
}

/// sled's page cache, see [`Store::open`].
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

const SCHEMA_KEY: &[u8] = b"schema";
const REVISION_KEY: &[u8] = b"revision";
const CATALOG_MTIME_KEY: &[u8] = b"catalog_mtime";

impl Store {
    /// Opens (creating if needed) the store in `dir/store`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("store");
        std::fs::create_dir_all(&path).map_err(|source| StoreError::NotWritable {
            dir: dir.to_owned(),
            source,
        })?;
        let db = sled::Config::new()
            .path(&path)
            // Requests are answered from the published catalog, not from
            // sled, so sled's page cache (1 GiB by default) only serves syncs
            // and catalog rebuilds; a small one keeps the daemon's memory
            // to the catalog itself.
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(io) if is_lock_error(&io) => StoreError::Locked {
                    dir: dir.to_owned(),
                },
                sled::Error::Io(io) => StoreError::NotWritable {
                    dir: dir.to_owned(),
                    source: io,
                },
                other => StoreError::Sled(other),
            })?;
        let tree = |name: &str| db.open_tree(name);
        let trees = Trees {
            meta: tree("meta")?,
            syncs: tree("syncs")?,
            credentials: tree("credentials")?,
            teams: tree("teams")?,
            identities: tree("identities")?,
            packages: tree("packages")?,
            versions: tree("versions")?,
            package_mtime: tree("package_mtime")?,
            tokens: tree("tokens")?,
            users: tree("users")?,
            etags: tree("etags")?,
            manifests: tree("manifests")?,
            refs: tree("refs")?,
            dists: tree("dists")?,
            hook_secrets: tree("hook_secrets")?,
            hook_queue: tree("hook_queue")?,
            hook_deliveries: tree("hook_deliveries")?,
            hook_delivery_log: tree("hook_delivery_log")?,
        };
        match trees.meta.get(SCHEMA_KEY)? {
            None => {
                trees
                    .meta
                    .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(raw) => {
                let found = raw.as_ref().try_into().map(u32::from_be_bytes).unwrap_or(0);
                if found != SCHEMA_VERSION {
                    return Err(StoreError::SchemaMismatch {
                        dir: dir.to_owned(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
        }
        Ok(Self {
            db,
            trees,
            changes: ChangeFeed::default(),
        })
    }

    /// Monotonic counter of applied plans; also used to detect concurrent writers.
    pub fn revision(&self) -> Result<u64, StoreError> {
        Ok(read_u64(self.trees.meta.get(REVISION_KEY)?))
    }

    /// Makes every write so far durable. sled flushes in the background every
    /// 500 ms; callers flush after a plan so that a crash right after a
    /// finished run loses nothing.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

fn is_lock_error(err: &std::io::Error) -> bool {
    err.kind() == std::io::ErrorKind::WouldBlock || err.to_string().contains("lock")
}

fn read_u64(raw: Option<sled::IVec>) -> u64 {
    raw.and_then(|v| v.as_ref().try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

fn encode<T: Serialize>(tree: &'static str, key: &[u8], value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(
    tree: &'static str,
    key: &[u8],
    raw: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(raw).map_err(|e| StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        reason: e.to_string(),
    })
}

/// Decodes every value of a scan, optionally restricted to a key prefix.
fn scan<T: DeserializeOwned>(
    tree: &sled::Tree,
    name: &'static str,
    prefix: &[u8],
) -> Result<Vec<T>, StoreError> {
    tree.scan_prefix(prefix)
        .map(|item| {
            let (k, v) = item?;
            decode(name, &k, &v)
        })
        .collect()
}

/// Joins key parts with NUL, which appears in no id, name or version.
fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

/// The prefix that selects every key starting with `parts`.
fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut k = key(parts);
    k.push(0);
    k
}

#[cfg(test)]
mod tests;
