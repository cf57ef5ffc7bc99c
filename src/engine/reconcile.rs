//! Reconcile: compare what the code host shows (a [`RemoteSnapshot`]) with
//! what packyard holds ([`Current`]) and compute the [`Plan`] of writes.
//!
//! Pure and deterministic: no I/O, sorted maps, so the same input always
//! gives the same plan, and planning again after applying gives an empty one.
//! The rules:
//! - Listings that are incomplete never cause removals: what was not seen is
//!   kept as it is.
//! - A repository is a package when its default branch has a valid
//!   composer.json; the package is named by that file.
//! - A package belongs to the repository that first provided it (its id at
//!   its host). Another repository declaring the name, in this sync or
//!   another, is a conflict: reported, never a winner; an admin moves a
//!   package explicitly. A new name declared by several repositories at once
//!   goes to none of them until an admin picks one.
//! - A package removed by an admin is not created again from the same
//!   repository of the same sync until it is restored.
//! - A default branch without composer.json removes its package only when
//!   two runs in a row find it so (one "missing" may be a lagging replica).
//! - Tags and branches become versions by Composer's naming rules; refs that
//!   cannot be used are skipped and reported, the rest syncs.
//! - Removing more than half of the sync's packages or versions is held: those
//!   removals leave the plan, whose guard says so, until an admin confirms.
//!   Revocations of access (memberships, team access, owner/admin) are never
//!   held.

use crate::domain::version::{self, Named};
use crate::domain::{
    Change, Conflict, Current, Identity, IdentityKey, Listing, Manifest, Package, PackageName,
    Plan, Problem, RefKind, RemoteAccount, RemoteId, RemoteRef, RemoteRepo, RemoteSnapshot, Sync,
    SyncId, Team, TeamKey, TeamKind, User, UserId, Version, VersionKind,
};
use std::collections::{BTreeMap, BTreeSet};

/// Choices that come from the admin rather than from the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// The admin confirmed that this run may remove more than half of the
    /// sync's packages or members.
    pub confirm_removals: bool,
    /// The run ends after applying its plan, without downloading the
    /// archives of new versions (`sync run --no-prefetch`).
    #[serde(default)]
    pub skip_prefetch: bool,
}

/// Computes the plan that makes the stored state of `sync` match `snapshot`.
pub fn plan(sync: &SyncId, snapshot: &RemoteSnapshot, current: &Current, policy: &Policy) -> Plan {
    let mut out = Plan::default();
    report_incomplete(snapshot, &mut out.problems);
    plan_teams(sync, snapshot, current, &mut out);
    plan_identities(sync, snapshot, current, &mut out);
    plan_users(sync, current, &mut out);
    let desired = desired_packages(sync, snapshot, current, &mut out);
    plan_packages(sync, snapshot, current, &desired, &mut out);
    set_guard(sync, current, policy, &mut out);
    out.problems.sort();
    out.problems.dedup();
    out.conflicts.sort();
    out
}

fn problem(subject: &str, reference: Option<&str>, message: impl Into<String>) -> Problem {
    Problem {
        subject: subject.to_owned(),
        reference: reference.map(str::to_owned),
        message: message.into(),
    }
}

fn report_incomplete(snapshot: &RemoteSnapshot, problems: &mut Vec<Problem>) {
    let note = "listing incomplete at the host; nothing it would have removed was removed";
    let org = &snapshot.org.login;
    if !snapshot.admins.complete {
        problems.push(problem(org, None, format!("owners/admins {note}")));
    }
    if !snapshot.teams.complete {
        problems.push(problem(org, None, format!("teams {note}")));
    }
    if !snapshot.repos.complete {
        problems.push(problem(org, None, format!("repositories {note}")));
    }
    for team in &snapshot.teams.items {
        if !team.members.complete || !team.repos.complete {
            problems.push(problem(
                &team.slug,
                None,
                format!("team members or repositories {note}"),
            ));
        }
    }
    for repo in &snapshot.repos.items {
        if !repo.refs.complete {
            problems.push(problem(
                &repo.full_name,
                None,
                format!("tags or branches {note}"),
            ));
        }
    }
}

/// Merges a listing into what is stored: a complete listing replaces it, a
/// partial one can only add or update.
fn merge<K: Ord + Clone, V: Clone>(
    stored: Option<&BTreeMap<K, V>>,
    listing: &Listing<(K, V)>,
) -> BTreeMap<K, V> {
    let mut out = if listing.complete {
        BTreeMap::new()
    } else {
        stored.cloned().unwrap_or_default()
    };
    out.extend(listing.items.iter().cloned());
    out
}

