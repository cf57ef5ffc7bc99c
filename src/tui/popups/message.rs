//! A scrollable read-only dialog: run details, package versions, a refusal.

use super::{Outcome, dialog, keys_line, wrapped_rows};
use crate::domain::SyncId;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

pub struct Message {
    pub title: String,
    pub lines: Vec<String>,
    /// True for a refusal or an error: drawn in the error style.
    pub error: bool,
    pub scroll: u16,
}

impl Message {
    pub fn new(title: impl Into<String>, lines: Vec<String>) -> Self {
        Self {
            title: title.into(),
            lines,
            error: false,
            scroll: 0,
        }
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> Outcome {
        let last = u16::try_from(self.lines.len().saturating_sub(1)).unwrap_or(u16::MAX);
        match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => return Outcome::Close,
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll = (self.scroll + 1).min(last),
            KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(10),
            KeyCode::PageDown => self.scroll = self.scroll.saturating_add(10).min(last),
            _ => {}
        }
        Outcome::Keep
    }

    pub fn render(&self, theme: Theme, frame: &mut Frame) {
        let style = if self.error {
            theme.error()
        } else {
            theme.title()
        };
        let height = wrapped_rows(frame, 76, &self.lines).saturating_add(4);
        let inner = dialog(
            frame,
            76,
            height,
            Line::styled(format!(" {} ", self.title), style),
            style,
        );
        let [body, footer] = ratatui::layout::Layout::vertical([
            ratatui::layout::Constraint::Min(1),
            ratatui::layout::Constraint::Length(1),
        ])
        .areas(inner);
        let lines: Vec<Line> = self.lines.iter().map(|l| Line::raw(l.as_str())).collect();
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((self.scroll, 0)),
            body,
        );
        frame.render_widget(
            Paragraph::new(keys_line(theme, &[("↑↓", "scroll"), ("Esc", "close")])),
            footer,
        );
    }
}

/// The engine refused to delete `sync` (it is the primary): why, and the way out here.
pub fn refused(sync: &SyncId, reason: &str) -> Message {
    Message {
        title: format!("Cannot delete {sync}"),
        lines: vec![
            reason.to_owned(),
            String::new(),
            format!(
                "In this dashboard: select another synchronization, press p to promote it, then select {sync} and press d again."
            ),
        ],
        error: true,
        scroll: 0,
    }
}
