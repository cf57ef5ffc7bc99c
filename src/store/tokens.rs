//! Composer tokens, keyed by the SHA-256 of their secret so a request's token
//! is found with one lookup and the secret itself is never stored.

use super::{Changed, Store, StoreError, decode, encode, scan};
use crate::domain::{Timestamp, Token};

/// `last_used` is written at most this often per token, so that Composer's
/// many requests per install do not each cost a disk write.
const LAST_USED_RESOLUTION_SECS: i64 = 60;

impl Store {
    pub fn apply_new_token(&self, token: &Token) -> Result<(), StoreError> {
        let k = token.hash.as_bytes();
        self.trees.tokens.insert(k, encode("tokens", k, token)?)?;
        self.note_changed(Changed {
            tokens: true,
            ..Changed::default()
        });
        self.flush()
    }

    pub fn load_token_by_hash(&self, hash: &str) -> Result<Option<Token>, StoreError> {
        let k = hash.as_bytes();
        self.trees
            .tokens
            .get(k)?
            .map(|raw| decode("tokens", k, &raw))
            .transpose()
    }

    pub fn load_tokens(&self) -> Result<Vec<Token>, StoreError> {
        let mut tokens: Vec<Token> = scan(&self.trees.tokens, "tokens", &[])?;
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    /// Revokes the token with public id `id`. Returns false if there is none.
    pub fn apply_token_revoked(&self, id: &str) -> Result<bool, StoreError> {
        let Some(token) = self.load_tokens()?.into_iter().find(|t| t.id == id) else {
            return Ok(false);
        };
        self.trees.tokens.remove(token.hash.as_bytes())?;
        self.note_changed(Changed {
            tokens: true,
            ..Changed::default()
        });
        self.flush()?;
        Ok(true)
    }

    pub fn apply_token_used(&self, token: &Token, now: Timestamp) -> Result<(), StoreError> {
        if token
            .last_used
            .is_some_and(|t| now.0 - t.0 < LAST_USED_RESOLUTION_SECS)
        {
            return Ok(());
        }
        let mut updated = token.clone();
        updated.last_used = Some(now);
        let k = token.hash.as_bytes();
        // Only if the token still exists: a revoke in between must win.
        let old = self.trees.tokens.get(k)?;
        if let Some(old) = old {
            let _ = self.trees.tokens.compare_and_swap(
                k,
                Some(old),
                Some(encode("tokens", k, &updated)?),
            )?;
        }
        Ok(())
    }
}

/// How a token secret is keyed: hex SHA-256. Tokens are 32 random bytes, so a
/// fast hash is enough and allows lookup by hash (see CRATES.md on argon2).
pub fn token_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}