fn accounts(listing: &Listing<RemoteAccount>) -> Listing<(RemoteId, String)> {
    Listing {
        items: listing
            .items
            .iter()
            .map(|a| (a.id.clone(), a.login.clone()))
            .collect(),
        complete: listing.complete,
    }
}

fn plan_teams(sync: &SyncId, snapshot: &RemoteSnapshot, current: &Current, out: &mut Plan) {
    let admins_key = TeamKey {
        sync: sync.clone(),
        remote: RemoteId(Team::ORG_ADMINS_ID.to_owned()),
    };
    let stored = |key: &TeamKey| current.teams.get(key);
    let mut desired = vec![Team {
        members: merge(
            stored(&admins_key).map(|t| &t.members),
            &accounts(&snapshot.admins),
        ),
        repos: BTreeMap::new(),
        key: admins_key,
        kind: TeamKind::OrgAdmins,
        slug: "owners".to_owned(),
        name: format!("{} owners and admins", snapshot.org.login),
    }];
    for team in &snapshot.teams.items {
        let key = TeamKey {
            sync: sync.clone(),
            remote: team.id.clone(),
        };
        desired.push(Team {
            members: merge(stored(&key).map(|t| &t.members), &accounts(&team.members)),
            repos: merge(stored(&key).map(|t| &t.repos), &team.repos),
            key,
            kind: TeamKind::Remote,
            slug: team.slug.clone(),
            name: team.name.clone(),
        });
    }
    desired.sort_by(|a, b| a.key.cmp(&b.key));
    let desired_keys: BTreeSet<&TeamKey> = desired.iter().map(|t| &t.key).collect();
    for team in &desired {
        match current.teams.get(&team.key) {
            None => out.summary.teams_added += 1,
            Some(old) if old != team => out.summary.teams_changed += 1,
            Some(_) => continue,
        }
        out.changes.push(Change::PutTeam(team.clone()));
    }
    if snapshot.teams.complete {
        for (key, team) in &current.teams {
            if &key.sync == sync && team.kind == TeamKind::Remote && !desired_keys.contains(key) {
                out.summary.teams_removed += 1;
                out.changes.push(Change::DeleteTeam(key.clone()));
            }
        }
    }
}

fn plan_identities(sync: &SyncId, snapshot: &RemoteSnapshot, current: &Current, out: &mut Plan) {
    let mut seen: BTreeMap<&RemoteId, &RemoteAccount> = BTreeMap::new();
    let listed = snapshot.teams.items.iter().flat_map(|t| &t.members.items);
    for account in snapshot.admins.items.iter().chain(listed) {
        // An account listed with an email wins over one listed without.
        let entry = seen.entry(&account.id).or_insert(account);
        if entry.email.is_none() {
            *entry = account;
        }
    }
    for (id, account) in seen {
        let identity = Identity {
            sync: sync.clone(),
            remote: id.clone(),
            login: account.login.clone(),
            email: account.email.clone(),
        };
        if current.identities.get(id) != Some(&identity) {
            out.changes.push(Change::PutIdentity(identity));
        }
    }
}

/// Gives every identity of this sync a user: the user who already has the
/// same account at the same host (another sync of the same GitHub, say), or
/// an identity with the same email on another sync; otherwise a new user
/// named after the login. Once placed, an identity stays with its user: an
/// admin's `user link`/`unlink` is never undone by a run.
fn plan_users(sync: &SyncId, current: &Current, out: &mut Plan) {
    let mut identities: BTreeMap<&RemoteId, &Identity> = current.identities.iter().collect();
    for change in &out.changes {
        if let Change::PutIdentity(i) = change {
            identities.insert(&i.remote, i);
        }
    }
    let mut users = current.users.clone();
    let mut owner: BTreeMap<IdentityKey, UserId> = users
        .values()
        .flat_map(|u| u.identities.iter().map(|i| (i.clone(), u.id.clone())))
        .collect();
    let mut changed = BTreeSet::new();
    let host = |s: &SyncId| {
        current
            .syncs
            .get(s)
            .map(|s| (s.provider, s.api_url.as_str()))
    };
    for identity in identities.values() {
        let key = identity.key();
        if owner.contains_key(&key) {
            continue;
        }
        let same_person = current.other_identities.iter().find(|other| {
            let same_account = other.remote == identity.remote && host(&other.sync).is_some() && host(&other.sync) == host(sync);
            let same_email = matches!((&other.email, &identity.email), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b));
            same_account || same_email
        });
        let user = match same_person.and_then(|p| owner.get(&p.key())) {
            Some(user) => user.clone(),
            None => {
                let base = UserId::from_login(&identity.login);
                let id = std::iter::once(base.clone())
                    .chain((2..).map(|n| base.numbered(n)))
                    .find(|id| !users.contains_key(id))
                    .unwrap_or(base);
                users.insert(
                    id.clone(),
                    User {
                        id: id.clone(),
                        identities: BTreeSet::new(),
                    },
                );
                id
            }
        };
        if let Some(u) = users.get_mut(&user) {
            u.identities.insert(key.clone());
        }
        owner.insert(key, user.clone());
        changed.insert(user);
    }
    for id in changed {
        if let Some(user) = users.remove(&id) {
            out.changes.push(Change::PutUser(user));
        }
    }
}

