use super::*;
use crate::domain::{
    Directory, Permission, RemoteOrg, RemoteTeam, Removal, Sync, TokenScope, may_install,
};
use proptest::prelude::*;

fn sync() -> SyncId {
    SyncId::new("acme").unwrap()
}

fn manifest(name: &str) -> Manifest {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), name.into());
    Manifest::Found(m)
}

fn git_ref(kind: RefKind, name: &str, commit: &str, manifest: Manifest) -> RemoteRef {
    RemoteRef {
        kind,
        name: name.into(),
        commit: commit.into(),
        manifest,
    }
}

fn repo(id: u64, name: &str, refs: Vec<RemoteRef>) -> RemoteRepo {
    RemoteRepo {
        id: id.into(),
        full_name: format!("acme/{name}"),
        default_branch: "main".into(),
        clone_url: format!("https://example.test/acme/{name}.git"),
        html_url: format!("https://example.test/acme/{name}"),
        description: None,
        archived: false,
        refs: Listing::complete(refs),
    }
}

fn package_repo(id: u64, name: &str, tags: &[&str]) -> RemoteRepo {
    let pkg = format!("acme/{name}");
    let mut refs = vec![git_ref(
        RefKind::Branch,
        "main",
        &format!("{id}main"),
        manifest(&pkg),
    )];
    refs.extend(
        tags.iter()
            .map(|t| git_ref(RefKind::Tag, t, &format!("{id}{t}"), manifest(&pkg))),
    );
    repo(id, name, refs)
}

fn account(id: u64) -> RemoteAccount {
    RemoteAccount {
        id: id.into(),
        login: format!("user{id}"),
        email: None,
    }
}

fn team(id: u64, members: &[u64], repos: &[u64]) -> RemoteTeam {
    RemoteTeam {
        id: id.into(),
        slug: format!("team{id}"),
        name: format!("Team {id}"),
        members: Listing::complete(members.iter().map(|m| account(*m)).collect()),
        repos: Listing::complete(
            repos
                .iter()
                .map(|r| (RemoteId::from(*r), Permission::Read))
                .collect(),
        ),
    }
}

fn snapshot(repos: Vec<RemoteRepo>, teams: Vec<RemoteTeam>) -> RemoteSnapshot {
    RemoteSnapshot {
        org: RemoteOrg {
            id: 1u64.into(),
            login: "acme".into(),
            name: None,
        },
        admins: Listing::complete(vec![account(1)]),
        teams: Listing::complete(teams),
        repos: Listing::complete(repos),
    }
}

/// What the store would hold after applying `plan`: the in-memory twin of `Store::apply`.
fn applied(current: &Current, plan: &Plan) -> Current {
    let mut next = current.clone();
    for change in &plan.changes {
        match change {
            Change::PutTeam(t) => {
                next.teams.insert(t.key.clone(), t.clone());
            }
            Change::DeleteTeam(k) => {
                next.teams.remove(k);
            }
            Change::PutIdentity(i) => {
                next.identities.insert(i.remote.clone(), i.clone());
            }
            Change::DeleteIdentity(k) => {
                next.identities.remove(&k.remote);
            }
            Change::PutUser(u) => {
                next.users.insert(u.id.clone(), u.clone());
            }
            Change::SetPrimary { sync, primary } => {
                if let Some(s) = next.syncs.get_mut(sync) {
                    s.primary = *primary;
                }
            }
            Change::DeleteSync(id) => {
                next.syncs.remove(id);
            }
            Change::PutPackage(p) => {
                next.packages.insert(p.name.clone(), p.clone());
            }
            Change::DeletePackage(n) => {
                next.packages.remove(n);
            }
            Change::PutVersion(v) => {
                next.versions
                    .entry(v.package.clone())
                    .or_default()
                    .insert(v.version.clone(), v.clone());
            }
            Change::DeleteVersion { package, version } => {
                if let Some(vs) = next.versions.get_mut(package) {
                    vs.remove(version);
                    if vs.is_empty() {
                        next.versions.remove(package);
                    }
                }
            }
            Change::PutRemoval(r) => {
                next.removals.insert(r.repo.clone(), r.clone());
            }
            Change::DeleteRemoval { repo, .. } => {
                next.removals.remove(repo);
            }
        }
    }
    next
}

