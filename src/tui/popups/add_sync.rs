//! The add-synchronization form. Submitting checks the fields here, then
//! asks the admin API, which checks the credentials at the host; a host
//! error comes back into the form.

use super::{Outcome, dialog, keys_line};
use crate::admin::NewSync;
use crate::domain::{Credential, ProviderKind, Secret, SyncId};
use crate::tui::app::Cmd;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Position};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

const PROVIDERS: [ProviderKind; 4] = [
    ProviderKind::Github,
    ProviderKind::Gitlab,
    ProviderKind::BitbucketCloud,
    ProviderKind::BitbucketServer,
];

fn default_api_url(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Github => "https://api.github.com",
        ProviderKind::Gitlab => "https://gitlab.com/api/v4",
        ProviderKind::BitbucketCloud => "https://api.bitbucket.org/2.0",
        // Self-hosted only: there is no default instance.
        ProviderKind::BitbucketServer => "https://",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Provider,
    Name,
    Org,
    ApiUrl,
    Username,
    Token,
}

pub struct AddSyncForm {
    pub provider: ProviderKind,
    pub name: Input,
    pub org: Input,
    pub api_url: Input,
    pub username: Input,
    pub token: Input,
    pub focus: Field,
    pub error: Option<String>,
    /// Waiting for the host to answer.
    pub submitting: bool,
}

impl Default for AddSyncForm {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Github,
            name: Input::default(),
            org: Input::default(),
            api_url: Input::new(default_api_url(ProviderKind::Github).to_owned()),
            username: Input::default(),
            token: Input::default(),
            focus: Field::Provider,
            error: None,
            submitting: false,
        }
    }
}

