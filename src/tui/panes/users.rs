//! Pane 4: users with their identities per sync, teams and owner flag, and
//! the Composer tokens (never their secrets). ← → switch between the lists.

use super::{Cursor, ago, window};
use crate::domain::{TeamKey, TokenScope};
use crate::tui::app::{App, Cmd};
use crate::tui::keymap::Action;
use crate::tui::popups::token::TokenForm;
use crate::tui::popups::{Popup, confirm};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    #[default]
    Users,
    Tokens,
}

#[derive(Debug, Default)]
pub struct UsersView {
    pub focus: Focus,
    pub users: Cursor,
    pub tokens: Cursor,
}

pub fn on_action(app: &mut App, action: Action) -> Vec<Cmd> {
    let view = &mut app.users_view;
    let moved = match view.focus {
        Focus::Users => view.users.apply(action, app.users.len()),
        Focus::Tokens => view.tokens.apply(action, app.tokens.len()),
    };
    if moved {
        return Vec::new();
    }
    match action {
        Action::FocusNext => {
            view.focus = match view.focus {
                Focus::Users => Focus::Tokens,
                Focus::Tokens => Focus::Users,
            };
        }
        Action::CreateToken => {
            app.popup = Some(Popup::NewToken(TokenForm::new(view.users.0)));
        }
        Action::Revoke => match app.tokens.get(view.tokens.0) {
            Some(token) => {
                view.focus = Focus::Tokens;
                app.popup = Some(Popup::Confirm(confirm::revoke(token)));
            }
            None => app.say("No token to revoke: press c to create one."),
        },
        _ => {}
    }
    Vec::new()
}

fn team_name(app: &App, key: &TeamKey) -> String {
    app.teams.iter().find(|t| &t.key == key).map_or_else(
        || format!("{}/{}", key.sync, key.remote),
        |t| format!("{}/{}", t.key.sync, t.slug),
    )
}

fn scope(app: &App, scope: &TokenScope) -> String {
    match scope {
        TokenScope::OrgWide => "org-wide".to_owned(),
        TokenScope::User { user } => format!("user {user}"),
        TokenScope::Team { team } => format!("team {}", team_name(app, team)),
    }
}

fn block(app: &App, title: String, focused: bool) -> Block<'static> {
    let style = if focused {
        app.theme.title()
    } else {
        app.theme.dim()
    };
    Block::default()
        .borders(Borders::TOP)
        .title(Line::styled(title, style))
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let view = &app.users_view;
    let token_rows = u16::try_from(app.tokens.len())
        .unwrap_or(u16::MAX)
        .clamp(1, 8);
    let [users_area, tokens_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(token_rows + 2)]).areas(area);

    let users_block = block(
        app,
        format!(" Users ({}) ", app.users.len()),
        view.focus == Focus::Users,
    );
    let inner = users_block.inner(users_area);
    frame.render_widget(users_block, users_area);
    if app.users.is_empty() {
        frame.render_widget(
            Paragraph::new("No users yet: they appear after a sync runs.").style(theme.dim()),
            inner,
        );
    } else {
        let range = window(
            view.users.0,
            app.users.len(),
            usize::from(inner.height.saturating_sub(1)),
        );
        let rows = app.users[range.clone()].iter().enumerate().map(|(i, u)| {
            let identities: Vec<String> = u
                .identities
                .iter()
                .map(|i| format!("{}:{}", i.sync, i.login))
                .collect();
            let teams: Vec<String> = u.teams.iter().map(|k| team_name(app, k)).collect();
            let row = Row::new(vec![
                u.id.to_string(),
                if u.owner { "owner" } else { "" }.to_owned(),
                identities.join(" "),
                teams.join(", "),
            ]);
            if view.focus == Focus::Users && range.start + i == view.users.0 {
                row.style(theme.selected())
            } else {
                row
            }
        });
        let widths = [
            Constraint::Length(14),
            Constraint::Length(5),
            Constraint::Min(20),
            Constraint::Min(16),
        ];
        let header = Row::new(["USER", "ROLE", "IDENTITIES", "TEAMS"]).style(theme.header());
        frame.render_widget(Table::new(rows, widths).header(header), inner);
    }

    let tokens_block = block(
        app,
        format!(" Tokens ({}) ", app.tokens.len()),
        view.focus == Focus::Tokens,
    );
    let inner = tokens_block.inner(tokens_area);
    frame.render_widget(tokens_block, tokens_area);
    if app.tokens.is_empty() {
        frame.render_widget(
            Paragraph::new("No tokens: press c to create one for Composer.").style(theme.dim()),
            inner,
        );
        return;
    }
    let range = window(
        view.tokens.0,
        app.tokens.len(),
        usize::from(inner.height.saturating_sub(1)),
    );
    let rows = app.tokens[range.clone()].iter().enumerate().map(|(i, t)| {
        let row = Row::new(vec![
            t.id.clone(),
            t.label.clone(),
            scope(app, &t.scope),
            ago(app.now, t.created_at),
            t.last_used
                .map_or("never".to_owned(), |at| ago(app.now, at)),
            match t.expires_at {
                Some(at) if t.is_expired(app.now) => format!("expired {}", ago(app.now, at)),
                Some(at) => at.rfc3339().chars().take(10).collect(),
                None => "never".to_owned(),
            },
        ]);
        if view.focus == Focus::Tokens && range.start + i == view.tokens.0 {
            row.style(theme.selected())
        } else {
            row
        }
    });
    let widths = [
        Constraint::Length(10),
        Constraint::Min(8),
        Constraint::Min(14),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(10),
    ];
    let header =
        Row::new(["ID", "LABEL", "SCOPE", "CREATED", "LAST USED", "EXPIRES"]).style(theme.header());
    frame.render_widget(Table::new(rows, widths).header(header), inner);
}
