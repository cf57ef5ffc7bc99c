//! Command-line interface: clap definitions and the non-interactive
//! commands, all spoken through the admin API.

use crate::admin::{
    AdminClient, ClientSettings, DistSettings, EngineEvent, EngineSettings, HookSettings, NewSync,
    OwnerChange, PackageChange, PackageSelection, PackageSummary, Policy, UserSummary,
};
use crate::config::Config;
use crate::domain::{
    AuditEntry, Credential, PackageName, ProviderKind, RunSummary, Secret, Sync, SyncId, Team,
    TeamKind, Timestamp, Token, TokenScope, UserId, human_bytes,
};
use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "packyard",
    version,
    about = "A self-hosted private Composer repository that keeps teams, permissions and packages in sync with your code hosts",
    long_about = "A self-hosted private Composer repository that keeps teams, permissions and packages in sync \
                  with your code hosts.\n\nAdd a synchronization for your GitHub organization, run it, create a \
                  token and serve: `composer install` then sees every package of the organization.\n\n\
                  Without a command, packyard opens its dashboard on the data dir and serves it."
)]
pub struct Cli {
    /// Data directory (store, dist cache, logs). Overrides PACKYARD_DATA_DIR and the config file.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (default: the platform config dir's packyard/config.toml, if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Without one, the dashboard opens (engine and Composer server in this process).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, list, run, promote and remove synchronizations with code hosts.
    #[command(subcommand)]
    Sync(SyncCommand),
    /// List and remove the packages packyard serves.
    #[command(subcommand)]
    Package(PackageCommand),
    /// List users (people) and link their identities across code hosts.
    #[command(subcommand)]
    User(UserCommand),
    /// List the teams synchronized from code hosts.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Create, list and revoke Composer access tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Show the audit log: who changed what, and when (the newest last).
    Audit {
        /// How many of the latest entries to show.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Manage the store itself.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run the Composer server and periodic resyncs (what runs under systemd).
    Serve(ServeArgs),
    /// The dashboard over a simulated GitHub organization: no network, no tokens.
    Demo(DemoArgs),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Seal the stored credentials and webhook secrets with a new key, written to the key
    /// file (`<data dir>/store.key` or PACKYARD_KEY_FILE). Stop `packyard serve` first.
    RotateKey,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Add a synchronization; the credentials are checked at the host before anything is saved.
    #[command(subcommand)]
    Add(AddSync),
    /// List synchronizations with their last run.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a synchronization now, showing progress, and print what changed.
    Run {
        /// The synchronization's name.
        name: String,
        /// Allow this run to remove more than half of the sync's packages or versions.
        #[arg(long)]
        confirm_removals: bool,
        /// Return once the metadata is applied, without downloading the archives of new
        /// versions first (they are then fetched on the first install).
        #[arg(long)]
        no_prefetch: bool,
        /// When the host's request budget runs out, wait for its reset (with a countdown;
        /// Ctrl-C stops) and continue, instead of exiting with code 75.
        #[arg(long)]
        wait: bool,
    },
    /// Make a synchronization the primary one: its remote owners/admins become packyard's
    /// owners/admins. Shows who gains and who loses that access first.
    Promote {
        name: String,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Remove a synchronization with its teams and memberships; its packages stay until removed
    /// (`package remove --sync NAME`). The primary cannot be removed: promote another first.
    Remove {
        name: String,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Change a synchronization's settings.
    Set {
        name: String,
        /// Minutes between this sync's full resyncs under `serve`, which catch what webhooks
        /// cannot report (Bitbucket Server repository creation, permission changes). 0 turns
        /// them off; `default` uses `[sync] resync_interval_minutes`.
        #[arg(long, value_name = "MINUTES|default", value_parser = parse_resync_minutes)]
        resync_minutes: Option<ResyncMinutes>,
    },
}

/// A per-sync resync interval, or the configured default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResyncMinutes {
    Default,
    Every(u32),
}

fn parse_resync_minutes(value: &str) -> Result<ResyncMinutes, String> {
    if value == "default" {
        return Ok(ResyncMinutes::Default);
    }
    value
        .parse()
        .map(ResyncMinutes::Every)
        .map_err(|_| format!("{value:?} is not a number of minutes or \"default\""))
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// List users with their identities, teams and owner/admin status.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Record that an identity (SYNC:LOGIN) belongs to USER: they are the same person.
    Link { user: String, identity: String },
    /// Separate an identity (SYNC:LOGIN) from USER into a user of its own.
    Unlink { user: String, identity: String },
}

#[derive(Debug, Subcommand)]
pub enum AddSync {
    /// A GitHub.com or GitHub Enterprise Server organization.
    Github(GithubArgs),
    /// A GitLab.com or GitLab Self-Managed group, with its subgroups.
    Gitlab(GitlabArgs),
    /// A Bitbucket Cloud workspace.
    BitbucketCloud(BitbucketCloudArgs),
    /// The projects of a Bitbucket Data Center / Server instance.
    BitbucketServer(BitbucketServerArgs),
}

#[derive(Debug, Args)]
pub struct GithubArgs {
    /// Name of the synchronization in packyard (lowercase letters, digits, '-' and '_').
    #[arg(long)]
    pub name: String,
    /// The GitHub organization's login.
    #[arg(long)]
    pub org: String,
    /// API base URL. GitHub Enterprise Server: https://HOST/api/v3
    #[arg(long, default_value = "https://api.github.com", value_name = "URL")]
    pub api_url: String,
    #[command(flatten)]
    pub auth: GithubAuth,
}

/// A token, or a GitHub App installation: exactly one of the three ways.
#[derive(Debug, Args)]
#[group(required = true, multiple = true)]
pub struct GithubAuth {
    /// Read a personal access token from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["token_file", "app_id", "installation_id", "private_key_file"])]
    pub token_env: Option<String>,
    /// Read a personal access token from this file (surrounding whitespace is ignored).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["app_id", "installation_id", "private_key_file"])]
    pub token_file: Option<PathBuf>,
    /// GitHub App: the app's id (its settings page, "App ID").
    #[arg(long, value_name = "ID", requires_all = ["installation_id", "private_key_file"])]
    pub app_id: Option<u64>,
    /// GitHub App: the id of its installation on the organization (the number at the end of
    /// the installation's settings URL).
    #[arg(long, value_name = "ID", requires_all = ["app_id", "private_key_file"])]
    pub installation_id: Option<u64>,
    /// GitHub App: the app's private key (.pem, as downloaded from its settings).
    #[arg(long, value_name = "PEM", requires_all = ["app_id", "installation_id"])]
    pub private_key_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GitlabArgs {
    /// Name of the synchronization in packyard (lowercase letters, digits, '-' and '_').
    #[arg(long)]
    pub name: String,
    /// The group's full path, e.g. `acme` or `acme/backend`.
    #[arg(long)]
    pub group: String,
    /// API base URL. GitLab Self-Managed: https://HOST/api/v4
    #[arg(long, default_value = "https://gitlab.com/api/v4", value_name = "URL")]
    pub api_url: String,
    /// Personal, group or project access token.
    #[command(flatten)]
    pub token: TokenSource,
}

#[derive(Debug, Args)]
pub struct BitbucketCloudArgs {
    /// Name of the synchronization in packyard (lowercase letters, digits, '-' and '_').
    #[arg(long)]
    pub name: String,
    /// The workspace's slug.
    #[arg(long)]
    pub workspace: String,
    /// API base URL.
    #[arg(
        long,
        default_value = "https://api.bitbucket.org/2.0",
        value_name = "URL"
    )]
    pub api_url: String,
    /// With an Atlassian API token: your Atlassian account email. With an app password: your
    /// Bitbucket username. Leave out for a workspace or repository access token.
    #[arg(long, value_name = "EMAIL_OR_USERNAME")]
    pub username: Option<String>,
    #[command(flatten)]
    pub token: TokenSource,
}

#[derive(Debug, Args)]
pub struct BitbucketServerArgs {
    /// Name of the synchronization in packyard (lowercase letters, digits, '-' and '_').
    #[arg(long)]
    pub name: String,
    /// The instance's base URL, e.g. https://bitbucket.example.com
    #[arg(long, value_name = "URL")]
    pub api_url: String,
    /// Only these project keys (repeatable); default: every project the credentials can see.
    #[arg(long = "project", value_name = "KEY")]
    pub projects: Vec<String>,
    /// With a password (Bitbucket Server before 5.5): the username. Leave out for an HTTP
    /// access token / personal access token.
    #[arg(long, value_name = "USERNAME")]
    pub username: Option<String>,
    #[command(flatten)]
    pub token: TokenSource,
}

/// Where the host token comes from; never from the command line itself, so it
/// stays out of shell history and process listings.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct TokenSource {
    /// Read the token from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Read the token from this file (surrounding whitespace is ignored).
    #[arg(long, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
}