/// Whether `repo`, read by `sync`, is the repository that owns `package`:
/// the same repository id at the same host. A rename, or a transfer to
/// another synced organization of the same host, keeps the id and so keeps
/// the package; another repository declaring the name never takes it.
fn owns(sync: &SyncId, repo: &RemoteRepo, package: &Package, current: &Current) -> bool {
    if package.repo != repo.id {
        return false;
    }
    if &package.origin == sync {
        return true;
    }
    let here = current.syncs.get(sync).map(Sync::host);
    let theirs = package
        .host
        .clone()
        .or_else(|| current.syncs.get(&package.origin).map(Sync::host));
    here.is_some() && here == theirs
}

/// The package names the snapshot's repositories claim, so the store can load
/// the versions of packages that may move to this sync.
pub fn claimed_names(snapshot: &RemoteSnapshot) -> BTreeSet<PackageName> {
    snapshot
        .repos
        .items
        .iter()
        .filter_map(|r| match &r.default_ref()?.manifest {
            Manifest::Found(m) => manifest_name(m).ok(),
            _ => None,
        })
        .collect()
}

/// A package this run wants, with its versions.
struct Desired {
    package: Package,
    versions: BTreeMap<String, Version>,
    /// False when the repo's refs listing was cut short: keep unseen versions.
    refs_complete: bool,
}

type ManifestMap = serde_json::Map<String, serde_json::Value>;

/// What the default branch says a repository is.
enum RepoVerdict<'a> {
    Package(PackageName, &'a ManifestMap),
    /// Definitely not a package (no composer.json on a fully listed default branch).
    NotPackage,
    /// Cannot tell this run (invalid composer.json, refs cut short): keep what is stored.
    Unknown,
}

fn verdict<'a>(repo: &'a RemoteRepo, problems: &mut Vec<Problem>) -> RepoVerdict<'a> {
    let Some(default) = repo.default_ref() else {
        if repo.refs.complete {
            return RepoVerdict::NotPackage;
        }
        return RepoVerdict::Unknown;
    };
    match &default.manifest {
        Manifest::Missing => RepoVerdict::NotPackage,
        Manifest::Invalid(reason) => {
            problems.push(problem(
                &repo.full_name,
                Some(&default.name),
                format!("composer.json is invalid: {reason}"),
            ));
            RepoVerdict::Unknown
        }
        Manifest::Found(manifest) => match manifest_name(manifest) {
            Ok(name) => RepoVerdict::Package(name, manifest),
            Err(message) => {
                problems.push(problem(&repo.full_name, Some(&default.name), message));
                RepoVerdict::Unknown
            }
        },
    }
}

fn manifest_name(
    manifest: &serde_json::Map<String, serde_json::Value>,
) -> Result<PackageName, String> {
    match manifest.get("name") {
        Some(serde_json::Value::String(name)) => {
            PackageName::new(name).map_err(|e| format!("composer.json: {e}"))
        }
        _ => {
            Err("composer.json has no \"name\", so it cannot be published as a package".to_owned())
        }
    }
}

