//! The on-disk dist cache: `<data_dir>/dists/<vendor>/<name>/<commit>.zip`.
//!
//! Archives are keyed by commit, which is immutable, so a cached file is
//! served for ever and its bytes never change: the `shasum` Composer checks
//! is the SHA-1 of exactly this file (upstream zipballs are not guaranteed to
//! be byte-identical between downloads, COMPOSER-PROTOCOL.md §4).
//! Concurrent requests for one archive fetch it from the code host once.

use crate::domain::{Package, PackageName, Timestamp};
use crate::store::{DistInfo, Store, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Where archives come from. The engine implements it over the package's
/// code host provider, with the origin sync's credentials.
#[async_trait]
pub trait ArchiveSource: Send + Sync {
    /// The zip archive of `package` at `commit`. The error is shown to the
    /// Composer user and already names the host.
    async fn fetch_archive(&self, package: &Package, commit: &str) -> Result<Bytes, String>;
}

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("not a commit id: expected 7 to 64 hexadecimal characters")]
    InvalidCommit,
    #[error("could not download the archive of {package} at {commit}: {reason}")]
    Fetch {
        package: PackageName,
        commit: String,
        reason: String,
    },
    #[error(
        "the code host returned something that is not a zip archive for {package} at {commit} ({reason})"
    )]
    NotZip {
        package: PackageName,
        commit: String,
        reason: String,
    },
    #[error("cannot use the dist cache file {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("dist cache task failed: {0}")]
    Task(String),
}

impl DistError {
    /// True when the code host, not packyard, failed: the archive could not
    /// be fetched or was not a zip.
    pub fn is_upstream(&self) -> bool {
        matches!(self, DistError::Fetch { .. } | DistError::NotZip { .. })
    }
}

type Key = (PackageName, String);

/// The dist cache. Cheap to clone; clones share the in-flight table.
#[derive(Clone)]
pub struct DistCache {
    root: PathBuf,
    store: Store,
    /// One lock per archive being looked up, so that concurrent requests for
    /// the same archive wait for the first one instead of fetching again.
    in_flight: Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>,
}

impl DistCache {
    pub fn new(data_dir: &Path, store: Store) -> Self {
        Self {
            root: data_dir.join("dists"),
            store,
            in_flight: Arc::default(),
        }
    }

    /// Where the archive of `name` at `commit` is kept.
    pub fn path_for(&self, name: &PackageName, commit: &str) -> PathBuf {
        self.root
            .join(name.vendor())
            .join(name.project())
            .join(format!("{commit}.zip"))
    }

    /// The cached archive of `package` at `commit`, fetching it through
    /// `source` first if it is not on disk yet.
    pub async fn get_or_fetch(
        &self,
        package: &Package,
        commit: &str,
        source: &dyn ArchiveSource,
    ) -> Result<(PathBuf, DistInfo), DistError> {
        // Checked before the commit becomes part of a path.
        validate_commit(commit)?;
        let flight = Flight::join(self, (package.name.clone(), commit.to_owned()));
        let _turn = flight.slot.lock().await;
        let path = self.path_for(&package.name, commit);
        let (store, name, at) = (self.store.clone(), package.name.clone(), path.clone());
        let key = commit.to_owned();
        if let Some(info) = blocking(move || load_cached(&store, &name, &key, &at)).await? {
            return Ok((path, info));
        }
        let bytes = source
            .fetch_archive(package, commit)
            .await
            .map_err(|reason| DistError::Fetch {
                package: package.name.clone(),
                commit: commit.to_owned(),
                reason,
            })?;
        let (store, name, at) = (self.store.clone(), package.name.clone(), path.clone());
        let key = commit.to_owned();
        let info = blocking(move || {
            check_zip(&bytes).map_err(|reason| DistError::NotZip {
                package: name.clone(),
                commit: key.clone(),
                reason,
            })?;
            let info = write_atomically(&at, &bytes)?;
            store.apply_dist(&name, &key, &info, Timestamp::now())?;
            Ok(info)
        })
        .await?;
        Ok((path, info))
    }
}

