//! Identifiers. Remote objects are keyed by the host's immutable id, never by
//! their (renamable) name.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error(
        "invalid synchronization name {0:?}: use 1-64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit"
    )]
    SyncName(String),
    #[error(
        "invalid package name {0:?}: Composer names look like \"vendor/package\" (lowercase letters, digits, '-', '_', '.')"
    )]
    PackageName(String),
}

/// A synchronization's name, unique in one packyard. Used in URLs and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SyncId(String);

impl SyncId {
    pub fn new(name: &str) -> Result<Self, IdError> {
        let ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(IdError::SyncName(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SyncId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::new(&s)
    }
}

impl From<SyncId> for String {
    fn from(id: SyncId) -> String {
        id.0
    }
}

impl fmt::Display for SyncId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An object's id at its code host (GitHub's numeric ids, Bitbucket's UUIDs).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RemoteId(pub String);

impl fmt::Display for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<u64> for RemoteId {
    fn from(n: u64) -> Self {
        Self(n.to_string())
    }
}

/// A packyard user: a person, who may have an identity on several hosts.
/// Looks like a login (`alice`, `bob-2`) and names the user in the CLI.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// The id a new user gets from an identity's login: lower case, with
    /// anything but letters, digits, '.', '_' and '-' replaced by '-'.
    pub fn from_login(login: &str) -> Self {
        let id: String = login
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        Self(if id.is_empty() { "user".to_owned() } else { id })
    }

    /// The id as an admin typed it, compared as `from_login` builds ids.
    pub fn parse(input: &str) -> Self {
        Self::from_login(input)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `alice-2`, `alice-3`, …: the id to try when `alice` is taken.
    pub fn numbered(&self, n: usize) -> Self {
        Self(format!("{}-{n}", self.0))
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An account on one sync's host, namespaced by sync.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IdentityKey {
    pub sync: SyncId,
    pub remote: RemoteId,
}

/// Teams are namespaced by the sync they come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TeamKey {
    pub sync: SyncId,
    pub remote: RemoteId,
}

/// A repository at a code host, namespaced by sync.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RepoKey {
    pub sync: SyncId,
    pub remote: RemoteId,
}

/// A Composer package name, always lower case (`vendor/name`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

impl PackageName {
    /// Validates with Composer's own rule (`^[a-z0-9]([_.-]?[a-z0-9]+)*/[a-z0-9](([_.]|-{1,2})?[a-z0-9]+)*$`)
    /// after lower-casing, as Composer itself compares names case-insensitively.
    pub fn new(name: &str) -> Result<Self, IdError> {
        let lower = name.to_ascii_lowercase();
        let valid = lower
            .split_once('/')
            .is_some_and(|(vendor, pkg)| valid_vendor(vendor) && valid_package(pkg));
        if valid {
            Ok(Self(lower))
        } else {
            Err(IdError::PackageName(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn vendor(&self) -> &str {
        self.0.split_once('/').map_or("", |(v, _)| v)
    }

    pub fn project(&self) -> &str {
        self.0.split_once('/').map_or("", |(_, p)| p)
    }
}

/// Splits `s` into alphanumeric words joined by the allowed separators and
/// checks every separator is one `sep_ok` accepts.
fn words_joined_by(s: &str, sep_ok: impl Fn(&str) -> bool) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !s.starts_with(alnum) || !s.ends_with(alnum) {
        return false;
    }
    let mut sep = String::new();
    for c in s.chars() {
        if alnum(c) {
            if !sep.is_empty() && !sep_ok(&sep) {
                return false;
            }
            sep.clear();
        } else {
            sep.push(c);
        }
    }
    true
}

fn valid_vendor(s: &str) -> bool {
    words_joined_by(s, |sep| matches!(sep, "_" | "." | "-"))
}

fn valid_package(s: &str) -> bool {
    words_joined_by(s, |sep| matches!(sep, "_" | "." | "-" | "--"))
}

impl TryFrom<String> for PackageName {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::new(&s)
    }
}

impl From<PackageName> for String {
    fn from(n: PackageName) -> String {
        n.0
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_name_is_lowercased_when_valid() {
        assert_eq!(
            PackageName::new("Acme/Widget").unwrap().as_str(),
            "acme/widget"
        );
        for ok in ["a/b", "acme-corp/http.client", "a_b/c--d", "v1/x9"] {
            assert!(PackageName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn package_name_is_rejected_when_malformed() {
        for bad in [
            "", "acme", "acme/", "/x", "a/b/c", "-a/b", "a/b-", "a--b/c", "a/b c", "a/ü",
        ] {
            assert!(PackageName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sync_id_rejects_uppercase_and_spaces() {
        assert!(SyncId::new("acme-github").is_ok());
        assert!(SyncId::new("Acme").is_err());
        assert!(SyncId::new("a b").is_err());
        assert!(SyncId::new("-x").is_err());
    }
}
