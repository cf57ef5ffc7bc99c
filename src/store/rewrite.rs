//! Rewriting the whole store into a fresh directory: how secrets get sealed
//! (a store from before sealing) or sealed again (`packyard store
//! rotate-key`). sled is log-structured, so a value overwritten in place
//! stays in old segment files until sled cleans them, whenever that is; a
//! plaintext secret, or one sealed with a retired key, must not linger. A
//! copy holds only the current values.
//!
//! The copy is built in `store.rewrite` and swapped in by two renames
//! (`store` → `store.old`, `store.rewrite` → `store`); [`recover`] finishes or
//! undoes a swap a crash interrupted, so the store is always one or the other.

use super::StoreError;
use super::keyring::{Key, Keyring};
use std::path::Path;
use zeroize::Zeroizing;

/// The trees whose values are sealed.
pub(super) const SECRET_TREES: [&str; 2] = ["credentials", "hook_secrets"];

const STORE_DIR: &str = "store";
const REWRITE_DIR: &str = "store.rewrite";
const OLD_DIR: &str = "store.old";

/// Finishes a swap that a crash interrupted, or drops an unfinished copy.
/// Call with the data dir locked.
pub(super) fn recover(dir: &Path) -> std::io::Result<()> {
    let (store, copy, old) = (
        dir.join(STORE_DIR),
        dir.join(REWRITE_DIR),
        dir.join(OLD_DIR),
    );
    if old.exists() {
        // The copy was complete before the old store was moved aside.
        if !store.exists() && copy.exists() {
            std::fs::rename(&copy, &store)?;
        }
        if store.exists() {
            std::fs::remove_dir_all(&old)?;
        }
    }
    if copy.exists() {
        std::fs::remove_dir_all(&copy)?;
    }
    Ok(())
}

