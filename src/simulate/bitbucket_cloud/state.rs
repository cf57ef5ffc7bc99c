//! The simulated workspace's live state and the mutations tests apply.
//!
//! Ids are Bitbucket-style `{uuid}`s derived from names, and commits are
//! content-addressed like git's (SHA-1 of repository, ref, generation and
//! composer.json), so a scenario always gives the same ids and SHAs and every
//! mutation a new commit.

use super::super::github::SimError;
use super::super::history::History;
use super::super::scenario::{OrgRole, RepoRole, RepoSpec, Scenario};
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, BTreeSet};

pub(super) struct User {
    pub uuid: String,
    pub account_id: String,
    pub nickname: String,
    pub email: Option<String>,
    pub owner: bool,
}

pub(super) struct Group {
    pub slug: String,
    pub name: String,
    pub members: BTreeSet<String>,
    pub repos: BTreeMap<String, RepoRole>,
}

pub(super) struct Repo {
    pub uuid: String,
    pub slug: String,
    pub description: Option<String>,
    pub git: History,
    /// Generation of the last change (Bitbucket's `updated_on`).
    pub updated: u64,
}

pub(super) struct State {
    pub uuid: String,
    pub slug: String,
    pub name: Option<String>,
    pub token: String,
    pub users: BTreeMap<String, User>,
    pub groups: BTreeMap<String, Group>,
    pub repos: BTreeMap<String, Repo>,
    /// Hook id → description. The shared hook registry has no place for
    /// it, and Bitbucket shows it back.
    pub hook_descriptions: BTreeMap<u64, String>,
    generation: u64,
}

/// A `{8-4-4-4-12}` UUID derived from `kind` and `name`.
pub(super) fn uuid(kind: &str, name: &str) -> String {
    let h = hex::encode(Sha1::digest(format!("{kind}:{name}")));
    format!(
        "{{{}-{}-4{}-8{}-{}}}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl State {
    pub fn new(scenario: &Scenario) -> Self {
        let users = scenario
            .members
            .iter()
            .map(|m| {
                let user = User {
                    uuid: uuid("user", &m.login),
                    account_id: format!(
                        "557058:{}",
                        uuid("account", &m.login).trim_matches(['{', '}'])
                    ),
                    nickname: m.login.clone(),
                    email: m.email.clone(),
                    owner: m.role == OrgRole::Admin,
                };
                (m.login.clone(), user)
            })
            .collect();
        let groups = scenario
            .teams
            .iter()
            .map(|t| {
                let group = Group {
                    slug: t.slug.clone(),
                    name: t.name.clone(),
                    members: t.members.iter().cloned().collect(),
                    repos: t.repos.clone(),
                };
                (t.slug.clone(), group)
            })
            .collect();
        let mut state = Self {
            uuid: uuid("workspace", &scenario.org.login),
            slug: scenario.org.login.clone(),
            name: scenario.org.name.clone(),
            token: scenario.token.clone(),
            users,
            groups,
            repos: BTreeMap::new(),
            hook_descriptions: BTreeMap::new(),
            generation: 0,
        };
        for spec in &scenario.repos {
            state.insert_repo(spec);
        }
        state
    }

    /// The Basic-auth username the simulator accepts with the token: the
    /// first owner's email (an Atlassian API token) or nickname.
    pub fn username(&self) -> String {
        self.users.values().find(|u| u.owner).map_or_else(
            || "packyard-bot".to_owned(),
            |u| u.email.clone().unwrap_or_else(|| u.nickname.clone()),
        )
    }

    fn insert_repo(&mut self, spec: &RepoSpec) -> String {
        let repo = Repo {
            uuid: uuid("repository", &format!("{}/{}", self.slug, spec.name)),
            slug: spec.name.clone(),
            description: spec.description.clone(),
            git: History::from_spec(&spec.name, spec, self.generation),
            updated: self.generation,
        };
        let id = repo.uuid.clone();
        self.repos.insert(spec.name.clone(), repo);
        id
    }

    /// The repository and a new generation, which marks it updated.
    fn touch(&mut self, name: &str) -> Result<(&mut Repo, u64), SimError> {
        self.generation += 1;
        let generation = self.generation;
        let repo = self
            .repos
            .get_mut(name)
            .ok_or_else(|| SimError::UnknownRepo(name.to_owned()))?;
        repo.updated = generation;
        Ok((repo, generation))
    }

    pub fn add_tag(&mut self, repo: &str, tag: &str) -> Result<String, SimError> {
        let (repo, generation) = self.touch(repo)?;
        Ok(repo.git.add_tag(tag, generation))
    }

    pub fn add_tag_at(&mut self, repo: &str, tag: &str, target: &str) -> Result<String, SimError> {
        let (repo, _) = self.touch(repo)?;
        repo.git
            .add_tag_at(tag, target)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.slug.clone(),
                reference: target.to_owned(),
            })
    }

    pub fn push_branch(&mut self, repo: &str, branch: &str) -> Result<String, SimError> {
        let (repo, generation) = self.touch(repo)?;
        Ok(repo.git.push_branch(branch, generation))
    }

    pub fn set_composer(
        &mut self,
        repo: &str,
        reference: &str,
        composer: Option<Vec<u8>>,
    ) -> Result<String, SimError> {
        let (repo, generation) = self.touch(repo)?;
        repo.git
            .set_composer(reference, generation, composer)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.slug.clone(),
                reference: reference.to_owned(),
            })
    }

    pub fn create_repo(&mut self, spec: &RepoSpec) -> Result<String, SimError> {
        if self.repos.contains_key(&spec.name) {
            return Err(SimError::RepoExists(spec.name.clone()));
        }
        self.generation += 1;
        Ok(self.insert_repo(spec))
    }

    pub fn delete_repo(&mut self, name: &str) -> Result<(), SimError> {
        self.repos
            .remove(name)
            .ok_or_else(|| SimError::UnknownRepo(name.to_owned()))?;
        for group in self.groups.values_mut() {
            group.repos.remove(name);
        }
        Ok(())
    }

    pub fn set_group_member(
        &mut self,
        group: &str,
        login: &str,
        member: bool,
    ) -> Result<(), SimError> {
        if !self.users.contains_key(login) {
            return Err(SimError::UnknownUser(login.to_owned()));
        }
        let group = self
            .groups
            .get_mut(group)
            .ok_or_else(|| SimError::UnknownTeam(group.to_owned()))?;
        if member {
            group.members.insert(login.to_owned());
        } else {
            group.members.remove(login);
        }
        Ok(())
    }
}