fn desired_packages(
    sync: &SyncId,
    snapshot: &RemoteSnapshot,
    current: &Current,
    out: &mut Plan,
) -> BTreeMap<PackageName, Desired> {
    let mut desired: BTreeMap<PackageName, Desired> = BTreeMap::new();
    // Names nobody owns yet, with every repository that declares them.
    let mut unowned: BTreeMap<PackageName, Vec<(&RemoteRepo, &ManifestMap)>> = BTreeMap::new();
    for repo in &snapshot.repos.items {
        let RepoVerdict::Package(name, manifest) = verdict(repo, &mut out.problems) else {
            continue;
        };
        if current
            .removals
            .get(&repo.id)
            .is_some_and(|r| r.name == name)
        {
            out.problems.push(problem(
                &repo.full_name,
                None,
                format!("package {name} was removed by an admin, so this repository does not provide it again; `packyard package restore {name}` undoes that"),
            ));
            continue;
        }
        match current.packages.get(&name) {
            Some(owner) if owns(sync, repo, owner, current) => {
                let want = desire(
                    sync,
                    &name,
                    repo,
                    manifest,
                    Some(owner),
                    current,
                    &mut out.problems,
                );
                desired.insert(name, want);
            }
            Some(owner) => out.conflicts.push(Conflict {
                name,
                claimant: format!("{sync}:{}", repo.full_name),
                owner: format!("{}:{}", owner.origin, owner.repo_full_name),
            }),
            None => unowned.entry(name).or_default().push((repo, manifest)),
        }
    }
    for (name, claimants) in unowned {
        if let [(repo, manifest)] = claimants[..] {
            let want = desire(
                sync,
                &name,
                repo,
                manifest,
                None,
                current,
                &mut out.problems,
            );
            desired.insert(name, want);
            continue;
        }
        // Several repositories declare a new name at once: none of them is
        // the first, so an admin picks one with `package move`.
        for (repo, _) in &claimants {
            let others: Vec<&str> = claimants
                .iter()
                .filter(|(r, _)| r.id != repo.id)
                .map(|(r, _)| r.full_name.as_str())
                .collect();
            out.conflicts.push(Conflict {
                name: name.clone(),
                claimant: format!("{sync}:{}", repo.full_name),
                owner: format!("nobody yet; also declared by {}", others.join(", ")),
            });
        }
    }
    desired
}

/// The package `repo` provides, keeping what an admin set on the stored one.
fn desire(
    sync: &SyncId,
    name: &PackageName,
    repo: &RemoteRepo,
    manifest: &ManifestMap,
    stored: Option<&Package>,
    current: &Current,
    problems: &mut Vec<Problem>,
) -> Desired {
    let description = manifest
        .get("description")
        .and_then(|d| d.as_str())
        .map(str::to_owned)
        .or_else(|| repo.description.clone());
    let package = Package {
        name: name.clone(),
        origin: sync.clone(),
        repo: repo.id.clone(),
        repo_full_name: repo.full_name.clone(),
        clone_url: repo.clone_url.clone(),
        html_url: repo.html_url.clone(),
        description,
        default_branch: repo.default_branch.clone(),
        host: current
            .syncs
            .get(sync)
            .map(Sync::host)
            .or_else(|| stored.and_then(|p| p.host.clone())),
        archived: repo.archived,
        abandoned: stored.and_then(|p| p.abandoned.clone()),
        manifest_missing: false,
    };
    Desired {
        versions: versions_of(name, repo, problems),
        package,
        refs_complete: repo.refs.complete,
    }
}

fn versions_of(
    name: &PackageName,
    repo: &RemoteRepo,
    problems: &mut Vec<Problem>,
) -> BTreeMap<String, Version> {
    let mut refs: Vec<&RemoteRef> = repo.refs.items.iter().collect();
    // Branches first (the default branch first of all), then tags by name, so
    // that "first one seen wins" for duplicate normalized versions is stable.
    refs.sort_by_key(|r| {
        (
            r.kind != RefKind::Branch,
            r.name != repo.default_branch,
            r.name.clone(),
        )
    });
    let mut versions = BTreeMap::new();
    let mut normalized_seen = BTreeSet::new();
    for r in refs {
        let usable = version_of(name, repo, r).and_then(|v| {
            if normalized_seen.insert(v.normalized.clone()) {
                Ok(v)
            } else {
                Err(format!(
                    "another ref already provides version {}",
                    v.normalized
                ))
            }
        });
        match usable {
            Ok(v) => {
                versions.insert(v.version.clone(), v);
            }
            Err(reason) => problems.push(problem(
                &repo.full_name,
                Some(&r.name),
                format!("{reason}; skipped"),
            )),
        }
    }
    versions
}

