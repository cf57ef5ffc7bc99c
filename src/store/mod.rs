//! The only owner of sled. Everything packyard keeps lives here, in typed
//! trees, and a sync run's changes land in one atomic transaction.
//!
//! # Layout
//! - `meta`: schema version and the store revision (bumped by every apply)
//! - `syncs`, `credentials`: sync records and their secrets (apart, so listing
//!   syncs never reads a secret; secrets sealed, see [`keyring`])
//! - `teams`, `identities`, `packages`, `versions`, `package_mtime`: synced state
//! - `users`: people, each owning identities on one or more syncs
//! - `tokens`: Composer tokens by SHA-256 hash
//! - `etags`, `manifests`, `refs`: provider caches; `missing_seen`: when a
//!   commit was first found without composer.json (a "missing" is cached
//!   only once it is old enough to trust)
//! - `dists`: what is known of each archive in the dist store; `published`:
//!   every commit that was ever a version of a package (its dist stays
//!   downloadable); `removals`: packages an admin removed, by repository
//! - `hook_secrets`: each sync's webhook secret, sealed (its installed hooks
//!   are on the sync record, like its last run)
//! - `hook_queue`, `hook_deliveries`, `hook_delivery_log`: refreshes webhooks
//!   asked for, and the delivery ids already seen
//! - `audit`: admin actions, append-only, by a sequence number
//!
//! Values are JSON: small, debuggable with any sled dump, and serde already
//! describes every record. Secrets are the exception: sealed with a key kept
//! outside the store ([`keyring`]). `store.lock` in the data dir is held
//! while a store is open, so one process owns a data dir at a time, and the
//! data dir is made private ([`permissions`]) each time it is opened.

mod audit;
mod caches;
mod changes;
mod hooks;
pub mod keyring;
pub mod permissions;
mod published;
mod rewrite;
mod state;
mod syncs;
mod tokens;

pub use caches::{DistInfo, EtagEntry};
pub use changes::{ChangeFeed, Changed};
pub use hooks::{Enqueued, REMEMBERED_DELIVERIES};
pub use keyring::{KeyError, KeySource};
pub use published::Published;
pub use tokens::token_hash;

