//! Sync records and their credentials.

use super::{Changed, Store, StoreError, decode, encode, scan};
use crate::domain::{Credential, HookState, RunSummary, Secret, Sync, SyncId};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, Transactional};

/// On-disk form of a [`Credential`]. Kept private so the secret is only
/// serialized here, into the `credentials` tree.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum StoredCredential {
    Token {
        token: String,
    },
    Basic {
        username: String,
        password: String,
    },
    GithubApp {
        app_id: u64,
        installation_id: u64,
        private_key: String,
    },
}

impl From<&Credential> for StoredCredential {
    fn from(c: &Credential) -> Self {
        match c {
            Credential::Token(t) => Self::Token {
                token: t.expose().to_owned(),
            },
            Credential::Basic { username, password } => Self::Basic {
                username: username.clone(),
                password: password.expose().to_owned(),
            },
            Credential::GithubApp {
                app_id,
                installation_id,
                private_key,
            } => Self::GithubApp {
                app_id: *app_id,
                installation_id: *installation_id,
                private_key: private_key.expose().to_owned(),
            },
        }
    }
}

impl From<StoredCredential> for Credential {
    fn from(c: StoredCredential) -> Self {
        match c {
            StoredCredential::Token { token } => Credential::Token(Secret::new(token)),
            StoredCredential::Basic { username, password } => Credential::Basic {
                username,
                password: Secret::new(password),
            },
            StoredCredential::GithubApp {
                app_id,
                installation_id,
                private_key,
            } => Credential::GithubApp {
                app_id,
                installation_id,
                private_key: Secret::new(private_key),
            },
        }
    }
}

impl Store {
    pub fn load_syncs(&self) -> Result<Vec<Sync>, StoreError> {
        scan(&self.trees.syncs, "syncs", &[])
    }

    pub fn load_sync(&self, id: &SyncId) -> Result<Option<Sync>, StoreError> {
        let k = id.as_str().as_bytes();
        self.trees
            .syncs
            .get(k)?
            .map(|raw| decode("syncs", k, &raw))
            .transpose()
    }

    pub fn load_credential(&self, id: &SyncId) -> Result<Option<Credential>, StoreError> {
        let k = id.as_str().as_bytes();
        let stored: Option<StoredCredential> = self
            .trees
            .credentials
            .get(k)?
            .map(|raw| self.unseal("credentials", k, &raw))
            .transpose()?;
        Ok(stored.map(Credential::from))
    }

    /// Saves a new sync with its credential, atomically. Fails if the name is taken.
    pub fn apply_new_sync(&self, sync: &Sync, credential: &Credential) -> Result<(), StoreError> {
        let k = sync.id.as_str().as_bytes();
        let record = encode("syncs", k, sync)?;
        let secret = self.seal("credentials", k, &StoredCredential::from(credential))?;
        let t = &self.trees;
        (&t.syncs, &t.credentials).transaction(|(syncs, credentials)| {
            if syncs.get(k)?.is_some() {
                return Err(ConflictableTransactionError::Abort(StoreError::SyncExists(
                    sync.id.to_string(),
                )));
            }
            syncs.insert(k, record.as_slice())?;
            credentials.insert(k, secret.as_slice())?;
            Ok(())
        })?;
        self.note_changed(Changed {
            people: true,
            ..Changed::default()
        });
        self.flush()
    }

    /// Records the outcome of a run on the sync.
    pub fn apply_run_summary(&self, id: &SyncId, summary: &RunSummary) -> Result<(), StoreError> {
        self.update_sync(id, |sync| sync.last_run = Some(summary.clone()))
    }

    /// Records what packyard made sure of at the host's hook API.
    pub fn apply_hook_state(&self, id: &SyncId, hooks: &HookState) -> Result<(), StoreError> {
        self.update_sync(id, |sync| sync.hooks = Some(hooks.clone()))
    }

    pub fn apply_resync_minutes(
        &self,
        id: &SyncId,
        minutes: Option<u32>,
    ) -> Result<(), StoreError> {
        self.update_sync(id, |sync| sync.resync_minutes = minutes)
    }

    /// Changes one sync record in a transaction: a promote applied
    /// meanwhile is either seen or retried over, never written back stale
    /// (which could leave two primaries).
    fn update_sync(&self, id: &SyncId, change: impl Fn(&mut Sync)) -> Result<(), StoreError> {
        let k = id.as_str().as_bytes();
        self.trees.syncs.transaction(|syncs| {
            let Some(raw) = syncs.get(k)? else {
                return Err(ConflictableTransactionError::Abort(StoreError::NoSuchSync(
                    id.to_string(),
                )));
            };
            let mut sync: Sync =
                decode("syncs", k, &raw).map_err(ConflictableTransactionError::Abort)?;
            change(&mut sync);
            let raw = encode("syncs", k, &sync).map_err(ConflictableTransactionError::Abort)?;
            syncs.insert(k, raw)?;
            Ok(())
        })?;
        self.flush()
    }
}
