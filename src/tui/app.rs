//! The dashboard's state and its only way of changing: [`App::update`]
//! takes a [`Msg`] (a key, an engine event, an admin reply, a tick) and
//! returns the [`Cmd`]s to run. Commands are admin calls that the event loop
//! spawns; their replies come back as [`Msg::Reply`]. Nothing here awaits or
//! does I/O, so every flow is unit-testable by feeding messages.

use super::keymap::{self, Action};
use super::panes::activity::{ActivityLog, Tone};
use super::panes::packages::PackagesView;
use super::panes::syncs::{self, RunState};
use super::panes::teams::TeamsView;
use super::panes::users::UsersView;
use super::panes::{Cursor, Pane, packages, teams, users};
use super::popups::{Outcome, Popup, confirm, message};
use super::theme::Theme;
use crate::admin::{EngineEvent, NewSync, OwnerChange, PackageSummary, SyncRemoval, UserSummary};
use crate::domain::{
    AuditEntry, PackageName, Secret, Sync, SyncId, Team, Timestamp, Token, TokenScope, Version,
};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use std::collections::BTreeMap;

/// How packyard runs under this dashboard, for the status bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Engine and Composer server in this process, on the configured data dir.
    Embedded,
    /// Over simulated code hosts.
    Demo,
    /// Over the admin socket of a running `packyard serve`, which runs the
    /// engine and the Composer server.
    Attached,
}

#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// The terminal changed size: only a redraw is needed.
    Resize,
    Tick(Timestamp),
    Engine(EngineEvent),
    /// The engine's event channel dropped events for us: reload everything.
    EventsLagged,
    /// Something the embedding (e.g. the demo's simulated push) wants logged.
    Notice(String),
    Reply(Reply),
}

/// The answer to a [`Cmd`].
#[derive(Debug)]
pub enum Reply {
    Syncs(Vec<Sync>),
    Teams(Vec<Team>),
    Packages(Vec<PackageSummary>),
    Users(Vec<UserSummary>),
    Tokens(Vec<Token>),
    Audit(Vec<AuditEntry>),
    Versions(PackageName, Vec<Version>),
    PromotePreview(SyncId, OwnerChange),
    RemoveSyncPreview(SyncId, SyncRemoval),
    /// The engine refused to remove the sync; the reason says what to do.
    RemoveSyncRefused(SyncId, String),
    /// Boxed: a sync record with its last run is far larger than the rest.
    SyncAdded(Box<Sync>),
    AddSyncFailed(String),
    TokenCreated(Token, Secret),
    /// A change was made; the text says which.
    Done(String),
    Failed {
        what: String,
        error: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    Syncs,
    Teams,
    Packages,
    Users,
    Tokens,
    /// The latest admin actions, for the Activity pane.
    Audit,
}

/// An admin call to make. `apply` variants change things; the others read.
#[derive(Debug)]
pub enum Cmd {
    Load(Resource),
    LoadVersions(PackageName),
    RunSync(SyncId),
    /// A run allowed past the deletion guard (more than half removed).
    RunSyncConfirmingRemovals(SyncId),
    PreviewPromote(SyncId),
    Promote(SyncId),
    PreviewRemoveSync(SyncId),
    RemoveSync(SyncId),
    RemovePackages(Vec<PackageName>),
    AddSync(NewSync),
    CreateToken {
        scope: TokenScope,
        label: String,
    },
    RevokeToken(String),
    Quit,
}

/// Everything the dashboard shows. `render` reads only this.
pub struct App {
    pub mode: Mode,
    pub server_url: String,
    pub theme: Theme,
    pub now: Timestamp,
    pub pane: Pane,
    pub syncs: Vec<Sync>,
    pub sync_cursor: Cursor,
    /// Live state of runs seen on the event channel; absent = idle.
    pub runs: BTreeMap<SyncId, RunState>,
    pub teams: Vec<Team>,
    pub teams_view: TeamsView,
    pub packages: Vec<PackageSummary>,
    pub packages_view: PackagesView,
    pub users: Vec<UserSummary>,
    pub tokens: Vec<Token>,
    pub users_view: UsersView,
    pub activity: ActivityLog,
    /// The newest audit entry already in the activity log.
    pub audit_seen: Option<AuditEntry>,
    pub popup: Option<Popup>,
    /// A short message for the status bar, until a few seconds pass.
    pub flash: Option<(String, Timestamp)>,
}

/// How long a status bar message stays.
const FLASH_SECS: i64 = 6;

impl App {
    pub fn new(mode: Mode, server_url: String, theme: Theme, now: Timestamp) -> Self {
        Self {
            mode,
            server_url,
            theme,
            now,
            pane: Pane::Syncs,
            syncs: Vec::new(),
            sync_cursor: Cursor::default(),
            runs: BTreeMap::new(),
            teams: Vec::new(),
            teams_view: TeamsView::default(),
            packages: Vec::new(),
            packages_view: PackagesView::default(),
            users: Vec::new(),
            tokens: Vec::new(),
            users_view: UsersView::default(),
            activity: ActivityLog::default(),
            audit_seen: None,
            popup: None,
            flash: None,
        }
    }

