use super::*;
use crate::domain::{ProviderKind, RemoteId, TeamKey, TeamKind, Timestamp};
use std::collections::BTreeMap;

fn sid(s: &str) -> SyncId {
    SyncId::new(s).unwrap()
}

fn sync(id: &str, provider: ProviderKind, primary: bool) -> Sync {
    Sync {
        id: sid(id),
        provider,
        api_url: format!("https://{id}.example"),
        org: "acme".into(),
        primary,
        created_at: Timestamp(0),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    }
}

fn admins(sync: &str, members: &[&str]) -> Team {
    Team {
        key: TeamKey {
            sync: sid(sync),
            remote: RemoteId(Team::ORG_ADMINS_ID.into()),
        },
        kind: TeamKind::OrgAdmins,
        slug: "owners".into(),
        name: "owners".into(),
        members: members
            .iter()
            .map(|m| (RemoteId((*m).into()), (*m).to_owned()))
            .collect(),
        repos: BTreeMap::new(),
    }
}

fn identity(sync: &str, login: &str) -> Identity {
    Identity {
        sync: sid(sync),
        remote: RemoteId(login.into()),
        login: login.into(),
        email: None,
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

/// GitHub primary with admins alice and bob; Bitbucket with admin alice-bb
/// (alice's other account, not linked yet) and a member team.
fn records() -> Records {
    Records {
        syncs: vec![
            sync("gh", ProviderKind::Github, true),
            sync("bb", ProviderKind::BitbucketCloud, false),
        ],
        teams: vec![
            admins("gh", &["alice", "bob"]),
            admins("bb", &["alice-bb", "carol"]),
        ],
        users: vec![
            user("alice", &[("gh", "alice")]),
            user("bob", &[("gh", "bob")]),
            user("alice-bb", &[("bb", "alice-bb")]),
            user("carol", &[("bb", "carol")]),
        ],
        identities: vec![
            identity("gh", "alice"),
            identity("gh", "bob"),
            identity("bb", "alice-bb"),
            identity("bb", "carol"),
        ],
    }
}

fn ids(list: &[&str]) -> Vec<UserId> {
    list.iter().map(|s| UserId::parse(s)).collect()
}

#[test]
fn promote_lists_who_gains_and_loses_owner_access_when_primary_changes() {
    let (plan, change) = plan_promote(&records(), &sid("bb")).unwrap();
    assert_eq!(change.gain, ids(&["alice-bb", "carol"]));
    assert_eq!(change.lose, ids(&["alice", "bob"]));
    assert!(change.keep.is_empty());
    let flags: Vec<(String, bool)> = plan
        .changes
        .iter()
        .filter_map(|c| {
            if let Change::SetPrimary { sync, primary } = c {
                Some((sync.to_string(), *primary))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(flags, [("gh".to_owned(), false), ("bb".to_owned(), true)]);
}

#[test]
fn linked_owner_keeps_access_when_promoted_sync_has_their_identity() {
    let mut records = records();
    let link = plan_link(&records, &UserId::parse("alice"), &sid("bb"), "ALICE-BB").unwrap();
    for change in link.changes {
        if let Change::PutUser(u) = change {
            records.users.retain(|x| x.id != u.id);
            records.users.push(u);
        }
    }
    let (_, change) = plan_promote(&records, &sid("bb")).unwrap();
    assert_eq!(change.keep, ids(&["alice"]));
    assert_eq!(change.lose, ids(&["bob"]));
    assert_eq!(change.gain, ids(&["carol"]));
}

#[test]
fn promoting_the_primary_changes_nothing_when_already_primary() {
    let (plan, change) = plan_promote(&records(), &sid("gh")).unwrap();
    assert!(plan.is_empty());
    assert_eq!(change.keep, ids(&["alice", "bob"]));
}

#[test]
fn removing_the_primary_is_refused_with_the_remedy_when_others_exist() {
    let err = plan_remove_sync(&records(), &sid("gh"), &[]).unwrap_err();
    assert_eq!(err, OperationError::PrimarySync("gh".into()));
    assert!(err.to_string().contains("packyard sync promote"), "{err}");
}

#[test]
fn removing_a_sync_drops_its_teams_and_identities_when_it_is_not_primary() {
    let kept = vec![PackageName::new("acme/x").unwrap()];
    let (plan, removal) = plan_remove_sync(&records(), &sid("bb"), &kept).unwrap();
    assert_eq!(removal.packages_kept, kept);
    assert_eq!(removal.identities, 2);
    assert!(plan.changes.contains(&Change::DeleteSync(sid("bb"))));
    assert!(
        plan.changes
            .iter()
            .any(|c| matches!(c, Change::DeleteTeam(k) if k.sync == sid("bb")))
    );
    assert!(
        !plan
            .changes
            .iter()
            .any(|c| matches!(c, Change::DeletePackage(_))),
        "packages stay"
    );
    let emptied: Vec<&User> = plan
        .changes
        .iter()
        .filter_map(|c| {
            if let Change::PutUser(u) = c {
                Some(u)
            } else {
                None
            }
        })
        .collect();
    assert!(emptied.iter().all(|u| u.identities.is_empty()));
}

#[test]
fn unlink_gives_the_identity_a_user_of_its_own_when_user_has_two() {
    let mut two = records();
    two.users[0].identities.insert(IdentityKey {
        sync: sid("bb"),
        remote: RemoteId("alice-x".into()),
    });
    two.identities.push(identity("bb", "alice-x"));
    let (plan, new) = plan_unlink(&two, &UserId::parse("alice"), &sid("bb"), "alice-x").unwrap();
    assert_eq!(new, UserId::parse("alice-x"));
    assert_eq!(plan.changes.len(), 2);
    let err = plan_unlink(&records(), &UserId::parse("bob"), &sid("gh"), "bob").unwrap_err();
    assert!(matches!(err, OperationError::OnlyIdentity { .. }));
}

#[test]
fn link_names_what_is_missing_when_user_or_identity_is_unknown() {
    let err = plan_link(&records(), &UserId::parse("zed"), &sid("gh"), "bob").unwrap_err();
    assert!(err.to_string().contains("packyard user list"));
    let err = plan_link(&records(), &UserId::parse("alice"), &sid("gh"), "nobody").unwrap_err();
    assert!(matches!(err, OperationError::NoSuchIdentity { .. }));
}

#[test]
fn removing_packages_deletes_every_version_when_selected() {
    let name = PackageName::new("acme/x").unwrap();
    let version = Version {
        package: name.clone(),
        version: "v1.0.0".into(),
        normalized: "1.0.0.0".into(),
        kind: crate::domain::VersionKind::Tag,
        ref_name: "v1.0.0".into(),
        commit: "abc".into(),
        default_branch: false,
        manifest: Default::default(),
    };
    let package = Package {
        name: name.clone(),
        origin: SyncId::new("acme").unwrap(),
        repo: RemoteId::from(7u64),
        repo_full_name: "acme/x".into(),
        clone_url: String::new(),
        html_url: String::new(),
        description: None,
        default_branch: "main".into(),
        host: None,
        archived: false,
        abandoned: None,
        manifest_missing: false,
    };
    let plan = plan_remove_packages(&[(package, vec![version])], Timestamp(5));
    assert_eq!(
        plan.changes,
        [
            Change::DeletePackage(name.clone()),
            Change::PutRemoval(Removal {
                sync: sid("acme"),
                repo: RemoteId::from(7u64),
                name: name.clone(),
                removed_at: Timestamp(5),
            }),
            Change::DeleteVersion {
                package: name,
                version: "v1.0.0".into()
            }
        ]
    );
}
