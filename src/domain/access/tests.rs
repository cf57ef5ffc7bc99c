use super::*;
use crate::domain::{PackageName, Permission, ProviderKind, RemoteId, TeamKey, Timestamp};
use std::collections::BTreeMap;

fn sid(s: &str) -> SyncId {
    SyncId::new(s).unwrap()
}

fn key(sync: &str, remote: &str) -> TeamKey {
    TeamKey {
        sync: sid(sync),
        remote: RemoteId(remote.into()),
    }
}

fn sync(id: &str, primary: bool) -> Sync {
    Sync {
        id: sid(id),
        provider: ProviderKind::Github,
        api_url: "https://api.github.com".into(),
        org: id.into(),
        primary,
        created_at: Timestamp(0),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    }
}

fn package(name: &str, sync: &str, repo: &str) -> Package {
    Package {
        name: PackageName::new(name).unwrap(),
        origin: sid(sync),
        repo: RemoteId(repo.into()),
        repo_full_name: name.into(),
        clone_url: format!("https://example.test/{name}.git"),
        html_url: format!("https://example.test/{name}"),
        description: None,
        default_branch: "main".into(),
        host: None,
        archived: false,
        abandoned: None,
        manifest_missing: false,
    }
}

fn team(key: TeamKey, kind: TeamKind, members: &[&str], repos: &[(&str, Permission)]) -> Team {
    Team {
        key,
        kind,
        slug: "t".into(),
        name: "T".into(),
        members: members
            .iter()
            .map(|m| (RemoteId((*m).into()), (*m).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        repos: repos
            .iter()
            .map(|(r, p)| (RemoteId((*r).into()), *p))
            .collect(),
    }
}

fn user(id: &str, identities: &[(&str, &str)]) -> User {
    User {
        id: UserId::parse(id),
        identities: identities
            .iter()
            .map(|(s, r)| IdentityKey {
                sync: sid(s),
                remote: RemoteId((*r).into()),
            })
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
    let dir = Directory {
        syncs: &[],
        teams: &[],
        users: &[],
    };
    assert_eq!(
        access_for(&TokenScope::OrgWide, &dir, &[package("acme/a", "gh", "1")]),
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
        TeamKind::Remote,
        &[],
        &[("1", Permission::Read), ("2", Permission::Admin)],
    )];
    let dir = Directory {
        syncs: &[sync("gh", true)],
        teams: &teams,
        users: &[],
    };
    let scope = TokenScope::Team {
        team: key("gh", "7"),
    };
    assert_eq!(
        access_for(&scope, &dir, &packages),
        names(&["acme/admin", "acme/read"])
    );
}

#[test]
fn team_token_sees_nothing_when_repo_id_belongs_to_another_sync() {
    let packages = [package("acme/elsewhere", "gitlab", "1")];
    let teams = [team(
        key("gh", "7"),
        TeamKind::Remote,
        &[],
        &[("1", Permission::Write)],
    )];
    let dir = Directory {
        syncs: &[],
        teams: &teams,
        users: &[],
    };
    assert_eq!(
        access_for(
            &TokenScope::Team {
                team: key("gh", "7")
            },
            &dir,
            &packages
        ),
        names(&[])
    );
}

#[test]
fn team_token_sees_nothing_when_team_is_gone() {
    let packages = [package("acme/a", "gh", "1")];
    let teams = [team(
        key("gh", "8"),
        TeamKind::Remote,
        &[],
        &[("1", Permission::Read)],
    )];
    let dir = Directory {
        syncs: &[],
        teams: &teams,
        users: &[],
    };
    let scope = TokenScope::Team {
        team: key("gh", "7"),
    };
    assert_eq!(access_for(&scope, &dir, &packages), names(&[]));
    assert!(!may_install(&scope, &dir, &packages[0]));
}

#[test]
fn user_sees_the_union_of_their_identities_teams_when_linked_across_syncs() {
    let packages = [
        package("acme/gh", "gh", "1"),
        package("acme/bb", "bb", "1"),
        package("acme/none", "gh", "2"),
    ];
    let teams = [
        team(
            key("gh", "7"),
            TeamKind::Remote,
            &["10"],
            &[("1", Permission::Read)],
        ),
        team(
            key("bb", "8"),
            TeamKind::Remote,
            &["x"],
            &[("1", Permission::Write)],
        ),
    ];
    let users = [
        user("alice", &[("gh", "10"), ("bb", "x")]),
        user("bob", &[("gh", "11")]),
    ];
    let dir = Directory {
        syncs: &[sync("gh", true), sync("bb", false)],
        teams: &teams,
        users: &users,
    };
    assert_eq!(
        access_for(
            &TokenScope::User {
                user: UserId::parse("alice")
            },
            &dir,
            &packages
        ),
        names(&["acme/bb", "acme/gh"])
    );
    assert_eq!(
        access_for(
            &TokenScope::User {
                user: UserId::parse("bob")
            },
            &dir,
            &packages
        ),
        names(&[])
    );
    assert_eq!(
        access_for(
            &TokenScope::User {
                user: UserId::parse("nobody")
            },
            &dir,
            &packages
        ),
        names(&[])
    );
}

#[test]
fn only_owners_of_the_primary_sync_see_everything_when_two_syncs_have_admins() {
    let packages = [package("acme/a", "gh", "1"), package("acme/b", "bb", "2")];
    let teams = [
        team(key("gh", "org-admins"), TeamKind::OrgAdmins, &["10"], &[]),
        team(key("bb", "org-admins"), TeamKind::OrgAdmins, &["y"], &[]),
    ];
    let users = [user("alice", &[("gh", "10")]), user("yves", &[("bb", "y")])];
    let dir = Directory {
        syncs: &[sync("gh", true), sync("bb", false)],
        teams: &teams,
        users: &users,
    };
    assert_eq!(dir.owners(), BTreeSet::from([UserId::parse("alice")]));
    assert_eq!(
        access_for(
            &TokenScope::User {
                user: UserId::parse("alice")
            },
            &dir,
            &packages
        ),
        names(&["acme/a", "acme/b"])
    );
    assert_eq!(
        access_for(
            &TokenScope::User {
                user: UserId::parse("yves")
            },
            &dir,
            &packages
        ),
        names(&[])
    );
    let owners_team = TokenScope::Team {
        team: key("gh", "org-admins"),
    };
    assert_eq!(
        access_for(&owners_team, &dir, &packages),
        names(&["acme/a", "acme/b"])
    );
}