/// Membership in the in-flight table for one key. Leaving (also when the
/// request is cancelled) removes the entry once nobody else holds it.
struct Flight<'a> {
    cache: &'a DistCache,
    key: Key,
    slot: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> Flight<'a> {
    fn join(cache: &'a DistCache, key: Key) -> Self {
        // The table only maps keys to locks, so it is consistent even after a
        // panic elsewhere; poisoning carries no information here.
        let mut table = cache
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = table.entry(key.clone()).or_default().clone();
        Self { cache, key, slot }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut table = self
            .cache
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Clones are only made under the table lock, so the count is stable
        // here: 2 means the table's copy and ours.
        if Arc::strong_count(&self.slot) == 2 {
            table.remove(&self.key);
        }
    }
}

/// Commit ids are hex SHA-1 (40) or SHA-256 (64), possibly abbreviated.
pub fn validate_commit(commit: &str) -> Result<(), DistError> {
    let ok = (7..=64).contains(&commit.len()) && commit.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(DistError::InvalidCommit)
    }
}

/// The recorded info of an archive already on disk. A file without a record
/// (or with a record of another size) is hashed again, so the shasum always
/// describes the bytes that are served.
fn load_cached(
    store: &Store,
    name: &PackageName,
    commit: &str,
    path: &Path,
) -> Result<Option<DistInfo>, DistError> {
    let io = |source| DistError::Io {
        path: path.to_owned(),
        source,
    };
    let size = match std::fs::metadata(path) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if let Some(info) = store.load_dist(name, commit)?
        && info.size == size
    {
        return Ok(Some(info));
    }
    let info = describe(&std::fs::read(path).map_err(io)?);
    store.apply_dist(name, commit, &info, Timestamp::now())?;
    Ok(Some(info))
}

/// Opens the archive and reads every entry header, which rejects HTML error
/// pages, truncated downloads and other non-zip bodies.
fn check_zip(bytes: &[u8]) -> Result<(), String> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
    for i in 0..archive.len() {
        archive.by_index_raw(i).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Writes to a temporary file in the same directory and renames it, so a
/// reader never sees a partial archive, even across a crash.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<DistInfo, DistError> {
    let io = |source| DistError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut temp = path.to_owned();
    temp.set_extension("zip.partial");
    let mut file = std::fs::File::create(&temp).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)?;
    Ok(describe(bytes))
}

fn describe(bytes: &[u8]) -> DistInfo {
    use sha1::Digest;
    DistInfo {
        sha1: hex::encode(sha1::Sha1::digest(bytes)),
        size: bytes.len() as u64,
    }
}

/// Runs file system and sled work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, DistError> + Send + 'static,
) -> Result<T, DistError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DistError::Task(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_is_rejected_when_not_plain_hex() {
        for bad in [
            "",
            "abc12",
            "../../etc/passwd",
            "abcdef0/..",
            "abcdefg",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
            "abcdef0\0",
        ] {
            assert!(validate_commit(bad).is_err(), "{bad:?}");
        }
        for ok in ["abcdef0", "0123456789abcdef0123456789abcdef01234567"] {
            assert!(validate_commit(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn zip_check_fails_when_body_is_not_a_zip() {
        assert!(check_zip(b"<html>Sign in</html>").is_err());
        assert!(check_zip(b"").is_err());
        assert!(check_zip(b"PK\x03\x04truncated").is_err());
    }

    #[test]
    fn archive_is_written_whole_when_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/0123456.zip");
        let info = write_atomically(&path, b"bytes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"bytes");
        assert_eq!(info.size, 5);
        assert_eq!(info.sha1, "daf529a73101c2be626b99fc6938163e7a27620b");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("0123456.zip")]);
    }
}