    /// What to load when the dashboard opens.
    pub fn start(&mut self) -> Vec<Cmd> {
        load_all()
    }

    pub fn update(&mut self, msg: Msg) -> Vec<Cmd> {
        match msg {
            Msg::Key(key) if key.kind == KeyEventKind::Press => self.on_key(key),
            Msg::Key(_) | Msg::Resize => Vec::new(),
            Msg::Tick(now) => {
                self.now = now;
                Vec::new()
            }
            Msg::Engine(event) => self.on_engine(event),
            Msg::EventsLagged => {
                self.log(Tone::Warning, "missed some engine events; reloading".into());
                // A missed SyncFinished would leave a run shown as running
                // forever; a run still going reports its next phase soon.
                self.runs.clear();
                load_all()
            }
            Msg::Notice(text) => {
                self.log(Tone::Info, text);
                Vec::new()
            }
            Msg::Reply(reply) => self.on_reply(reply),
        }
    }

    /// Jobs running now, for the status bar.
    pub fn running_jobs(&self) -> usize {
        self.runs
            .values()
            .filter(|r| matches!(r, RunState::Running { .. }))
            .count()
    }

    pub fn selected_sync(&self) -> Option<&Sync> {
        self.syncs.get(self.sync_cursor.0)
    }

    /// The status bar message, while it is fresh.
    pub fn flash_text(&self) -> Option<&str> {
        self.flash
            .as_ref()
            .filter(|(_, at)| self.now.0 - at.0 < FLASH_SECS)
            .map(|(text, _)| text.as_str())
    }

    pub(crate) fn say(&mut self, text: impl Into<String>) {
        self.flash = Some((text.into(), self.now));
    }

    pub(crate) fn log(&mut self, tone: Tone, text: String) {
        self.activity.push(self.now, tone, text);
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Cmd> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            // Ctrl-C quits from anywhere, dialogs and filters included.
            return vec![Cmd::Quit];
        }
        if let Some(mut popup) = self.popup.take() {
            return match popup.on_key(&key, self) {
                Outcome::Keep => {
                    self.popup = Some(popup);
                    Vec::new()
                }
                Outcome::KeepWith(cmd) => {
                    self.popup = Some(popup);
                    vec![cmd]
                }
                Outcome::Close => Vec::new(),
                Outcome::CloseWith(cmd) => vec![cmd],
            };
        }
        if self.pane == Pane::Packages && self.packages_view.editing {
            packages::on_filter_key(self, &key);
            return Vec::new();
        }
        let Some(action) = keymap::action_for(self.pane, &key) else {
            return Vec::new();
        };
        match action {
            Action::Quit => vec![Cmd::Quit],
            Action::NextPane => self.show(self.pane.next()),
            Action::PrevPane => self.show(self.pane.prev()),
            Action::ShowPane(pane) => self.show(pane),
            Action::Help => {
                self.popup = Some(Popup::Help(self.pane));
                Vec::new()
            }
            _ => match self.pane {
                Pane::Syncs => syncs::on_action(self, action),
                Pane::Teams => teams::on_action(self, action),
                Pane::Packages => packages::on_action(self, action),
                Pane::Users => users::on_action(self, action),
                Pane::Activity => {
                    let len = self.activity.len();
                    self.activity.cursor.apply(action, len);
                    Vec::new()
                }
            },
        }
    }

    fn show(&mut self, pane: Pane) -> Vec<Cmd> {
        self.pane = pane;
        Vec::new()
    }

    fn on_engine(&mut self, event: EngineEvent) -> Vec<Cmd> {
        match event {
            EngineEvent::SyncStarted { sync } => {
                self.log(Tone::Info, format!("{sync}: sync started"));
                self.runs.insert(sync, RunState::starting());
                Vec::new()
            }
            EngineEvent::PhaseChanged {
                sync,
                phase,
                done,
                total,
            } => {
                let new_phase = !matches!(self.runs.get(&sync), Some(RunState::Running { phase: p, .. }) if *p == phase);
                if new_phase {
                    self.log(Tone::Info, format!("{sync}: reading {phase}"));
                }
                self.runs
                    .insert(sync, RunState::Running { phase, done, total });
                Vec::new()
            }
            EngineEvent::PlanApplied { sync, revision } => {
                self.log(
                    Tone::Info,
                    format!("{sync}: changes saved (store revision {revision})"),
                );
                Vec::new()
            }
            EngineEvent::SyncFinished { sync, summary } => {
                let text = syncs::result_text(&summary);
                match &summary.error {
                    Some(error) if summary.guarded => {
                        self.log(Tone::Warning, format!("{sync}: sync finished: {text}"));
                        self.runs
                            .insert(sync.clone(), RunState::Failed(error.clone()));
                    }
                    Some(error) => {
                        self.log(Tone::Error, format!("{sync}: sync failed: {error}"));
                        self.runs
                            .insert(sync.clone(), RunState::Failed(error.clone()));
                    }
                    None if summary.paused().is_some() => {
                        self.log(Tone::Warning, format!("{sync}: sync {text}"));
                        self.runs.remove(&sync);
                    }
                    None => {
                        self.log(Tone::Ok, format!("{sync}: sync finished: {text}"));
                        self.runs.remove(&sync);
                    }
                }
                if let Some(s) = self.syncs.iter_mut().find(|s| s.id == sync) {
                    s.last_run = Some(summary);
                }
                load_all()
            }
            EngineEvent::SyncFailed { sync, error } => {
                self.log(Tone::Error, format!("{sync}: sync failed: {error}"));
                self.runs.insert(sync, RunState::Failed(error));
                vec![Cmd::Load(Resource::Syncs)]
            }
            EngineEvent::HookRefreshed {
                sync,
                scope,
                changes,
                conflicts,
            } => {
                let text = changes.describe();
                self.log(
                    Tone::Ok,
                    format!("{sync}: webhook refreshed {}: {text}", scope.join(", ")),
                );
                for conflict in conflicts {
                    self.log(Tone::Error, format!("{sync}: {}", conflict.describe()));
                }
                load_all()
            }
            // Same as a lag of our own channel, only further upstream.
            EngineEvent::EventsMissed { .. } => self.update(Msg::EventsLagged),
        }
    }

