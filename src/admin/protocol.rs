//! The admin socket's wire format: newline-delimited JSON.
//!
//! A client writes one [`Request`] line and reads one [`Response`] line, then
//! the connection is done — except after [`Request::Subscribe`], when the
//! server answers [`Response::Subscribed`] and then writes one [`Streamed`]
//! line per engine event until the client hangs up.
//!
//! Secrets cross the socket only where they must: the credential of
//! [`Request::AddSync`] and the new token of [`Response::TokenCreated`]. Both
//! travel as a [`WireSecret`], a DTO that exposes the value to serde on
//! purpose and still redacts it in `Debug`; [`Secret`] itself stays without
//! `Serialize` so nothing else can leak one into JSON by accident.

use super::{
    EngineEvent, NewSync, OwnerChange, PackageChange, PackageChangePreview, PackageSelection,
    PackageSummary, Policy,
};
use super::{SyncRemoval, UserSummary};
use crate::domain::{
    AuditEntry, Credential, PackageName, ProviderKind, RemoteOrg, RunSummary, Secret, Sync, SyncId,
    Team, Timestamp, Token, TokenScope, UserId, Version,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest request line the server reads. Requests are small (the
/// largest is a package removal by name); a longer line is a client bug or
/// abuse, and reading it whole would let any local peer exhaust memory.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// One call of the admin API; one variant per `AdminClient` method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "kebab-case")]
pub enum Request {
    AddSync {
        sync: WireNewSync,
    },
    ListSyncs,
    RunSync {
        id: SyncId,
        policy: Policy,
    },
    PromoteSync {
        id: SyncId,
        apply: bool,
    },
    RemoveSync {
        id: SyncId,
        apply: bool,
    },
    SetResync {
        id: SyncId,
        minutes: Option<u32>,
    },
    ListPackages {
        origin: Option<SyncId>,
    },
    ListVersions {
        name: PackageName,
    },
    RemovePackages {
        selection: PackageSelection,
        apply: bool,
    },
    ChangePackage {
        name: PackageName,
        change: PackageChange,
        apply: bool,
    },
    ListTeams {
        sync: Option<SyncId>,
    },
    ListUsers,
    LinkIdentity {
        user: UserId,
        sync: SyncId,
        login: String,
    },
    UnlinkIdentity {
        user: UserId,
        sync: SyncId,
        login: String,
    },
    CreateToken {
        scope: TokenScope,
        label: String,
        expires_at: Option<Timestamp>,
    },
    ListTokens,
    RevokeToken {
        id: String,
    },
    ListAudit {
        limit: usize,
    },
    /// Turns the connection into a stream of [`Streamed`] lines.
    Subscribe,
}

/// The answer to one [`Request`]: its result, or what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
pub enum Response {
    SyncAdded {
        sync: Sync,
        org: RemoteOrg,
    },
    Syncs {
        syncs: Vec<Sync>,
    },
    RunFinished {
        summary: RunSummary,
    },
    OwnerChange {
        change: OwnerChange,
    },
    SyncRemoval {
        removal: SyncRemoval,
    },
    SyncUpdated {
        sync: Sync,
    },
    Packages {
        packages: Vec<PackageSummary>,
    },
    Versions {
        versions: Vec<Version>,
    },
    PackagesSelected {
        names: Vec<PackageName>,
    },
    Teams {
        teams: Vec<Team>,
    },
    PackageChanged {
        preview: PackageChangePreview,
    },
    Users {
        users: Vec<UserSummary>,
    },
    IdentityLinked,
    IdentityUnlinked {
        user: UserId,
    },
    TokenCreated {
        token: Token,
        secret: WireSecret,
    },
    Tokens {
        tokens: Vec<Token>,
    },
    TokenRevoked {
        found: bool,
    },
    Audit {
        entries: Vec<AuditEntry>,
    },
    /// Events follow, one [`Streamed`] line each.
    Subscribed,
    /// The call failed; the message is the daemon's, for the admin.
    Failed {
        message: String,
    },
}

/// One line of an event stream after [`Request::Subscribe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stream", rename_all = "kebab-case")]
pub enum Streamed {
    /// Boxed: events carry run summaries, far larger than the other variant.
    Event { event: Box<EngineEvent> },
    /// The daemon dropped `missed` events for this client (it read too
    /// slowly): reload the state instead of trusting the events.
    Lagged { missed: u64 },
}

/// A secret on the wire. Serializes as its plain value (that is the point),
/// prints redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WireSecret(String);

impl From<&Secret> for WireSecret {
    fn from(secret: &Secret) -> Self {
        Self(secret.expose().to_owned())
    }
}

impl From<WireSecret> for Secret {
    fn from(wire: WireSecret) -> Self {
        Secret::new(wire.0)
    }
}

impl fmt::Debug for WireSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WireSecret([redacted])")
    }
}

/// [`Credential`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum WireCredential {
    Token {
        token: WireSecret,
    },
    Basic {
        username: String,
        password: WireSecret,
    },
    GithubApp {
        app_id: u64,
        installation_id: u64,
        private_key: WireSecret,
    },
}

