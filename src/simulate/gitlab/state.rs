//! The simulated group hierarchy's live state and the mutations tests apply.
//!
//! Commits are content-addressed like git's: a SHA is the SHA-1 of the
//! project, the ref, a generation counter and the composer.json bytes, so
//! every run of a scenario gives the same SHAs and every mutation a new one.

use super::super::SimError;
use super::super::history::History;
use super::super::scenario::{OrgRole, RepoRole, RepoSpec, Scenario};
use std::collections::BTreeMap;

/// GitLab's access levels.
pub(super) const REPORTER: u32 = 20;
pub(super) const DEVELOPER: u32 = 30;
pub(super) const MAINTAINER: u32 = 40;
pub(super) const OWNER: u32 = 50;

pub(super) struct User {
    pub id: u64,
    pub username: String,
    pub email: Option<String>,
}

pub(super) struct Group {
    pub id: u64,
    pub name: String,
    pub path: String,
    /// Direct members: username → access level.
    pub members: BTreeMap<String, u32>,
}

pub(super) struct Project {
    pub id: u64,
    pub path: String,
    pub description: Option<String>,
    pub git: History,
    /// Generation of the last push to any ref (GitLab's `last_activity_at`).
    pub activity: u64,
    /// Subgroup path → the access level the project is shared with it at.
    pub shares: BTreeMap<String, u32>,
}

pub(super) struct State {
    pub token: String,
    pub top: Group,
    /// Subgroups of `top`, by path.
    pub subgroups: BTreeMap<String, Group>,
    pub users: BTreeMap<String, User>,
    /// Projects of `top`, by path.
    pub projects: BTreeMap<String, Project>,
    /// Whether the top group has GitLab Premium, which group hooks need.
    pub premium: bool,
    /// Each hook's `enable_ssl_verification`, by hook id (the shared hook
    /// registry has no place for it).
    pub hook_ssl: BTreeMap<u64, bool>,
    next_project_id: u64,
    generation: u64,
}

const TOP_GROUP_ID: u64 = 100;
const FIRST_USER_ID: u64 = 5_000;
const FIRST_PROJECT_ID: u64 = 10_000;

/// The level a project is shared with a team's subgroup at. A project share
/// stops at Maintainer, so admin and maintain both become Maintainer.
fn share_level(role: RepoRole) -> u32 {
    match role {
        RepoRole::Pull | RepoRole::Triage => REPORTER,
        RepoRole::Push => DEVELOPER,
        RepoRole::Maintain | RepoRole::Admin => MAINTAINER,
    }
}

impl State {
    pub fn new(scenario: &Scenario) -> Self {
        let users = scenario
            .members
            .iter()
            .zip(FIRST_USER_ID..)
            .map(|(m, id)| {
                let user = User {
                    id,
                    username: m.login.clone(),
                    email: m.email.clone(),
                };
                (m.login.clone(), user)
            })
            .collect();
        let top = Group {
            id: TOP_GROUP_ID,
            name: scenario
                .org
                .name
                .clone()
                .unwrap_or_else(|| scenario.org.login.clone()),
            path: scenario.org.login.clone(),
            members: scenario
                .members
                .iter()
                .filter(|m| m.role == OrgRole::Admin)
                .map(|m| (m.login.clone(), OWNER))
                .collect(),
        };
        let subgroups = scenario
            .teams
            .iter()
            .zip(TOP_GROUP_ID + 1..)
            .map(|(t, id)| {
                let group = Group {
                    id,
                    name: t.name.clone(),
                    path: t.slug.clone(),
                    members: t.members.iter().map(|m| (m.clone(), DEVELOPER)).collect(),
                };
                (t.slug.clone(), group)
            })
            .collect();
        let mut state = Self {
            token: scenario.token.clone(),
            top,
            subgroups,
            users,
            projects: BTreeMap::new(),
            premium: true,
            hook_ssl: BTreeMap::new(),
            next_project_id: FIRST_PROJECT_ID,
            generation: 0,
        };
        for spec in &scenario.repos {
            state.insert_project(spec);
        }
        for team in &scenario.teams {
            for (repo, role) in &team.repos {
                if let Some(project) = state.projects.get_mut(repo) {
                    project.shares.insert(team.slug.clone(), share_level(*role));
                }
            }
        }
        state
    }

    /// A group by its full path (`acme` or `acme/platform`) or numeric id.
    pub fn group(&self, id: &str) -> Option<&Group> {
        let by_id = id.parse::<u64>().ok();
        if by_id == Some(self.top.id) || id == self.top.path {
            return Some(&self.top);
        }
        match by_id {
            Some(n) => self.subgroups.values().find(|g| g.id == n),
            None => {
                let path = id.strip_prefix(&format!("{}/", self.top.path))?;
                self.subgroups.get(path)
            }
        }
    }