use keyring::{Key, Keyring};
use serde::{Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

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
    #[error(transparent)]
    Key(#[from] keyring::KeyError),
    #[error(transparent)]
    Permissions(#[from] permissions::PermissionError),
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
    keyring: Arc<Keyring>,
    /// Held (flock) while any clone lives.
    _lock: Arc<std::fs::File>,
    /// The data dir the store lives in; the dist store sits beside it.
    dir: PathBuf,
    /// What commits touched, for the published catalog.
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
    missing_seen: sled::Tree,
    dists: sled::Tree,
    published: sled::Tree,
    removals: sled::Tree,
    hook_secrets: sled::Tree,
    hook_queue: sled::Tree,
    hook_deliveries: sled::Tree,
    hook_delivery_log: sled::Tree,
    audit: sled::Tree,
}

/// sled's page cache, see `open_db`.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

const SCHEMA_KEY: &[u8] = b"schema";
const REVISION_KEY: &[u8] = b"revision";
const CATALOG_MTIME_KEY: &[u8] = b"catalog_mtime";

impl Store {
    /// Opens (creating if needed) the store in `dir/store`, with the key
    /// [`KeySource::from_env`] finds.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_key(dir, &KeySource::from_env(dir))
    }

    /// Opens the store with the key from `source`. Makes the data dir
    /// private, finishes an interrupted rewrite or rotation, and seals any
    /// secret still stored in plaintext (by an older packyard).
    pub fn open_with_key(dir: &Path, source: &KeySource) -> Result<Self, StoreError> {
        let lock = lock(dir)?;
        rewrite::recover(dir).map_err(|source| StoreError::NotWritable {
            dir: dir.to_owned(),
            source,
        })?;
        let current = source.load_or_create()?;
        let pending = keyring::read_existing(&source.pending_path())?;
        let mut db = open_db(dir)?;
        // A rotation that swapped the store in but had not yet renamed its
        // key leaves the new key pending: the store's secrets name it.
        let rotated = match &pending {
            Some(next) => rewrite::uses(&db, next)?,
            None => false,
        };
        let ring = Keyring { current, pending };
        let target = if rotated {
            ring.pending.as_ref().unwrap_or(&ring.current)
        } else {
            &ring.current
        };
        if rewrite::needed(&db, target)? {
            tracing::info!(dir = %dir.display(), "sealing the stored secrets with the store key");
            rewrite::rewrite(db, dir, &ring, target)?;
            db = open_db(dir)?;
        }
        let ring = match (rotated, ring.pending) {
            (true, Some(next)) => {
                std::fs::rename(source.pending_path(), source.path()).map_err(|source_err| {
                    KeyError::Write {
                        path: source.path().to_owned(),
                        source: source_err,
                    }
                })?;
                Keyring {
                    current: next,
                    pending: None,
                }
            }
            (_, pending) => {
                if pending.is_some() {
                    // A rotation that never swapped its copy in.
                    let _ = std::fs::remove_file(source.pending_path());
                }
                Keyring {
                    current: ring.current,
                    pending: None,
                }
            }
        };
        // Last, so that it covers what opening created (sled's own files
        // get the process umask's modes).
        let changed = permissions::make_private(dir, permissions::OWNED)?;
        if changed > 0 {
            tracing::info!(dir = %dir.display(), changed, "made the data directory private: 0700 for directories, 0600 for files");
        }
        Self::from_db(dir, db, ring, lock)
    }

    fn from_db(
        dir: &Path,
        db: sled::Db,
        keyring: Keyring,
        lock: std::fs::File,
    ) -> Result<Self, StoreError> {
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
            missing_seen: tree("missing_seen")?,
            dists: tree("dists")?,
            published: tree("published")?,
            removals: tree("removals")?,
            hook_secrets: tree("hook_secrets")?,
            hook_queue: tree("hook_queue")?,
            hook_deliveries: tree("hook_deliveries")?,
            hook_delivery_log: tree("hook_delivery_log")?,
            audit: tree("audit")?,
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
        let store = Self {
            db,
            trees,
            keyring: Arc::new(keyring),
            _lock: Arc::new(lock),
            dir: dir.to_owned(),
            changes: ChangeFeed::default(),
        };
        store.backfill_published()?;
        Ok(store)
    }

    /// The data dir this store was opened in.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Seals every stored secret with a new key, written to the key file;
    /// the old key no longer opens anything in the store. Needs the data dir
    /// to itself (stop `packyard serve` first). Returns the new key's id.
    pub fn rotate_key(dir: &Path, source: &KeySource) -> Result<String, StoreError> {
        if let KeySource::Credential(path) = source {
            return Err(KeyError::ReadOnly { path: path.clone() }.into());
        }
        let (next, _lock) =
            Self::open_with_key(dir, source)?.reseal_with_pending_key(dir, source)?;
        std::fs::rename(source.pending_path(), source.path()).map_err(|e| KeyError::Write {
            path: source.path().to_owned(),
            source: e,
        })?;
        permissions::make_private(dir, permissions::OWNED)?;
        tracing::info!(key = %next.id_hex(), "rotated the store key");
        Ok(next.id_hex())
    }

    /// The first half of a rotation: a new key written as pending, and the
    /// store rewritten with it. The data dir stays locked while the returned
    /// lock lives; until the pending key is renamed, [`Store::open_with_key`]
    /// finishes the rotation.
    fn reseal_with_pending_key(
        self,
        dir: &Path,
        source: &KeySource,
    ) -> Result<(Key, Arc<std::fs::File>), StoreError> {
        let next = Key::generate()?;
        next.write_to(&source.pending_path())?;
        let Store {
            db,
            trees,
            keyring,
            _lock,
            dir: _,
            changes: _,
        } = self;
        drop(trees);
        rewrite::rewrite(db, dir, &keyring, &next)?;
        Ok((next, _lock))
    }

    /// Seals `value` for record `k` of the secret tree `tree`.
    fn seal<T: Serialize>(
        &self,
        tree: &'static str,
        k: &[u8],
        value: &T,
    ) -> Result<Vec<u8>, StoreError> {
        let plain = Zeroizing::new(encode(tree, k, value)?);
        Ok(self.keyring.current.seal(tree, k, &plain)?)
    }

    /// Opens what [`Store::seal`] stored.
    fn unseal<T: DeserializeOwned>(
        &self,
        tree: &'static str,
        k: &[u8],
        raw: &[u8],
    ) -> Result<T, StoreError> {
        match self.keyring.open(tree, k, raw)? {
            Some(plain) => decode(tree, k, &plain),
            None => decode(tree, k, raw),
        }
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

/// Takes `dir/store.lock`, creating the data dir if needed.
fn lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    let not_writable = |source| StoreError::NotWritable {
        dir: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(not_writable)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("store.lock"))
        .map_err(not_writable)?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(StoreError::Locked {
            dir: dir.to_owned(),
        }),
        Err(e) => Err(not_writable(e.into())),
    }
}

/// sled releases its own directory lock from a background thread once the
/// last handle is gone, so a store closed a moment ago (a restart, a reopen
/// in the same process, a rewrite) can still look locked: the lock is asked
/// for a little longer before "in use by another process" is believed.
fn open_db(dir: &Path) -> Result<sled::Db, StoreError> {
    const TRIES: u32 = 20;
    let mut tries = 1;
    let opened = loop {
        // Requests are answered from the published catalog, not from sled,
        // so sled's page cache (1 GiB by default) only serves syncs and
        // catalog rebuilds; a small one keeps the daemon's memory to the
        // catalog itself.
        let config = sled::Config::new()
            .path(dir.join("store"))
            .cache_capacity(CACHE_BYTES);
        match config.open() {
            Err(sled::Error::Io(io)) if is_lock_error(&io) && tries < TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => break other,
        }
    };
    opened.map_err(|e| match e {
        sled::Error::Io(io) if is_lock_error(&io) => StoreError::Locked {
            dir: dir.to_owned(),
        },
        sled::Error::Io(io) => StoreError::NotWritable {
            dir: dir.to_owned(),
            source: io,
        },
        other => StoreError::Sled(other),
    })
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