    fn on_reply(&mut self, reply: Reply) -> Vec<Cmd> {
        match reply {
            Reply::Syncs(list) => {
                self.syncs = list;
                self.sync_cursor.clamp(self.syncs.len());
                let known: Vec<SyncId> = self.syncs.iter().map(|s| s.id.clone()).collect();
                self.runs.retain(|id, _| known.contains(id));
                // Who may install what depends on which sync is primary.
                teams::refresh(self);
            }
            Reply::Teams(list) => {
                self.teams = list;
                teams::refresh(self);
            }
            Reply::Packages(list) => {
                self.packages = list;
                packages::refresh(self);
                teams::refresh(self);
            }
            Reply::Users(list) => {
                self.users = list;
                self.users_view.users.clamp(self.users.len());
            }
            Reply::Tokens(list) => {
                self.tokens = list;
                self.users_view.tokens.clamp(self.tokens.len());
            }
            Reply::Audit(entries) => {
                // Entries come oldest first; log those after the last one seen.
                let start = self
                    .audit_seen
                    .as_ref()
                    .and_then(|seen| entries.iter().rposition(|e| e == seen))
                    .map_or(0, |i| i + 1);
                for entry in &entries[start..] {
                    self.log(
                        Tone::Info,
                        format!("{} via {}: {}", entry.actor, entry.via, entry.action),
                    );
                }
                if let Some(last) = entries.last() {
                    self.audit_seen = Some(last.clone());
                }
            }
            Reply::Versions(name, versions) => {
                self.popup = Some(Popup::Message(packages::versions_message(&name, &versions)));
            }
            Reply::PromotePreview(sync, change) => {
                self.popup = Some(Popup::Confirm(confirm::promote(&sync, &change)));
            }
            Reply::RemoveSyncPreview(sync, removal) => {
                self.popup = Some(Popup::Confirm(confirm::remove_sync(&sync, &removal)));
            }
            Reply::RemoveSyncRefused(sync, reason) => {
                self.popup = Some(Popup::Message(message::refused(&sync, &reason)));
            }
            Reply::SyncAdded(sync) => {
                if matches!(self.popup, Some(Popup::AddSync(_))) {
                    self.popup = None;
                }
                let primary = if sync.primary { " (primary)" } else { "" };
                let text = format!(
                    "added synchronization {}{primary}; first run started",
                    sync.id
                );
                self.log(Tone::Ok, text.clone());
                self.say(text);
                let mut cmds = load_all();
                cmds.push(Cmd::RunSync(sync.id));
                return cmds;
            }
            Reply::AddSyncFailed(error) => match &mut self.popup {
                Some(Popup::AddSync(form)) => form.failed(error),
                _ => self.say(format!("adding the synchronization failed: {error}")),
            },
            Reply::TokenCreated(token, secret) => {
                self.log(
                    Tone::Ok,
                    format!("created token {} ({})", token.id, token.label),
                );
                self.popup = Some(Popup::TokenShown(super::popups::token::Shown {
                    token,
                    secret,
                }));
                return vec![Cmd::Load(Resource::Tokens)];
            }
            Reply::Done(text) => {
                self.log(Tone::Ok, text.clone());
                self.say(text);
                return load_all();
            }
            Reply::Failed { what, error } => {
                let text = format!("{what} failed: {error}");
                self.log(Tone::Error, text.clone());
                self.say(text);
            }
        }
        Vec::new()
    }
}

pub fn load_all() -> Vec<Cmd> {
    [
        Resource::Syncs,
        Resource::Teams,
        Resource::Packages,
        Resource::Users,
        Resource::Tokens,
        Resource::Audit,
    ]
    .into_iter()
    .map(Cmd::Load)
    .collect()
}

#[cfg(test)]
mod tests;
