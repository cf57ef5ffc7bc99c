//! The simulator's GraphQL objects: one resolver per served type, each
//! borrowing the locked state for the length of one query. What a token
//! may see is what the REST side shows it: the organization's own teams and
//! repositories, under its login.

use super::super::json::{blob_sha, node_id, node_number};
use super::super::state::{Repo, State, Team, User};
use super::RateInfo;
use crate::simulate::scenario::RepoRole;
use apollo_compiler::resolvers::{FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::{JsonMap, JsonValue};
use base64::Engine as _;

fn error(message: String) -> FieldError {
    FieldError { message }
}

fn leaf<'a>(value: impl Into<JsonValue>) -> ResolvedValue<'a> {
    ResolvedValue::leaf(value.into())
}

fn string_arg<'a>(info: &'a ResolveInfo<'a>, name: &str) -> Option<&'a str> {
    info.arguments().get(name).and_then(JsonValue::as_str)
}

/// One page of a connection, cut by `first`/`after` (or `last`/`before`).
/// Cursors are opaque base64 of the position, as GitHub's are opaque.
struct Page<T> {
    items: Vec<T>,
    /// Position of the first item on the page in the whole list.
    offset: usize,
    total: usize,
    has_next: bool,
    has_previous: bool,
}

fn cursor(position: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:{position}"))
}

fn position(cursor: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("cursor:")?
        .parse()
        .ok()
}

fn page<T>(all: Vec<T>, args: &JsonMap) -> Page<T> {
    let total = all.len();
    let number = |name: &str| {
        args.get(name)
            .and_then(JsonValue::as_u64)
            .map(|n| n as usize)
    };
    let at = |name: &str| {
        args.get(name)
            .and_then(JsonValue::as_str)
            .and_then(position)
    };
    let start = at("after").map_or(0, |p| p + 1).min(total);
    let end = at("before").unwrap_or(total).clamp(start, total);
    let (start, end) = match (number("first"), number("last")) {
        (Some(first), _) => (start, (start + first).min(end)),
        (None, Some(last)) => (end.saturating_sub(last).max(start), end),
        (None, None) => (start, end),
    };
    let items = all.into_iter().skip(start).take(end - start).collect();
    Page {
        items,
        offset: start,
        total,
        has_next: end < total,
        has_previous: start > 0,
    }
}

struct PageInfo {
    start: Option<String>,
    end: Option<String>,
    has_next: bool,
    has_previous: bool,
}

impl<T> Page<T> {
    fn info(&self) -> PageInfo {
        let last = (self.offset + self.items.len()).checked_sub(1);
        PageInfo {
            start: (!self.items.is_empty()).then(|| cursor(self.offset)),
            end: last.filter(|_| !self.items.is_empty()).map(cursor),
            has_next: self.has_next,
            has_previous: self.has_previous,
        }
    }
}

impl ObjectValue for PageInfo {
    fn type_name(&self) -> &str {
        "PageInfo"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let optional = |c: &Option<String>| c.clone().map_or(JsonValue::Null, JsonValue::from);
        Ok(match info.field_name() {
            "endCursor" => leaf(optional(&self.end)),
            "startCursor" => leaf(optional(&self.start)),
            "hasNextPage" => leaf(self.has_next),
            "hasPreviousPage" => leaf(self.has_previous),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

/// The root `Query`.
pub(super) struct QueryRoot<'s> {
    state: &'s State,
    /// `None` where the host does not limit GraphQL (a GHES with rate
    /// limiting off): `rateLimit` is null.
    rate: Option<&'s RateInfo>,
}

impl<'s> QueryRoot<'s> {
    pub fn new(state: &'s State, rate: Option<&'s RateInfo>) -> Self {
        Self { state, rate }
    }

    fn org(&self, login: &str) -> Result<OrgObject<'s>, FieldError> {
        // Logins are case-insensitive at GitHub.
        if login.eq_ignore_ascii_case(&self.state.login) {
            Ok(OrgObject { state: self.state })
        } else {
            Err(error(format!(
                "Could not resolve to an Organization with the login of '{login}'."
            )))
        }
    }

    fn repository(&self, owner: &str, name: &str) -> Result<RepoObject<'s>, FieldError> {
        self.state
            .repos
            .get(name)
            .filter(|_| owner.eq_ignore_ascii_case(&self.state.login))
            .map(|repo| RepoObject {
                state: self.state,
                repo,
            })
            .ok_or_else(|| {
                error(format!(
                    "Could not resolve to a Repository with the name '{owner}/{name}'."
                ))
            })
    }

    /// A global node id; only repositories are served as nodes.
    fn node(&self, id: &str) -> Result<RepoObject<'s>, FieldError> {
        let repo = node_number("Repository", id)
            .and_then(|database_id| self.state.repos.values().find(|r| r.id == database_id));
        repo.map(|repo| RepoObject {
            state: self.state,
            repo,
        })
        .ok_or_else(|| {
            error(format!(
                "Could not resolve to a node with the global id of '{id}'"
            ))
        })
    }
}

impl ObjectValue for QueryRoot<'_> {
    fn type_name(&self) -> &str {
        "Query"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "id" => leaf("Query"),
            "organization" => {
                ResolvedValue::object(self.org(string_arg(info, "login").unwrap_or_default())?)
            }
            "repository" => ResolvedValue::object(self.repository(
                string_arg(info, "owner").unwrap_or_default(),
                string_arg(info, "name").unwrap_or_default(),
            )?),
            "node" => ResolvedValue::object(self.node(string_arg(info, "id").unwrap_or_default())?),
            "nodes" => {
                let ids: Vec<&str> = info
                    .arguments()
                    .get("ids")
                    .and_then(JsonValue::as_array)
                    .map(|ids| ids.iter().filter_map(JsonValue::as_str).collect())
                    .unwrap_or_default();
                let nodes: Vec<_> = ids
                    .into_iter()
                    .map(|id| self.node(id).map(ResolvedValue::object))
                    .collect();
                ResolvedValue::List(Box::new(nodes.into_iter()))
            }
            "rateLimit" => ResolvedValue::nullable_object(self.rate.map(RateLimitObject)),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

struct RateLimitObject<'s>(&'s RateInfo);

impl ObjectValue for RateLimitObject<'_> {
    fn type_name(&self) -> &str {
        "RateLimit"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let (r, s) = (self.0, &self.0.standing);
        Ok(match info.field_name() {
            "cost" => leaf(r.cost),
            "limit" => leaf(s.limit),
            "nodeCount" => leaf(r.node_count),
            "remaining" => leaf(s.remaining),
            "used" => leaf(s.used),
            "resetAt" => {
                let reset = time::OffsetDateTime::from_unix_timestamp(s.reset as i64)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    });
                leaf(reset.unwrap_or_default())
            }
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

struct OrgObject<'s> {
    state: &'s State,
}

impl ObjectValue for OrgObject<'_> {
    fn type_name(&self) -> &str {
        "Organization"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let state = self.state;
        Ok(match info.field_name() {
            "databaseId" => leaf(state.org_id),
            "id" => leaf(node_id("Organization", state.org_id)),
            "login" => leaf(state.login.as_str()),
            "name" => leaf(state.name.clone().map_or(JsonValue::Null, JsonValue::from)),
            "team" => {
                let slug = string_arg(info, "slug").unwrap_or_default();
                let team = state.teams.get(slug).map(|team| TeamObject { state, team });
                ResolvedValue::nullable_object(team)
            }
            "teams" => {
                let mut teams: Vec<TeamObject<'_>> = state
                    .teams
                    .values()
                    .map(|team| TeamObject { state, team })
                    .collect();
                teams.sort_by(|a, b| a.team.name.cmp(&b.team.name));
                ResolvedValue::object(Connection {
                    type_name: "TeamConnection",
                    page: page(teams, info.arguments()),
                })
            }
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

/// A `…Connection` with `nodes`, `pageInfo` and `totalCount`; `edges` where
/// the edge carries data of its own is [`TeamRepositories`].
struct Connection<T> {
    type_name: &'static str,
    page: Page<T>,
}

impl<T: ObjectValue + Clone> ObjectValue for Connection<T> {
    fn type_name(&self) -> &str {
        self.type_name
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "nodes" => ResolvedValue::list(
                self.page
                    .items
                    .iter()
                    .map(|item| ResolvedValue::object(item.clone())),
            ),
            "pageInfo" => ResolvedValue::object(self.page.info()),
            "totalCount" => leaf(self.page.total as u64),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

#[derive(Clone)]
struct TeamObject<'s> {
    state: &'s State,
    team: &'s Team,
}

impl ObjectValue for TeamObject<'_> {
    fn type_name(&self) -> &str {
        "Team"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let (state, team) = (self.state, self.team);
        Ok(match info.field_name() {
            "databaseId" => leaf(team.id),
            "id" => leaf(node_id("Team", team.id)),
            "name" => leaf(team.name.as_str()),
            "slug" => leaf(team.slug.as_str()),
            "members" => {
                // GitHub orders team members by login.
                let members: Vec<UserObject<'_>> = team
                    .members
                    .iter()
                    .filter_map(|login| state.users.get(login).map(UserObject))
                    .collect();
                ResolvedValue::object(Connection {
                    type_name: "TeamMemberConnection",
                    page: page(members, info.arguments()),
                })
            }
            "repositories" => {
                let repos: Vec<(&Repo, RepoRole)> = team
                    .repos
                    .iter()
                    .filter_map(|(name, role)| Some((state.repos.get(name)?, *role)))
                    .collect();
                ResolvedValue::object(TeamRepositories {
                    state,
                    page: page(repos, info.arguments()),
                })
            }
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

#[derive(Clone)]
struct UserObject<'s>(&'s User);

impl ObjectValue for UserObject<'_> {
    fn type_name(&self) -> &str {
        "User"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "databaseId" => leaf(self.0.id),
            "id" => leaf(node_id("User", self.0.id)),
            "login" => leaf(self.0.login.as_str()),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

/// `Team.repositories`: its edges carry the team's permission.
struct TeamRepositories<'s> {
    state: &'s State,
    page: Page<(&'s Repo, RepoRole)>,
}

impl ObjectValue for TeamRepositories<'_> {
    fn type_name(&self) -> &str {
        "TeamRepositoryConnection"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "edges" => {
                ResolvedValue::list(self.page.items.iter().enumerate().map(|(i, (repo, role))| {
                    ResolvedValue::object(TeamRepositoryEdge {
                        state: self.state,
                        repo,
                        role: *role,
                        cursor: cursor(self.page.offset + i),
                    })
                }))
            }
            "pageInfo" => ResolvedValue::object(self.page.info()),
            "totalCount" => leaf(self.page.total as u64),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

struct TeamRepositoryEdge<'s> {
    state: &'s State,
    repo: &'s Repo,
    role: RepoRole,
    cursor: String,
}

impl ObjectValue for TeamRepositoryEdge<'_> {
    fn type_name(&self) -> &str {
        "TeamRepositoryEdge"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "cursor" => leaf(self.cursor.as_str()),
            "node" => ResolvedValue::object(RepoObject {
                state: self.state,
                repo: self.repo,
            }),
            "permission" => leaf(match self.role {
                RepoRole::Pull => "READ",
                RepoRole::Triage => "TRIAGE",
                RepoRole::Push => "WRITE",
                RepoRole::Maintain => "MAINTAIN",
                RepoRole::Admin => "ADMIN",
            }),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

struct RepoObject<'s> {
    state: &'s State,
    repo: &'s Repo,
}

impl ObjectValue for RepoObject<'_> {
    fn type_name(&self) -> &str {
        "Repository"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let repo = self.repo;
        Ok(match info.field_name() {
            "databaseId" => leaf(repo.id),
            "id" => leaf(node_id("Repository", repo.id)),
            "name" => leaf(repo.name.as_str()),
            "nameWithOwner" => leaf(format!("{}/{}", self.state.login, repo.name)),
            "refs" => {
                let prefix = string_arg(info, "refPrefix").unwrap_or_default();
                ResolvedValue::object(Connection {
                    type_name: "RefConnection",
                    page: page(ref_objects(repo, prefix), info.arguments()),
                })
            }
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

/// The refs under `prefix` in ref-name order.
fn ref_objects<'s>(repo: &'s Repo, prefix: &str) -> Vec<RefObject<'s>> {
    let git = &repo.git;
    let mut refs: Vec<RefObject<'s>> = git
        .branches
        .iter()
        .map(|(name, sha)| (format!("refs/heads/{name}"), sha, None))
        .chain(
            git.tags
                .iter()
                .map(|(name, sha)| (format!("refs/tags/{name}"), sha, git.annotated.get(name))),
        )
        .filter(|(full, _, _)| full.starts_with(prefix) && full.len() > prefix.len())
        .map(|(full, commit, tag_object)| RefObject {
            repo,
            full,
            prefix_len: prefix.len(),
            commit,
            tag_object,
        })
        .collect();
    refs.sort_by(|a, b| a.full.cmp(&b.full));
    refs
}

/// A ref as `refs` lists it: its full name (`refs/tags/v1.0.0`), the part
/// the query's `refPrefix` took off, and what it points at.
#[derive(Clone)]
struct RefObject<'s> {
    repo: &'s Repo,
    full: String,
    prefix_len: usize,
    commit: &'s str,
    /// The tag object of an annotated tag.
    tag_object: Option<&'s String>,
}

impl ObjectValue for RefObject<'_> {
    fn type_name(&self) -> &str {
        "Ref"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let commit = CommitObject {
            repo: self.repo,
            sha: self.commit,
        };
        Ok(match info.field_name() {
            "id" => leaf(node_id("Ref", format!("{}:{}", self.repo.id, self.full))),
            "name" => leaf(&self.full[self.prefix_len..]),
            "prefix" => leaf(&self.full[..self.prefix_len]),
            "target" => match self.tag_object {
                Some(oid) => ResolvedValue::object(TagObject {
                    name: &self.full["refs/tags/".len()..],
                    oid,
                    commit,
                }),
                None => ResolvedValue::object(commit),
            },
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

#[derive(Clone, Copy)]
struct CommitObject<'s> {
    repo: &'s Repo,
    sha: &'s str,
}

impl ObjectValue for CommitObject<'_> {
    fn type_name(&self) -> &str {
        "Commit"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "id" => leaf(node_id("Commit", format!("{}:{}", self.repo.id, self.sha))),
            "oid" => leaf(self.sha),
            "file" => {
                // Only composer.json exists in simulated trees.
                let path = string_arg(info, "path").unwrap_or_default();
                let bytes = self
                    .repo
                    .git
                    .commits
                    .get(self.sha)
                    .and_then(Option::as_deref);
                let entry = bytes
                    .filter(|_| path == "composer.json")
                    .map(|bytes| TreeEntryObject { path, bytes });
                ResolvedValue::nullable_object(entry)
            }
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

/// An annotated tag's tag object.
struct TagObject<'s> {
    name: &'s str,
    oid: &'s str,
    commit: CommitObject<'s>,
}

impl ObjectValue for TagObject<'_> {
    fn type_name(&self) -> &str {
        "Tag"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "id" => leaf(node_id("Tag", self.oid)),
            "name" => leaf(self.name),
            "oid" => leaf(self.oid),
            "target" => ResolvedValue::object(self.commit),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

struct TreeEntryObject<'s> {
    path: &'s str,
    bytes: &'s [u8],
}

impl ObjectValue for TreeEntryObject<'_> {
    fn type_name(&self) -> &str {
        "TreeEntry"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        Ok(match info.field_name() {
            "name" => leaf(self.path.rsplit('/').next().unwrap_or(self.path)),
            "path" => leaf(self.path),
            "object" => ResolvedValue::object(BlobObject(self.bytes)),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

struct BlobObject<'s>(&'s [u8]);

impl ObjectValue for BlobObject<'_> {
    fn type_name(&self) -> &str {
        "Blob"
    }
    fn resolve_field<'a>(
        &'a self,
        info: &'a ResolveInfo<'a>,
    ) -> Result<ResolvedValue<'a>, FieldError> {
        let text = std::str::from_utf8(self.0).ok();
        Ok(match info.field_name() {
            "byteSize" => leaf(self.0.len() as u64),
            "id" => leaf(node_id("Blob", blob_sha(self.0))),
            "isBinary" => leaf(text.is_none()),
            "isTruncated" => leaf(false),
            "oid" => leaf(blob_sha(self.0)),
            "text" => leaf(text.map_or(JsonValue::Null, JsonValue::from)),
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}