/// True when some secret is sealed with `key`.
pub(super) fn uses(db: &sled::Db, key: &Key) -> Result<bool, StoreError> {
    for name in SECRET_TREES {
        for item in db.open_tree(name)?.iter() {
            if Keyring::sealed_with(&item?.1) == Some(key.id()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// True when some secret is in plaintext or sealed with another key than
/// `target`.
pub(super) fn needed(db: &sled::Db, target: &Key) -> Result<bool, StoreError> {
    for name in SECRET_TREES {
        for item in db.open_tree(name)?.iter() {
            let (_, value) = item?;
            if Keyring::sealed_with(&value) != Some(target.id()) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Copies every tree of `db` into a fresh store, with every secret opened by
/// `ring` and sealed with `target`, and swaps it in place of `dir/store`.
pub(super) fn rewrite(
    db: sled::Db,
    dir: &Path,
    ring: &Keyring,
    target: &Key,
) -> Result<(), StoreError> {
    let copy_dir = dir.join(REWRITE_DIR);
    if copy_dir.exists() {
        std::fs::remove_dir_all(&copy_dir).map_err(|e| io_error(dir, e))?;
    }
    let copy = sled::Config::new().path(&copy_dir).open()?;
    for name in db.tree_names() {
        let (from, to) = (db.open_tree(&name)?, copy.open_tree(&name)?);
        let tree = std::str::from_utf8(&name).unwrap_or_default();
        let secret = SECRET_TREES.contains(&tree);
        for item in from.iter() {
            let (k, v) = item?;
            if secret {
                let plain = match ring.open(tree, &k, &v)? {
                    Some(plain) => plain,
                    None => Zeroizing::new(v.to_vec()),
                };
                to.insert(&k, target.seal(tree, &k, &plain)?)?;
            } else {
                to.insert(k, v)?;
            }
        }
    }
    copy.flush()?;
    drop(copy);
    drop(db);
    let swap = || -> std::io::Result<()> {
        std::fs::rename(dir.join(STORE_DIR), dir.join(OLD_DIR))?;
        std::fs::rename(&copy_dir, dir.join(STORE_DIR))?;
        std::fs::File::open(dir)?.sync_all()?;
        std::fs::remove_dir_all(dir.join(OLD_DIR))
    };
    swap().map_err(|e| io_error(dir, e))
}

fn io_error(dir: &Path, source: std::io::Error) -> StoreError {
    StoreError::NotWritable {
        dir: dir.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{KeySource, Store, keyring::DEFAULT_KEY_FILE};
    use crate::domain::{Credential, ProviderKind, Secret, Sync, SyncId, Timestamp};
    use std::path::Path;

    const TOKEN: &str = "ghp_known_secret_0123456789";
    const APP_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----known-app-key";
    const HOOK_SECRET: &str = "hook_known_secret_9876543210";

    fn sync(name: &str) -> Sync {
        Sync {
            id: SyncId::new(name).unwrap(),
            provider: ProviderKind::Github,
            api_url: "https://api.github.com".into(),
            org: name.into(),
            primary: name == "acme",
            created_at: Timestamp(1),
            last_run: None,
            resync_minutes: None,
            hooks: None,
        }
    }

    fn app() -> Credential {
        Credential::GithubApp {
            app_id: 1,
            installation_id: 2,
            private_key: Secret::new(APP_KEY),
        }
    }

    fn store_secrets(store: &Store) {
        let token = Credential::Token(Secret::new(TOKEN));
        store.apply_new_sync(&sync("acme"), &token).unwrap();
        store.apply_new_sync(&sync("apps"), &app()).unwrap();
        store
            .apply_hook_secret(&SyncId::new("acme").unwrap(), &Secret::new(HOOK_SECRET))
            .unwrap();
        store.flush().unwrap();
    }

    /// Every byte under `dir/store`, as `grep -ra` would see it.
    fn store_bytes(dir: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        let mut pending = vec![dir.join("store")];
        while let Some(p) = pending.pop() {
            if p.is_dir() {
                pending.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else {
                out.extend(std::fs::read(&p).unwrap());
            }
        }
        out
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    fn assert_no_secret_on_disk(dir: &Path) {
        let bytes = store_bytes(dir);
        assert!(!bytes.is_empty());
        for secret in [TOKEN, APP_KEY, HOOK_SECRET] {
            assert!(
                !contains(&bytes, secret),
                "{secret} found in the store files"
            );
        }
    }

    fn assert_secrets_readable(store: &Store) {
        let acme = SyncId::new("acme").unwrap();
        assert_eq!(
            store.load_credential(&acme).unwrap(),
            Some(Credential::Token(Secret::new(TOKEN)))
        );
        assert_eq!(
            store
                .load_credential(&SyncId::new("apps").unwrap())
                .unwrap(),
            Some(app())
        );
        assert_eq!(
            store.load_hook_secret(&acme).unwrap(),
            Some(Secret::new(HOOK_SECRET))
        );
    }

    #[test]
    fn store_files_hold_no_secret_in_plain_text() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::DataDir(dir.path().join(DEFAULT_KEY_FILE));
        store_secrets(&Store::open_with_key(dir.path(), &source).unwrap());
        assert_no_secret_on_disk(dir.path());
        assert_secrets_readable(&Store::open_with_key(dir.path(), &source).unwrap());
    }

    #[test]
    fn plaintext_secrets_of_an_older_store_are_sealed_on_open_and_leave_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What packyard wrote before secrets were sealed.
            let db = sled::open(dir.path().join("store")).unwrap();
            let credentials = db.open_tree("credentials").unwrap();
            let token = format!(r#"{{"kind":"token","token":"{TOKEN}"}}"#);
            credentials.insert("acme", token.as_bytes()).unwrap();
            let app = format!(
                r#"{{"kind":"github-app","app_id":1,"installation_id":2,"private_key":"{APP_KEY}"}}"#
            );
            credentials.insert("apps", app.as_bytes()).unwrap();
            let hook = format!(r#""{HOOK_SECRET}""#);
            db.open_tree("hook_secrets")
                .unwrap()
                .insert("acme", hook.as_bytes())
                .unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema", &super::super::SCHEMA_VERSION.to_be_bytes())
                .unwrap();
            for name in ["acme", "apps"] {
                let record = serde_json::to_vec(&sync(name)).unwrap();
                db.open_tree("syncs").unwrap().insert(name, record).unwrap();
            }
            db.flush().unwrap();
        }
        assert!(
            contains(&store_bytes(dir.path()), TOKEN),
            "the old store is plaintext"
        );
        let source = KeySource::DataDir(dir.path().join(DEFAULT_KEY_FILE));
        let store = Store::open_with_key(dir.path(), &source).unwrap();
        assert_secrets_readable(&store);
        assert_eq!(store.load_syncs().unwrap().len(), 2, "other trees are kept");
        drop(store);
        assert_no_secret_on_disk(dir.path());
    }

    #[test]
    fn rotated_key_replaces_the_old_one_which_opens_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::DataDir(dir.path().join(DEFAULT_KEY_FILE));
        store_secrets(&Store::open_with_key(dir.path(), &source).unwrap());
        let old_key = std::fs::read(source.path()).unwrap();
        let id = Store::rotate_key(dir.path(), &source).unwrap();
        assert_ne!(std::fs::read(source.path()).unwrap(), old_key);
        assert!(!source.pending_path().exists());
        let store = Store::open_with_key(dir.path(), &source).unwrap();
        assert_secrets_readable(&store);
        assert_eq!(store.keyring.current.id_hex(), id);
        drop(store);
        assert_no_secret_on_disk(dir.path());
        let old = dir.path().join("old.key");
        std::fs::write(&old, &old_key).unwrap();
        let err = Store::open_with_key(dir.path(), &KeySource::File(old))
            .and_then(|s| s.load_credential(&SyncId::new("acme").unwrap()))
            .unwrap_err();
        assert!(
            err.to_string().contains("key packyard does not have"),
            "{err}"
        );
    }

    #[test]
    fn rotation_interrupted_after_the_swap_finishes_on_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::DataDir(dir.path().join(DEFAULT_KEY_FILE));
        let store = Store::open_with_key(dir.path(), &source).unwrap();
        store_secrets(&store);
        // What rotate_key does, stopped before it renames the new key.
        let (next, lock) = store.reseal_with_pending_key(dir.path(), &source).unwrap();
        drop(lock);
        let store = Store::open_with_key(dir.path(), &source).unwrap();
        assert_secrets_readable(&store);
        assert_eq!(store.keyring.current.id_hex(), next.id_hex());
        assert!(!source.pending_path().exists());
    }

    #[test]
    fn rotation_interrupted_before_the_swap_keeps_the_old_key() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::DataDir(dir.path().join(DEFAULT_KEY_FILE));
        store_secrets(&Store::open_with_key(dir.path(), &source).unwrap());
        let old_key = std::fs::read(source.path()).unwrap();
        super::Key::generate()
            .unwrap()
            .write_to(&source.pending_path())
            .unwrap();
        std::fs::create_dir(dir.path().join(super::REWRITE_DIR)).unwrap();
        let store = Store::open_with_key(dir.path(), &source).unwrap();
        assert_secrets_readable(&store);
        assert_eq!(std::fs::read(source.path()).unwrap(), old_key);
        assert!(!source.pending_path().exists());
        assert!(!dir.path().join(super::REWRITE_DIR).exists());
    }

    #[test]
    fn key_from_systemd_credentials_is_never_rotated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("packyard.key");
        std::fs::write(&path, hex::encode([3u8; 32])).unwrap();
        let err = Store::rotate_key(dir.path(), &KeySource::Credential(path)).unwrap_err();
        assert!(err.to_string().contains("LoadCredential"), "{err}");
    }

    #[test]
    fn data_dir_made_by_an_admin_is_made_private_on_open() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let source = KeySource::DataDir(data.join(DEFAULT_KEY_FILE));
        store_secrets(&Store::open_with_key(&data, &source).unwrap());
        let mut pending = vec![data.clone()];
        while let Some(p) = pending.pop() {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            if p.is_dir() {
                assert_eq!(mode, 0o700, "{}", p.display());
                pending.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else {
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
    }
}
