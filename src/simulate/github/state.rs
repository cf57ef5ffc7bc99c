//! The simulated organization's live state and the mutations tests apply.
//!
//! Commits are content-addressed like git's: a SHA is the SHA-1 of the
//! repository, the ref, a generation counter and the composer.json bytes, so
//! every run of a scenario gives the same SHAs and every mutation a new one.

use super::super::history::History;
use super::super::scenario::{OrgRole, RepoRole, RepoSpec, Scenario};
use std::collections::{BTreeMap, BTreeSet};

/// Why a mutation could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("no repository {0:?}")]
    UnknownRepo(String),
    #[error("repository {repo:?} has no ref {reference:?}")]
    UnknownRef { repo: String, reference: String },
    #[error("no team {0:?}")]
    UnknownTeam(String),
    #[error("no member {0:?}")]
    UnknownUser(String),
    #[error("repository {0:?} already exists")]
    RepoExists(String),
    #[error("the app's public key cannot be read: {0}")]
    InvalidAppKey(String),
}

pub(super) struct User {
    pub id: u64,
    pub login: String,
    pub email: Option<String>,
    pub admin: bool,
}

pub(super) struct Team {
    pub id: u64,
    pub slug: String,
    pub name: String,
    pub members: BTreeSet<String>,
    pub repos: BTreeMap<String, RepoRole>,
}

pub(super) struct Repo {
    pub id: u64,
    pub name: String,
    pub description: Option<String>,
    pub git: History,
    /// Generation of the last push to any ref (GitHub's `pushed_at`).
    pub pushed: u64,
    /// Archived repositories are read-only; GitHub lists them with `archived: true`.
    pub archived: bool,
}

pub(super) struct State {
    pub org_id: u64,
    pub login: String,
    pub name: Option<String>,
    pub token: String,
    pub users: BTreeMap<String, User>,
    pub teams: BTreeMap<String, Team>,
    pub repos: BTreeMap<String, Repo>,
    next_repo_id: u64,
    generation: u64,
}

const FIRST_USER_ID: u64 = 5_000;
const FIRST_TEAM_ID: u64 = 100;
const FIRST_REPO_ID: u64 = 10_000;

impl State {
    pub fn new(scenario: &Scenario) -> Self {
        let users = scenario
            .members
            .iter()
            .zip(FIRST_USER_ID..)
            .map(|(m, id)| {
                let user = User {
                    id,
                    login: m.login.clone(),
                    email: m.email.clone(),
                    admin: m.role == OrgRole::Admin,
                };
                (m.login.clone(), user)
            })
            .collect();
        let teams = scenario
            .teams
            .iter()
            .zip(FIRST_TEAM_ID..)
            .map(|(t, id)| {
                let team = Team {
                    id,
                    slug: t.slug.clone(),
                    name: t.name.clone(),
                    members: t.members.iter().cloned().collect(),
                    repos: t.repos.clone(),
                };
                (t.slug.clone(), team)
            })
            .collect();
        let mut state = Self {
            org_id: 1_000,
            login: scenario.org.login.clone(),
            name: scenario.org.name.clone(),
            token: scenario.token.clone(),
            users,
            teams,
            repos: BTreeMap::new(),
            next_repo_id: FIRST_REPO_ID,
            generation: 0,
        };
        for spec in &scenario.repos {
            state.insert_repo(spec);
        }
        state
    }

    fn insert_repo(&mut self, spec: &RepoSpec) -> u64 {
        let id = self.next_repo_id;
        self.next_repo_id += 1;
        let repo = Repo {
            id,
            name: spec.name.clone(),
            description: spec.description.clone(),
            git: History::from_spec(&spec.name, spec, self.generation),
            pushed: self.generation,
            archived: false,
        };
        self.repos.insert(spec.name.clone(), repo);
        id
    }

