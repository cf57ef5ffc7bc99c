//! The dist store: `<data_dir>/dists/<vendor>/<name>/<commit>.zip`.
//!
//! Archives are keyed by commit, which is immutable, so a stored file is
//! served for ever and its bytes never change: the `shasum` Composer checks
//! is the SHA-1 of exactly this file (upstream zipballs are not guaranteed to
//! be byte-identical between downloads, COMPOSER-PROTOCOL.md §4). Every
//! commit that was once a version stays downloadable, so a composer.lock
//! installs after its tag moved or the host is down; the engine prefetches
//! new versions and sweeps what retention no longer keeps.
//! An archive is checked before it is kept (a zip whose central directory
//! reads, no entry outside the package directory, sizes within limits) and
//! written atomically. Concurrent requests for one archive fetch it from the
//! code host once, and a global limit bounds downloads in flight.

use crate::domain::{Package, PackageName, Timestamp};
use crate::store::{DistInfo, Store, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// Downloads from code hosts in flight at once, over every package.
const DOWNLOADS: usize = 8;

/// The unpacked size of one archive at most, against zip bombs.
const MAX_UNPACKED_BYTES: u64 = 4 * 1024 * 1024 * 1024;

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
        "the code host returned an archive for {package} at {commit} that packyard refuses to serve: {reason}"
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
    downloads: Arc<tokio::sync::Semaphore>,
}

impl DistCache {
    /// The dist store beside `store`, in its data dir.
    pub fn new(store: Store) -> Self {
        Self {
            root: store.data_dir().join("dists"),
            store,
            in_flight: Arc::default(),
            downloads: Arc::new(tokio::sync::Semaphore::new(DOWNLOADS)),
        }
    }

    /// Whether the archive of `name` at `commit` is stored already.
    pub fn has(&self, name: &PackageName, commit: &str) -> Result<bool, StoreError> {
        Ok(self.store.load_dist(name, commit)?.is_some() && self.path_for(name, commit).exists())
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
        let bytes = {
            // The semaphore is never closed, so acquiring cannot fail.
            let _download = self.downloads.acquire().await.ok();
            source
                .fetch_archive(package, commit)
                .await
                .map_err(|reason| DistError::Fetch {
                    package: package.name.clone(),
                    commit: commit.to_owned(),
                    reason,
                })?
        };
        let (store, name, at) = (self.store.clone(), package.name.clone(), path.clone());
        let key = commit.to_owned();
        let info = blocking(move || {
            let info = write_checked(&at, &bytes).map_err(|e| match e {
                Written::Refused(reason) => {
                    tracing::warn!(package = %name, commit = %key, %reason, "refused the archive the code host sent; it is not stored or served");
                    DistError::NotZip {
                        package: name.clone(),
                        commit: key.clone(),
                        reason,
                    }
                }
                Written::Io(e) => e,
            })?;
            store.apply_dist(&name, &key, &info, Timestamp::now())?;
            Ok(info)
        })
        .await?;
        Ok((path, info))
    }

    /// Deletes the stored archive of `name` at `commit`, whose retention ended.
    pub fn remove(&self, name: &PackageName, commit: &str) -> Result<(), DistError> {
        let path = self.path_for(name, commit);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(DistError::Io { path, source }),
        }
        self.store.apply_unpublished(name, commit)?;
        Ok(())
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

/// Why an archive was not written.
enum Written {
    /// The archive is unusable or unsafe; the reason is for the admin.
    Refused(String),
    Io(DistError),
}

/// Checks the archive, then writes it to a temporary file in the same
/// directory, syncs it, renames it into place and syncs the directory, so a
/// reader never sees a partial archive, even across a crash.
fn write_checked(path: &Path, bytes: &[u8]) -> Result<DistInfo, Written> {
    check_archive(bytes).map_err(Written::Refused)?;
    let io = |source| {
        Written::Io(DistError::Io {
            path: path.to_owned(),
            source,
        })
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut temp = tempfile::Builder::new()
        .prefix(".partial-")
        .tempfile_in(dir)
        .map_err(io)?;
    temp.write_all(bytes).map_err(io)?;
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(describe(bytes))
}

/// A zip whose central directory and every entry header read (which rejects
/// HTML error pages and truncated downloads), with no entry that would land
/// outside the package directory (absolute paths, `..`) and an unpacked
/// size within [`MAX_UNPACKED_BYTES`].
fn check_archive(bytes: &[u8]) -> Result<(), String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| format!("not a readable zip archive ({e})"))?;
    let mut unpacked: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| format!("zip entry {i} is unreadable ({e})"))?;
        // `enclosed_name` rejects `..` escapes but strips a leading root,
        // so absolute names are refused here first.
        let raw = entry.name_raw();
        let absolute = matches!(raw.first(), Some(b'/' | b'\\'))
            || matches!(raw, [drive, b':', ..] if drive.is_ascii_alphabetic());
        if absolute || entry.enclosed_name().is_none() {
            return Err(format!(
                "zip entry {:?} would be unpacked outside the package directory",
                String::from_utf8_lossy(raw)
            ));
        }
        unpacked = unpacked.saturating_add(entry.size());
        if unpacked > MAX_UNPACKED_BYTES {
            return Err(format!(
                "the archive unpacks to more than {MAX_UNPACKED_BYTES} bytes"
            ));
        }
    }
    Ok(())
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

    /// A zip holding `names`, each with a few bytes.
    fn zip_of(names: &[&str]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for name in names {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(b"<?php\n").unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn archive_is_refused_when_not_a_zip_or_truncated() {
        assert!(check_archive(b"<html>Sign in</html>").is_err());
        assert!(check_archive(b"").is_err());
        assert!(check_archive(b"PK\x03\x04truncated").is_err());
        let zip = zip_of(&["acme-log-abc/src/Log.php"]);
        assert!(check_archive(&zip).is_ok());
        assert!(check_archive(&zip[..zip.len() - 10]).is_err());
    }

    #[test]
    fn archive_is_refused_when_an_entry_would_land_outside_the_package() {
        for evil in [
            "../../etc/cron.d/x",
            "/etc/passwd",
            "acme/../../x.php",
            "C:/Windows/x.php",
            "\\\\server\\share\\x.php",
        ] {
            let reason = check_archive(&zip_of(&["acme/ok.php", evil])).unwrap_err();
            assert!(
                reason.contains("outside the package directory"),
                "{evil}: {reason}"
            );
        }
    }

    #[test]
    fn archive_is_written_whole_and_refused_archives_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/0123456.zip");
        let zip = zip_of(&["x/a.php"]);
        let info = write_checked(&path, &zip).unwrap_or_else(|_| panic!("written"));
        assert_eq!(std::fs::read(&path).unwrap(), zip);
        assert_eq!(info.size, zip.len() as u64);
        assert_eq!(info, describe(&zip));
        let refused = dir.path().join("a/b/fedcba9.zip");
        assert!(matches!(
            write_checked(&refused, &zip_of(&["../x.php"])),
            Err(Written::Refused(_))
        ));
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("0123456.zip")]);
    }
}
