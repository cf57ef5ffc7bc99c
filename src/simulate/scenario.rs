//! What a simulated organization contains: loaded from TOML (see the module
//! docs of [`crate::simulate`] for the shape) or generated for benchmarks.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario is not valid TOML: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("scenario is inconsistent: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The only token the simulator accepts.
    pub token: String,
    pub org: OrgSpec,
    #[serde(default)]
    pub members: Vec<MemberSpec>,
    #[serde(default)]
    pub teams: Vec<TeamSpec>,
    #[serde(default)]
    pub repos: Vec<RepoSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgSpec {
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    Admin,
    #[default]
    Member,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberSpec {
    pub login: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: OrgRole,
}

/// GitHub's repository roles, least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RepoRole {
    Pull,
    Triage,
    Push,
    Maintain,
    Admin,
}

impl RepoRole {
    pub const ALL: [RepoRole; 5] = [
        RepoRole::Pull,
        RepoRole::Triage,
        RepoRole::Push,
        RepoRole::Maintain,
        RepoRole::Admin,
    ];
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSpec {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub members: Vec<String>,
    /// Repository name → the team's role on it.
    #[serde(default)]
    pub repos: BTreeMap<String, RepoRole>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSpec {
    pub name: String,
    #[serde(default = "default_branch")]
    pub default_branch: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Branches besides the default one.
    #[serde(default)]
    pub branches: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// composer.json at every ref; absent means the repository has none.
    #[serde(default)]
    pub composer: Option<Map<String, Value>>,
    /// Refs whose composer.json is broken JSON.
    #[serde(default)]
    pub invalid_composer: Vec<String>,
    /// Per ref, top-level keys that replace those of `composer` there.
    #[serde(default)]
    pub overrides: BTreeMap<String, Map<String, Value>>,
}

fn default_branch() -> String {
    "main".to_owned()
}

impl RepoSpec {
    /// A repository with only a default branch `main` and no composer.json.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            default_branch: default_branch(),
            description: None,
            branches: Vec::new(),
            tags: Vec::new(),
            composer: None,
            invalid_composer: Vec::new(),
            overrides: BTreeMap::new(),
        }
    }

    /// Every branch, the default one first.
    pub fn all_branches(&self) -> Vec<&str> {
        let mut all = vec![self.default_branch.as_str()];
        all.extend(
            self.branches
                .iter()
                .map(String::as_str)
                .filter(|b| *b != self.default_branch),
        );
        all
    }

    /// The composer.json bytes at `reference`, `None` when there is none.
    pub fn composer_at(&self, reference: &str) -> Option<Vec<u8>> {
        let base = self.composer.as_ref()?;
        if self.invalid_composer.iter().any(|r| r == reference) {
            return Some(b"{\n    \"name\": \"broken\",\n".to_vec());
        }
        let mut manifest = base.clone();
        if let Some(over) = self.overrides.get(reference) {
            manifest.extend(over.clone());
        }
        serde_json::to_vec_pretty(&manifest).ok()
    }
}

/// Sizes of a generated organization, for benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneratedSpec {
    pub repos: usize,
    /// The first `with_composer` repositories have a composer.json.
    pub with_composer: usize,
    pub tags: usize,
    /// Branches per repository, the default one included.
    pub branches: usize,
    pub teams: usize,
    pub members: usize,
}

impl Scenario {
    pub fn from_toml_str(text: &str) -> Result<Self, ScenarioError> {
        let scenario: Scenario = toml::from_str(text)?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn load(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text)
    }

