//! Keeps the data directory private: 0700 for it and every directory of
//! packyard's in it, 0600 for every file of packyard's, whatever created
//! them (an admin's `mkdir`, a systemd `StateDirectory=`, sled's default
//! modes, an older packyard). Only the entries packyard owns are touched, so
//! a data dir pointed at a shared directory by mistake keeps the modes of
//! everything else in it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot make {} private (mode {mode:o}): {source}. Give the user packyard runs as ownership of the data directory (`chown -R`)",
    .path.display()
)]
pub struct PermissionError {
    path: PathBuf,
    mode: u32,
    source: std::io::Error,
}

/// What packyard keeps in a data dir (see the README's "Data and logs").
pub const OWNED: &[&str] = &[
    "store",
    "store.key",
    "store.key.new",
    "store.lock",
    "store.rewrite",
    "store.old",
    "dists",
    "logs",
    "packyard.sock",
];

/// Sets `dir` to 0700, and its `owned` entries with everything under them
/// to 0700 (directories) or 0600 (anything else); symbolic links are left
/// alone and not followed. Returns how many paths had to change.
pub fn make_private(dir: &Path, owned: &[&str]) -> Result<usize, PermissionError> {
    let mut changed = usize::from(set_mode(dir, 0o700)?);
    let mut pending: Vec<PathBuf> = owned.iter().map(|name| dir.join(name)).collect();
    while let Some(path) = pending.pop() {
        let error = |mode, source| PermissionError {
            path: path.clone(),
            mode,
            source,
        };
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            // Gone since it was listed (a socket removed, a temp file renamed).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(error(0, e)),
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = if meta.is_dir() { 0o700 } else { 0o600 };
        changed += usize::from(set_mode(&path, mode)?);
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| error(mode, e))? {
                pending.push(entry.map_err(|e| error(mode, e))?.path());
            }
        }
    }
    Ok(changed)
}

/// Sets `path`'s mode; true when it had another.
fn set_mode(path: &Path, mode: u32) -> Result<bool, PermissionError> {
    let error = |source| PermissionError {
        path: path.to_owned(),
        mode,
        source,
    };
    let current = std::fs::metadata(path).map_err(error)?.permissions().mode() & 0o777;
    if current == mode {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(error)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn open_directory_and_files_become_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("store/blobs")).unwrap();
        std::fs::write(data.join("store/db"), "x").unwrap();
        std::fs::write(data.join("store/blobs/1"), "x").unwrap();
        for p in [&data, &data.join("store"), &data.join("store/blobs")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for f in ["store/db", "store/blobs/1"] {
            std::fs::set_permissions(data.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        std::fs::write(data.join("notes.sh"), "x").unwrap();
        std::fs::set_permissions(
            data.join("notes.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        assert_eq!(make_private(&data, OWNED).unwrap(), 5);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("store/blobs")), 0o700);
        assert_eq!(mode(&data.join("store/db")), 0o600);
        assert_eq!(mode(&data.join("store/blobs/1")), 0o600);
        assert_eq!(
            mode(&data.join("notes.sh")),
            0o755,
            "not packyard's, not touched"
        );
        assert_eq!(
            make_private(&data, OWNED).unwrap(),
            0,
            "a second pass changes nothing"
        );
    }

    #[test]
    fn symlink_target_outside_is_not_touched() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, "x").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::symlink(&outside, data.join("store.key")).unwrap();
        make_private(&data, OWNED).unwrap();
        assert_eq!(mode(&outside), 0o644);
    }
}