impl AddSyncForm {
    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![Field::Provider, Field::Name, Field::Org, Field::ApiUrl];
        if matches!(
            self.provider,
            ProviderKind::BitbucketCloud | ProviderKind::BitbucketServer
        ) {
            fields.push(Field::Username);
        }
        fields.push(Field::Token);
        fields
    }

    fn org_label(&self) -> &'static str {
        match self.provider {
            ProviderKind::Github => "Organization",
            ProviderKind::Gitlab => "Group",
            ProviderKind::BitbucketCloud => "Workspace",
            ProviderKind::BitbucketServer => "Project keys",
        }
    }

    fn input(&mut self, field: Field) -> Option<&mut Input> {
        match field {
            Field::Provider => None,
            Field::Name => Some(&mut self.name),
            Field::Org => Some(&mut self.org),
            Field::ApiUrl => Some(&mut self.api_url),
            Field::Username => Some(&mut self.username),
            Field::Token => Some(&mut self.token),
        }
    }

    fn move_focus(&mut self, forward: bool) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0);
        let next = if forward {
            (at + 1) % fields.len()
        } else {
            (at + fields.len() - 1) % fields.len()
        };
        self.focus = fields[next];
    }

    fn cycle_provider(&mut self, forward: bool) {
        let at = PROVIDERS
            .iter()
            .position(|p| *p == self.provider)
            .unwrap_or(0);
        let next = if forward {
            at + 1
        } else {
            at + PROVIDERS.len() - 1
        } % PROVIDERS.len();
        // Keep a URL the admin typed; replace only the previous default.
        if self.api_url.value() == default_api_url(self.provider) {
            self.api_url = Input::new(default_api_url(PROVIDERS[next]).to_owned());
        }
        self.provider = PROVIDERS[next];
    }

    pub fn failed(&mut self, error: String) {
        self.submitting = false;
        self.error = Some(error);
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> Outcome {
        if self.submitting {
            return match key.code {
                KeyCode::Esc => Outcome::Close,
                _ => Outcome::Keep,
            };
        }
        match key.code {
            KeyCode::Esc => return Outcome::Close,
            KeyCode::Tab | KeyCode::Down => self.move_focus(true),
            KeyCode::BackTab | KeyCode::Up => self.move_focus(false),
            KeyCode::Enter => match self.validate() {
                Ok(new) => {
                    self.error = None;
                    self.submitting = true;
                    return Outcome::KeepWith(Cmd::AddSync(new));
                }
                Err(e) => self.error = Some(e),
            },
            KeyCode::Left | KeyCode::Right if self.focus == Field::Provider => {
                self.cycle_provider(key.code == KeyCode::Right);
            }
            _ => {
                let focus = self.focus;
                if let Some(input) = self.input(focus) {
                    input.handle_event(&Event::Key(*key));
                }
            }
        }
        Outcome::Keep
    }

    /// The new sync, or what to fix.
    pub fn validate(&self) -> Result<NewSync, String> {
        let id = SyncId::new(self.name.value().trim()).map_err(|e| format!("Name: {e}"))?;
        let org = match self.provider {
            // Project keys as the CLI stores them: comma-separated, no spaces.
            ProviderKind::BitbucketServer => self
                .org
                .value()
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .collect::<Vec<_>>()
                .join(","),
            _ => self.org.value().trim().to_owned(),
        };
        if org.is_empty() && self.provider != ProviderKind::BitbucketServer {
            return Err(format!("{} is required.", self.org_label()));
        }
        let api_url = self.api_url.value().trim().trim_end_matches('/').to_owned();
        let host = api_url
            .strip_prefix("https://")
            .or_else(|| api_url.strip_prefix("http://"));
        if host.is_none_or(str::is_empty) {
            return Err("API URL: give the full URL, starting with https://".to_owned());
        }
        let token = self.token.value().trim();
        if token.is_empty() {
            return Err(
                "Token is required; packyard checks it at the host before saving.".to_owned(),
            );
        }
        let username = self.username.value().trim();
        let credential = if username.is_empty() || !self.fields().contains(&Field::Username) {
            Credential::Token(Secret::new(token))
        } else {
            Credential::Basic {
                username: username.to_owned(),
                password: Secret::new(token),
            }
        };
        Ok(NewSync {
            id,
            provider: self.provider,
            api_url,
            org,
            credential,
        })
    }

    pub fn render(&self, theme: Theme, frame: &mut Frame) {
        let title = Line::styled(" Add a synchronization ", theme.title());
        let inner = dialog(frame, 72, 16, title, theme.title());
        let fields = self.fields();
        let mut constraints: Vec<Constraint> =
            fields.iter().map(|_| Constraint::Length(1)).collect();
        constraints.push(Constraint::Length(1));
        constraints.push(Constraint::Min(2));
        constraints.push(Constraint::Length(1));
        let rows = Layout::vertical(constraints).split(inner);
        let label_width = 14;
        for (i, field) in fields.iter().enumerate() {
            let focused = *field == self.focus;
            let (label, value, input) = match field {
                Field::Provider => ("Provider", format!("◂ {} ▸", self.provider), None),
                Field::Name => ("Name", self.name.value().to_owned(), Some(&self.name)),
                Field::Org => (
                    self.org_label(),
                    self.org.value().to_owned(),
                    Some(&self.org),
                ),
                Field::ApiUrl => (
                    "API URL",
                    self.api_url.value().to_owned(),
                    Some(&self.api_url),
                ),
                Field::Username => (
                    "Username",
                    self.username.value().to_owned(),
                    Some(&self.username),
                ),
                // Masked: the token never appears on screen.
                Field::Token => (
                    "Token",
                    "•".repeat(self.token.value().chars().count()),
                    Some(&self.token),
                ),
            };
            let width = usize::from(rows[i].width).saturating_sub(label_width + 1);
            let scroll = input.map_or(0, |i| i.visual_scroll(width));
            let shown: String = value.chars().skip(scroll).collect();
            let style = if focused {
                theme.selected()
            } else {
                theme.dim()
            };
            let line = Line::from(vec![
                Span::styled(format!("{label:<w$} ", w = label_width), theme.header()),
                Span::styled(format!("{shown:<width$}"), style),
            ]);
            frame.render_widget(Paragraph::new(line), rows[i]);
            if focused && let Some(input) = input {
                let x = input.visual_cursor().saturating_sub(scroll);
                let x = u16::try_from(x + label_width + 1).unwrap_or(u16::MAX);
                frame.set_cursor_position(Position::new(rows[i].x + x, rows[i].y));
            }
        }
        let n = fields.len();
        let note = match (&self.error, self.submitting) {
            (_, true) => Line::styled("Checking the credentials at the host…", theme.running()),
            (Some(e), false) => Line::styled(e.clone(), theme.error()),
            (None, false) => Line::styled(self.hint(), theme.dim()),
        };
        frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: true }), rows[n + 1]);
        frame.render_widget(
            Paragraph::new(keys_line(
                theme,
                &[
                    ("Tab ↑↓", "field"),
                    ("◂ ▸", "provider"),
                    ("Enter", "add"),
                    ("Esc", "cancel"),
                ],
            )),
            rows[n + 2],
        );
    }

    fn hint(&self) -> String {
        match self.provider {
            ProviderKind::Github => "GitHub Enterprise Server: API URL https://HOST/api/v3. Token: read org members and repositories.",
            ProviderKind::Gitlab => "GitLab Self-Managed: API URL https://HOST/api/v4. Subgroups are included.",
            ProviderKind::BitbucketCloud => "Username: your Atlassian email with an API token; empty for a workspace access token.",
            ProviderKind::BitbucketServer => "Project keys: comma-separated, empty = all visible. Username only with a password.",
        }
        .to_owned()
    }
}
