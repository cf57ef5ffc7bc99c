//! Pane 2: teams per sync, their members and the packages each may install
//! (by the same rule the Composer server applies to a team token).

use super::{Cursor, cycle, fit, window};
use crate::domain::{Directory, Package, SyncId, Team, TeamKind, TokenScope, may_install};
use crate::tui::app::{App, Cmd};
use crate::tui::keymap::Action;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, Wrap};

#[derive(Debug, Default)]
pub struct TeamsView {
    /// Only teams of this sync; `None` = all.
    pub origin: Option<SyncId>,
    /// Indices into `App::teams` that pass the filter.
    pub rows: Vec<usize>,
    /// Packages each team may install, by index into `App::teams`;
    /// computed when data arrives, not per frame.
    pub installable: Vec<usize>,
    pub cursor: Cursor,
}

pub fn on_action(app: &mut App, action: Action) -> Vec<Cmd> {
    let len = app.teams_view.rows.len();
    if app.teams_view.cursor.apply(action, len) {
        return Vec::new();
    }
    if action == Action::CycleSync {
        let ids: Vec<SyncId> = app.syncs.iter().map(|s| s.id.clone()).collect();
        app.teams_view.origin = cycle(&ids, app.teams_view.origin.as_ref());
        app.teams_view.cursor = Cursor::default();
        refresh(app);
    }
    Vec::new()
}

/// The server's rule for a team token. The directory holds only this team:
/// the rule looks up the token's team and the primary's owners team, and
/// scanning every team for each of thousands of packages would be slow.
fn grants(app: &App, team: &Team, package: &Package) -> bool {
    let dir = Directory {
        syncs: &app.syncs,
        teams: std::slice::from_ref(team),
        users: &[],
    };
    let scope = TokenScope::Team {
        team: team.key.clone(),
    };
    may_install(&scope, &dir, package)
}

/// Recomputes the filtered rows and the per-team package counts.
pub fn refresh(app: &mut App) {
    let origin = app.teams_view.origin.clone();
    if origin
        .as_ref()
        .is_some_and(|o| !app.syncs.iter().any(|s| &s.id == o))
    {
        app.teams_view.origin = None;
    }
    let rows = (0..app.teams.len())
        .filter(|&i| {
            app.teams_view
                .origin
                .as_ref()
                .is_none_or(|o| &app.teams[i].key.sync == o)
        })
        .collect();
    let installable = app
        .teams
        .iter()
        .map(|t| {
            app.packages
                .iter()
                .filter(|p| grants(app, t, &p.package))
                .count()
        })
        .collect();
    app.teams_view.rows = rows;
    app.teams_view.installable = installable;
    app.teams_view.cursor.clamp(app.teams_view.rows.len());
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let view = &app.teams_view;
    let [filter, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let of = view
        .origin
        .as_ref()
        .map_or("all syncs".to_owned(), SyncId::to_string);
    frame.render_widget(
        Paragraph::new(Line::from(format!(
            "Teams of {of} ({} shown, s changes)",
            view.rows.len()
        )))
        .style(theme.dim()),
        filter,
    );
    if view.rows.is_empty() {
        frame.render_widget(
            Paragraph::new("No teams yet: they appear after a sync runs.").style(theme.dim()),
            body,
        );
        return;
    }
    let [list, detail] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(body);
    let header = Row::new(["TEAM", "MEMBERS", "PKGS"]).style(theme.header());
    let range = window(
        view.cursor.0,
        view.rows.len(),
        usize::from(list.height.saturating_sub(1)),
    );
    let rows = view.rows[range.clone()].iter().enumerate().map(|(i, &t)| {
        let team = &app.teams[t];
        let row = Row::new(vec![
            format!("{}/{}", team.key.sync, team.slug),
            team.members.len().to_string(),
            view.installable.get(t).copied().unwrap_or(0).to_string(),
        ]);
        if range.start + i == view.cursor.0 {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let widths = [
        Constraint::Min(10),
        Constraint::Length(7),
        Constraint::Length(5),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), list);
    let Some(team) = view.rows.get(view.cursor.0).map(|&t| &app.teams[t]) else {
        return;
    };
    let block = Block::default()
        .borders(Borders::LEFT)
        .title(Line::styled(format!(" {} ", team.name), theme.title()));
    let inner = block.inner(detail);
    frame.render_widget(block, detail);
    let width = usize::from(inner.width);
    let mut lines = Vec::new();
    if team.kind == TeamKind::OrgAdmins {
        lines.push(Line::styled(
            "Owners/admins of the remote organization",
            theme.warning(),
        ));
    }
    lines.push(Line::styled(
        format!("Members ({})", team.members.len()),
        theme.header(),
    ));
    let logins: Vec<&str> = team.members.values().map(String::as_str).collect();
    lines.push(Line::raw(logins.join(", ")));
    let packages: Vec<&str> = app
        .packages
        .iter()
        .filter(|p| grants(app, team, &p.package))
        .map(|p| p.package.name.as_str())
        .collect();
    lines.push(Line::styled(
        format!("May install ({})", packages.len()),
        theme.header(),
    ));
    lines.extend(
        packages
            .iter()
            .map(|p| Line::raw(fit(&format!("  {p}"), width))),
    );
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}
