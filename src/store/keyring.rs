//! The key that seals the secrets the store keeps (code host credentials and
//! webhook secrets) and where it comes from.
//!
//! The key lives outside the store: a dump or backup of `store/` alone gives
//! away nothing. By default it is `<data dir>/store.key`, created 0600 on
//! first open; `PACKYARD_KEY_FILE` names another file, and under systemd
//! `LoadCredential=packyard.key:…` hands it over in `$CREDENTIALS_DIRECTORY`.
//! A key file holds 32 bytes, raw or as 64 hex digits (`openssl rand -hex 32`).
//!
//! A sealed value is `MAGIC ‖ key id ‖ nonce ‖ XChaCha20-Poly1305 ciphertext`,
//! bound to its tree and key as associated data, so a sealed record cannot be
//! moved to another record. The key id (a hash prefix of the key) lets a
//! store opened mid-rotation tell which key sealed what.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::Digest;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Marks a sealed value; plaintext records (JSON) never start with it.
const MAGIC: &[u8] = b"PYS1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// The file name of the default key, beside the store directory.
pub const DEFAULT_KEY_FILE: &str = "store.key";
/// The credential name packyard reads from `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_NAME: &str = "packyard.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the store key {}: {source}. Check the file exists and this user may read it", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the store key {}: {source}. Check that this user may write to its directory", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the store key {} is not a key: it must hold 32 bytes, or 64 hex digits (create one with `openssl rand -hex 32`)",
        .path.display()
    )]
    Malformed { path: PathBuf },
    #[error(
        "the store key {} comes from systemd (LoadCredential=), which packyard cannot change. Write a new key to the credential's source file yourself, or set PACKYARD_KEY_FILE to a writable file, then run `packyard store rotate-key` again",
        .path.display()
    )]
    ReadOnly { path: PathBuf },
    #[error(
        "a stored secret was sealed with a key packyard does not have (key id {0}); start packyard with the key file that was in use when it was stored"
    )]
    UnknownKey(String),
    #[error(
        "a stored secret does not open with the store key: it was changed or damaged. Add the synchronization's credentials again"
    )]
    Tampered,
    #[error("cannot seal a secret: {0}")]
    Seal(String),
}

/// Where the key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `<data dir>/store.key`: created when missing.
    DataDir(PathBuf),
    /// A file an admin named (`PACKYARD_KEY_FILE`): must exist.
    File(PathBuf),
    /// A systemd credential: must exist and is never written.
    Credential(PathBuf),
}

impl KeySource {
    /// `PACKYARD_KEY_FILE`, else the systemd credential when one was passed,
    /// else the default file in `data_dir`.
    pub fn from_env(data_dir: &Path) -> Self {
        if let Some(file) = std::env::var_os("PACKYARD_KEY_FILE").filter(|f| !f.is_empty()) {
            return Self::File(file.into());
        }
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = Path::new(&dir).join(CREDENTIAL_NAME);
            if path.exists() {
                return Self::Credential(path);
            }
        }
        Self::DataDir(data_dir.join(DEFAULT_KEY_FILE))
    }

    pub fn path(&self) -> &Path {
        match self {
            Self::DataDir(p) | Self::File(p) | Self::Credential(p) => p,
        }
    }

    /// Where a rotation writes the next key before the store is rewritten.
    pub(super) fn pending_path(&self) -> PathBuf {
        let mut name = self.path().as_os_str().to_owned();
        name.push(".new");
        name.into()
    }

    /// Reads the key, creating the default one when it does not exist yet.
    pub(super) fn load_or_create(&self) -> Result<Key, KeyError> {
        match (self, read_key(self.path())) {
            (Self::DataDir(path), Err(KeyError::Read { source, .. }))
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                let key = Key::generate()?;
                key.write_to(path)?;
                tracing::info!(path = %path.display(), "created the store key");
                Ok(key)
            }
            (_, result) => result,
        }
    }
}

/// One 32-byte key and the cipher made from it. The bytes are wiped on drop.
pub struct Key {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", hex::encode(self.id))
    }
}

impl Key {
    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let digest = sha2::Sha256::digest(bytes.as_slice());
        let mut id = [0; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let cipher = XChaCha20Poly1305::new(&(*bytes).into());
        Self { bytes, id, cipher }
    }

    pub(super) fn generate() -> Result<Self, KeyError> {
        let mut bytes = Zeroizing::new([0; KEY_LEN]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| KeyError::Seal(e.to_string()))?;
        Ok(Self::from_bytes(bytes))
    }

    /// Writes the key as hex into a new 0600 file at `path`, replacing any
    /// file there only once the new one is complete.
    pub(super) fn write_to(&self, path: &Path) -> Result<(), KeyError> {
        let error = |source| KeyError::Write {
            path: path.to_owned(),
            source,
        };
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let _ = std::fs::remove_file(&partial);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&partial)
            .map_err(error)?;
        let text = Zeroizing::new(format!("{}\n", hex::encode(self.bytes.as_slice())));
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(error)?;
        std::fs::rename(&partial, path).map_err(error)
    }

    pub(super) fn id(&self) -> &[u8] {
        &self.id
    }

    pub(super) fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// Seals `plain` for the record `record` of tree `tree`.
    pub(super) fn seal(
        &self,
        tree: &str,
        record: &[u8],
        plain: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        let mut nonce = [0; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| KeyError::Seal(e.to_string()))?;
        let aad = associated_data(tree, record);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|e| KeyError::Seal(e.to_string()))?;
        Ok([MAGIC, &self.id, &nonce, &sealed].concat())
    }
}

