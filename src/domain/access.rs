//! Which packages a token may install. Pure, so the server and the admin
//! views apply exactly the same rule.

use super::{Access, Package, Team, TokenScope};

/// Whether a token with `scope` may install `package`. `teams` needs to hold
/// at least the scope's team; others are ignored.
///
/// A team sees the packages of its own sync whose repository it may install
/// from: team keys are namespaced by sync, and a repository id means nothing
/// at another host.
pub fn may_install(scope: &TokenScope, teams: &[Team], package: &Package) -> bool {
    match scope {
        TokenScope::OrgWide => true,
        TokenScope::Team { team } => teams.iter().any(|t| {
            &t.key == team
                && package.origin == t.key.sync
                && t.repos.get(&package.repo).is_some_and(|p| p.may_install())
        }),
    }
}

/// The set of packages a token with `scope` may install, out of `packages`.
pub fn access_for(scope: &TokenScope, teams: &[Team], packages: &[Package]) -> Access {
    match scope {
        TokenScope::OrgWide => Access::All,
        TokenScope::Team { .. } => Access::Only(
            packages
                .iter()
                .filter(|p| may_install(scope, teams, p))
                .map(|p| p.name.clone())
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PackageName, Permission, RemoteId, SyncId, TeamKey, TeamKind};
    use std::collections::{BTreeMap, BTreeSet};

    fn key(sync: &str, remote: &str) -> TeamKey {
        TeamKey {
            sync: SyncId::new(sync).unwrap(),
            remote: RemoteId(remote.into()),
        }
    }

    fn package(name: &str, sync: &str, repo: &str) -> Package {
        Package {
            name: PackageName::new(name).unwrap(),
            origin: SyncId::new(sync).unwrap(),
            repo: RemoteId(repo.into()),
            repo_full_name: name.into(),
            clone_url: format!("https://example.test/{name}.git"),
            html_url: format!("https://example.test/{name}"),
            description: None,
            default_branch: "main".into(),
        }
    }

    fn team(key: TeamKey, repos: &[(&str, Permission)]) -> Team {
        Team {
            key,
            kind: TeamKind::Remote,
            slug: "backend".into(),
            name: "Backend".into(),
            members: BTreeMap::new(),
            repos: repos
                .iter()
                .map(|(r, p)| (RemoteId((*r).into()), *p))
                .collect(),
        }
    }

    fn names(list: &[&str]) -> Access {
        Access::Only(
            list.iter()
                .map(|n| PackageName::new(n).unwrap())
                .collect::<BTreeSet<_>>(),
        )
    }

    #[test]
    fn org_wide_token_sees_everything_when_scoped_to_org() {
        let packages = [package("acme/a", "gh", "1")];
        assert_eq!(
            access_for(&TokenScope::OrgWide, &[], &packages),
            Access::All
        );
    }

    #[test]
    fn team_token_sees_only_repos_it_may_install_when_scoped_to_team() {
        let packages = [
            package("acme/read", "gh", "1"),
            package("acme/admin", "gh", "2"),
            package("acme/other", "gh", "3"),
        ];
        let teams = [team(
            key("gh", "7"),
            &[("1", Permission::Read), ("2", Permission::Admin)],
        )];
        let scope = TokenScope::Team {
            team: key("gh", "7"),
        };
        assert_eq!(
            access_for(&scope, &teams, &packages),
            names(&["acme/admin", "acme/read"])
        );
    }

    #[test]
    fn team_token_sees_nothing_when_repo_id_belongs_to_another_sync() {
        // Same remote repo id "1", but at another host.
        let packages = [package("acme/elsewhere", "gitlab", "1")];
        let teams = [team(key("gh", "7"), &[("1", Permission::Write)])];
        let scope = TokenScope::Team {
            team: key("gh", "7"),
        };
        assert_eq!(access_for(&scope, &teams, &packages), names(&[]));
    }

    #[test]
    fn team_token_sees_nothing_when_team_is_gone() {
        let packages = [package("acme/a", "gh", "1")];
        let teams = [team(key("gh", "8"), &[("1", Permission::Read)])];
        let scope = TokenScope::Team {
            team: key("gh", "7"),
        };
        assert_eq!(access_for(&scope, &teams, &packages), names(&[]));
        assert!(!may_install(&scope, &teams, &packages[0]));
    }
}
