//! The `?` overlay: the keys of the current pane, then the global ones.

use super::{Outcome, dialog, keys_line};
use crate::tui::keymap;
use crate::tui::panes::Pane;
use crate::tui::theme::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn on_key(key: &KeyEvent) -> Outcome {
    match key.code {
        KeyCode::Esc | KeyCode::Char('q' | '?') | KeyCode::Enter => Outcome::Close,
        _ => Outcome::Keep,
    }
}

pub fn render(pane: Pane, theme: Theme, frame: &mut Frame) {
    let (own, global) = keymap::help_for(pane);
    let mut lines: Vec<Line<'static>> = Vec::new();
    if !own.is_empty() {
        section(theme, format!("{} pane", pane.title()), &own, &mut lines);
        lines.push(Line::default());
    }
    section(theme, "Everywhere".to_owned(), &global, &mut lines);
    lines.push(Line::default());
    lines.push(keys_line(theme, &[("Esc", "close")]));
    let height = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let inner = dialog(
        frame,
        70,
        height,
        Line::styled(" Keys ", theme.title()),
        theme.title(),
    );
    frame.render_widget(Paragraph::new(lines), inner);
}

fn section(
    theme: Theme,
    title: String,
    keys: &[(&'static str, &'static str)],
    lines: &mut Vec<Line<'static>>,
) {
    lines.push(Line::styled(title, theme.header()));
    for (k, what) in keys {
        lines.push(Line::from(vec![
            Span::styled(format!("  {k:<16}"), theme.key()),
            Span::raw(*what),
        ]));
    }
}
