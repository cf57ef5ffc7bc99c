//! Sample records for the dashboard's unit and snapshot tests: two syncs
//! (the primary GitHub one has run), a few packages, teams, users, tokens,
//! and a fixed clock so relative times are stable.

use super::app::{App, Mode, Msg, Reply};
use super::theme::Theme;
use crate::admin::{PackageSummary, UserSummary};
use crate::domain::{
    HookState, Identity, InstalledHooks, Package, PackageName, Permission, PlanSummary, Problem,
    ProviderKind, RemoteId, RunSummary, Sync, SyncId, Team, TeamKey, TeamKind, Timestamp, Token,
    TokenScope, UserId,
};
use std::collections::BTreeMap;

pub const NOW: Timestamp = Timestamp(1_764_000_000);

pub fn sync_id(name: &str) -> SyncId {
    SyncId::new(name).expect("valid sample sync name")
}

pub fn package_name(name: &str) -> PackageName {
    PackageName::new(name).expect("valid sample package name")
}

fn sync(name: &str, provider: ProviderKind, org: &str, primary: bool) -> Sync {
    Sync {
        id: sync_id(name),
        provider,
        api_url: match provider {
            ProviderKind::Gitlab => "https://gitlab.com/api/v4".to_owned(),
            _ => "https://api.github.com".to_owned(),
        },
        org: org.to_owned(),
        primary,
        created_at: Timestamp(NOW.0 - 86_400),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    }
}

pub fn syncs() -> Vec<Sync> {
    let mut github = sync("acme-github", ProviderKind::Github, "acme", true);
    github.last_run = Some(RunSummary {
        started_at: Timestamp(NOW.0 - 190),
        finished_at: Timestamp(NOW.0 - 180),
        error: None,
        partial: false,
        guarded: false,
        changes: PlanSummary {
            packages_added: 4,
            versions_added: 12,
            teams_added: 2,
            ..PlanSummary::default()
        },
        problems: vec![Problem {
            subject: "acme/http-client".to_owned(),
            reference: Some("release-candidate".to_owned()),
            message: "tag is not a valid Composer version; skipped".to_owned(),
        }],
        conflicts: vec![],
        prefetched: 0,
        prefetch_bytes: 0,
        requests: 42,
        not_modified: 0,
        budget: None,
    });
    github.hooks = Some(HookState {
        url: "https://packages.acme.test/webhooks/acme-github".to_owned(),
        installed: InstalledHooks {
            org: Some("292430182".to_owned()),
            ..InstalledHooks::default()
        },
        checked_at: Timestamp(NOW.0 - 180),
        error: None,
    });
    vec![
        github,
        sync("acme-gitlab", ProviderKind::Gitlab, "acme-group", false),
    ]
}

fn package(name: &str, origin: &str, repo: &str, latest: &str, versions: usize) -> PackageSummary {
    PackageSummary {
        package: Package {
            name: package_name(name),
            origin: sync_id(origin),
            repo: RemoteId(repo.to_owned()),
            repo_full_name: name.to_owned(),
            clone_url: format!("https://example.test/{name}.git"),
            html_url: format!("https://example.test/{name}"),
            description: None,
            default_branch: "main".to_owned(),
            host: None,
            archived: false,
            abandoned: None,
            manifest_missing: false,
        },
        versions,
        latest: Some(latest.to_owned()),
        updated_at: Some(Timestamp(NOW.0 - 180)),
        dist_bytes: versions as u64 * 48_000,
    }
}

pub fn packages() -> Vec<PackageSummary> {
    vec![
        package("acme/cache", "acme-github", "1", "v1.1.0", 4),
        package("acme/config", "acme-github", "2", "v1.0.0", 2),
        package("acme/log", "acme-github", "3", "v1.1.2", 6),
        package("acme/billing", "acme-gitlab", "7", "2.0.0", 3),
    ]
}

fn team(
    sync: &str,
    remote: &str,
    slug: &str,
    kind: TeamKind,
    members: &[&str],
    repos: &[&str],
) -> Team {
    Team {
        key: TeamKey {
            sync: sync_id(sync),
            remote: RemoteId(remote.to_owned()),
        },
        kind,
        slug: slug.to_owned(),
        name: slug[..1].to_uppercase() + &slug[1..],
        members: members
            .iter()
            .enumerate()
            .map(|(i, m)| (RemoteId(format!("{}", 100 + i)), (*m).to_owned()))
            .collect(),
        repos: repos
            .iter()
            .map(|r| (RemoteId((*r).to_owned()), Permission::Read))
            .collect::<BTreeMap<_, _>>(),
    }
}

pub fn teams() -> Vec<Team> {
    vec![
        team(
            "acme-github",
            "11",
            "platform",
            TeamKind::Remote,
            &["alice", "carol"],
            &["1", "3"],
        ),
        team(
            "acme-github",
            Team::ORG_ADMINS_ID,
            "owners",
            TeamKind::OrgAdmins,
            &["alice", "bob"],
            &[],
        ),
        team(
            "acme-gitlab",
            "21",
            "backend",
            TeamKind::Remote,
            &["carol"],
            &["7"],
        ),
    ]
}

fn user(id: &str, owner: bool, syncs: &[&str], teams: &[(&str, &str)]) -> UserSummary {
    UserSummary {
        id: UserId::parse(id),
        owner,
        identities: syncs
            .iter()
            .map(|s| Identity {
                sync: sync_id(s),
                remote: RemoteId(format!("{id}-{s}")),
                login: id.to_owned(),
                email: None,
            })
            .collect(),
        teams: teams
            .iter()
            .map(|(s, r)| TeamKey {
                sync: sync_id(s),
                remote: RemoteId((*r).to_owned()),
            })
            .collect(),
    }
}

pub fn users() -> Vec<UserSummary> {
    vec![
        user("alice", true, &["acme-github"], &[("acme-github", "11")]),
        user("bob", true, &["acme-github"], &[]),
        user(
            "carol",
            false,
            &["acme-github", "acme-gitlab"],
            &[("acme-github", "11"), ("acme-gitlab", "21")],
        ),
    ]
}

pub fn tokens() -> Vec<Token> {
    vec![
        Token {
            id: "3f9a0c1d2e4b".to_owned(),
            label: "ci".to_owned(),
            scope: TokenScope::OrgWide,
            hash: "0".repeat(64),
            created_at: Timestamp(NOW.0 - 3 * 86_400),
            last_used: Some(Timestamp(NOW.0 - 120)),
            expires_at: None,
        },
        Token {
            id: "77b1e2f3a4c5".to_owned(),
            label: "carol laptop".to_owned(),
            scope: TokenScope::User {
                user: UserId::parse("carol"),
            },
            hash: "1".repeat(64),
            created_at: Timestamp(NOW.0 - 7200),
            last_used: None,
            expires_at: None,
        },
    ]
}

/// An app with every sample record loaded, in monochrome.
pub fn app() -> App {
    let mut app = App::new(
        Mode::Demo,
        "http://127.0.0.1:8080".to_owned(),
        Theme::monochrome(),
        NOW,
    );
    for reply in [
        Reply::Syncs(syncs()),
        Reply::Teams(teams()),
        Reply::Packages(packages()),
        Reply::Users(users()),
        Reply::Tokens(tokens()),
    ] {
        app.update(Msg::Reply(reply));
    }
    app
}
