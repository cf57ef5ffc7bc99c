//! The simulated instance's live state and the mutations tests apply.
//!
//! Commits are content-addressed like git's: a SHA is the SHA-1 of the
//! repository, the ref, a generation counter and the composer.json bytes, so
//! every run of a scenario gives the same SHAs and every mutation a new one.

use super::super::github::SimError;
use super::super::history::History;
use super::super::scenario::{OrgRole, RepoRole, RepoSpec, Scenario};
use std::collections::{BTreeMap, BTreeSet};

/// The group every Bitbucket user is in, holding the licence.
pub(super) const USERS_GROUP: &str = "stash-users";
/// The group holding global `ADMIN`: every org admin but the first.
pub(super) const ADMINS_GROUP: &str = "administrators";
/// The account the token belongs to when the scenario has no admin.
const SETUP_ACCOUNT: &str = "admin";

pub(super) struct User {
    pub id: u64,
    pub name: String,
    pub email: Option<String>,
}

pub(super) struct Project {
    pub id: u64,
    pub key: String,
    pub name: String,
    /// Group name → project permission (`PROJECT_READ`…).
    pub groups: BTreeMap<String, &'static str>,
    /// User name → project permission, granted directly.
    pub users: BTreeMap<String, &'static str>,
}

pub(super) struct Repo {
    pub id: u64,
    pub slug: String,
    pub project: String,
    pub git: History,
}

pub(super) struct State {
    pub token: String,
    /// The account the token belongs to (Basic auth username).
    pub username: String,
    pub users: BTreeMap<String, User>,
    /// Group name → member names.
    pub groups: BTreeMap<String, BTreeSet<String>>,
    /// Global permissions granted to users and to groups.
    pub global_users: BTreeMap<String, &'static str>,
    pub global_groups: BTreeMap<String, &'static str>,
    /// By project key.
    pub projects: BTreeMap<String, Project>,
    /// By scenario repository name (= slug).
    pub repos: BTreeMap<String, Repo>,
    /// Hook id → name. The shared hook registry has no place for it, and
    /// Bitbucket shows it back.
    pub hook_names: BTreeMap<u64, String>,
    next_project_id: u64,
    next_repo_id: u64,
    generation: u64,
}

/// The project permission a scenario role becomes.
pub(super) fn project_permission(role: RepoRole) -> &'static str {
    match role {
        RepoRole::Pull | RepoRole::Triage => "PROJECT_READ",
        RepoRole::Push | RepoRole::Maintain => "PROJECT_WRITE",
        RepoRole::Admin => "PROJECT_ADMIN",
    }
}

/// A project key for a repository name: upper case, `_` for anything that is
/// not a letter or digit, and a leading letter as Bitbucket requires.
fn project_key(name: &str) -> String {
    let key: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    if key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        key
    } else {
        format!("P{key}")
    }
}

impl State {
    pub fn new(scenario: &Scenario) -> Self {
        let users: BTreeMap<String, User> = scenario
            .members
            .iter()
            .zip(1..)
            .map(|(m, id)| {
                let user = User {
                    id,
                    name: m.login.clone(),
                    email: m.email.clone(),
                };
                (m.login.clone(), user)
            })
            .collect();
        let admins: Vec<&str> = scenario
            .members
            .iter()
            .filter(|m| m.role == OrgRole::Admin)
            .map(|m| m.login.as_str())
            .collect();
        let username = admins.first().copied().unwrap_or(SETUP_ACCOUNT).to_owned();
        let mut groups: BTreeMap<String, BTreeSet<String>> = scenario
            .teams
            .iter()
            .map(|t| (t.slug.clone(), t.members.iter().cloned().collect()))
            .collect();
        groups.insert(USERS_GROUP.to_owned(), users.keys().cloned().collect());
        groups.insert(
            ADMINS_GROUP.to_owned(),
            admins.iter().skip(1).map(|a| (*a).to_owned()).collect(),
        );
        let mut state = Self {
            token: scenario.token.clone(),
            global_users: admins
                .first()
                .map(|a| ((*a).to_owned(), "SYS_ADMIN"))
                .into_iter()
                .collect(),
            global_groups: [(USERS_GROUP, "LICENSED_USER"), (ADMINS_GROUP, "ADMIN")]
                .into_iter()
                .map(|(g, p)| (g.to_owned(), p))
                .collect(),
            username,
            users,
            groups,
            projects: BTreeMap::new(),
            repos: BTreeMap::new(),
            hook_names: BTreeMap::new(),
            next_project_id: 1,
            next_repo_id: 1,
            generation: 0,
        };
        for spec in &scenario.repos {
            state.insert_repo(spec);
        }
        for team in &scenario.teams {
            for (repo, role) in &team.repos {
                if let Some(project) = state.project_of_mut(repo) {
                    project
                        .groups
                        .insert(team.slug.clone(), project_permission(*role));
                }
            }
        }
        state
    }

