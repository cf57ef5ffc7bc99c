//! A repository's git history as every simulator keeps it: branches and
//! tags pointing at commits, and each commit's composer.json. Commit ids are
//! deterministic 40-hex SHAs of the repository, the ref, the generation of
//! the change and the content, so runs are reproducible.
//!
//! About a third of the tags are annotated, as in real repositories: the
//! first, fourth, … tag made in a repository points at a tag object that
//! points at the commit. Hosts that peel tags (REST listings) report the
//! commit; GitHub's GraphQL `Ref.target` is the tag object.

use super::scenario::RepoSpec;
use crate::domain::RefKind;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap};

pub(crate) struct History {
    /// Seeds commit ids, so equal content in two repositories differs.
    seed: String,
    pub default_branch: String,
    pub branches: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    /// Annotated tags: tag name → the tag object's id (tags map to the
    /// commit it points at).
    pub annotated: BTreeMap<String, String>,
    /// Tags ever made here, which decides the next one's kind.
    tags_made: u64,
    /// Every commit ever made, as git keeps them: SHA → composer.json.
    pub commits: HashMap<String, Option<Vec<u8>>>,
}

/// How a push moved one ref: the commits before and after (`None`: the ref
/// did not exist, or was deleted), for webhook payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefUpdate {
    pub kind: RefKind,
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// Applies `change` to a simulator's `state` and reports how it moved the
/// `kind` ref `name` of the repository `history` finds in the state.
pub(crate) fn record_push<S, E>(
    state: &mut S,
    history: impl Fn(&S) -> Option<&History>,
    (kind, name): (RefKind, &str),
    change: impl FnOnce(&mut S) -> Result<String, E>,
) -> Result<(String, RefUpdate), E> {
    let sha_of = |state: &S| {
        let git = history(state)?;
        let refs = match kind {
            RefKind::Branch => &git.branches,
            RefKind::Tag => &git.tags,
        };
        refs.get(name).cloned()
    };
    let old = sha_of(state);
    let sha = change(state)?;
    let update = RefUpdate {
        kind,
        name: name.to_owned(),
        old,
        new: sha_of(state),
    };
    Ok((sha, update))
}

impl History {
    /// The history a scenario repository starts with, made at `generation`.
    pub fn from_spec(seed: &str, spec: &RepoSpec, generation: u64) -> History {
        let mut history = History {
            seed: seed.to_owned(),
            default_branch: spec.default_branch.clone(),
            branches: BTreeMap::new(),
            tags: BTreeMap::new(),
            annotated: BTreeMap::new(),
            tags_made: 0,
            commits: HashMap::new(),
        };
        for branch in spec.all_branches() {
            let sha = history.commit(branch, generation, spec.composer_at(branch));
            history.branches.insert(branch.to_owned(), sha);
        }
        for tag in &spec.tags {
            let sha = history.commit(tag, generation, spec.composer_at(tag));
            history.set_tag(tag, sha);
        }
        history
    }

    /// Whether `reference` names a tag rather than a branch.
    pub fn kind_of(&self, reference: &str) -> RefKind {
        if self.tags.contains_key(reference) {
            RefKind::Tag
        } else {
            RefKind::Branch
        }
    }

    /// A branch, tag or commit SHA → commit SHA.
    pub fn resolve(&self, reference: &str) -> Option<&str> {
        self.branches
            .get(reference)
            .or_else(|| self.tags.get(reference))
            .map(String::as_str)
            .or_else(|| {
                self.commits
                    .get_key_value(reference)
                    .map(|(k, _)| k.as_str())
            })
    }

    /// composer.json at a ref (`None`: the default branch).
    fn composer_of(&self, reference: Option<&str>) -> Option<Vec<u8>> {
        let sha = self.resolve(reference.unwrap_or(&self.default_branch))?;
        self.commits.get(sha).cloned().flatten()
    }

    /// Records a commit of `composer` and returns its SHA.
    fn commit(&mut self, reference: &str, generation: u64, composer: Option<Vec<u8>>) -> String {
        let mut hasher = Sha1::new();
        for part in [
            self.seed.as_bytes(),
            reference.as_bytes(),
            &generation.to_be_bytes(),
        ] {
            hasher.update(part);
            hasher.update([0]);
        }
        hasher.update(composer.as_deref().unwrap_or(b"-"));
        let sha = hex::encode(hasher.finalize());
        self.commits.insert(sha.clone(), composer);
        sha
    }

    /// A new tag on a new commit with the default branch's content.
    pub fn add_tag(&mut self, tag: &str, generation: u64) -> String {
        let content = self.composer_of(None);
        let sha = self.commit(tag, generation, content);
        self.set_tag(tag, sha.clone());
        sha
    }

    /// Points `tag` at `commit`. A new tag is annotated when it is the
    /// first, fourth, … made here; a moved annotated tag gets a new tag
    /// object, as `git tag -f -a` makes.
    fn set_tag(&mut self, tag: &str, commit: String) {
        let annotated = match self.tags.get(tag) {
            Some(_) => self.annotated.contains_key(tag),
            None => {
                self.tags_made += 1;
                self.tags_made % 3 == 1
            }
        };
        if annotated {
            let mut hasher = Sha1::new();
            for part in [
                b"tag".as_slice(),
                self.seed.as_bytes(),
                tag.as_bytes(),
                commit.as_bytes(),
            ] {
                hasher.update(part);
                hasher.update([0]);
            }
            self.annotated
                .insert(tag.to_owned(), hex::encode(hasher.finalize()));
        }
        self.tags.insert(tag.to_owned(), commit);
    }

    /// A new tag on an existing ref or commit; `None` when `target` is unknown.
    pub fn add_tag_at(&mut self, tag: &str, target: &str) -> Option<String> {
        let sha = self.resolve(target)?.to_owned();
        self.set_tag(tag, sha.clone());
        Some(sha)
    }

    /// Removes a tag; its commit stays (commits outlive their refs in git).
    pub fn delete_tag(&mut self, tag: &str) -> Option<String> {
        self.tags.remove(tag)
    }

    /// A new commit on `branch` (created from the default branch if new).
    pub fn push_branch(&mut self, branch: &str, generation: u64) -> String {
        let from = self.branches.contains_key(branch).then_some(branch);
        let content = self.composer_of(from);
        let sha = self.commit(branch, generation, content);
        self.branches.insert(branch.to_owned(), sha.clone());
        sha
    }

    /// A new commit on `reference` with `composer` (`None` removes the
    /// file); `None` when there is no such branch or tag.
    pub fn set_composer(
        &mut self,
        reference: &str,
        generation: u64,
        composer: Option<Vec<u8>>,
    ) -> Option<String> {
        if !self.branches.contains_key(reference) && !self.tags.contains_key(reference) {
            return None;
        }
        let sha = self.commit(reference, generation, composer);
        match self.branches.get_mut(reference) {
            Some(slot) => slot.clone_from(&sha),
            None => self.set_tag(reference, sha.clone()),
        }
        Some(sha)
    }
}