impl From<&Credential> for WireCredential {
    fn from(credential: &Credential) -> Self {
        match credential {
            Credential::Token(token) => Self::Token {
                token: token.into(),
            },
            Credential::Basic { username, password } => Self::Basic {
                username: username.clone(),
                password: password.into(),
            },
            Credential::GithubApp {
                app_id,
                installation_id,
                private_key,
            } => Self::GithubApp {
                app_id: *app_id,
                installation_id: *installation_id,
                private_key: private_key.into(),
            },
        }
    }
}

impl From<WireCredential> for Credential {
    fn from(wire: WireCredential) -> Self {
        match wire {
            WireCredential::Token { token } => Credential::Token(token.into()),
            WireCredential::Basic { username, password } => Credential::Basic {
                username,
                password: password.into(),
            },
            WireCredential::GithubApp {
                app_id,
                installation_id,
                private_key,
            } => Credential::GithubApp {
                app_id,
                installation_id,
                private_key: private_key.into(),
            },
        }
    }
}

/// [`NewSync`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireNewSync {
    pub id: SyncId,
    pub provider: ProviderKind,
    pub api_url: String,
    pub org: String,
    pub credential: WireCredential,
}

impl From<&NewSync> for WireNewSync {
    fn from(new: &NewSync) -> Self {
        Self {
            id: new.id.clone(),
            provider: new.provider,
            api_url: new.api_url.clone(),
            org: new.org.clone(),
            credential: (&new.credential).into(),
        }
    }
}

