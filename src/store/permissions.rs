//! Keeps the data directory private: 0700 for it and every directory in it,
//! 0600 for every file, whatever created them (an admin's `mkdir`, a
//! systemd `StateDirectory=`, sled's default modes, an older packyard).

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

/// Sets `dir` and everything under it to 0700 (directories) or 0600
/// (anything else); symbolic links are left alone and not followed.
/// Returns how many paths had to change.
pub fn make_private(dir: &Path) -> Result<usize, PermissionError> {
    let mut changed = 0;
    let mut pending = vec![dir.to_owned()];
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
        if meta.permissions().mode() & 0o777 != mode {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| error(mode, e))?;
            changed += 1;
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(|e| error(mode, e))? {
                pending.push(entry.map_err(|e| error(mode, e))?.path());
            }
        }
    }
    Ok(changed)
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
        assert_eq!(make_private(&data).unwrap(), 5);
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("store/blobs")), 0o700);
        assert_eq!(mode(&data.join("store/db")), 0o600);
        assert_eq!(mode(&data.join("store/blobs/1")), 0o600);
        assert_eq!(
            make_private(&data).unwrap(),
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
        std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();
        make_private(&data).unwrap();
        assert_eq!(mode(&outside), 0o644);
    }
}
