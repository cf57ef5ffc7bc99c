//! Pane 3: packages with a text filter, an origin-sync filter and marks for
//! bulk deletion. The filtered row list is computed when the data or the
//! filter changes; drawing builds only the rows on screen.

use super::{Cursor, ago, cycle, window};
use crate::domain::{PackageName, SyncId, Version, VersionKind, human_bytes};
use crate::tui::app::{App, Cmd};
use crate::tui::keymap::Action;
use crate::tui::popups::message::Message;
use crate::tui::popups::{Popup, confirm};
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};
use std::collections::BTreeSet;
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

#[derive(Debug, Default)]
pub struct PackagesView {
    pub filter: Input,
    /// Keys go to the filter while true.
    pub editing: bool,
    pub origin: Option<SyncId>,
    /// Indices into `App::packages` that pass both filters.
    pub rows: Vec<usize>,
    pub cursor: Cursor,
    pub marked: BTreeSet<PackageName>,
}

impl PackagesView {
    pub fn selected<'a>(&self, app: &'a App) -> Option<&'a PackageName> {
        self.rows
            .get(self.cursor.0)
            .map(|&i| &app.packages[i].package.name)
    }
}

pub fn on_action(app: &mut App, action: Action) -> Vec<Cmd> {
    if app
        .packages_view
        .cursor
        .apply(action, app.packages_view.rows.len())
    {
        return Vec::new();
    }
    match action {
        Action::Filter => app.packages_view.editing = true,
        Action::CycleSync => {
            // Packages of a removed sync stay, so their origin is offered too.
            let ids: BTreeSet<SyncId> = app
                .syncs
                .iter()
                .map(|s| s.id.clone())
                .chain(app.packages.iter().map(|p| p.package.origin.clone()))
                .collect();
            let ids: Vec<SyncId> = ids.into_iter().collect();
            app.packages_view.origin = cycle(&ids, app.packages_view.origin.as_ref());
            refresh(app);
        }
        Action::Mark => {
            if let Some(name) = app.packages_view.selected(app).cloned() {
                let view = &mut app.packages_view;
                if !view.marked.remove(&name) {
                    view.marked.insert(name);
                }
                view.cursor.apply(Action::Down, view.rows.len());
            }
        }
        Action::Delete => {
            let view = &app.packages_view;
            let names: Vec<PackageName> = if view.marked.is_empty() {
                view.selected(app).cloned().into_iter().collect()
            } else {
                view.marked.iter().cloned().collect()
            };
            if names.is_empty() {
                app.say("No package selected.");
            } else {
                app.popup = Some(Popup::Confirm(confirm::remove_packages(names)));
            }
        }
        Action::Details => {
            if let Some(name) = app.packages_view.selected(app).cloned() {
                return vec![Cmd::LoadVersions(name)];
            }
        }
        _ => {}
    }
    Vec::new()
}

/// A key while the filter is being edited: Enter keeps it, Esc clears it.
pub fn on_filter_key(app: &mut App, key: &KeyEvent) {
    let view = &mut app.packages_view;
    match key.code {
        KeyCode::Enter => view.editing = false,
        KeyCode::Esc => {
            view.editing = false;
            view.filter.reset();
        }
        _ => {
            view.filter.handle_event(&Event::Key(*key));
        }
    }
    refresh(app);
}

/// Recomputes the rows that pass the filters; drops marks of packages gone.
pub fn refresh(app: &mut App) {
    let needle = app.packages_view.filter.value().to_lowercase();
    if app.packages_view.origin.as_ref().is_some_and(|o| {
        !app.syncs.iter().any(|s| &s.id == o)
            && !app.packages.iter().any(|p| &p.package.origin == o)
    }) {
        app.packages_view.origin = None;
    }
    let origin = app.packages_view.origin.as_ref();
    let rows: Vec<usize> = app
        .packages
        .iter()
        .enumerate()
        .filter(|(_, p)| origin.is_none_or(|o| &p.package.origin == o))
        .filter(|(_, p)| needle.is_empty() || p.package.name.as_str().contains(&needle))
        .map(|(i, _)| i)
        .collect();
    let existing: BTreeSet<&PackageName> = app.packages.iter().map(|p| &p.package.name).collect();
    let view = &mut app.packages_view;
    view.marked.retain(|n| existing.contains(n));
    view.rows = rows;
    view.cursor.clamp(view.rows.len());
}

pub fn versions_message(name: &PackageName, versions: &[Version]) -> Message {
    let mut lines = vec![format!(
        "{:<22} {:<7} DIST REFERENCE (commit)",
        "VERSION", "KIND"
    )];
    lines.extend(versions.iter().map(|v| {
        let kind = match v.kind {
            VersionKind::Tag => "tag",
            VersionKind::Branch => "branch",
        };
        format!("{:<22} {kind:<7} {}", v.version, v.commit)
    }));
    if versions.is_empty() {
        lines.push("No versions: no tag or branch has a valid composer.json.".to_owned());
    }
    Message::new(format!("{name}: {} versions", versions.len()), lines)
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let view = &app.packages_view;
    let [bar, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let origin = view.origin.as_ref().map_or("all", SyncId::as_str);
    let filter_style = if view.editing {
        theme.selected()
    } else {
        theme.dim()
    };
    let prefix = "/ filter: ";
    let filter = view.filter.value();
    let spans = vec![
        Span::styled(prefix, theme.key()),
        Span::styled(format!("{filter:<12}"), filter_style),
        Span::raw(format!("  origin: {origin}  ")),
        Span::styled(format!("{} marked", view.marked.len()), theme.marked()),
        Span::raw(format!("  {} of {}", view.rows.len(), app.packages.len())),
    ];
    frame.render_widget(Paragraph::new(Line::from(spans)), bar);
    if view.editing {
        let x = u16::try_from(prefix.len() + view.filter.visual_cursor()).unwrap_or(u16::MAX);
        frame.set_cursor_position(Position::new(bar.x + x, bar.y));
    }
    if view.rows.is_empty() {
        let text = if app.packages.is_empty() {
            "No packages yet: they appear after a sync runs."
        } else {
            "No package matches the filters (Esc in the filter clears it, s changes the origin)."
        };
        frame.render_widget(Paragraph::new(text).style(theme.dim()), list);
        return;
    }
    let header =
        Row::new(["", "NAME", "ORIGIN", "LATEST", "VERS", "DISK", "UPDATED"]).style(theme.header());
    let range = window(
        view.cursor.0,
        view.rows.len(),
        usize::from(list.height.saturating_sub(1)),
    );
    let rows = view.rows[range.clone()].iter().enumerate().map(|(i, &p)| {
        let p = &app.packages[p];
        let marked = view.marked.contains(&p.package.name);
        let row = Row::new(vec![
            if marked { "*" } else { " " }.to_owned(),
            p.package.name.to_string(),
            p.package.origin.to_string(),
            p.latest.clone().unwrap_or_else(|| "-".to_owned()),
            p.versions.to_string(),
            human_bytes(p.dist_bytes),
            p.updated_at.map_or("-".to_owned(), |t| ago(app.now, t)),
        ]);
        match (range.start + i == view.cursor.0, marked) {
            (true, _) => row.style(theme.selected()),
            (false, true) => row.style(theme.marked()),
            (false, false) => row,
        }
    });
    let widths = [
        Constraint::Length(1),
        Constraint::Min(16),
        Constraint::Length(16),
        Constraint::Length(10),
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), list);
}