fn versions(current: &Current, name: &str) -> Vec<String> {
    current
        .versions
        .get(&PackageName::new(name).unwrap())
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn packages_versions_and_teams_are_added_when_store_is_empty() {
    let snap = snapshot(
        vec![
            package_repo(10, "widget", &["v1.0.0", "1.1.0"]),
            repo(
                11,
                "docs",
                vec![git_ref(RefKind::Branch, "main", "d", Manifest::Missing)],
            ),
        ],
        vec![team(5, &[2, 3], &[10])],
    );
    let p = plan(&sync(), &snap, &Current::default(), &Policy::default());
    assert_eq!(p.summary.packages_added, 1, "docs has no composer.json");
    assert_eq!(p.summary.versions_added, 3);
    assert_eq!(p.summary.teams_added, 2, "the team and the org owners");
    assert_eq!(p.guard, None);
    let after = applied(&Current::default(), &p);
    assert_eq!(
        versions(&after, "acme/widget"),
        ["1.1.0", "dev-main", "v1.0.0"]
    );
    let main = &after.versions[&PackageName::new("acme/widget").unwrap()]["dev-main"];
    assert!(main.default_branch);
    assert_eq!(after.identities.len(), 3);
}

#[test]
fn plan_is_empty_when_planned_again_after_apply() {
    let snap = snapshot(
        vec![package_repo(10, "widget", &["v1.0.0"])],
        vec![team(5, &[2], &[10])],
    );
    let first = plan(&sync(), &snap, &Current::default(), &Policy::default());
    let again = plan(
        &sync(),
        &snap,
        &applied(&Current::default(), &first),
        &Policy::default(),
    );
    assert!(again.is_empty(), "{:?}", again.changes);
    assert!(again.summary.is_empty());
}

#[test]
fn invalid_refs_are_skipped_and_reported_when_the_rest_syncs() {
    let mut r = package_repo(10, "widget", &["v1.0.0", "release-candidate"]);
    r.refs.items.push(git_ref(
        RefKind::Tag,
        "v0.9.0",
        "bad",
        Manifest::Invalid("expected value at line 1".into()),
    ));
    r.refs.items.push(git_ref(
        RefKind::Tag,
        "v0.8.0",
        "other",
        manifest("acme/other"),
    ));
    let p = plan(
        &sync(),
        &snapshot(vec![r], vec![]),
        &Current::default(),
        &Policy::default(),
    );
    let after = applied(&Current::default(), &p);
    assert_eq!(versions(&after, "acme/widget"), ["dev-main", "v1.0.0"]);
    let refs: Vec<_> = p
        .problems
        .iter()
        .filter_map(|p| p.reference.clone())
        .collect();
    assert_eq!(
        refs,
        ["release-candidate", "v0.8.0", "v0.9.0"],
        "{:?}",
        p.problems
    );
}

#[test]
fn repo_is_kept_unchanged_when_default_branch_composer_json_turns_invalid() {
    let snap = snapshot(vec![package_repo(10, "widget", &["v1.0.0"])], vec![]);
    let before = applied(
        &Current::default(),
        &plan(&sync(), &snap, &Current::default(), &Policy::default()),
    );
    let broken = snapshot(
        vec![repo(
            10,
            "widget",
            vec![git_ref(
                RefKind::Branch,
                "main",
                "x",
                Manifest::Invalid("bad".into()),
            )],
        )],
        vec![],
    );
    let p = plan(&sync(), &broken, &before, &Policy::default());
    assert_eq!(p.summary.packages_removed, 0);
    assert_eq!(p.summary.versions_removed, 0);
    assert!(p.problems.iter().any(|pr| pr.message.contains("invalid")));
}

#[test]
fn partial_listings_remove_nothing_when_items_are_missing() {
    let full = snapshot(
        vec![
            package_repo(10, "widget", &["v1.0.0"]),
            package_repo(11, "log", &[]),
        ],
        vec![team(5, &[2, 3], &[10]), team(6, &[4], &[11])],
    );
    let before = applied(
        &Current::default(),
        &plan(&sync(), &full, &Current::default(), &Policy::default()),
    );
    let mut cut = snapshot(
        vec![package_repo(10, "widget", &[])],
        vec![team(5, &[2], &[])],
    );
    cut.repos.complete = false;
    cut.teams.complete = false;
    cut.repos.items[0].refs.complete = false;
    cut.teams.items[0].members.complete = false;
    cut.teams.items[0].repos.complete = false;
    let p = plan(&sync(), &cut, &before, &Policy::default());
    assert!(!p.changes.iter().any(|c| matches!(
        c,
        Change::DeletePackage(_) | Change::DeleteVersion { .. } | Change::DeleteTeam(_)
    )));
    let after = applied(&before, &p);
    assert_eq!(after.teams, before.teams);
}

#[test]
fn name_owned_by_another_sync_is_reported_and_first_owner_keeps_it() {
    let other = SyncId::new("other").unwrap();
    let snap = snapshot(vec![package_repo(10, "widget", &["v1.0.0"])], vec![]);
    let theirs = applied(
        &Current::default(),
        &plan(&other, &snap, &Current::default(), &Policy::default()),
    );
    let mut mine = with_sync(
        with_primary(Current::default()),
        "other",
        "https://other.example",
    );
    mine.packages = theirs.packages.clone();
    let p = plan(&sync(), &snap, &mine, &Policy::default());
    assert_eq!(p.summary.packages_added, 0);
    assert_eq!(
        p.conflicts,
        [Conflict {
            name: PackageName::new("acme/widget").unwrap(),
            claimant: "acme:acme/widget".into(),
            owner: "other:acme/widget".into(),
        }]
    );
    assert!(
        !p.changes
            .iter()
            .any(|c| matches!(c, Change::PutPackage(_) | Change::PutVersion(_)))
    );
}

#[test]
fn guard_is_set_when_more_than_half_of_packages_would_go() {
    let full = snapshot(
        vec![
            package_repo(10, "a", &[]),
            package_repo(11, "b", &[]),
            package_repo(12, "c", &[]),
        ],
        vec![],
    );
    let before = applied(
        &Current::default(),
        &plan(&sync(), &full, &Current::default(), &Policy::default()),
    );
    let shrunk = snapshot(vec![package_repo(10, "a", &[])], vec![]);
    let p = plan(&sync(), &shrunk, &before, &Policy::default());
    assert!(
        p.guard
            .as_deref()
            .is_some_and(|g| g.contains("2 of 3 packages")),
        "{:?}",
        p.guard
    );
    let confirmed = plan(
        &sync(),
        &shrunk,
        &before,
        &Policy {
            confirm_removals: true,
            ..Policy::default()
        },
    );
    assert_eq!(confirmed.guard, None);
    assert_eq!(confirmed.summary.packages_removed, 2);
    let one_gone = snapshot(
        vec![package_repo(10, "a", &[]), package_repo(11, "b", &[])],
        vec![],
    );
    assert_eq!(
        plan(&sync(), &one_gone, &before, &Policy::default()).guard,
        None
    );
}

#[test]
fn revocations_apply_at_once_when_more_than_half_of_members_go() {
    let full = snapshot(vec![], vec![team(5, &[2, 3, 4, 5], &[])]);
    let before = applied(
        &Current::default(),
        &plan(&sync(), &full, &Current::default(), &Policy::default()),
    );
    let mut emptied = snapshot(vec![], vec![team(5, &[2], &[])]);
    emptied.admins = Listing::complete(vec![]);
    let p = plan(&sync(), &emptied, &before, &Policy::default());
    assert_eq!(p.guard, None, "revocations are never held");
    let after = applied(&before, &p);
    let kept = &after.teams[&TeamKey {
        sync: sync(),
        remote: 5u64.into(),
    }];
    assert_eq!(
        kept.members.keys().collect::<Vec<_>>(),
        [&RemoteId::from(2u64)]
    );
    assert_eq!(
        p.summary.revoked,
        [
            "user3 from team5",
            "user4 from team5",
            "user5 from team5",
            "user1 as owner/admin"
        ]
    );
    assert!(
        p.summary
            .describe()
            .contains("revoked user3 from team5; user4 from team5; user5 from team5 and 1 more"),
        "{}",
        p.summary.describe()
    );
}

#[test]
fn held_package_removals_leave_the_rest_of_the_plan_applied() {
    let full = snapshot(
        vec![
            package_repo(10, "a", &[]),
            package_repo(11, "b", &[]),
            package_repo(12, "c", &[]),
        ],
        vec![team(5, &[2, 3], &[10, 11, 12])],
    );
    let before = applied(
        &Current::default(),
        &plan(&sync(), &full, &Current::default(), &Policy::default()),
    );
    let shrunk = snapshot(
        vec![package_repo(10, "a", &["1.0.0"])],
        vec![team(5, &[2], &[10, 11, 12])],
    );
    let p = plan(&sync(), &shrunk, &before, &Policy::default());
    assert!(p.guard.is_some());
    assert!(
        !p.changes
            .iter()
            .any(|c| matches!(c, Change::DeletePackage(_) | Change::DeleteVersion { .. })),
        "{:?}",
        p.changes
    );
    assert_eq!(
        (p.summary.packages_removed, p.summary.versions_removed),
        (0, 0)
    );
    let after = applied(&before, &p);
    assert_eq!(after.packages.len(), 3, "the removals wait for an admin");
    assert!(after.versions[&PackageName::new("acme/a").unwrap()].contains_key("1.0.0"));
    assert_eq!(
        p.summary.revoked,
        ["user3 from team5"],
        "the revocation applies"
    );
    assert_eq!(
        plan(&sync(), &shrunk, &after, &Policy::default())
            .summary
            .revoked
            .len(),
        0
    );
}

#[test]
fn guard_holds_version_removals_when_a_complete_listing_loses_every_tag() {
    let tags = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"];
    let full = snapshot(
        vec![package_repo(10, "a", &tags), package_repo(11, "b", &[])],
        vec![],
    );
    let before = applied(
        &Current::default(),
        &plan(&sync(), &full, &Current::default(), &Policy::default()),
    );
    let no_tags = snapshot(
        vec![package_repo(10, "a", &[]), package_repo(11, "b", &[])],
        vec![],
    );
    let p = plan(&sync(), &no_tags, &before, &Policy::default());
    assert!(
        p.guard
            .as_deref()
            .is_some_and(|g| g.contains("4 of 6 versions") && g.contains("--confirm-removals")),
        "{:?}",
        p.guard
    );
    assert!(p.is_empty(), "{:?}", p.changes);
    let confirmed = plan(
        &sync(),
        &no_tags,
        &before,
        &Policy {
            confirm_removals: true,
            ..Policy::default()
        },
    );
    assert_eq!(confirmed.summary.versions_removed, 4);
    let one_tag_gone = snapshot(
        vec![
            package_repo(10, "a", &tags[..3]),
            package_repo(11, "b", &[]),
        ],
        vec![],
    );
    assert_eq!(
        plan(&sync(), &one_tag_gone, &before, &Policy::default()).guard,
        None
    );
}

#[test]
fn teams_are_namespaced_by_sync_when_two_syncs_share_remote_ids() {
    let snap = snapshot(vec![], vec![team(5, &[2], &[])]);
    let a = plan(&sync(), &snap, &Current::default(), &Policy::default());
    let b = plan(
        &SyncId::new("other").unwrap(),
        &snap,
        &Current::default(),
        &Policy::default(),
    );
    let keys = |p: &Plan| -> Vec<TeamKey> {
        p.changes
            .iter()
            .filter_map(|c| {
                if let Change::PutTeam(t) = c {
                    Some(t.key.clone())
                } else {
                    None
                }
            })
            .collect()
    };
    assert!(keys(&a).iter().all(|k| k.sync == sync()));
    assert!(keys(&b).iter().all(|k| k.sync.as_str() == "other"));
}

/// `current` with another sync `id` at `api_url` (GitHub).
fn with_sync(mut current: Current, id: &str, api_url: &str) -> Current {
    let mut s = with_primary(Current::default())
        .syncs
        .remove(&sync())
        .unwrap();
    s.id = SyncId::new(id).unwrap();
    s.api_url = api_url.into();
    s.primary = false;
    current.syncs.insert(s.id.clone(), s);
    current
}

/// A package of sync `other`, as `other`'s run stored it.
fn owned_by_other(snap: &RemoteSnapshot) -> Current {
    let other = SyncId::new("other").unwrap();
    applied(
        &Current::default(),
        &plan(&other, snap, &Current::default(), &Policy::default()),
    )
}

#[test]
fn package_moves_here_when_its_repository_was_transferred_at_the_same_host() {
    let snap = snapshot(vec![package_repo(10, "widget", &["v1.0.0"])], vec![]);
    let theirs = owned_by_other(&snap);
    let mut mine = with_sync(
        with_primary(Current::default()),
        "other",
        "https://api.github.com",
    );
    mine.packages = theirs.packages.clone();
    mine.versions = theirs.versions.clone();
    let p = plan(&sync(), &snap, &mine, &Policy::default());
    let after = applied(&mine, &p);
    assert_eq!(
        after.packages[&PackageName::new("acme/widget").unwrap()].origin,
        sync()
    );
    assert_eq!(p.summary.packages_changed, 1);
    assert_eq!(
        p.summary.versions_added + p.summary.versions_removed,
        0,
        "versions carry over"
    );
    assert!(plan(&sync(), &snap, &after, &Policy::default()).is_empty());
}

/// The packages sync `other` (a GitHub sync at `api_url`) stored for
/// `snap`; then `other` is removed.
fn left_by_removed_sync(snap: &RemoteSnapshot, api_url: &str) -> Current {
    let other = SyncId::new("other").unwrap();
    let with_other = with_sync(Current::default(), "other", api_url);
    let mut state = applied(
        &with_other,
        &plan(&other, snap, &with_other, &Policy::default()),
    );
    state.syncs.clear();
    let mut mine = with_primary(Current::default());
    mine.packages = state.packages;
    mine.versions = state.versions;
    mine
}

#[test]
fn package_is_adopted_only_by_its_own_repository_when_its_origin_sync_was_removed() {
    let old = snapshot(vec![package_repo(10, "widget", &["v1.0.0"])], vec![]);
    let mine = left_by_removed_sync(&old, "https://api.github.com");
    let name = PackageName::new("acme/widget").unwrap();
    let claimant = snapshot(vec![package_repo(99, "widget", &["v9.0.0"])], vec![]);
    let p = plan(&sync(), &claimant, &mine, &Policy::default());
    assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
    assert!(!touches_packages(&p), "{:?}", p.changes);
    let same = plan(&sync(), &old, &mine, &Policy::default());
    assert_eq!(applied(&mine, &same).packages[&name].origin, sync());
}

#[test]
fn package_is_not_adopted_by_the_same_id_at_another_host() {
    let old = snapshot(vec![package_repo(10, "widget", &["v1.0.0"])], vec![]);
    let mine = left_by_removed_sync(&old, "https://ghe.example/api/v3");
    let p = plan(&sync(), &old, &mine, &Policy::default());
    assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
    assert!(!touches_packages(&p), "{:?}", p.changes);
}

fn touches_packages(plan: &Plan) -> bool {
    plan.changes.iter().any(|c| {
        matches!(
            c,
            Change::PutPackage(_)
                | Change::DeletePackage(_)
                | Change::PutVersion(_)
                | Change::DeleteVersion { .. }
        )
    })
}

/// Repository `name` whose composer.json at every ref declares `package`.
fn declaring(id: u64, name: &str, package: &str, tags: &[&str]) -> RemoteRepo {
    let mut repo = package_repo(id, name, tags);
    for r in &mut repo.refs.items {
        r.manifest = manifest(package);
    }
    repo
}

/// What the primary sync stores after a run that saw only `repo`.
fn synced(repo: &RemoteRepo) -> Current {
    let start = with_primary(Current::default());
    let snap = snapshot(vec![repo.clone()], vec![]);
    applied(&start, &plan(&sync(), &snap, &start, &Policy::default()))
}

/// The takeover: a repository created after `acme/logger` declares that
/// name with a higher tag. Whatever the order of their ids, the repository
/// that provided the name first keeps it, in a full run and in a webhook's
/// scoped snapshot that holds only the claimant.
#[test]
fn claimant_never_takes_a_name_whatever_the_repository_id_order() {
    let name = PackageName::new("acme/logger").unwrap();
    for (owner_id, claimant_id) in [(10, 99), (99, 10)] {
        let owner = package_repo(owner_id, "logger", &["v1.0.0"]);
        let claimant = declaring(claimant_id, "aaa-evil", "acme/logger", &["v99.0.0"]);
        let before = synced(&owner);
        let full = snapshot(vec![owner.clone(), claimant.clone()], vec![]);
        let mut scoped = snapshot(vec![claimant.clone()], vec![]);
        scoped.repos.complete = false;
        scoped.teams.complete = false;
        scoped.admins.complete = false;
        for snap in [full, scoped] {
            let p = plan(&sync(), &snap, &before, &Policy::default());
            let after = applied(&before, &p);
            assert_eq!(
                after.packages[&name].repo, owner.id,
                "ids {owner_id}/{claimant_id}"
            );
            assert_eq!(after.versions[&name], before.versions[&name]);
            assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
            assert_eq!(p.conflicts[0].claimant, "acme:acme/aaa-evil");
            assert!(
                p.conflicts[0]
                    .describe()
                    .contains("package move acme/logger --to-repo acme:acme/aaa-evil")
            );
        }
    }
}

#[test]
fn new_name_declared_by_two_repositories_goes_to_neither() {
    let a = package_repo(1, "widget", &["v1.0.0"]);
    let b = declaring(2, "widget-fork", "acme/widget", &["v2.0.0"]);
    let p = plan(
        &sync(),
        &snapshot(vec![a, b], vec![]),
        &with_primary(Current::default()),
        &Policy::default(),
    );
    assert_eq!(p.summary.packages_added, 0);
    assert_eq!(p.conflicts.len(), 2, "{:?}", p.conflicts);
    assert!(
        p.conflicts[0]
            .owner
            .contains("also declared by acme/widget-fork")
    );
}

#[test]
fn package_move_gives_the_name_and_its_versions_to_the_chosen_repository() {
    let name = PackageName::new("acme/logger").unwrap();
    let owner = package_repo(10, "logger", &["v1.0.0"]);
    let claimant = declaring(11, "logger-next", "acme/logger", &["v2.0.0"]);
    let before = synced(&owner);
    let moved = plan_move(&sync(), &name, &claimant, &before).unwrap();
    let after = applied(&before, &moved);
    assert_eq!(after.packages[&name].repo, claimant.id);
    let versions: Vec<&String> = after.versions[&name].keys().collect();
    assert_eq!(versions, ["dev-main", "v2.0.0"]);
    assert_eq!(moved.summary.versions_added, 1);
    assert_eq!(moved.summary.versions_removed, 1);
    let both = snapshot(vec![owner.clone(), claimant.clone()], vec![]);
    let next = plan(&sync(), &both, &after, &Policy::default());
    assert_eq!(
        next.conflicts[0].claimant, "acme:acme/logger",
        "the old owner is now the claimant"
    );
    assert!(
        plan_move(&sync(), &name, &claimant, &after)
            .unwrap_err()
            .contains("already comes from")
    );
    let other = PackageName::new("acme/other").unwrap();
    assert!(
        plan_move(&sync(), &other, &claimant, &after)
            .unwrap_err()
            .contains("declares acme/logger")
    );
}

#[test]
fn package_removed_by_an_admin_is_not_recreated_from_the_same_repository() {
    let name = PackageName::new("acme/widget").unwrap();
    let repo = package_repo(10, "widget", &["v1.0.0"]);
    let snap = snapshot(vec![repo.clone()], vec![]);
    let mut state = with_primary(Current::default());
    state.removals.insert(
        repo.id.clone(),
        Removal {
            sync: sync(),
            repo: repo.id.clone(),
            name: name.clone(),
            removed_at: crate::domain::Timestamp(1),
        },
    );
    let p = plan(&sync(), &snap, &state, &Policy::default());
    assert_eq!(p.summary.packages_added, 0);
    assert!(
        p.problems
            .iter()
            .any(|pr| pr.message.contains("package restore acme/widget"))
    );
    state.removals.clear();
    assert_eq!(
        plan(&sync(), &snap, &state, &Policy::default())
            .summary
            .packages_added,
        1
    );
}

#[test]
fn missing_composer_json_removes_the_package_only_when_seen_twice() {
    let name = PackageName::new("acme/widget").unwrap();
    let snap = snapshot(vec![package_repo(10, "widget", &["v1.0.0"])], vec![]);
    let state = synced(&snap.repos.items[0]);
    let mut gone = package_repo(10, "widget", &[]);
    gone.refs.items[0].manifest = Manifest::Missing;
    let missing = snapshot(vec![gone], vec![]);
    let first = plan(
        &sync(),
        &missing,
        &state,
        &Policy {
            confirm_removals: true,
            ..Policy::default()
        },
    );
    let after_first = applied(&state, &first);
    assert!(after_first.packages[&name].manifest_missing);
    assert_eq!(first.summary.packages_removed, 0);
    // Found again: the mark is cleared and nothing was lost.
    let back = applied(
        &after_first,
        &plan(&sync(), &snap, &after_first, &Policy::default()),
    );
    assert!(!back.packages[&name].manifest_missing);
    assert_eq!(back.versions[&name], state.versions[&name]);
    let second = plan(
        &sync(),
        &missing,
        &after_first,
        &Policy {
            confirm_removals: true,
            ..Policy::default()
        },
    );
    assert_eq!(second.summary.packages_removed, 1);
}

#[test]
fn archived_repository_marks_its_package_abandoned_and_admin_marks_survive_runs() {
    let name = PackageName::new("acme/widget").unwrap();
    let mut repo = package_repo(10, "widget", &["v1.0.0"]);
    let mut state = synced(&repo);
    assert_eq!(state.packages[&name].abandoned_value(), None);
    state.packages.get_mut(&name).unwrap().abandoned = Some(crate::domain::Abandoned {
        replacement: Some(PackageName::new("acme/gadget").unwrap()),
    });
    assert!(
        plan(
            &sync(),
            &snapshot(vec![repo.clone()], vec![]),
            &state,
            &Policy::default()
        )
        .is_empty()
    );
    state.packages.get_mut(&name).unwrap().abandoned = None;
    repo.archived = true;
    let after = applied(
        &state,
        &plan(
            &sync(),
            &snapshot(vec![repo], vec![]),
            &state,
            &Policy::default(),
        ),
    );
    assert_eq!(
        after.packages[&name].abandoned_value(),
        Some(serde_json::Value::Bool(true))
    );
}

/// `current` with this test's sync configured as the primary.
fn with_primary(mut current: Current) -> Current {
    let s = Sync {
        id: sync(),
        provider: crate::domain::ProviderKind::Github,
        api_url: "https://api.github.com".into(),
        org: "acme".into(),
        primary: true,
        created_at: crate::domain::Timestamp(0),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    };
    current.syncs.insert(sync(), s);
    current
}

fn arb_snapshot() -> impl Strategy<Value = RemoteSnapshot> {
    let arb_ref = (any::<bool>(), 0u8..6, 0u8..4, 0u8..4).prop_map(|(tag, n, commit, m)| {
        let manifest = match m {
            0 => Manifest::Missing,
            1 => Manifest::Invalid("bad".into()),
            _ => manifest("acme/pkg"),
        };
        let (kind, name) = if tag {
            (RefKind::Tag, format!("v1.{n}.0"))
        } else {
            (
                RefKind::Branch,
                if n == 0 {
                    "main".into()
                } else {
                    format!("{n}.x")
                },
            )
        };
        git_ref(kind, &name, &format!("c{commit}"), manifest)
    });
    let arb_repo = (
        0u64..8,
        prop::collection::vec(arb_ref, 0..5),
        any::<bool>(),
        0u8..3,
    )
        .prop_map(|(id, refs, complete, n)| {
            let mut refs = refs;
            for r in &mut refs {
                if let Manifest::Found(m) = &mut r.manifest {
                    m.insert("name".into(), format!("acme/pkg{n}").into());
                }
            }
            let mut r = repo(id, &format!("r{id}"), refs);
            r.refs.complete = complete;
            r
        });
    let arb_team = (
        0u64..4,
        prop::collection::vec(0u64..6, 0..4),
        prop::collection::vec(0u64..8, 0..4),
        any::<bool>(),
    )
        .prop_map(|(id, members, repos, complete)| {
            let mut t = team(id, &members, &repos);
            t.members.complete = complete;
            t
        });
    (
        prop::collection::vec(arb_repo, 0..6),
        prop::collection::vec(arb_team, 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut repos, mut teams, repos_complete, teams_complete)| {
            repos.sort_by(|a, b| a.id.cmp(&b.id));
            repos.dedup_by(|a, b| a.id == b.id);
            teams.sort_by(|a, b| a.id.cmp(&b.id));
            teams.dedup_by(|a, b| a.id == b.id);
            let mut s = snapshot(repos, teams);
            s.repos.complete = repos_complete;
            s.teams.complete = teams_complete;
            s
        })
}

proptest! {
    #[test]
    fn plan_is_deterministic_and_idempotent_for_any_snapshot(first in arb_snapshot(), second in arb_snapshot()) {
        let policy = Policy { confirm_removals: true, ..Policy::default() };
        let p1 = plan(&sync(), &first, &Current::default(), &policy);
        prop_assert_eq!(&p1, &plan(&sync(), &first, &Current::default(), &policy));
        let state = applied(&Current::default(), &p1);
        let p2 = plan(&sync(), &second, &state, &policy);
        let state2 = applied(&state, &p2);
        // Planning again after applying is empty, except that a package
        // whose composer.json went missing is first only marked (a lagging
        // replica must not remove it) and removed by the next plan; a name
        // freed by a removal goes to another repository declaring it only
        // at the plan after that.
        let mut state = state2;
        let mut rounds = 0;
        loop {
            let again = plan(&sync(), &second, &state, &policy);
            if again.is_empty() {
                break;
            }
            prop_assert!(rounds < 2, "no fixed point: {:?}", again.changes);
            state = applied(&state, &again);
            rounds += 1;
        }
    }

    #[test]
    fn user_may_install_exactly_what_their_teams_read_or_everything_as_owner(snap in arb_snapshot()) {
        let start = with_primary(Current::default());
        let state = applied(&start, &plan(&sync(), &snap, &start, &Policy { confirm_removals: true, ..Policy::default() }));
        let syncs: Vec<_> = state.syncs.values().cloned().collect();
        let teams: Vec<_> = state.teams.values().cloned().collect();
        let users: Vec<_> = state.users.values().cloned().collect();
        let dir = Directory { syncs: &syncs, teams: &teams, users: &users };
        prop_assert!(state.identities.keys().all(|i| users.iter().any(|u| u.identities.iter().any(|k| &k.remote == i))));
        for user in &users {
            let scope = TokenScope::User { user: user.id.clone() };
            let accounts: Vec<&RemoteId> = user.identities.iter().map(|k| &k.remote).collect();
            let owner = snap.admins.items.iter().any(|a| accounts.contains(&&a.id));
            for package in state.packages.values() {
                let reads = snap.teams.items.iter().any(|t| {
                    t.members.items.iter().any(|m| accounts.contains(&&m.id))
                        && t.repos.items.iter().any(|(r, p)| r == &package.repo && p.may_install())
                });
                prop_assert_eq!(may_install(&scope, &dir, package), owner || reads, "{} {}", user.id, package.name);
            }
        }
    }

    #[test]
    fn partial_snapshot_never_removes_anything(first in arb_snapshot(), second in arb_snapshot()) {
        let policy = Policy { confirm_removals: true, ..Policy::default() };
        let state = applied(&Current::default(), &plan(&sync(), &first, &Current::default(), &policy));
        let mut cut = second;
        cut.repos.complete = false;
        cut.teams.complete = false;
        for r in &mut cut.repos.items { r.refs.complete = false; }
        for t in &mut cut.teams.items { t.members.complete = false; t.repos.complete = false; }
        let p = plan(&sync(), &cut, &state, &policy);
        let after = applied(&state, &p);
        for (name, versions) in &state.versions {
            if !after.packages.contains_key(name) { continue; }
            for v in versions.keys() {
                prop_assert!(after.versions.get(name).is_some_and(|vs| vs.contains_key(v)), "{} {} removed", name, v);
            }
        }
        for name in state.packages.keys() {
            prop_assert!(after.packages.contains_key(name), "{} removed", name);
        }
        for (key, team) in &state.teams {
            let kept = after.teams.get(key);
            prop_assert!(kept.is_some());
            for m in team.members.keys() { prop_assert!(kept.unwrap().members.contains_key(m)); }
        }
    }
}
