//! Who may install what. Pure, so the server, the admin views and the
//! property tests apply exactly the same rule:
//! - an org-wide token may install everything;
//! - a team may install the packages of its own sync whose repository it may
//!   read (team keys are namespaced by sync; a repository id means nothing at
//!   another host);
//! - a user may install what any team of any of their identities may, and
//!   everything when one of their identities is an owner/admin of the
//!   primary sync's remote organization (packyard's owners and admins);
//! - the owners/admins pseudo-team of the primary sync may install everything.

use super::{Access, IdentityKey, Package, Sync, SyncId, Team, TeamKind, TokenScope, User, UserId};
use std::collections::BTreeSet;

/// The records the rule reads.
#[derive(Debug, Clone, Copy)]
pub struct Directory<'a> {
    pub syncs: &'a [Sync],
    pub teams: &'a [Team],
    pub users: &'a [User],
}

impl<'a> Directory<'a> {
    fn primary(&self) -> Option<&'a SyncId> {
        self.syncs.iter().find(|s| s.primary).map(|s| &s.id)
    }

    fn user(&self, id: &UserId) -> Option<&'a User> {
        self.users.iter().find(|u| &u.id == id)
    }

    /// The primary sync's owners/admins team, if any sync exists.
    fn owners_team(&self) -> Option<&'a Team> {
        let primary = self.primary()?;
        self.teams
            .iter()
            .find(|t| t.kind == TeamKind::OrgAdmins && &t.key.sync == primary)
    }

    /// Teams `identity` is a member of.
    fn teams_of(&self, identity: &'a IdentityKey) -> impl Iterator<Item = &'a Team> + 'a {
        self.teams.iter().filter(move |t| {
            t.key.sync == identity.sync && t.members.contains_key(&identity.remote)
        })
    }

    /// Whether `user` is one of packyard's owners/admins.
    pub fn is_owner(&self, user: &User) -> bool {
        self.owners_team().is_some_and(|team| {
            user.identities
                .iter()
                .any(|i| i.sync == team.key.sync && team.members.contains_key(&i.remote))
        })
    }

    /// packyard's owners/admins: users with an identity among the primary
    /// sync's remote owners/admins.
    pub fn owners(&self) -> BTreeSet<UserId> {
        self.users
            .iter()
            .filter(|u| self.is_owner(u))
            .map(|u| u.id.clone())
            .collect()
    }
}

fn team_grants(team: &Team, package: &Package) -> bool {
    package.origin == team.key.sync
        && team
            .repos
            .get(&package.repo)
            .is_some_and(|p| p.may_install())
}

/// Whether a token with `scope` may install `package`.
pub fn may_install(scope: &TokenScope, dir: &Directory, package: &Package) -> bool {
    match scope {
        TokenScope::OrgWide => true,
        TokenScope::Team { team } => dir.teams.iter().find(|t| &t.key == team).is_some_and(|t| {
            dir.owners_team().is_some_and(|o| o.key == t.key) || team_grants(t, package)
        }),
        TokenScope::User { user } => dir.user(user).is_some_and(|u| {
            dir.is_owner(u)
                || u.identities
                    .iter()
                    .any(|i| dir.teams_of(i).any(|t| team_grants(t, package)))
        }),
    }
}

/// The set of packages a token with `scope` may install, out of `packages`.
pub fn access_for(scope: &TokenScope, dir: &Directory, packages: &[Package]) -> Access {
    if matches!(scope, TokenScope::OrgWide) {
        return Access::All;
    }
    Access::Only(
        packages
            .iter()
            .filter(|p| may_install(scope, dir, p))
            .map(|p| p.name.clone())
            .collect(),
    )
}

#[cfg(test)]
mod tests;
