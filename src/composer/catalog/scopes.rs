//! Who sees what: the records the access rule reads, and each token scope's
//! visible set, computed with `domain::may_install` (the one rule) over a
//! directory narrowed to the records that scope's answer can depend on.

use crate::domain::{
    Access, Directory, Package, PackageName, RemoteId, Sync, SyncId, Team, TeamKind, TokenScope,
    User, UserId, may_install,
};
use crate::store::{Store, StoreError};
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The records the access rule reads.
#[derive(Debug, Default)]
pub(super) struct People {
    syncs: Vec<Sync>,
    teams: Vec<Team>,
    users: Vec<User>,
    /// Position in `users`, so a user scope finds its user at once.
    user_at: HashMap<UserId, usize>,
}

impl People {
    pub(super) fn load(store: &Store) -> Result<Self, StoreError> {
        Ok(Self::new(
            store.load_syncs()?,
            store.load_teams(None)?,
            store.load_users()?,
        ))
    }

    fn new(syncs: Vec<Sync>, teams: Vec<Team>, users: Vec<User>) -> Self {
        let user_at = users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.clone(), i))
            .collect();
        Self {
            syncs,
            teams,
            users,
            user_at,
        }
    }

    fn user(&self, id: &UserId) -> Option<&User> {
        self.user_at.get(id).map(|&i| &self.users[i])
    }

    fn directory(&self) -> Directory<'_> {
        Directory {
            syncs: &self.syncs,
            teams: &self.teams,
            users: &self.users,
        }
    }

    /// Whether `scope` may install `package`. The rule reads only the
    /// scope's own user, so the directory holds just that one.
    pub(super) fn allows(&self, scope: &TokenScope, package: &Package) -> bool {
        let users = match scope {
            TokenScope::User { user } => match self.user(user) {
                Some(user) => std::slice::from_ref(user),
                None => return false,
            },
            TokenScope::OrgWide | TokenScope::Team { .. } => &[],
        };
        let dir = Directory {
            users,
            ..self.directory()
        };
        may_install(scope, &dir, package)
    }

    /// The packages `scope` may install, out of `packages`. Scanning every
    /// package against every user and team would cost packages × (users +
    /// teams) per scope, so the rule runs on a directory holding only the
    /// records it reads for this scope (the scope's user, the teams that can
    /// grant it something, the owners teams), and only over the packages
    /// those teams' repositories name, or all of them for owners.
    pub(super) fn visible<P: Borrow<Package>>(
        &self,
        scope: &TokenScope,
        packages: &BTreeMap<PackageName, P>,
        by_repo: &RepoIndex,
    ) -> Access {
        let (users, teams): (Vec<User>, Vec<Team>) = match scope {
            TokenScope::OrgWide => return Access::All,
            TokenScope::Team { team } => (
                Vec::new(),
                self.teams
                    .iter()
                    .filter(|t| &t.key == team || t.kind == TeamKind::OrgAdmins)
                    .cloned()
                    .collect(),
            ),
            TokenScope::User { user } => {
                let Some(user) = self.user(user) else {
                    return Access::Only(BTreeSet::new());
                };
                let teams =
                    self.teams
                        .iter()
                        .filter(|t| {
                            t.kind == TeamKind::OrgAdmins
                                || user.identities.iter().any(|i| {
                                    i.sync == t.key.sync && t.members.contains_key(&i.remote)
                                })
                        })
                        .cloned()
                        .collect();
                (vec![user.clone()], teams)
            }
        };
        let dir = Directory {
            syncs: &self.syncs,
            teams: &teams,
            users: &users,
        };
        let may_see_all = match scope {
            TokenScope::User { .. } => users.iter().any(|u| dir.is_owner(u)),
            TokenScope::Team { team } => teams
                .iter()
                .any(|t| &t.key == team && t.kind == TeamKind::OrgAdmins),
            TokenScope::OrgWide => true,
        };
        let candidates: Box<dyn Iterator<Item = &Package>> = if may_see_all {
            Box::new(packages.values().map(Borrow::borrow))
        } else {
            Box::new(
                teams
                    .iter()
                    .filter_map(|t| Some((t, by_repo.get(&t.key.sync)?)))
                    .flat_map(|(t, repos)| t.repos.keys().filter_map(|repo| repos.get(repo)))
                    .flatten()
                    .filter_map(|name| packages.get(name).map(Borrow::borrow)),
            )
        };
        Access::Only(
            candidates
                .filter(|p| may_install(scope, &dir, p))
                .map(|p| p.name.clone())
                .collect(),
        )
    }
}

/// Package names by origin sync and the repository that provides them.
pub(super) type RepoIndex = HashMap<SyncId, HashMap<RemoteId, Vec<PackageName>>>;