    fn project_of_mut(&mut self, repo: &str) -> Option<&mut Project> {
        let key = &self.repos.get(repo)?.project;
        self.projects.get_mut(key)
    }

    /// The project (matched case-insensitively, as Bitbucket does) and one
    /// of its repositories.
    pub fn repo(&self, key: &str, slug: &str) -> Option<&Repo> {
        let project = self.project(key)?;
        self.repos
            .values()
            .find(|r| r.project == project.key && r.slug == slug)
    }

    pub fn project(&self, key: &str) -> Option<&Project> {
        self.projects.get(&key.to_ascii_uppercase())
    }

    /// Each scenario repository lives alone in its own project.
    fn insert_repo(&mut self, spec: &RepoSpec) -> u64 {
        let mut key = project_key(&spec.name);
        while self.projects.contains_key(&key) {
            key.push('_');
        }
        self.projects.insert(
            key.clone(),
            Project {
                id: self.next_project_id,
                key: key.clone(),
                name: spec.name.clone(),
                groups: BTreeMap::new(),
                users: BTreeMap::new(),
            },
        );
        self.next_project_id += 1;
        let id = self.next_repo_id;
        self.next_repo_id += 1;
        let repo = Repo {
            id,
            slug: spec.name.clone(),
            project: key,
            git: History::from_spec(&spec.name, spec, self.generation),
        };
        self.repos.insert(spec.name.clone(), repo);
        id
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
        Ok(self.repo_mut(repo)?.git.add_tag(tag, generation))
    }

    pub fn add_tag_at(&mut self, repo: &str, tag: &str, target: &str) -> Result<String, SimError> {
        let repo = self.repo_mut(repo)?;
        repo.git
            .add_tag_at(tag, target)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.slug.clone(),
                reference: target.to_owned(),
            })
    }

    pub fn push_branch(&mut self, repo: &str, branch: &str) -> Result<String, SimError> {
        let generation = self.next_generation();
        Ok(self.repo_mut(repo)?.git.push_branch(branch, generation))
    }

    pub fn set_composer(
        &mut self,
        repo: &str,
        reference: &str,
        composer: Option<Vec<u8>>,
    ) -> Result<String, SimError> {
        let generation = self.next_generation();
        let repo = self.repo_mut(repo)?;
        repo.git
            .set_composer(reference, generation, composer)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.slug.clone(),
                reference: reference.to_owned(),
            })
    }

    pub fn create_repo(&mut self, spec: &RepoSpec) -> Result<u64, SimError> {
        if self.repos.contains_key(&spec.name) {
            return Err(SimError::RepoExists(spec.name.clone()));
        }
        self.next_generation();
        Ok(self.insert_repo(spec))
    }

    /// Deletes the repository and its project, with the project's grants.
    pub fn delete_repo(&mut self, name: &str) -> Result<(), SimError> {
        let repo = self
            .repos
            .remove(name)
            .ok_or_else(|| SimError::UnknownRepo(name.to_owned()))?;
        self.projects.remove(&repo.project);
        Ok(())
    }

    /// Grants `login` a project permission on `repo`'s project directly.
    pub fn grant_user(&mut self, repo: &str, login: &str, role: RepoRole) -> Result<(), SimError> {
        if !self.users.contains_key(login) {
            return Err(SimError::UnknownUser(login.to_owned()));
        }
        let project = self
            .project_of_mut(repo)
            .ok_or_else(|| SimError::UnknownRepo(repo.to_owned()))?;
        project
            .users
            .insert(login.to_owned(), project_permission(role));
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
        let members = self
            .groups
            .get_mut(group)
            .ok_or_else(|| SimError::UnknownTeam(group.to_owned()))?;
        if member {
            members.insert(login.to_owned());
        } else {
            members.remove(login);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_key_is_upper_case_and_starts_with_a_letter_when_derived() {
        assert_eq!(project_key("http-client"), "HTTP_CLIENT");
        assert_eq!(project_key("9lives"), "P9LIVES");
    }
}