    pub fn full_path(&self, group: &Group) -> String {
        if group.id == self.top.id {
            group.path.clone()
        } else {
            format!("{}/{}", self.top.path, group.path)
        }
    }

    /// A project by its full path (`acme/log`) or numeric id.
    pub fn project(&self, id: &str) -> Option<&Project> {
        match id.parse::<u64>() {
            Ok(n) => self.projects.values().find(|p| p.id == n),
            Err(_) => {
                let path = id.strip_prefix(&format!("{}/", self.top.path))?;
                self.projects.get(path)
            }
        }
    }

    /// The group's members with their highest level, inherited from the top
    /// group included, as `/members/all` reports them.
    pub fn members_all(&self, group: &Group) -> Vec<(&User, u32)> {
        let mut levels: BTreeMap<&str, u32> = BTreeMap::new();
        for (name, level) in self.top.members.iter().chain(&group.members) {
            let entry = levels.entry(name).or_default();
            *entry = (*entry).max(*level);
        }
        let mut members: Vec<(&User, u32)> = levels
            .into_iter()
            .filter_map(|(name, level)| Some((self.users.get(name)?, level)))
            .collect();
        members.sort_by_key(|(u, _)| u.id);
        members
    }

    fn insert_project(&mut self, spec: &RepoSpec) -> u64 {
        let id = self.next_project_id;
        self.next_project_id += 1;
        let project = Project {
            id,
            path: spec.name.clone(),
            description: spec.description.clone(),
            git: History::from_spec(&spec.name, spec, self.generation),
            activity: self.generation,
            shares: BTreeMap::new(),
        };
        self.projects.insert(spec.name.clone(), project);
        id
    }

    /// Advances the clock and returns the project to change.
    fn touch(&mut self, name: &str) -> Result<(u64, &mut Project), SimError> {
        self.generation += 1;
        let generation = self.generation;
        let project = self
            .projects
            .get_mut(name)
            .ok_or_else(|| SimError::UnknownRepo(name.to_owned()))?;
        project.activity = generation;
        Ok((generation, project))
    }

    pub fn add_tag(&mut self, repo: &str, tag: &str) -> Result<String, SimError> {
        let (generation, project) = self.touch(repo)?;
        Ok(project.git.add_tag(tag, generation))
    }

    pub fn add_tag_at(&mut self, repo: &str, tag: &str, target: &str) -> Result<String, SimError> {
        let (_, project) = self.touch(repo)?;
        project
            .git
            .add_tag_at(tag, target)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.to_owned(),
                reference: target.to_owned(),
            })
    }

    pub fn push_branch(&mut self, repo: &str, branch: &str) -> Result<String, SimError> {
        let (generation, project) = self.touch(repo)?;
        Ok(project.git.push_branch(branch, generation))
    }

    pub fn set_composer(
        &mut self,
        repo: &str,
        reference: &str,
        composer: Option<Vec<u8>>,
    ) -> Result<String, SimError> {
        let (generation, project) = self.touch(repo)?;
        project
            .git
            .set_composer(reference, generation, composer)
            .ok_or_else(|| SimError::UnknownRef {
                repo: repo.to_owned(),
                reference: reference.to_owned(),
            })
    }

    pub fn create_repo(&mut self, spec: &RepoSpec) -> Result<u64, SimError> {
        if self.projects.contains_key(&spec.name) {
            return Err(SimError::RepoExists(spec.name.clone()));
        }
        self.generation += 1;
        Ok(self.insert_project(spec))
    }

    pub fn delete_repo(&mut self, name: &str) -> Result<(), SimError> {
        self.projects
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| SimError::UnknownRepo(name.to_owned()))
    }

    /// Adds `username` to a team's subgroup as a Developer, or removes them.
    /// Returns the level of the membership added or removed; `None` when
    /// there was nothing to remove.
    pub fn set_team_member(
        &mut self,
        team: &str,
        username: &str,
        member: bool,
    ) -> Result<Option<u32>, SimError> {
        if !self.users.contains_key(username) {
            return Err(SimError::UnknownUser(username.to_owned()));
        }
        let group = self
            .subgroups
            .get_mut(team)
            .ok_or_else(|| SimError::UnknownTeam(team.to_owned()))?;
        Ok(if member {
            group.members.insert(username.to_owned(), DEVELOPER);
            Some(DEVELOPER)
        } else {
            group.members.remove(username)
        })
    }
}