pub(super) fn index_by_repo<P: Borrow<Package>>(packages: &BTreeMap<PackageName, P>) -> RepoIndex {
    let mut index = RepoIndex::new();
    for p in packages.values().map(Borrow::borrow) {
        index
            .entry(p.origin.clone())
            .or_default()
            .entry(p.repo.clone())
            .or_default()
            .push(p.name.clone());
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IdentityKey, Permission, ProviderKind, TeamKey, Timestamp, access_for};
    use proptest::prelude::*;

    fn sync_id(n: u8) -> SyncId {
        SyncId::new(&format!("s{n}")).unwrap()
    }

    fn sync(n: u8, primary: bool) -> Sync {
        Sync {
            id: sync_id(n),
            provider: ProviderKind::Github,
            api_url: "https://api.github.com".into(),
            org: format!("org{n}"),
            primary,
            created_at: Timestamp(0),
            last_run: None,
            resync_minutes: None,
            hooks: None,
        }
    }

    /// (sync, owners team?, repo → permission, members)
    type TeamSpec = (u8, bool, BTreeMap<u8, u8>, BTreeSet<u8>);

    fn team(i: usize, (sync, admins, repos, members): TeamSpec) -> Team {
        Team {
            key: TeamKey {
                sync: sync_id(sync),
                remote: RemoteId(i.to_string()),
            },
            kind: if admins {
                TeamKind::OrgAdmins
            } else {
                TeamKind::Remote
            },
            slug: format!("t{i}"),
            name: format!("t{i}"),
            members: members
                .into_iter()
                .map(|m| (RemoteId(m.to_string()), format!("m{m}")))
                .collect(),
            repos: repos
                .into_iter()
                .map(|(r, p)| {
                    let permission = [Permission::Read, Permission::Write, Permission::Admin];
                    (RemoteId(r.to_string()), permission[usize::from(p)])
                })
                .collect(),
        }
    }

    fn package(i: usize, (sync, repo): (u8, u8)) -> Package {
        Package {
            name: PackageName::new(&format!("acme/p{i}")).unwrap(),
            origin: sync_id(sync),
            repo: RemoteId(repo.to_string()),
            repo_full_name: format!("acme/p{i}"),
            clone_url: String::new(),
            html_url: String::new(),
            description: None,
            default_branch: "main".into(),
            host: None,
            archived: false,
            abandoned: None,
            manifest_missing: false,
        }
    }

    /// Two syncs, teams (some owners teams) with random members and repos,
    /// users with identities on either sync, packages of either sync.
    fn world() -> impl Strategy<Value = (People, Vec<Package>)> {
        let team_spec = (
            0u8..2,
            prop::bool::weighted(0.2),
            prop::collection::btree_map(0u8..6, 0u8..3, 0..4),
            prop::collection::btree_set(0u8..5, 0..4),
        );
        let identities = prop::collection::btree_set((0u8..2, 0u8..5), 0..3);
        (
            prop::collection::vec(team_spec, 0..6),
            prop::collection::vec(identities, 0..5),
            prop::collection::vec((0u8..2, 0u8..6), 0..8),
            0u8..2,
        )
            .prop_map(|(teams, users, packages, primary)| {
                let people = People::new(
                    (0..2).map(|n| sync(n, n == primary)).collect(),
                    teams
                        .into_iter()
                        .enumerate()
                        .map(|(i, t)| team(i, t))
                        .collect(),
                    users
                        .into_iter()
                        .enumerate()
                        .map(|(i, ids)| User {
                            id: UserId::from_login(&format!("u{i}")),
                            identities: ids
                                .into_iter()
                                .map(|(s, r)| IdentityKey {
                                    sync: sync_id(s),
                                    remote: RemoteId(r.to_string()),
                                })
                                .collect(),
                        })
                        .collect(),
                );
                let packages = packages
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| package(i, p))
                    .collect();
                (people, packages)
            })
    }

    proptest! {
        #[test]
        fn narrowed_visibility_equals_the_rule_over_every_record((people, packages) in world()) {
            let by_name: BTreeMap<_, _> =
                packages.iter().map(|p| (p.name.clone(), p.clone())).collect();
            let index = index_by_repo(&by_name);
            let mut scopes = vec![
                TokenScope::OrgWide,
                TokenScope::User { user: UserId::from_login("nobody") },
            ];
            scopes.extend(people.users.iter().map(|u| TokenScope::User { user: u.id.clone() }));
            scopes.extend(people.teams.iter().map(|t| TokenScope::Team { team: t.key.clone() }));
            for scope in scopes {
                let expected = access_for(&scope, &people.directory(), &packages);
                prop_assert_eq!(people.visible(&scope, &by_name, &index), expected.clone(), "{:?}", scope);
                for p in &packages {
                    prop_assert_eq!(people.allows(&scope, p), expected.allows(&p.name));
                }
            }
        }
    }
}
