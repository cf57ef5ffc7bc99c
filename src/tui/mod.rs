//! The terminal dashboard.
//!
//! # Shape
//! - [`app`]: the state and `App::update(Msg) -> Vec<Cmd>`; no I/O.
//! - [`panes`] and [`popups`]: view state and drawing, read from `App` only.
//! - [`keymap`] and [`theme`]: keys per pane (also the help) and styles.
//! - this file: the terminal (raw mode, alternate screen, a panic hook that
//!   restores it), the event loop, and the execution of `Cmd`s.
//!
//! The loop never awaits the admin API: each command is spawned and its
//! reply comes back on the same channel as keys and engine events, so the
//! screen stays responsive while a sync runs or a host is slow to answer.

pub mod app;
pub mod keymap;
pub mod panes;
pub mod popups;
pub mod theme;

pub use app::{App, Cmd, Mode, Msg, Reply, Resource};

use crate::admin::{AdminClient, PackageSelection, Policy};
use crate::domain::Timestamp;
use futures::StreamExt;
use panes::Pane;
use ratatui::crossterm::event::{Event, EventStream};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};
use ratatui::{DefaultTerminal, Frame};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// Redraws at least this often so relative times and the flash age.
const TICK: Duration = Duration::from_secs(1);

/// What the caller wires in besides the admin API.
pub struct Session {
    pub mode: Mode,
    /// The Composer server's URL, for the status bar.
    pub server_url: String,
    /// Lines for the Activity pane from the embedding (the demo's simulated pushes).
    pub notices: mpsc::UnboundedReceiver<String>,
}

/// Fails, saying what to do instead, when stdout is not a terminal: call it
/// before starting anything the dashboard would need.
pub fn require_terminal() -> std::io::Result<()> {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        return Ok(());
    }
    Err(std::io::Error::other(
        "the dashboard needs a terminal and stdout is not one; in scripts use the commands instead (`packyard --help` lists them)",
    ))
}