/// The version one ref yields, or why it yields none.
fn version_of(name: &PackageName, repo: &RemoteRepo, r: &RemoteRef) -> Result<Version, String> {
    let manifest = match &r.manifest {
        Manifest::Found(m) => m,
        Manifest::Missing => return Err("no composer.json at this ref".to_owned()),
        Manifest::Invalid(reason) => return Err(format!("composer.json is invalid: {reason}")),
    };
    let declared = manifest_name(manifest)?;
    if &declared != name {
        return Err(format!("composer.json names {declared}, not {name}"));
    }
    let (named, kind) = match r.kind {
        RefKind::Tag => {
            let declared_version = manifest.get("version").and_then(|v| v.as_str());
            (
                version::tag(&r.name, declared_version).map_err(|e| e.to_string())?,
                VersionKind::Tag,
            )
        }
        RefKind::Branch => (
            version::branch(&r.name).ok_or_else(|| {
                format!("branch {:?} cannot be named as a Composer version", r.name)
            })?,
            VersionKind::Branch,
        ),
    };
    let Named {
        version,
        normalized,
    } = named;
    Ok(Version {
        package: name.clone(),
        version,
        normalized,
        kind,
        ref_name: r.name.clone(),
        commit: r.commit.clone(),
        default_branch: kind == VersionKind::Branch && r.name == repo.default_branch,
        manifest: manifest.clone(),
    })
}

fn plan_packages(
    sync: &SyncId,
    snapshot: &RemoteSnapshot,
    current: &Current,
    desired: &BTreeMap<PackageName, Desired>,
    out: &mut Plan,
) {
    for (name, want) in desired {
        plan_package(name, want, current, out);
    }
    // Packages of this sync that this run did not produce: removed only when
    // the host definitely no longer has them as packages.
    let repos: BTreeMap<&RemoteId, &RemoteRepo> =
        snapshot.repos.items.iter().map(|r| (&r.id, r)).collect();
    for (name, package) in &current.packages {
        if &package.origin != sync || desired.contains_key(name) {
            continue;
        }
        let gone = match repos.get(&package.repo) {
            None => snapshot.repos.complete,
            Some(repo) if !repo.refs.complete => false,
            Some(repo) => match verdict(repo, &mut Vec::new()) {
                RepoVerdict::NotPackage if !package.manifest_missing => {
                    out.problems.push(problem(
                        &repo.full_name,
                        Some(&repo.default_branch),
                        format!("no composer.json on the default branch; package {name} is removed if the next run finds none either"),
                    ));
                    out.changes.push(Change::PutPackage(Package {
                        manifest_missing: true,
                        ..package.clone()
                    }));
                    false
                }
                RepoVerdict::NotPackage => true,
                RepoVerdict::Package(new_name, _) => &new_name != name,
                RepoVerdict::Unknown => false,
            },
        };
        if !gone {
            continue;
        }
        out.summary.packages_removed += 1;
        out.changes.push(Change::DeletePackage(name.clone()));
        for v in current
            .versions
            .get(name)
            .into_iter()
            .flat_map(|vs| vs.keys())
        {
            out.summary.versions_removed += 1;
            out.changes.push(Change::DeleteVersion {
                package: name.clone(),
                version: v.clone(),
            });
        }
    }
}

/// Writes `want` and its versions over what is stored under `name`.
fn plan_package(name: &PackageName, want: &Desired, current: &Current, out: &mut Plan) {
    let no_versions = BTreeMap::new();
    match current.packages.get(name) {
        None => out.summary.packages_added += 1,
        Some(old) if old != &want.package => out.summary.packages_changed += 1,
        Some(_) => {}
    }
    if current.packages.get(name) != Some(&want.package) {
        out.changes.push(Change::PutPackage(want.package.clone()));
    }
    let stored = current.versions.get(name).unwrap_or(&no_versions);
    for (v, version) in &want.versions {
        match stored.get(v) {
            None => out.summary.versions_added += 1,
            Some(old) if old != version => out.summary.versions_changed += 1,
            Some(_) => continue,
        }
        out.changes.push(Change::PutVersion(version.clone()));
    }
    if want.refs_complete {
        for v in stored.keys().filter(|v| !want.versions.contains_key(*v)) {
            out.summary.versions_removed += 1;
            out.changes.push(Change::DeleteVersion {
                package: name.clone(),
                version: v.clone(),
            });
        }
    }
}

