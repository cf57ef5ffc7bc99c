//! Creating a Composer token: the scope form, then the dialog that shows the
//! secret this one time (packyard keeps only its hash).

use super::{Outcome, dialog, keys_line};
use crate::domain::{Secret, Token, TokenScope};
use crate::tui::app::{App, Cmd};
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Position};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    OrgWide,
    User,
    Team,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Scope,
    Subject,
    Label,
}

pub struct TokenForm {
    pub scope: ScopeKind,
    /// Index into the app's users or teams, per `scope`.
    pub subject: usize,
    pub label: Input,
    pub focus: Field,
    pub error: Option<String>,
    /// The user selected in the pane: the first choice for a user token.
    selected_user: usize,
}

impl TokenForm {
    pub fn new(selected_user: usize) -> Self {
        Self {
            scope: ScopeKind::OrgWide,
            subject: 0,
            selected_user,
            label: Input::new("dashboard".to_owned()),
            focus: Field::Scope,
            error: None,
        }
    }

    fn fields(&self) -> &'static [Field] {
        match self.scope {
            ScopeKind::OrgWide => &[Field::Scope, Field::Label],
            _ => &[Field::Scope, Field::Subject, Field::Label],
        }
    }

    fn subjects(&self, app: &App) -> Vec<String> {
        match self.scope {
            ScopeKind::OrgWide => Vec::new(),
            ScopeKind::User => app.users.iter().map(|u| u.id.to_string()).collect(),
            ScopeKind::Team => app
                .teams
                .iter()
                .map(|t| format!("{}/{}", t.key.sync, t.slug))
                .collect(),
        }
    }

    pub fn on_key(&mut self, key: &KeyEvent, app: &App) -> Outcome {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        match key.code {
            KeyCode::Esc => return Outcome::Close,
            KeyCode::Tab | KeyCode::Down => self.focus = fields[(at + 1) % fields.len()],
            KeyCode::BackTab | KeyCode::Up => {
                self.focus = fields[(at + fields.len() - 1) % fields.len()];
            }
            KeyCode::Left | KeyCode::Right if self.focus == Field::Scope => {
                let order = [ScopeKind::OrgWide, ScopeKind::User, ScopeKind::Team];
                let i = order.iter().position(|s| *s == self.scope).unwrap_or(0);
                let step = if key.code == KeyCode::Right {
                    1
                } else {
                    order.len() - 1
                };
                self.scope = order[(i + step) % order.len()];
                self.subject = match self.scope {
                    ScopeKind::User => self.selected_user,
                    _ => 0,
                };
            }
            KeyCode::Left | KeyCode::Right if self.focus == Field::Subject => {
                let n = self.subjects(app).len().max(1);
                let step = if key.code == KeyCode::Right { 1 } else { n - 1 };
                self.subject = (self.subject + step) % n;
            }
            KeyCode::Enter => match self.scope(app) {
                Ok(scope) => {
                    let label = match self.label.value().trim() {
                        "" => "dashboard".to_owned(),
                        l => l.to_owned(),
                    };
                    return Outcome::CloseWith(Cmd::CreateToken { scope, label });
                }
                Err(e) => self.error = Some(e),
            },
            _ if self.focus == Field::Label => {
                self.label.handle_event(&Event::Key(*key));
            }
            _ => {}
        }
        Outcome::Keep
    }

    fn scope(&self, app: &App) -> Result<TokenScope, String> {
        match self.scope {
            ScopeKind::OrgWide => Ok(TokenScope::OrgWide),
            ScopeKind::User => app
                .users
                .get(self.subject)
                .map(|u| TokenScope::User { user: u.id.clone() })
                .ok_or_else(|| "No users yet: run a synchronization first.".to_owned()),
            ScopeKind::Team => app
                .teams
                .get(self.subject)
                .map(|t| TokenScope::Team {
                    team: t.key.clone(),
                })
                .ok_or_else(|| "No teams yet: run a synchronization first.".to_owned()),
        }
    }

    pub fn render(&self, app: &App, frame: &mut Frame) {
        let theme = app.theme;
        let title = Line::styled(" Create a Composer token ", theme.title());
        let inner = dialog(frame, 64, 10, title, theme.title());
        let [scope, subject, label, _, note, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let row = |name: &str, value: String, field: Field| {
            let style = if self.focus == field {
                theme.selected()
            } else {
                theme.dim()
            };
            Line::from(vec![
                Span::styled(format!("{name:<10} "), theme.header()),
                Span::styled(value, style),
            ])
        };
        let kind = match self.scope {
            ScopeKind::OrgWide => "org-wide: every package",
            ScopeKind::User => "user: what they may install",
            ScopeKind::Team => "team: what it may install",
        };
        frame.render_widget(
            Paragraph::new(row("Scope", format!("◂ {kind} ▸"), Field::Scope)),
            scope,
        );
        if self.scope != ScopeKind::OrgWide {
            let subjects = self.subjects(app);
            let who = subjects
                .get(self.subject)
                .cloned()
                .unwrap_or_else(|| "(none yet)".to_owned());
            frame.render_widget(
                Paragraph::new(row("For", format!("◂ {who} ▸"), Field::Subject)),
                subject,
            );
        }
        frame.render_widget(
            Paragraph::new(row("Label", self.label.value().to_owned(), Field::Label)),
            label,
        );
        if self.focus == Field::Label {
            let x = u16::try_from(self.label.visual_cursor() + 11).unwrap_or(u16::MAX);
            frame.set_cursor_position(Position::new(label.x + x, label.y));
        }
        if let Some(e) = &self.error {
            frame.render_widget(
                Paragraph::new(Line::styled(e.clone(), theme.error())).wrap(Wrap { trim: true }),
                note,
            );
        }
        frame.render_widget(
            Paragraph::new(keys_line(
                theme,
                &[
                    ("Tab", "field"),
                    ("◂ ▸", "choose"),
                    ("Enter", "create"),
                    ("Esc", "cancel"),
                ],
            )),
            footer,
        );
    }
}

/// A token just created, with its secret. Dropped (and the secret with it)
/// when the dialog closes.
pub struct Shown {
    pub token: Token,
    pub secret: Secret,
}

pub fn on_shown_key(key: &KeyEvent) -> Outcome {
    match key.code {
        KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => Outcome::Close,
        _ => Outcome::Keep,
    }
}

impl Shown {
    pub fn render(&self, theme: Theme, frame: &mut Frame) {
        let title = Line::styled(" New token: shown only this once ", theme.warning());
        let inner = dialog(frame, 72, 12, title, theme.warning());
        let lines = vec![
            Line::raw(format!(
                "Token {} ({}), {}",
                self.token.id,
                self.token.label,
                scope_text(&self.token.scope)
            )),
            Line::default(),
            Line::styled(self.secret.expose().to_owned(), theme.ok()),
            Line::default(),
            Line::raw(
                "Copy it now: this is the only time it is shown. packyard keeps only its hash. Use it as the http-basic password (or bearer) in Composer's auth.json.",
            ),
            Line::default(),
            keys_line(theme, &[("Esc", "close")]),
        ];
        frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    }
}

/// "org-wide", "user alice", "team acme-github/backend".
pub fn scope_text(scope: &TokenScope) -> String {
    match scope {
        TokenScope::OrgWide => "org-wide".to_owned(),
        TokenScope::Team { team } => format!("team {}/{}", team.sync, team.remote),
        TokenScope::User { user } => format!("user {user}"),
    }
}
