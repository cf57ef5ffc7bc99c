//! Pane 1: the synchronizations, their live run state and last result.

use super::{ago, fit, window};
use crate::domain::RunSummary;
use crate::tui::app::{App, Cmd};
use crate::tui::keymap::Action;
use crate::tui::popups::message::Message;
use crate::tui::popups::{Popup, confirm};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Gauge, Paragraph, Row, Table, Wrap};

/// A run as seen on the event channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    Running {
        phase: String,
        done: u64,
        total: u64,
    },
    Failed(String),
}

impl RunState {
    pub fn starting() -> Self {
        RunState::Running {
            phase: "starting".to_owned(),
            done: 0,
            total: 0,
        }
    }
}

pub fn on_action(app: &mut App, action: Action) -> Vec<Cmd> {
    if app.sync_cursor.apply(action, app.syncs.len()) {
        return Vec::new();
    }
    if action == Action::Add {
        app.popup = Some(Popup::AddSync(Box::default()));
        return Vec::new();
    }
    let Some(sync) = app.selected_sync().cloned() else {
        app.say("No synchronization yet: press a to add one.");
        return Vec::new();
    };
    match action {
        Action::Run => {
            app.say(format!("Starting {}…", sync.id));
            vec![Cmd::RunSync(sync.id)]
        }
        Action::RunConfirmingRemovals => {
            let last_error = match app.runs.get(&sync.id) {
                Some(RunState::Failed(error)) => Some(error.clone()),
                _ => sync.last_run.as_ref().and_then(|r| r.error.clone()),
            };
            app.popup = Some(Popup::Confirm(confirm::run_confirming_removals(
                &sync.id,
                last_error.as_deref(),
            )));
            Vec::new()
        }
        Action::Promote if sync.primary => {
            app.say(format!(
                "{} is already the primary synchronization.",
                sync.id
            ));
            Vec::new()
        }
        Action::Promote => vec![Cmd::PreviewPromote(sync.id)],
        Action::Delete => vec![Cmd::PreviewRemoveSync(sync.id)],
        Action::Details => {
            match &sync.last_run {
                Some(run) => {
                    let title = format!("Last run of {}", sync.id);
                    app.popup = Some(Popup::Message(Message::new(title, details(app, run))));
                }
                None => app.say(format!("{} has not run yet: press r to run it.", sync.id)),
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// "up to date", "packages +3, versions +12 ~1", "failed: …", what a
/// guarded run applied and what it held, or "paused: rate limit, resumes
/// 05:19".
pub fn result_text(run: &RunSummary) -> String {
    if let Some(pause) = run.paused() {
        return pause.progress_text();
    }
    match &run.error {
        Some(held) if run.guarded => format!("{}; held: {held}", run.changes.describe()),
        Some(error) => format!("failed: {error}"),
        None => run.changes.describe(),
    }
}

fn details(app: &App, run: &RunSummary) -> Vec<String> {
    let c = &run.changes;
    let mut lines = vec![
        format!(
            "Finished {} after {} s: {}",
            ago(app.now, run.finished_at),
            run.finished_at.0 - run.started_at.0,
            if run.error.is_some() { "failed" } else { "ok" }
        ),
        String::new(),
        "           added  changed  removed".to_owned(),
        format!(
            "packages {:>7} {:>8} {:>8}",
            c.packages_added, c.packages_changed, c.packages_removed
        ),
        format!(
            "versions {:>7} {:>8} {:>8}",
            c.versions_added, c.versions_changed, c.versions_removed
        ),
        format!(
            "teams    {:>7} {:>8} {:>8}",
            c.teams_added, c.teams_changed, c.teams_removed
        ),
        String::new(),
    ];
    if !c.revoked.is_empty() {
        lines.push(format!("Revoked ({}):", c.revoked.len()));
        lines.extend(c.revoked.iter().map(|r| format!("  {r}")));
    }
    match &run.error {
        Some(held) if run.guarded => lines.push(format!("Held: {held}")),
        Some(error) => lines.push(format!("Error: {error}")),
        None => {}
    }
    if run.partial {
        lines.push("Some listings were incomplete at the host, so nothing was removed.".to_owned());
    }
    if run.problems.is_empty() {
        lines.push("Nothing was skipped.".to_owned());
    } else {
        lines.push(format!("Skipped ({}):", run.problems.len()));
        for p in &run.problems {
            lines.push(match &p.reference {
                Some(r) => format!("  {} @ {}: {}", p.subject, r, p.message),
                None => format!("  {}: {}", p.subject, p.message),
            });
        }
    }
    if !run.conflicts.is_empty() {
        lines.push(format!("Package name conflicts ({}):", run.conflicts.len()));
        lines.extend(run.conflicts.iter().map(|c| format!("  {}", c.describe())));
    }
    lines.push(String::new());
    lines.push(format!(
        "{} requests to the host, {} answered 304 Not Modified.",
        run.requests, run.not_modified
    ));
    lines
}

fn state_cell(app: &App, sync: &crate::domain::Sync) -> Span<'static> {
    let theme = app.theme;
    match app.runs.get(&sync.id) {
        Some(RunState::Running { done, total, .. }) if *total > 0 => {
            Span::styled(format!("running {}%", done * 100 / total), theme.running())
        }
        Some(RunState::Running { .. }) => Span::styled("running", theme.running()),
        Some(RunState::Failed(_)) => Span::styled("failed", theme.error()),
        None if sync.last_run.as_ref().is_some_and(|r| r.error.is_some()) => {
            Span::styled("failed", theme.error())
        }
        None if sync.last_run.as_ref().is_some_and(|r| r.paused().is_some()) => {
            Span::styled("paused", theme.warning())
        }
        None => Span::styled("idle", theme.ok()),
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let [list, detail] = Layout::vertical([Constraint::Min(3), Constraint::Length(8)]).areas(area);
    if app.syncs.is_empty() {
        let text = "No synchronization yet. Press a to add one (GitHub, GitLab or Bitbucket).";
        frame.render_widget(Paragraph::new(text).style(theme.dim()), list);
        return;
    }
    let header = Row::new([
        "NAME", "PROVIDER", "ORG", "STATE", "LAST RUN", "PKGS", "TEAMS",
    ])
    .style(theme.header());
    let rows_shown = usize::from(list.height.saturating_sub(1));
    let range = window(app.sync_cursor.0, app.syncs.len(), rows_shown);
    let rows = app.syncs[range.clone()]
        .iter()
        .enumerate()
        .map(|(i, sync)| {
            let packages = app
                .packages
                .iter()
                .filter(|p| p.package.origin == sync.id)
                .count();
            let teams = app.teams.iter().filter(|t| t.key.sync == sync.id).count();
            let star = if sync.primary { "★ " } else { "  " };
            let row = Row::new(vec![
                Line::from(format!("{star}{}", sync.id)),
                Line::from(sync.provider.as_str()),
                Line::from(sync.org.clone()),
                Line::from(state_cell(app, sync)),
                Line::from(
                    sync.last_run
                        .as_ref()
                        .map_or("never".to_owned(), |r| ago(app.now, r.finished_at)),
                ),
                Line::from(packages.to_string()),
                Line::from(teams.to_string()),
            ]);
            if range.start + i == app.sync_cursor.0 {
                row.style(theme.selected())
            } else {
                row
            }
        });
    let widths = [
        Constraint::Min(12),
        Constraint::Length(16),
        Constraint::Min(8),
        Constraint::Length(11),
        Constraint::Length(8),
        Constraint::Length(5),
        Constraint::Length(5),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), list);
    if let Some(sync) = app.selected_sync() {
        render_detail(app, sync, frame, detail);
    }
}

fn render_detail(app: &App, sync: &crate::domain::Sync, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let primary = if sync.primary { " · primary" } else { "" };
    let block = Block::default().borders(Borders::TOP).title(Line::styled(
        format!(" {}{primary} ", sync.id),
        theme.title(),
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [gauge, text] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    let width = usize::from(inner.width);
    match app.runs.get(&sync.id) {
        Some(RunState::Running { phase, done, total }) => {
            let ratio = if *total > 0 {
                (*done as f64 / *total as f64).clamp(0.0, 1.0)
            } else {
                0.0
            };
            frame.render_widget(
                Gauge::default()
                    .gauge_style(theme.gauge())
                    .ratio(ratio)
                    .label(format!("{phase} {done}/{total}")),
                gauge,
            );
        }
        Some(RunState::Failed(error)) => {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    fit(&format!("Failed: {error}"), width),
                    theme.error(),
                )),
                gauge,
            );
        }
        None => {
            let status = match sync.last_run.as_ref().and_then(|r| r.paused()) {
                Some(pause) => Line::styled(pause.progress_text(), theme.warning()),
                None => Line::styled("Idle", theme.ok()),
            };
            frame.render_widget(Paragraph::new(status), gauge);
        }
    }
    let mut lines = vec![Line::raw(format!(
        "{} {} at {}",
        sync.provider, sync.org, sync.api_url
    ))];
    match &sync.last_run {
        Some(run) => {
            lines.push(Line::raw(format!(
                "Last run {}: {}",
                ago(app.now, run.finished_at),
                result_text(run)
            )));
            if !run.problems.is_empty() {
                lines.push(Line::styled(
                    format!("{} skipped (Enter shows why)", run.problems.len()),
                    theme.warning(),
                ));
            }
            if !run.conflicts.is_empty() {
                lines.push(Line::styled(
                    format!(
                        "{} package name conflicts (Enter shows them)",
                        run.conflicts.len()
                    ),
                    theme.warning(),
                ));
            }
            if !run.headroom().is_empty() {
                let budgets: Vec<String> = run.headroom().iter().map(|b| b.describe()).collect();
                lines.push(Line::raw(format!("Budget: {}", budgets.join("; "))));
            }
        }
        None => lines.push(Line::styled(
            "Never run: press r to run it now.",
            theme.dim(),
        )),
    }
    lines.push(match &sync.hooks {
        Some(hooks) if hooks.error.is_some() || !hooks.installed.failures.is_empty() => {
            Line::styled(format!("Webhooks: {}", hooks.describe()), theme.warning())
        }
        Some(hooks) => Line::raw(format!("Webhooks: {}", hooks.describe())),
        None => Line::styled(
            "Webhooks: none (set a public URL to install them)",
            theme.dim(),
        ),
    });
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), text);
}
