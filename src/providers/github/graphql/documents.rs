//! Every GraphQL document packyard sends to GitHub. They are fixed texts
//! whose only inputs are variables, so the test that validates [`ALL`]
//! against GitHub's published schema covers everything that can be sent.
//!
//! Refs are read through one `refs` connection with `refPrefix: "refs/"`
//! (branches and tags in one listing, names `heads/…` and `tags/…`), an
//! annotated tag is peeled with `... on Tag { target }`, and composer.json
//! comes inline through `Commit.file`, which is not a connection and so adds
//! nothing to the cost.

/// Fragments shared by the documents, as macros so `concat!` can append
/// them: GraphQL requires each document to carry the fragments it uses, and
/// only those.
macro_rules! ref_page {
    () => {
        "
fragment RefPage on RefConnection {
  pageInfo { hasNextPage endCursor }
  nodes {
    name
    target {
      __typename
      oid
      ...ComposerFile
      ... on Tag { target { __typename oid ...ComposerFile } }
    }
  }
}
fragment ComposerFile on Commit {
  file(path: \"composer.json\") {
    object { __typename ... on Blob { text byteSize isBinary isTruncated } }
  }
}
"
    };
}

macro_rules! member_page {
    () => {
        "
fragment MemberPage on TeamMemberConnection {
  pageInfo { hasNextPage endCursor }
  nodes { databaseId login }
}
"
    };
}

macro_rules! team_repository_page {
    () => {
        "
fragment TeamRepositoryPage on TeamRepositoryConnection {
  pageInfo { hasNextPage endCursor }
  edges { permission node { databaseId } }
}
"
    };
}

macro_rules! team_fields {
    () => {
        concat!(
            "
fragment TeamFields on Team {
  databaseId
  slug
  name
  members(first: 100) { ...MemberPage }
  repositories(first: 100) { ...TeamRepositoryPage }
}
",
            member_page!(),
            team_repository_page!()
        )
    };
}

/// The most repositories one [`REPOSITORY_REFS`] asks for: 100 `refs`
/// connections cost one point together.
pub const REPOSITORIES_PER_QUERY: usize = 100;

/// The first page of refs of up to [`REPOSITORIES_PER_QUERY`] repositories,
/// by their global node ids (`$ids`).
pub const REPOSITORY_REFS: &str = concat!(
    "
query RepositoryRefs($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Repository {
      id
      refs(first: 100, refPrefix: \"refs/\") { ...RefPage }
    }
  }
  rateLimit { cost remaining resetAt limit }
}
",
    ref_page!()
);

/// One page of one repository's refs, after `$after` (none: the first).
pub const REPOSITORY_REFS_PAGE: &str = concat!(
    "
query RepositoryRefsPage($owner: String!, $name: String!, $after: String) {
  repository(owner: $owner, name: $name) {
    id
    refs(first: 100, after: $after, refPrefix: \"refs/\") { ...RefPage }
  }
  rateLimit { cost remaining resetAt limit }
}
",
    ref_page!()
);

/// One page of the organization's teams, each with its first page of
/// members and of repository permissions.
pub const TEAMS: &str = concat!(
    "
query Teams($org: String!, $after: String) {
  organization(login: $org) {
    teams(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...TeamFields }
    }
  }
  rateLimit { cost remaining resetAt limit }
}
",
    team_fields!()
);

/// One team by slug, as in [`TEAMS`].
pub const TEAM: &str = concat!(
    "
query Team($org: String!, $slug: String!) {
  organization(login: $org) {
    team(slug: $slug) { ...TeamFields }
  }
  rateLimit { cost remaining resetAt limit }
}
",
    team_fields!()
);

/// A further page of one team's members.
pub const TEAM_MEMBERS: &str = concat!(
    "
query TeamMembers($org: String!, $slug: String!, $after: String) {
  organization(login: $org) {
    team(slug: $slug) {
      members(first: 100, after: $after) { ...MemberPage }
    }
  }
  rateLimit { cost remaining resetAt limit }
}
",
    member_page!()
);

/// A further page of one team's repository permissions.
pub const TEAM_REPOSITORIES: &str = concat!(
    "
query TeamRepositories($org: String!, $slug: String!, $after: String) {
  organization(login: $org) {
    team(slug: $slug) {
      repositories(first: 100, after: $after) { ...TeamRepositoryPage }
    }
  }
  rateLimit { cost remaining resetAt limit }
}
",
    team_repository_page!()
);

/// Every document, by operation name.
pub const ALL: [(&str, &str); 6] = [
    ("RepositoryRefs", REPOSITORY_REFS),
    ("RepositoryRefsPage", REPOSITORY_REFS_PAGE),
    ("Teams", TEAMS),
    ("Team", TEAM),
    ("TeamMembers", TEAM_MEMBERS),
    ("TeamRepositories", TEAM_REPOSITORIES),
];