impl From<WireNewSync> for NewSync {
    fn from(wire: WireNewSync) -> Self {
        Self {
            id: wire.id,
            provider: wire.provider,
            api_url: wire.api_url,
            org: wire.org,
            credential: wire.credential.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PlanSummary, Problem, TeamKey, TeamKind};

    fn roundtrip<T>(value: &T)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug,
    {
        let line = serde_json::to_string(value).expect("serializes");
        assert!(!line.contains('\n'), "one value is one line: {line}");
        let back: T = serde_json::from_str(&line).expect("deserializes");
        assert_eq!(&back, value, "{line}");
    }

    fn id(s: &str) -> SyncId {
        SyncId::new(s).expect("valid sync id")
    }

    fn summary() -> RunSummary {
        RunSummary {
            started_at: Timestamp(1),
            finished_at: Timestamp(2),
            error: None,
            partial: false,
            guarded: false,
            changes: PlanSummary::default(),
            problems: vec![Problem {
                subject: "acme/x".into(),
                reference: Some("v1".into()),
                message: "bad".into(),
            }],
            conflicts: vec![],
            prefetched: 0,
            prefetch_bytes: 0,
            requests: 3,
            not_modified: 1,
            budget: None,
        }
    }

    fn sync() -> Sync {
        Sync {
            id: id("acme"),
            provider: ProviderKind::Github,
            api_url: "https://api.github.com".into(),
            org: "acme".into(),
            primary: true,
            created_at: Timestamp(5),
            last_run: Some(summary()),
            resync_minutes: None,
            hooks: None,
        }
    }

    fn package() -> crate::domain::Package {
        crate::domain::Package {
            name: PackageName::new("acme/log").expect("valid name"),
            origin: id("acme"),
            repo: crate::domain::RemoteId("7".into()),
            repo_full_name: "acme/log".into(),
            clone_url: "https://example.test/acme/log.git".into(),
            html_url: "https://example.test/acme/log".into(),
            description: Some("logs".into()),
            default_branch: "main".into(),
            host: None,
            archived: false,
            abandoned: None,
            manifest_missing: false,
        }
    }

    fn token() -> Token {
        Token {
            id: "abc".into(),
            label: "ci".into(),
            scope: TokenScope::OrgWide,
            hash: "00".into(),
            created_at: Timestamp(1),
            last_used: None,
            expires_at: Some(Timestamp(9)),
        }
    }

    fn user() -> UserId {
        UserId::from_login("alice")
    }

    #[test]
    fn every_request_round_trips_when_serialized_as_a_line() {
        let name = PackageName::new("acme/log").expect("valid name");
        let requests = vec![
            Request::AddSync {
                sync: WireNewSync {
                    id: id("acme"),
                    provider: ProviderKind::Github,
                    api_url: "https://api.github.com".into(),
                    org: "acme".into(),
                    credential: WireCredential::Basic {
                        username: "bot".into(),
                        password: WireSecret("pw".into()),
                    },
                },
            },
            Request::AddSync {
                sync: WireNewSync {
                    id: id("acme-app"),
                    provider: ProviderKind::Github,
                    api_url: "https://ghe.example.com/api/v3".into(),
                    org: "acme".into(),
                    credential: WireCredential::GithubApp {
                        app_id: 7,
                        installation_id: 99,
                        private_key: WireSecret("-----BEGIN PRIVATE KEY-----".into()),
                    },
                },
            },
            Request::ListSyncs,
            Request::RunSync {
                id: id("acme"),
                policy: Policy {
                    confirm_removals: true,
                    skip_prefetch: true,
                },
            },
            Request::PromoteSync {
                id: id("acme"),
                apply: false,
            },
            Request::RemoveSync {
                id: id("acme"),
                apply: true,
            },
            Request::ListPackages {
                origin: Some(id("acme")),
            },
            Request::ListVersions { name: name.clone() },
            Request::RemovePackages {
                selection: PackageSelection::Named(vec![name]),
                apply: false,
            },
            Request::RemovePackages {
                selection: PackageSelection::Origin(id("acme")),
                apply: true,
            },
            Request::ChangePackage {
                name: PackageName::new("acme/log").unwrap(),
                change: PackageChange::Move {
                    sync: id("acme"),
                    path: "acme/log".into(),
                },
                apply: false,
            },
            Request::ListTeams { sync: None },
            Request::ListUsers,
            Request::LinkIdentity {
                user: user(),
                sync: id("acme"),
                login: "alice".into(),
            },
            Request::UnlinkIdentity {
                user: user(),
                sync: id("acme"),
                login: "alice".into(),
            },
            Request::CreateToken {
                scope: TokenScope::Team {
                    team: TeamKey {
                        sync: id("acme"),
                        remote: crate::domain::RemoteId("1".into()),
                    },
                },
                label: "ci".into(),
                expires_at: None,
            },
            Request::ListTokens,
            Request::RevokeToken { id: "abc".into() },
            Request::Subscribe,
        ];
        for request in &requests {
            roundtrip(request);
        }
    }

    #[test]
    fn every_response_round_trips_when_serialized_as_a_line() {
        let team = Team {
            key: TeamKey {
                sync: id("acme"),
                remote: crate::domain::RemoteId("1".into()),
            },
            kind: TeamKind::Remote,
            slug: "platform".into(),
            name: "Platform".into(),
            members: Default::default(),
            repos: Default::default(),
        };
        let responses = vec![
            Response::SyncAdded {
                sync: sync(),
                org: RemoteOrg {
                    id: crate::domain::RemoteId("9".into()),
                    login: "acme".into(),
                    name: Some("Acme".into()),
                },
            },
            Response::Syncs {
                syncs: vec![sync()],
            },
            Response::RunFinished { summary: summary() },
            Response::OwnerChange {
                change: OwnerChange {
                    gain: vec![user()],
                    lose: vec![],
                    keep: vec![],
                },
            },
            Response::SyncRemoval {
                removal: SyncRemoval {
                    teams: vec!["platform".into()],
                    identities: 2,
                    packages_kept: vec![],
                },
            },
            Response::Packages {
                packages: vec![PackageSummary {
                    package: package(),
                    versions: 2,
                    latest: Some("v1.0.0".into()),
                    updated_at: Some(Timestamp(3)),
                    dist_bytes: 4096,
                }],
            },
            Response::Versions { versions: vec![] },
            Response::PackagesSelected {
                names: vec![package().name],
            },
            Response::Teams { teams: vec![team] },
            Response::Users {
                users: vec![UserSummary {
                    id: user(),
                    owner: true,
                    identities: vec![],
                    teams: vec![],
                }],
            },
            Response::IdentityLinked,
            Response::IdentityUnlinked { user: user() },
            Response::TokenCreated {
                token: token(),
                secret: WireSecret("pky_x".into()),
            },
            Response::Tokens {
                tokens: vec![token()],
            },
            Response::TokenRevoked { found: true },
            Response::Subscribed,
            Response::Failed {
                message: "no".into(),
            },
        ];
        for response in &responses {
            roundtrip(response);
        }
        roundtrip(&Streamed::Event {
            event: Box::new(EngineEvent::SyncFinished {
                sync: id("acme"),
                summary: summary(),
            }),
        });
        roundtrip(&Streamed::Lagged { missed: 4 });
    }

    #[test]
    fn secrets_are_absent_from_debug_when_they_cross_the_socket() {
        let new = NewSync {
            id: id("acme"),
            provider: ProviderKind::Github,
            api_url: "https://api.github.com".into(),
            org: "acme".into(),
            credential: Credential::Token(Secret::new("ghp_supersecret")),
        };
        let request = Request::AddSync {
            sync: (&new).into(),
        };
        assert!(!format!("{request:?}").contains("supersecret"));
        let line = serde_json::to_string(&request).expect("serializes");
        assert!(line.contains("ghp_supersecret"), "the daemon needs it");
        let Request::AddSync { sync } = serde_json::from_str(&line).expect("deserializes") else {
            panic!("not an AddSync: {line}");
        };
        let back = NewSync::from(sync);
        assert_eq!(back.credential, new.credential);

        let created = Response::TokenCreated {
            token: token(),
            secret: (&Secret::new("pky_supersecret")).into(),
        };
        assert!(!format!("{created:?}").contains("supersecret"));
    }
}