/// The keys a store can open values with: the current one, and the next one
/// while a rotation is under way.
#[derive(Debug)]
pub struct Keyring {
    pub(super) current: Key,
    pub(super) pending: Option<Key>,
}

impl Keyring {
    /// Opens a value `seal` produced; `None` for a plaintext value written
    /// before secrets were sealed.
    pub(super) fn open(
        &self,
        tree: &str,
        record: &[u8],
        value: &[u8],
    ) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        let Some(rest) = value.strip_prefix(MAGIC) else {
            return Ok(None);
        };
        if rest.len() < KEY_ID_LEN + NONCE_LEN {
            return Err(KeyError::Tampered);
        }
        let (id, rest) = rest.split_at(KEY_ID_LEN);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let key = std::iter::once(&self.current)
            .chain(&self.pending)
            .find(|k| k.id == id)
            .ok_or_else(|| KeyError::UnknownKey(hex::encode(id)))?;
        let aad = associated_data(tree, record);
        let nonce = <&XNonce>::try_from(nonce).map_err(|_| KeyError::Tampered)?;
        key.cipher
            .decrypt(
                nonce,
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map(|plain| Some(Zeroizing::new(plain)))
            .map_err(|_| KeyError::Tampered)
    }

    /// The id of the key that sealed `value`, if it is sealed.
    pub(super) fn sealed_with(value: &[u8]) -> Option<&[u8]> {
        value
            .strip_prefix(MAGIC)
            .and_then(|rest| rest.get(..KEY_ID_LEN))
    }
}

fn associated_data(tree: &str, record: &[u8]) -> Vec<u8> {
    [tree.as_bytes(), &[0], record].concat()
}

fn read_key(path: &Path) -> Result<Key, KeyError> {
    let raw = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Read {
        path: path.to_owned(),
        source,
    })?);
    let malformed = || KeyError::Malformed {
        path: path.to_owned(),
    };
    let mut bytes = Zeroizing::new([0; KEY_LEN]);
    if raw.len() == KEY_LEN {
        bytes.copy_from_slice(&raw);
    } else {
        let text = std::str::from_utf8(&raw).map_err(|_| malformed())?.trim();
        hex::decode_to_slice(text, bytes.as_mut_slice()).map_err(|_| malformed())?;
    }
    Ok(Key::from_bytes(bytes))
}

/// Reads an existing key file (a pending rotation's).
pub(super) fn read_existing(path: &Path) -> Result<Option<Key>, KeyError> {
    match read_key(path) {
        Ok(key) => Ok(Some(key)),
        Err(KeyError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Keyring {
        Keyring {
            current: Key::generate().unwrap(),
            pending: None,
        }
    }

    #[test]
    fn sealed_value_opens_only_for_its_own_record() {
        let ring = ring();
        let sealed = ring
            .current
            .seal("credentials", b"acme", b"ghp_secret")
            .unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        let opened = ring.open("credentials", b"acme", &sealed).unwrap().unwrap();
        assert_eq!(opened.as_slice(), b"ghp_secret");
        assert!(matches!(
            ring.open("credentials", b"other", &sealed),
            Err(KeyError::Tampered)
        ));
        assert!(matches!(
            ring.open("hook_secrets", b"acme", &sealed),
            Err(KeyError::Tampered)
        ));
    }

    #[test]
    fn plaintext_value_is_reported_as_unsealed() {
        assert!(
            ring()
                .open("credentials", b"acme", b"{\"kind\":\"token\"}")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn value_sealed_with_another_key_names_that_key() {
        let other = Key::generate().unwrap();
        let sealed = other.seal("credentials", b"acme", b"x").unwrap();
        let err = ring().open("credentials", b"acme", &sealed).unwrap_err();
        assert!(err.to_string().contains(&other.id_hex()), "{err}");
    }

    #[test]
    fn default_key_is_created_0600_and_read_back_the_same() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::DataDir(dir.path().join(DEFAULT_KEY_FILE));
        let created = source.load_or_create().unwrap();
        let mode = std::fs::metadata(source.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(source.load_or_create().unwrap().id, created.id);
    }

    #[test]
    fn missing_named_key_file_is_an_error_not_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let source = KeySource::File(dir.path().join("absent.key"));
        let err = source.load_or_create().unwrap_err();
        assert!(err.to_string().contains("absent.key"), "{err}");
        assert!(!source.path().exists());
    }

    #[test]
    fn key_file_with_wrong_length_is_refused_with_how_to_make_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short.key");
        std::fs::write(&path, "abcd\n").unwrap();
        let err = KeySource::File(path).load_or_create().unwrap_err();
        assert!(err.to_string().contains("openssl rand -hex 32"), "{err}");
    }

    #[test]
    fn raw_and_hex_key_files_give_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let (raw, hexed) = (dir.path().join("raw"), dir.path().join("hex"));
        std::fs::write(&raw, [7u8; KEY_LEN]).unwrap();
        std::fs::write(&hexed, format!("{}\n", hex::encode([7u8; KEY_LEN]))).unwrap();
        assert_eq!(read_key(&raw).unwrap().id, read_key(&hexed).unwrap().id);
    }
}