/// Gives `name` to `repo` of `sync`: an admin's explicit choice (`packyard
/// package move`), the one way a package changes repository. Its versions
/// become that repository's.
pub fn plan_move(
    sync: &SyncId,
    name: &PackageName,
    repo: &RemoteRepo,
    current: &Current,
) -> Result<Plan, String> {
    let mut out = Plan::default();
    let incomplete = || {
        format!(
            "could not read every tag and branch of {}; try again",
            repo.full_name
        )
    };
    let manifest = match verdict(repo, &mut out.problems) {
        RepoVerdict::Package(declared, manifest) if &declared == name => manifest,
        RepoVerdict::Package(declared, _) => {
            return Err(format!(
                "{} declares {declared} in its composer.json, not {name}",
                repo.full_name
            ));
        }
        _ if !repo.refs.complete => return Err(incomplete()),
        _ => {
            return Err(format!(
                "{} has no usable composer.json naming {name} on its default branch {:?}",
                repo.full_name, repo.default_branch
            ));
        }
    };
    if !repo.refs.complete {
        return Err(incomplete());
    }
    let stored = current.packages.get(name);
    if stored.is_some_and(|p| owns(sync, repo, p, current)) {
        return Err(format!("{name} already comes from {}", repo.full_name));
    }
    let want = desire(
        sync,
        name,
        repo,
        manifest,
        stored,
        current,
        &mut out.problems,
    );
    plan_package(name, &want, current, &mut out);
    if current.removals.contains_key(&repo.id) {
        out.changes.push(Change::DeleteRemoval {
            sync: sync.clone(),
            repo: repo.id.clone(),
        });
    }
    Ok(out)
}

/// Holds back what loses data and lets revocations through. Removing more
/// than half of the sync's packages or versions (a host that answered a
/// "complete" listing with nothing, say) is held until an admin confirms:
/// those removals leave the plan and the guard says why. Every other change
/// applies at once, revoked access above all: keeping access by mistake is
/// the worse error. What was revoked is listed on the summary.
fn set_guard(sync: &SyncId, current: &Current, policy: &Policy, out: &mut Plan) {
    let mut after: BTreeMap<&TeamKey, Option<&Team>> = BTreeMap::new();
    for change in &out.changes {
        match change {
            Change::PutTeam(t) => {
                after.insert(&t.key, Some(t));
            }
            Change::DeleteTeam(k) => {
                after.insert(k, None);
            }
            _ => {}
        }
    }
    let mut revoked = Vec::new();
    for (key, old) in &current.teams {
        let Some(new) = after.get(key) else { continue };
        for (member, login) in &old.members {
            if new.is_none_or(|n| !n.members.contains_key(member)) {
                revoked.push(match old.kind {
                    TeamKind::OrgAdmins => format!("{login} as owner/admin"),
                    TeamKind::Remote => format!("{login} from {}", old.slug),
                });
            }
        }
    }
    out.summary.revoked = revoked;
    if policy.confirm_removals {
        return;
    }
    let own = |name: &PackageName| {
        current
            .packages
            .get(name)
            .is_some_and(|p| &p.origin == sync)
    };
    let packages_before = current
        .packages
        .values()
        .filter(|p| &p.origin == sync)
        .count();
    let versions_before: usize = current
        .versions
        .iter()
        .filter(|(name, _)| own(name))
        .map(|(_, versions)| versions.len())
        .sum();
    let (packages_removed, versions_removed) =
        (out.summary.packages_removed, out.summary.versions_removed);
    let mut reasons = Vec::new();
    if packages_removed > 0 && packages_removed * 2 > packages_before {
        reasons.push(format!("{packages_removed} of {packages_before} packages"));
    }
    if versions_removed > 0 && versions_removed * 2 > versions_before {
        reasons.push(format!("{versions_removed} of {versions_before} versions"));
    }
    if reasons.is_empty() {
        return;
    }
    out.changes
        .retain(|c| !matches!(c, Change::DeletePackage(_) | Change::DeleteVersion { .. }));
    out.summary.packages_removed = 0;
    out.summary.versions_removed = 0;
    out.guard = Some(format!(
        "this run would remove {}, more than half, so those removals are held; everything else (revoked access included) was applied. Check the host, then confirm the removal (`packyard sync run {sync} --confirm-removals`)",
        reasons.join(" and ")
    ));
}

#[cfg(test)]
mod tests;