/// Options of the package and team listings.
#[derive(Debug, Args)]
pub struct ListOptions {
    /// Only those of this synchronization (for packages: the one that created them).
    #[arg(long, value_name = "NAME")]
    pub sync: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// List packages with their origin synchronization and latest version.
    List(ListOptions),
    /// Remove packages (named, or every package of a synchronization) after showing the list.
    Remove {
        /// Package names (vendor/name).
        #[arg(required_unless_present = "sync", conflicts_with = "sync")]
        names: Vec<String>,
        /// Every package created by this synchronization (which may already be removed).
        #[arg(long, value_name = "NAME")]
        sync: Option<String>,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Give a package to another repository, after showing what changes. A package belongs
    /// to the repository that first provided it; another repository declaring the same name
    /// is reported as a conflict and never takes it by itself. This is how an admin settles one.
    Move {
        /// Package name (vendor/name).
        name: String,
        /// The repository as SYNC:PATH, PATH as the host shows it: owner/repo, GitLab
        /// group/sub/repo, Bitbucket Data Center PROJECT/repo.
        #[arg(long, value_name = "SYNC:PATH")]
        to_repo: String,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Mark a package abandoned in its metadata (Composer warns on install), or undo that.
    Abandon {
        /// Package name (vendor/name).
        name: String,
        /// The package to use instead; Composer names it in its warning.
        #[arg(long, value_name = "PACKAGE", conflicts_with = "undo")]
        replacement: Option<String>,
        /// Mark it maintained again.
        #[arg(long)]
        undo: bool,
    },
    /// Let a package removed with `package remove` be created again by its repository at
    /// the next run of its synchronization.
    Restore {
        /// Package name (vendor/name).
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// List teams with their member and repository counts.
    List(ListOptions),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it (only the token, on stdout). It is shown this once.
    Create {
        #[command(flatten)]
        scope: ScopeArgs,
        /// A label to recognise the token by in `token list`.
        #[arg(long, value_name = "LABEL", default_value = "unnamed")]
        name: String,
        /// When the token stops working: a date (2027-01-31, UTC) or a number of days (90d).
        #[arg(long, value_name = "DATE|DAYSd", value_parser = parse_expiry)]
        expires: Option<Timestamp>,
    },
    /// List tokens (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by the id `token list` shows.
    Revoke {
        id: String,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// What a new token may install; exactly one.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ScopeArgs {
    /// Every package (for CI and mirrors).
    #[arg(long)]
    pub org_wide: bool,
    /// What this user may install (`packyard user list` shows users).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// What this team may install, as SYNC/SLUG (`packyard team list` shows teams).
    #[arg(long, value_name = "SYNC/SLUG")]
    pub team: Option<String>,
}

/// `2027-01-31` (midnight UTC) or `90d` from now.
/// Longest `--expires DAYSd`; far below where seconds since 1970 overflow.
const MAX_EXPIRY_DAYS: i64 = 36_500;

fn parse_expiry(value: &str) -> Result<Timestamp, String> {
    if let Some(days) = value.strip_suffix('d') {
        let days: i64 = days
            .parse()
            .map_err(|_| format!("{value:?}: use a number of days like 90d"))?;
        if days <= 0 {
            return Err("the number of days must be positive".into());
        }
        if days > MAX_EXPIRY_DAYS {
            return Err(format!(
                "{days} days is too far ahead: at most {MAX_EXPIRY_DAYS} (100 years). For a token that never expires, leave out --expires"
            ));
        }
        return Ok(Timestamp(Timestamp::now().0 + days * 86_400));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(value, &format)
        .map_err(|_| format!("{value:?}: use a date like 2027-01-31 or days like 90d"))?;
    let at = date.midnight().assume_utc().unix_timestamp();
    if at <= Timestamp::now().0 {
        return Err(format!("{value} is in the past"));
    }
    Ok(Timestamp(at))
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default from the config file, else 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// URL Composer clients reach packyard at; dist URLs are built from it.
    #[arg(long, value_name = "URL", value_parser = crate::config::parse_public_url)]
    pub public_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for the demo's Composer server.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
}

/// The engine's tuning, from the `[sync]` section of the configuration, and
/// the public URL webhooks deliver to (only when one is set explicitly).
pub fn engine_settings(config: &Config) -> EngineSettings {
    let s = &config.sync;
    EngineSettings {
        hooks: HookSettings {
            public_url: config.public_url.clone(),
            ..HookSettings::default()
        },
        client: ClientSettings {
            concurrency: s.concurrency,
            max_attempts: s.max_attempts,
            timeout: Duration::from_secs(s.timeout_secs),
            max_rate_limit_wait: Duration::from_secs(s.max_rate_limit_wait_secs),
            github_api: s.github_api,
            budget_reserve_percent: s.budget_reserve_percent,
            ..ClientSettings::default()
        },
        dists: DistSettings {
            prefetch: config.dists.prefetch,
            keep_branch_days: config.dists.keep_branch_dists_days,
        },
    }
}

/// stdout was closed under us (`packyard user list | head -1`): not an
/// error, the reader has all it wanted.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed")]
struct StdoutClosed;

/// Runs one of the admin commands. Returns the process exit code.
pub async fn execute(
    command: Command,
    admin: &dyn AdminClient,
) -> anyhow::Result<std::process::ExitCode> {
    match execute_command(command, admin).await {
        Err(e) if e.is::<StdoutClosed>() => Ok(std::process::ExitCode::SUCCESS),
        other => other,
    }
}

/// Writes one line of a listing to stdout; a closed pipe ends the listing.
fn print_line(line: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{line}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        other => Ok(other?),
    }
}

async fn execute_command(
    command: Command,
    admin: &dyn AdminClient,
) -> anyhow::Result<std::process::ExitCode> {
    use std::process::ExitCode;
    match command {
        Command::Sync(SyncCommand::Add(add)) => add_sync(add, admin).await?,
        Command::Sync(SyncCommand::List { json }) => print_syncs(&admin.list_syncs().await?, json)?,
        Command::Sync(SyncCommand::Run {
            name,
            confirm_removals,
            no_prefetch,
            wait,
        }) => {
            let id = sync_id(&name)?;
            let policy = Policy {
                confirm_removals,
                skip_prefetch: no_prefetch,
            };
            let mut summary = run_sync(admin, id.clone(), policy.clone()).await?;
            while let Some(pause) = summary.paused().filter(|_| wait) {
                eprintln!("{}", pause.budget.spent_message(Timestamp::now()));
                if !count_down(pause.resumes_at).await {
                    eprintln!("Stopped. What was read is kept: the next run continues from there.");
                    return Ok(ExitCode::from(EX_TEMPFAIL));
                }
                summary = run_sync(admin, id.clone(), policy.clone()).await?;
            }
            print_summary(&name, &summary);
            if summary.paused().is_some() {
                return Ok(ExitCode::from(EX_TEMPFAIL));
            }
            if summary.error.is_some() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Package(PackageCommand::List(list)) => {
            let origin = list.sync.as_deref().map(sync_id).transpose()?;
            print_packages(&admin.list_packages(origin).await?, list.json)?;
        }
        Command::Team(TeamCommand::List(list)) => {
            let sync = list.sync.as_deref().map(sync_id).transpose()?;
            print_teams(&admin.list_teams(sync).await?, list.json)?;
        }
        Command::Token(TokenCommand::Create {
            scope,
            name,
            expires,
        }) => {
            let scope = token_scope(scope, admin).await?;
            let (token, secret) = admin.create_token(scope, name, expires).await?;
            eprintln!(
                "Created {} token {} ({}). Store it now: it cannot be shown again.",
                scope_text(&token.scope),
                token.id,
                token.label
            );
            println!("{}", secret.expose());
        }
        Command::Sync(SyncCommand::Promote { name, yes }) => {
            let id = sync_id(&name)?;
            let change = admin.promote_sync(id.clone(), false).await?;
            println!("Promoting {name} to primary synchronization:");
            print_owner_change(&change);
            if !confirm(&format!("make {name} the primary synchronization"), yes)? {
                eprintln!("Nothing changed.");
                return Ok(ExitCode::FAILURE);
            }
            admin.promote_sync(id, true).await?;
            println!("{name} is now the primary synchronization.");
        }
        Command::Sync(SyncCommand::Remove { name, yes }) => {
            let id = sync_id(&name)?;
            let removal = admin.remove_sync(id.clone(), false).await?;
            println!(
                "Removing {name} removes {} teams and {} identities. Its {} packages stay (remove them with `packyard package remove --sync {name}`).",
                removal.teams.len(),
                removal.identities,
                removal.packages_kept.len()
            );
            if !confirm(&format!("remove synchronization {name}"), yes)? {
                eprintln!("Nothing changed.");
                return Ok(ExitCode::FAILURE);
            }
            admin.remove_sync(id, true).await?;
            println!("Removed synchronization {name}.");
        }
        Command::Sync(SyncCommand::Set {
            name,
            resync_minutes,
        }) => {
            let Some(resync) = resync_minutes else {
                anyhow::bail!("nothing to change; give --resync-minutes");
            };
            let minutes = match resync {
                ResyncMinutes::Default => None,
                ResyncMinutes::Every(m) => Some(m),
            };
            let sync = admin.set_resync(sync_id(&name)?, minutes).await?;
            match sync.resync_minutes {
                None => println!("{name} resyncs at the configured default interval."),
                Some(0) => println!(
                    "{name} has no periodic resync; only webhooks and manual runs update it."
                ),
                Some(m) => println!("{name} resyncs every {m} minutes."),
            }
        }
        Command::Package(PackageCommand::Remove { names, sync, yes }) => {
            let selection = match sync {
                Some(sync) => PackageSelection::Origin(sync_id(&sync)?),
                None => PackageSelection::Named(
                    names
                        .iter()
                        .map(|n| PackageName::new(n))
                        .collect::<Result<_, _>>()?,
                ),
            };
            let chosen = admin.remove_packages(selection.clone(), false).await?;
            if chosen.is_empty() {
                println!("No packages to remove.");
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "These {} packages will be removed with all their versions:",
                chosen.len()
            );
            for name in &chosen {
                println!("  {name}");
            }
            if !confirm(&format!("remove {} packages", chosen.len()), yes)? {
                eprintln!("Nothing removed.");
                return Ok(ExitCode::FAILURE);
            }
            let removed = admin.remove_packages(selection, true).await?;
            println!("Removed {} packages.", removed.len());
        }
        Command::Package(PackageCommand::Move { name, to_repo, yes }) => {
            let name = PackageName::new(&name)?;
            let (sync, path) = to_repo
                .split_once(':')
                .filter(|(_, path)| !path.is_empty())
                .with_context(|| {
                    format!("--to-repo {to_repo:?} is not SYNC:PATH, e.g. github:acme/logger")
                })?;
            let change = PackageChange::Move {
                sync: sync_id(sync)?,
                path: path.to_owned(),
            };
            print_lines(
                &admin
                    .change_package(name.clone(), change.clone(), false)
                    .await?
                    .lines,
            );
            if !confirm(&format!("move {name}"), yes)? {
                eprintln!("Nothing moved.");
                return Ok(ExitCode::FAILURE);
            }
            admin.change_package(name.clone(), change, true).await?;
            println!("Moved {name}.");
        }
        Command::Package(PackageCommand::Abandon {
            name,
            replacement,
            undo,
        }) => {
            let change = if undo {
                PackageChange::Maintain
            } else {
                PackageChange::Abandon {
                    replacement: replacement.map(|r| PackageName::new(&r)).transpose()?,
                }
            };
            print_lines(
                &admin
                    .change_package(PackageName::new(&name)?, change, true)
                    .await?
                    .lines,
            );
        }
        Command::Package(PackageCommand::Restore { name }) => {
            print_lines(
                &admin
                    .change_package(PackageName::new(&name)?, PackageChange::Restore, true)
                    .await?
                    .lines,
            );
        }
        Command::User(UserCommand::List { json }) => print_users(&admin.list_users().await?, json)?,
        Command::User(UserCommand::Link { user, identity }) => {
            let (sync, login) = identity_ref(&identity)?;
            admin
                .link_identity(UserId::parse(&user), sync, login)
                .await?;
            println!("{identity} now belongs to user {user}.");
        }
        Command::User(UserCommand::Unlink { user, identity }) => {
            let (sync, login) = identity_ref(&identity)?;
            let new = admin
                .unlink_identity(UserId::parse(&user), sync, login)
                .await?;
            println!("{identity} is now user {new}, apart from {user}.");
        }
        Command::Token(TokenCommand::List { json }) => {
            print_tokens(&admin.list_tokens().await?, json)?
        }
        Command::Token(TokenCommand::Revoke { id, yes }) => {
            let Some(token) = admin.list_tokens().await?.into_iter().find(|t| t.id == id) else {
                bail!("no token with id {id:?}; `packyard token list` shows the ids");
            };
            let what = format!(
                "revoke token {} ({}); Composer clients using it will get HTTP 401",
                token.id, token.label
            );
            if !confirm(&what, yes)? {
                eprintln!("Nothing revoked.");
                return Ok(ExitCode::FAILURE);
            }
            admin.revoke_token(id).await?;
            eprintln!("Revoked token {} ({}).", token.id, token.label);
        }
        Command::Audit { limit, json } => print_audit(&admin.list_audit(limit).await?, json)?,
        Command::Serve(_) | Command::Demo(_) | Command::Store(_) => {
            bail!("serve, demo and store are not admin commands")
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `packyard store …`: works on the data dir directly, never through a
/// daemon, since it rewrites the store.
pub fn execute_store(command: StoreCommand, data_dir: &std::path::Path) -> anyhow::Result<()> {
    match command {
        StoreCommand::RotateKey => {
            let id = crate::admin::rotate_store_key(data_dir)?;
            eprintln!(
                "Sealed the stored secrets with a new key ({id}); the old key opens nothing in the store now."
            );
        }
    }
    Ok(())
}

/// `SYNC:LOGIN` → the sync and the login.
fn identity_ref(value: &str) -> anyhow::Result<(SyncId, String)> {
    let Some((sync, login)) = value.split_once(':').filter(|(_, l)| !l.is_empty()) else {
        bail!("{value:?} is not an identity; write SYNC:LOGIN, e.g. acme-github:alice");
    };
    Ok((sync_id(sync)?, login.to_owned()))
}

/// Resolves `--org-wide`, `--user` or `--team SYNC/SLUG`.
async fn token_scope(args: ScopeArgs, admin: &dyn AdminClient) -> anyhow::Result<TokenScope> {
    if let Some(user) = args.user {
        return Ok(TokenScope::User {
            user: UserId::parse(&user),
        });
    }
    let Some(team) = args.team else {
        return Ok(TokenScope::OrgWide);
    };
    let Some((sync, slug)) = team.split_once('/') else {
        bail!("{team:?} is not a team; write SYNC/SLUG as `packyard team list` shows it");
    };
    let sync = sync_id(sync)?;
    let found = admin
        .list_teams(Some(sync.clone()))
        .await?
        .into_iter()
        .find(|t| t.slug == slug);
    match found {
        Some(t) => Ok(TokenScope::Team { team: t.key }),
        None => bail!(
            "synchronization {sync} has no team {slug:?}; `packyard team list --sync {sync}` shows its teams"
        ),
    }
}

fn scope_text(scope: &TokenScope) -> String {
    match scope {
        TokenScope::OrgWide => "org-wide".to_owned(),
        TokenScope::Team { team } => format!("team {}/{}", team.sync, team.remote),
        TokenScope::User { user } => format!("user {user}"),
    }
}

fn print_owner_change(change: &OwnerChange) {
    let list = |users: &[UserId]| {
        if users.is_empty() {
            "nobody".to_owned()
        } else {
            users
                .iter()
                .map(UserId::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    println!("  gain owner/admin access: {}", list(&change.gain));
    println!("  lose owner/admin access: {}", list(&change.lose));
    println!("  keep owner/admin access: {}", list(&change.keep));
    if !change.lose.is_empty() {
        println!(
            "Those who lose access have no identity among the new primary's remote owners/admins; link one with `packyard user link USER SYNC:LOGIN` to restore it."
        );
    }
}

fn print_users(users: &[UserSummary], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&users);
    }
    let rows = users
        .iter()
        .map(|u| {
            let identities: Vec<String> = u
                .identities
                .iter()
                .map(|i| format!("{}:{}", i.sync, i.login))
                .collect();
            vec![
                u.id.to_string(),
                if u.owner { "owner/admin" } else { "" }.to_owned(),
                identities.join(" "),
                u.teams.len().to_string(),
            ]
        })
        .collect();
    print_table(&["USER", "ROLE", "IDENTITIES", "TEAMS"], rows)
}

fn sync_id(name: &str) -> anyhow::Result<SyncId> {
    Ok(SyncId::new(name)?)
}

/// Asks on the terminal; without one, `--yes` is the only way to proceed.
fn confirm(what: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("this would {what}. Not on a terminal, so pass --yes to confirm");
    }
    eprint!("This will {what}.\nProceed? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn read_token(source: &TokenSource) -> anyhow::Result<Secret> {
    let raw = match (&source.token_env, &source.token_file) {
        (Some(var), _) => std::env::var(var).with_context(|| {
            format!("environment variable {var} is not set (or not UTF-8); export the token in it, or use --token-file")
        })?,
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the token file {}", path.display()))?,
        (None, None) => bail!("give the token with --token-env VAR or --token-file PATH"),
    };
    let token = raw.trim();
    if token.is_empty() {
        bail!("the token is empty; check --token-env / --token-file");
    }
    Ok(Secret::new(token))
}

/// A GitHub token, or an app's ids with its private key read from its file
/// and checked to be an RSA private key, so a wrong file is named now rather
/// than failing later at the host.
fn github_credential(auth: GithubAuth) -> anyhow::Result<Credential> {
    let (Some(app_id), Some(installation_id), Some(path)) =
        (auth.app_id, auth.installation_id, auth.private_key_file)
    else {
        return Ok(Credential::Token(read_token(&TokenSource {
            token_env: auth.token_env,
            token_file: auth.token_file,
        })?));
    };
    let pem = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the private key file {}", path.display()))?;
    let usable = jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok_and(|key| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &serde_json::json!({}),
            &key,
        )
        .is_ok()
    });
    if !usable {
        bail!(
            "{} is not an RSA private key in PEM form; give the .pem file downloaded from the GitHub App's settings (Private keys → Generate a private key)",
            path.display()
        );
    }
    Ok(Credential::GithubApp {
        app_id,
        installation_id,
        private_key: Secret::new(pem),
    })
}

/// A token alone, or a username with the secret as password.
fn credential(username: Option<String>, token: &TokenSource) -> anyhow::Result<Credential> {
    let secret = read_token(token)?;
    Ok(match username {
        Some(username) => Credential::Basic {
            username,
            password: secret,
        },
        None => Credential::Token(secret),
    })
}

/// Turns `sync add <provider>` into the request, what to call the remote
/// organization, and what the admin should know about that provider.
fn new_sync(add: AddSync) -> anyhow::Result<(NewSync, &'static str, Vec<&'static str>)> {
    let (new, what, notes) = match add {
        AddSync::Github(a) => {
            let new = NewSync {
                id: sync_id(&a.name)?,
                provider: ProviderKind::Github,
                api_url: a.api_url,
                org: a.org,
                credential: github_credential(a.auth)?,
            };
            (new, "GitHub organization", vec![])
        }
        AddSync::Gitlab(a) => {
            let new = NewSync {
                id: sync_id(&a.name)?,
                provider: ProviderKind::Gitlab,
                api_url: a.api_url,
                org: a.group,
                credential: Credential::Token(read_token(&a.token)?),
            };
            let note = "GitLab: the group's and subgroups' members are synchronized; individual project members are not.";
            (new, "GitLab group", vec![note])
        }
        AddSync::BitbucketCloud(a) => {
            let app_password = a.username.as_deref().is_some_and(|u| !u.contains('@'));
            let new = NewSync {
                id: sync_id(&a.name)?,
                provider: ProviderKind::BitbucketCloud,
                api_url: a.api_url,
                org: a.workspace,
                credential: credential(a.username, &a.token)?,
            };
            let mut notes = vec![];
            if app_password {
                notes.push(
                    "warning: Atlassian is retiring Bitbucket app passwords; switch to an API token (--username EMAIL) or a workspace access token.",
                );
            }
            (new, "Bitbucket workspace", notes)
        }
        AddSync::BitbucketServer(a) => {
            let new = NewSync {
                id: sync_id(&a.name)?,
                provider: ProviderKind::BitbucketServer,
                api_url: a.api_url,
                org: a.projects.join(","),
                credential: credential(a.username, &a.token)?,
            };
            let note = "Bitbucket Server: project permissions (of users and groups) are synchronized; individual repository collaborators are not.";
            (new, "Bitbucket Server projects", vec![note])
        }
    };
    Ok((new, what, notes))
}

async fn add_sync(add: AddSync, admin: &dyn AdminClient) -> anyhow::Result<()> {
    let (new, what, notes) = new_sync(add)?;
    let (sync, org) = admin.add_sync(new).await?;
    let primary = if sync.primary { ", primary" } else { "" };
    println!(
        "Added synchronization {} ({what} {} at {}{primary}). Run it with `packyard sync run {}`.",
        sync.id,
        org.name.as_deref().unwrap_or(&org.login),
        sync.api_url,
        sync.id
    );
    for note in notes {
        println!("{note}");
    }
    Ok(())
}

/// `sysexits.h`'s EX_TEMPFAIL: a run paused on a spent request budget; try
/// again after the reset.
const EX_TEMPFAIL: u8 = 75;

/// Counts down to `at` on stderr; false when Ctrl-C stopped it first.
async fn count_down(at: Timestamp) -> bool {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(Duration::from_millis(500));
    let tick = async {
        loop {
            let now = Timestamp::now();
            if now >= at {
                return;
            }
            bar.set_message(format!(
                "waiting for the rate limit to reset: {} left (Ctrl-C stops)",
                crate::domain::until(now, at)
            ));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let done = tokio::select! {
        () = tick => true,
        _ = tokio::signal::ctrl_c() => false,
    };
    bar.finish_and_clear();
    done
}

/// Runs a sync while drawing its progress on stderr.
async fn run_sync(
    admin: &dyn AdminClient,
    id: SyncId,
    policy: Policy,
) -> anyhow::Result<RunSummary> {
    let mut events = admin.subscribe();
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {prefix} {msg:<13} [{bar:30}] {pos}/{len}",
        )
        .map_err(|e| anyhow::anyhow!("progress template: {e}"))?
        .progress_chars("=> "),
    );
    bar.set_prefix(id.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let watched = id.clone();
    let draw = {
        let bar = bar.clone();
        tokio::spawn(async move {
            while let Ok(event) = events.recv().await {
                if let EngineEvent::PhaseChanged {
                    sync,
                    phase,
                    done,
                    total,
                } = event
                {
                    if sync == watched {
                        bar.set_message(phase);
                        bar.set_length(total);
                        bar.set_position(done);
                    }
                }
            }
        })
    };
    let summary = admin.run_sync(id, policy).await;
    draw.abort();
    bar.finish_and_clear();
    Ok(summary?)
}

fn print_lines(lines: &[String]) {
    for line in lines {
        println!("{line}");
    }
}

fn print_summary(name: &str, s: &RunSummary) {
    let c = &s.changes;
    match (&s.error, s.paused()) {
        (Some(held), _) if s.guarded => println!("sync {name}: {}\nheld: {held}", c.describe()),
        (Some(error), _) => println!("sync {name} failed: {error}"),
        (None, Some(pause)) => {
            println!("{}", pause.budget.spent_message(Timestamp::now()));
            println!(
                "sync {name} paused: nothing was applied yet; what was read is kept, and `packyard sync run {name}` after the reset continues from there (`--wait` waits for it; `packyard serve` resumes by itself)"
            );
        }
        (None, None) if c.is_empty() => println!("sync {name}: up to date, nothing changed"),
        (None, None) => println!("sync {name}: {}", c.describe()),
    }
    if s.partial {
        println!(
            "some listings were incomplete at the host, so nothing they would have removed was removed"
        );
    }
    if !s.problems.is_empty() {
        println!("skipped ({}):", s.problems.len());
        for p in &s.problems {
            match &p.reference {
                Some(r) => println!("  {} @ {}: {}", p.subject, r, p.message),
                None => println!("  {}: {}", p.subject, p.message),
            }
        }
    }
    if s.prefetched > 0 {
        println!(
            "prefetched {} archives ({}) into the dist store",
            s.prefetched,
            human_bytes(s.prefetch_bytes)
        );
    }
    if !s.conflicts.is_empty() {
        println!("package name conflicts ({}):", s.conflicts.len());
        for c in &s.conflicts {
            println!("  {}", c.describe());
        }
    }
    let secs = s.finished_at.0 - s.started_at.0;
    println!(
        "{} requests to the host ({} answered 304 Not Modified) in {secs} s",
        s.requests, s.not_modified
    );
}

/// Prints rows as aligned columns under a header.
fn print_table(header: &[&str], rows: Vec<Vec<String>>) -> anyhow::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        print_line(padded.join("  ").trim_end())
    };
    line(header.iter().map(|h| h.to_string()).collect())?;
    for row in rows {
        line(row)?;
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    print_line(&serde_json::to_string_pretty(value)?)
}

fn when(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "never".to_owned(), Timestamp::rfc3339)
}

fn print_audit(entries: &[AuditEntry], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&entries);
    }
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                e.at.rfc3339(),
                e.actor.clone(),
                e.via.clone(),
                e.action.clone(),
            ]
        })
        .collect();
    print_table(&["WHEN", "WHO", "VIA", "WHAT"], rows)
}

fn print_syncs(syncs: &[Sync], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&syncs);
    }
    let rows = syncs
        .iter()
        .map(|s| {
            let result = match &s.last_run {
                None => "never run".to_owned(),
                Some(r) if r.error.is_some() => "failed".to_owned(),
                Some(r) if r.paused().is_some() => "paused".to_owned(),
                Some(r) if r.partial => "partial".to_owned(),
                Some(_) => "ok".to_owned(),
            };
            let result = match s.last_run.as_ref().map_or(0, |r| r.conflicts.len()) {
                0 => result,
                n => format!("{result}, {n} name conflicts"),
            };
            vec![
                s.id.to_string(),
                s.provider.to_string(),
                s.org.clone(),
                s.api_url.clone(),
                if s.primary { "yes" } else { "" }.to_owned(),
                when(s.last_run.as_ref().map(|r| r.finished_at)),
                result,
                s.hooks
                    .as_ref()
                    .map_or_else(|| "none (no public URL)".to_owned(), |h| h.describe()),
                headroom(s),
            ]
        })
        .collect();
    print_table(
        &[
            "NAME", "PROVIDER", "ORG", "API URL", "PRIMARY", "LAST RUN", "RESULT", "WEBHOOKS",
            "BUDGET",
        ],
        rows,
    )
}