    /// Checks that every name a team or override refers to exists.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let invalid = |m: String| Err(ScenarioError::Invalid(m));
        let mut logins = BTreeSet::new();
        for m in &self.members {
            if !logins.insert(m.login.as_str()) {
                return invalid(format!("member {:?} is listed twice", m.login));
            }
        }
        let mut repos = BTreeSet::new();
        for r in &self.repos {
            if !repos.insert(r.name.as_str()) {
                return invalid(format!("repository {:?} is listed twice", r.name));
            }
            let refs: BTreeSet<&str> = r
                .all_branches()
                .into_iter()
                .chain(r.tags.iter().map(String::as_str))
                .collect();
            for reference in r.invalid_composer.iter().chain(r.overrides.keys()) {
                if !refs.contains(reference.as_str()) {
                    return invalid(format!("repository {:?} has no ref {reference:?}", r.name));
                }
            }
        }
        let mut slugs = BTreeSet::new();
        for t in &self.teams {
            if !slugs.insert(t.slug.as_str()) {
                return invalid(format!("team {:?} is listed twice", t.slug));
            }
            if let Some(m) = t.members.iter().find(|m| !logins.contains(m.as_str())) {
                return invalid(format!("team {:?} lists unknown member {m:?}", t.slug));
            }
            if let Some(r) = t.repos.keys().find(|r| !repos.contains(r.as_str())) {
                return invalid(format!("team {:?} lists unknown repository {r:?}", t.slug));
            }
        }
        Ok(())
    }

    /// A large organization with deterministic contents: each member is in
    /// up to two teams, each team has a slice of the repositories with roles
    /// cycling through all five, and each package requires the previous one.
    pub fn generated(spec: GeneratedSpec) -> Self {
        let admins = (spec.members / 1000).max(1);
        let members: Vec<MemberSpec> = (0..spec.members)
            .map(|i| MemberSpec {
                login: format!("user-{i:05}"),
                email: Some(format!("user-{i:05}@bench.test")),
                role: if i < admins {
                    OrgRole::Admin
                } else {
                    OrgRole::Member
                },
            })
            .collect();
        let repos: Vec<RepoSpec> = (0..spec.repos).map(|i| generated_repo(i, &spec)).collect();
        let teams = (0..spec.teams)
            .map(|t| {
                let spread = |i: usize| i % spec.teams == t || (i * 7 + 3) % spec.teams == t;
                TeamSpec {
                    slug: format!("team-{t:04}"),
                    name: format!("Team {t}"),
                    members: members
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| spread(*i))
                        .map(|(_, m)| m.login.clone())
                        .collect(),
                    repos: repos
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| spread(*i))
                        .map(|(i, r)| (r.name.clone(), RepoRole::ALL[(i + t) % 5]))
                        .collect(),
                }
            })
            .collect();
        Self {
            token: "sim-token".to_owned(),
            org: OrgSpec {
                login: "bench".to_owned(),
                name: Some("Benchmark Org".to_owned()),
            },
            members,
            teams,
            repos,
        }
    }
}

fn generated_repo(i: usize, spec: &GeneratedSpec) -> RepoSpec {
    let name = format!("repo-{i:05}");
    let composer = (i < spec.with_composer).then(|| {
        let mut require = Map::new();
        require.insert("php".into(), ">=8.1".into());
        if i > 0 {
            require.insert(format!("bench/repo-{:05}", i - 1), "^1.0".into());
        }
        let json = serde_json::json!({
            "name": format!("bench/{name}"),
            "description": format!("Generated package {i}"),
            "license": "MIT",
            "require": require,
            "autoload": { "psr-4": { format!("Bench\\Repo{i}\\"): "src/" } },
        });
        match json {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    });
    RepoSpec {
        description: Some(format!("Generated repository {i}")),
        branches: (1..spec.branches).map(|b| format!("{b}.x")).collect(),
        tags: (0..spec.tags).map(|t| format!("v1.{t}.0")).collect(),
        composer,
        ..RepoSpec::new(&name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_is_rejected_when_team_names_unknown_member() {
        let text = r#"
            token = "t"
            [org]
            login = "acme"
            [[teams]]
            slug = "core"
            name = "Core"
            members = ["ghost"]
        "#;
        assert!(matches!(
            Scenario::from_toml_str(text),
            Err(ScenarioError::Invalid(_))
        ));
    }

    #[test]
    fn composer_applies_override_when_ref_has_one() {
        let text = r#"
            token = "t"
            [org]
            login = "acme"
            [[repos]]
            name = "log"
            tags = ["v1.0.0", "v0.9.0"]
            invalid_composer = ["v0.9.0"]
            composer = { name = "acme/log", require = { php = ">=8.1" } }
            overrides = { "v1.0.0" = { require = { php = ">=7.4" } } }
        "#;
        let s = Scenario::from_toml_str(text).unwrap();
        let repo = &s.repos[0];
        let at = |r: &str| repo.composer_at(r).unwrap();
        let v1: Value = serde_json::from_slice(&at("v1.0.0")).unwrap();
        assert_eq!(v1["require"]["php"], ">=7.4");
        let main: Value = serde_json::from_slice(&at("main")).unwrap();
        assert_eq!(main["require"]["php"], ">=8.1");
        assert!(serde_json::from_slice::<Value>(&at("v0.9.0")).is_err());
    }

    #[test]
    fn generated_scenario_is_valid_when_large() {
        let s = Scenario::generated(GeneratedSpec {
            repos: 50,
            with_composer: 30,
            tags: 5,
            branches: 2,
            teams: 7,
            members: 40,
        });
        s.validate().unwrap();
        assert_eq!(s.repos.iter().filter(|r| r.composer.is_some()).count(), 30);
        assert!(
            s.teams
                .iter()
                .all(|t| !t.members.is_empty() && !t.repos.is_empty())
        );
        assert_eq!(s.repos[0].all_branches(), ["main", "1.x"]);
    }
}