    pub fn set_archived(&mut self, repo: &str, archived: bool) -> Result<(), SimError> {
        self.repo_mut(repo)?.archived = archived;
        Ok(())
    }

    fn repo_mut(&mut self, name: &str) -> Result<&mut Repo, SimError> {
        self.repos
            .get_mut(name)
            .ok_or_else(|| SimError::UnknownRepo(name.to_owned()))
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    pub fn add_tag(&mut self, repo: &str, tag: &str) -> Result<String, SimError> {
        let generation = self.next_generation();
        let repo = self.repo_mut(repo)?;
        repo.pushed = generation;
        Ok(repo.git.add_tag(tag, generation))
    }

    pub fn delete_tag(&mut self, repo: &str, tag: &str) -> Result<String, SimError> {
        let generation = self.next_generation();
        let repo = self.repo_mut(repo)?;
        let sha = repo
            .git
            .delete_tag(tag)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.name.clone(),
                reference: tag.to_owned(),
            })?;
        repo.pushed = generation;
        Ok(sha)
    }

    pub fn add_tag_at(&mut self, repo: &str, tag: &str, target: &str) -> Result<String, SimError> {
        let generation = self.next_generation();
        let repo = self.repo_mut(repo)?;
        let sha = repo
            .git
            .add_tag_at(tag, target)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.name.clone(),
                reference: target.to_owned(),
            })?;
        repo.pushed = generation;
        Ok(sha)
    }

    pub fn push_branch(&mut self, repo: &str, branch: &str) -> Result<String, SimError> {
        let generation = self.next_generation();
        let repo = self.repo_mut(repo)?;
        repo.pushed = generation;
        Ok(repo.git.push_branch(branch, generation))
    }

    pub fn set_composer(
        &mut self,
        repo: &str,
        reference: &str,
        composer: Option<Vec<u8>>,
    ) -> Result<String, SimError> {
        let generation = self.next_generation();
        let repo = self.repo_mut(repo)?;
        let sha = repo
            .git
            .set_composer(reference, generation, composer)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.name.clone(),
                reference: reference.to_owned(),
            })?;
        repo.pushed = generation;
        Ok(sha)
    }

    pub fn create_repo(&mut self, spec: &RepoSpec) -> Result<u64, SimError> {
        if self.repos.contains_key(&spec.name) {
            return Err(SimError::RepoExists(spec.name.clone()));
        }
        self.next_generation();
        Ok(self.insert_repo(spec))
    }

    pub fn delete_repo(&mut self, name: &str) -> Result<(), SimError> {
        self.repos
            .remove(name)
            .ok_or_else(|| SimError::UnknownRepo(name.to_owned()))?;
        for team in self.teams.values_mut() {
            team.repos.remove(name);
        }
        Ok(())
    }

    pub fn set_team_member(
        &mut self,
        team: &str,
        login: &str,
        member: bool,
    ) -> Result<(), SimError> {
        if !self.users.contains_key(login) {
            return Err(SimError::UnknownUser(login.to_owned()));
        }
        let team = self
            .teams
            .get_mut(team)
            .ok_or_else(|| SimError::UnknownTeam(team.to_owned()))?;
        if member {
            team.members.insert(login.to_owned());
        } else {
            team.members.remove(login);
        }
        Ok(())
    }

    /// Grants `team` a role on `repo`, or takes its access away (`None`).
    pub fn set_team_repo(
        &mut self,
        team: &str,
        repo: &str,
        role: Option<RepoRole>,
    ) -> Result<(), SimError> {
        if !self.repos.contains_key(repo) {
            return Err(SimError::UnknownRepo(repo.to_owned()));
        }
        let team = self
            .teams
            .get_mut(team)
            .ok_or_else(|| SimError::UnknownTeam(team.to_owned()))?;
        match role {
            Some(role) => team.repos.insert(repo.to_owned(), role),
            None => team.repos.remove(repo),
        };
        Ok(())
    }
}