/// The sync's request budgets as its last run left them, and when a paused
/// run resumes.
fn headroom(sync: &Sync) -> String {
    let Some(run) = &sync.last_run else {
        return "-".to_owned();
    };
    let mut parts: Vec<String> = run.headroom().iter().map(|b| b.describe()).collect();
    if let Some(pause) = run.paused() {
        parts.insert(0, pause.progress_text());
    }
    if parts.is_empty() {
        "-".to_owned()
    } else {
        parts.join("; ")
    }
}

fn print_packages(packages: &[PackageSummary], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&packages);
    }
    let rows = packages
        .iter()
        .map(|p| {
            vec![
                p.package.name.to_string(),
                p.package.origin.to_string(),
                p.latest.clone().unwrap_or_else(|| "-".to_owned()),
                p.versions.to_string(),
                human_bytes(p.dist_bytes),
                when(p.updated_at),
                match (p.package.abandoned_value(), p.package.manifest_missing) {
                    (Some(_), _) => "abandoned".to_owned(),
                    (None, true) => "composer.json missing".to_owned(),
                    (None, false) => String::new(),
                },
            ]
        })
        .collect();
    print_table(
        &[
            "NAME", "SYNC", "LATEST", "VERSIONS", "DISK", "UPDATED", "NOTE",
        ],
        rows,
    )
}