/// Runs the dashboard until the user quits. Restores the terminal on the
/// way out, also after an error; ratatui's panic hook restores it on a panic.
pub async fn run(admin: Arc<dyn AdminClient>, session: Session) -> std::io::Result<()> {
    let mut terminal = ratatui::try_init()?;
    let result = event_loop(&mut terminal, admin, session).await;
    ratatui::try_restore()?;
    result
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    admin: Arc<dyn AdminClient>,
    mut session: Session,
) -> std::io::Result<()> {
    let mut app = App::new(
        session.mode,
        session.server_url.clone(),
        theme::Theme::from_env(),
        Timestamp::now(),
    );
    let (tx, mut replies) = mpsc::unbounded_channel::<Msg>();
    let mut engine = admin.subscribe();
    let mut keys = EventStream::new();
    let mut ticker = tokio::time::interval(TICK);
    for cmd in app.start() {
        execute(cmd, &admin, &tx);
    }
    loop {
        terminal.draw(|frame| render(&app, frame))?;
        let msg = tokio::select! {
            event = keys.next() => match event {
                Some(Ok(Event::Key(key))) => Msg::Key(key),
                Some(Ok(Event::Resize(..))) => Msg::Resize,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            event = engine.recv() => match event {
                Ok(event) => Msg::Engine(event),
                Err(broadcast::error::RecvError::Lagged(_)) => Msg::EventsLagged,
                // The engine is gone: keep the dashboard usable for reading.
                Err(broadcast::error::RecvError::Closed) => {
                    engine = broadcast::channel(1).1;
                    continue;
                }
            },
            Some(reply) = replies.recv() => reply,
            Some(text) = session.notices.recv() => Msg::Notice(text),
            _ = ticker.tick() => Msg::Tick(Timestamp::now()),
        };
        // Anything logged now is stamped with the time it arrived, not with
        // the last tick's, which can be up to a tick old.
        if !matches!(msg, Msg::Tick(_)) {
            app.update(Msg::Tick(Timestamp::now()));
        }
        for cmd in app.update(msg) {
            if matches!(cmd, Cmd::Quit) {
                return Ok(());
            }
            execute(cmd, &admin, &tx);
        }
    }
}

/// Spawns one admin call; its reply (or failure) comes back as a `Msg`.
fn execute(cmd: Cmd, admin: &Arc<dyn AdminClient>, tx: &mpsc::UnboundedSender<Msg>) {
    let admin = Arc::clone(admin);
    let tx = tx.clone();
    tokio::spawn(async move {
        if let Some(reply) = call(cmd, admin.as_ref()).await {
            // The loop is gone when the user quit; nothing to tell then.
            let _ = tx.send(Msg::Reply(reply));
        }
    });
}

async fn call(cmd: Cmd, admin: &dyn AdminClient) -> Option<Reply> {
    let failed = |what: String| {
        move |e: crate::admin::AdminError| Reply::Failed {
            what,
            error: e.to_string(),
        }
    };
    let reply = match cmd {
        Cmd::Load(resource) => {
            let what = format!("loading {resource:?}").to_lowercase();
            match resource {
                Resource::Syncs => admin.list_syncs().await.map(Reply::Syncs),
                Resource::Teams => admin.list_teams(None).await.map(Reply::Teams),
                Resource::Packages => admin.list_packages(None).await.map(Reply::Packages),
                Resource::Users => admin.list_users().await.map(Reply::Users),
                Resource::Tokens => admin.list_tokens().await.map(Reply::Tokens),
            }
            .unwrap_or_else(failed(what))
        }
        Cmd::LoadVersions(name) => admin
            .list_versions(name.clone())
            .await
            .map(|v| Reply::Versions(name.clone(), v))
            .unwrap_or_else(failed(format!("loading the versions of {name}"))),
        // Progress and the result arrive as engine events; only a refusal
        // to start is reported here.
        Cmd::RunSync(id) => match admin.run_sync(id.clone(), Policy::default()).await {
            Ok(_) => return None,
            Err(e) => failed(format!("running {id}"))(e),
        },
        Cmd::RunSyncConfirmingRemovals(id) => {
            let policy = Policy {
                confirm_removals: true,
            };
            match admin.run_sync(id.clone(), policy).await {
                Ok(_) => return None,
                Err(e) => failed(format!("running {id}"))(e),
            }
        }
        Cmd::PreviewPromote(id) => admin
            .promote_sync(id.clone(), false)
            .await
            .map(|change| Reply::PromotePreview(id.clone(), change))
            .unwrap_or_else(failed(format!("previewing the promotion of {id}"))),
        Cmd::Promote(id) => admin
            .promote_sync(id.clone(), true)
            .await
            .map(|_| Reply::Done(format!("{id} is now the primary synchronization")))
            .unwrap_or_else(failed(format!("promoting {id}"))),
        Cmd::PreviewRemoveSync(id) => match admin.remove_sync(id.clone(), false).await {
            Ok(removal) => Reply::RemoveSyncPreview(id, removal),
            Err(e) => Reply::RemoveSyncRefused(id, e.to_string()),
        },
        Cmd::RemoveSync(id) => admin
            .remove_sync(id.clone(), true)
            .await
            .map(|_| Reply::Done(format!("removed synchronization {id}")))
            .unwrap_or_else(failed(format!("removing {id}"))),
        Cmd::RemovePackages(names) => admin
            .remove_packages(PackageSelection::Named(names), true)
            .await
            .map(|gone| Reply::Done(format!("removed {} packages", gone.len())))
            .unwrap_or_else(failed("removing packages".to_owned())),
        Cmd::AddSync(new) => match admin.add_sync(new).await {
            Ok((sync, _)) => Reply::SyncAdded(Box::new(sync)),
            Err(e) => Reply::AddSyncFailed(e.to_string()),
        },
        Cmd::CreateToken { scope, label } => admin
            .create_token(scope, label, None)
            .await
            .map(|(token, secret)| Reply::TokenCreated(token, secret))
            .unwrap_or_else(failed("creating a token".to_owned())),
        Cmd::RevokeToken(id) => admin
            .revoke_token(id.clone())
            .await
            .map(|found| match found {
                true => Reply::Done(format!("revoked token {id}")),
                false => Reply::Failed {
                    what: format!("revoking token {id}"),
                    error: "no such token (already revoked?)".to_owned(),
                },
            })
            .unwrap_or_else(failed(format!("revoking token {id}"))),
        Cmd::Quit => return None,
    };
    Some(reply)
}

/// Draws the whole screen from `app`.
pub fn render(app: &App, frame: &mut Frame) {
    let [tabs, body, status] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    render_tabs(app, frame, tabs);
    match app.pane {
        Pane::Syncs => panes::syncs::render(app, frame, body),
        Pane::Teams => panes::teams::render(app, frame, body),
        Pane::Packages => panes::packages::render(app, frame, body),
        Pane::Users => panes::users::render(app, frame, body),
        Pane::Activity => panes::activity::render(app, frame, body),
    }
    render_status(app, frame, status);
    popups::render(app, frame);
}

fn render_tabs(app: &App, frame: &mut Frame, area: Rect) {
    let titles = Pane::ALL
        .iter()
        .map(|p| format!("{} {}", p.index() + 1, p.title()));
    let tabs = Tabs::new(titles)
        .select(app.pane.index())
        .style(app.theme.dim())
        .highlight_style(app.theme.title());
    frame.render_widget(tabs, area);
}

fn render_status(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let mode = match app.mode {
        Mode::Embedded => "embedded",
        Mode::Demo => "demo",
        Mode::Attached => "attached to daemon",
    };
    let jobs = match app.running_jobs() {
        0 => "no jobs running".to_owned(),
        1 => "1 job running".to_owned(),
        n => format!("{n} jobs running"),
    };
    let text = match app.flash_text() {
        Some(flash) => format!(" {flash}"),
        None => format!(" {} · {mode} · {jobs}", app.server_url),
    };
    let help = " ? help  q quit ";
    let width = usize::from(area.width).saturating_sub(help.len());
    let line = Line::from(vec![
        Span::raw(format!("{:<width$}", panes::fit(&text, width))),
        Span::styled(help, theme.key()),
    ]);
    frame.render_widget(Paragraph::new(line).style(theme.status_bar()), area);
}

#[cfg(test)]
mod sample;
#[cfg(test)]
mod snapshots;
