//! Confirmation of a destructive action, with a preview of what it does.
//! Only `y` confirms: Enter is what people press without reading, so it
//! only points at `y`.

use super::{Outcome, dialog, keys_line, wrapped_rows};
use crate::admin::{OwnerChange, SyncRemoval};
use crate::domain::{PackageName, SyncId, Token, UserId};
use crate::tui::app::Cmd;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

/// What `y` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    RunConfirmingRemovals(SyncId),
    Promote(SyncId),
    RemoveSync(SyncId),
    RemovePackages(Vec<PackageName>),
    RevokeToken(String),
}

impl Pending {
    fn cmd(self) -> Cmd {
        match self {
            Pending::RunConfirmingRemovals(id) => Cmd::RunSyncConfirmingRemovals(id),
            Pending::Promote(id) => Cmd::Promote(id),
            Pending::RemoveSync(id) => Cmd::RemoveSync(id),
            Pending::RemovePackages(names) => Cmd::RemovePackages(names),
            Pending::RevokeToken(id) => Cmd::RevokeToken(id),
        }
    }
}

pub struct Confirm {
    pub title: String,
    pub lines: Vec<String>,
    pub pending: Pending,
    /// Set when Enter was pressed: the footer then says that `y` confirms.
    pub nudged: bool,
    pub scroll: u16,
}

impl Confirm {
    fn new(title: String, lines: Vec<String>, pending: Pending) -> Self {
        Self {
            title,
            lines,
            pending,
            nudged: false,
            scroll: 0,
        }
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> Outcome {
        let last = u16::try_from(self.lines.len().saturating_sub(1)).unwrap_or(u16::MAX);
        match key.code {
            KeyCode::Char('y' | 'Y') => return Outcome::CloseWith(self.pending.clone().cmd()),
            KeyCode::Esc | KeyCode::Char('q' | 'n' | 'N') => return Outcome::Close,
            KeyCode::Enter => self.nudged = true,
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll = (self.scroll + 1).min(last),
            _ => {}
        }
        Outcome::Keep
    }

    pub fn render(&self, theme: Theme, frame: &mut Frame) {
        let height = wrapped_rows(frame, 72, &self.lines).saturating_add(5);
        let title = Line::styled(format!(" {} ", self.title), theme.warning());
        let inner = dialog(frame, 72, height, title, theme.warning());
        let [body, nudge, footer] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(inner);
        let lines: Vec<Line> = self.lines.iter().map(|l| Line::raw(l.as_str())).collect();
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0)),
            body,
        );
        if self.nudged {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    "Enter does not confirm: press y to go ahead.",
                    theme.error(),
                )),
                nudge,
            );
        }
        frame.render_widget(
            Paragraph::new(keys_line(
                theme,
                &[("y", "confirm"), ("n / Esc", "cancel"), ("↑↓", "scroll")],
            )),
            footer,
        );
    }
}

fn names(users: &[UserId]) -> String {
    if users.is_empty() {
        return "nobody".to_owned();
    }
    users
        .iter()
        .map(UserId::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run_confirming_removals(sync: &SyncId, last_error: Option<&str>) -> Confirm {
    let mut lines = vec![
        "This run may remove more than half of the synchronization's packages or team memberships, which runs otherwise refuse to do.".to_owned(),
        "Check first at the host that the repositories and teams are really gone (and not just hidden from packyard's token).".to_owned(),
    ];
    if let Some(error) = last_error {
        lines.push(String::new());
        lines.push(format!("Last run: {error}"));
    }
    Confirm::new(
        format!("Run {sync} allowing removals?"),
        lines,
        Pending::RunConfirmingRemovals(sync.clone()),
    )
}

pub fn promote(sync: &SyncId, change: &OwnerChange) -> Confirm {
    let mut lines = vec![
        format!("{sync}'s remote owners/admins become packyard's only owners/admins."),
        String::new(),
        format!(
            "Gain owner/admin access ({}): {}",
            change.gain.len(),
            names(&change.gain)
        ),
        format!(
            "Lose owner/admin access ({}): {}",
            change.lose.len(),
            names(&change.lose)
        ),
        format!(
            "Keep owner/admin access ({}): {}",
            change.keep.len(),
            names(&change.keep)
        ),
    ];
    if !change.lose.is_empty() {
        lines.push(String::new());
        lines.push(format!(
            "Those who lose access have no identity among {sync}'s owners/admins. To restore it, link one: packyard user link USER {sync}:LOGIN"
        ));
    }
    Confirm::new(
        format!("Promote {sync} to primary?"),
        lines,
        Pending::Promote(sync.clone()),
    )
}

pub fn remove_sync(sync: &SyncId, removal: &SyncRemoval) -> Confirm {
    let mut lines = vec![format!("Removes {} teams:", removal.teams.len())];
    lines.extend(removal.teams.iter().map(|t| format!("  - {t}")));
    lines.push(format!(
        "Removes {} identities (their users keep other identities).",
        removal.identities
    ));
    lines.push(format!(
        "Keeps {} packages (delete them in Packages, s filters by origin):",
        removal.packages_kept.len()
    ));
    lines.extend(removal.packages_kept.iter().map(|p| format!("  + {p}")));
    Confirm::new(
        format!("Delete synchronization {sync}?"),
        lines,
        Pending::RemoveSync(sync.clone()),
    )
}

pub fn remove_packages(names: Vec<PackageName>) -> Confirm {
    let mut lines = vec![format!(
        "These {} packages and all their versions will be removed; Composer will no longer find them:",
        names.len()
    )];
    lines.extend(names.iter().map(|n| format!("  - {n}")));
    Confirm::new(
        format!("Delete {} packages?", names.len()),
        lines,
        Pending::RemovePackages(names),
    )
}

pub fn revoke(token: &Token) -> Confirm {
    Confirm::new(
        format!("Revoke token {}?", token.id),
        vec![
            format!(
                "Token {} ({}) stops working at once.",
                token.id, token.label
            ),
            "Composer clients using it will get HTTP 401.".to_owned(),
        ],
        Pending::RevokeToken(token.id.clone()),
    )
}