fn print_teams(teams: &[Team], json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&teams);
    }
    let rows = teams
        .iter()
        .map(|t| {
            let kind = match t.kind {
                TeamKind::OrgAdmins => "org owners/admins",
                TeamKind::Remote => "team",
            };
            vec![
                t.key.sync.to_string(),
                t.slug.clone(),
                t.name.clone(),
                kind.to_owned(),
                t.members.len().to_string(),
                t.repos.len().to_string(),
            ]
        })
        .collect();
    print_table(&["SYNC", "TEAM", "NAME", "KIND", "MEMBERS", "REPOS"], rows)
}

/// A token as listed: everything but the hash of its secret.
#[derive(serde::Serialize)]
struct TokenView<'a> {
    id: &'a str,
    label: &'a str,
    scope: &'a TokenScope,
    created_at: Timestamp,
    last_used: Option<Timestamp>,
    expires_at: Option<Timestamp>,
}

fn print_tokens(tokens: &[Token], json: bool) -> anyhow::Result<()> {
    let views: Vec<TokenView> = tokens
        .iter()
        .map(|t| TokenView {
            id: &t.id,
            label: &t.label,
            scope: &t.scope,
            created_at: t.created_at,
            last_used: t.last_used,
            expires_at: t.expires_at,
        })
        .collect();
    if json {
        return print_json(&views);
    }
    let rows = views
        .iter()
        .map(|t| {
            let expires = t
                .expires_at
                .map_or_else(|| "never".to_owned(), Timestamp::rfc3339);
            vec![
                t.id.to_owned(),
                t.label.to_owned(),
                scope_text(t.scope),
                when(Some(t.created_at)),
                when(t.last_used),
                expires,
            ]
        })
        .collect();
    print_table(
        &["ID", "LABEL", "SCOPE", "CREATED", "LAST USED", "EXPIRES"],
        rows,
    )
}
