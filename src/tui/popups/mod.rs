//! Dialogs drawn over the panes. While one is open it receives every key;
//! `q`/Esc closes it. Destructive confirmations accept only `y`.

pub mod add_sync;
pub mod confirm;
pub mod help;
pub mod message;
pub mod token;

use super::app::{App, Cmd};
use super::panes::Pane;
use super::theme::Theme;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear};

pub enum Popup {
    Help(Pane),
    Confirm(confirm::Confirm),
    Message(message::Message),
    // Boxed: five inputs make the form far larger than the other dialogs.
    AddSync(Box<add_sync::AddSyncForm>),
    NewToken(token::TokenForm),
    TokenShown(token::Shown),
}

/// What a key did to the open dialog.
#[derive(Debug)]
pub enum Outcome {
    Keep,
    KeepWith(Cmd),
    Close,
    CloseWith(Cmd),
}

impl Popup {
    pub fn on_key(&mut self, key: &KeyEvent, app: &App) -> Outcome {
        match self {
            Popup::Help(_) => help::on_key(key),
            Popup::Confirm(c) => c.on_key(key),
            Popup::Message(m) => m.on_key(key),
            Popup::AddSync(form) => form.on_key(key),
            Popup::NewToken(form) => form.on_key(key, app),
            Popup::TokenShown(_) => token::on_shown_key(key),
        }
    }
}

pub fn render(app: &App, frame: &mut Frame) {
    let Some(popup) = &app.popup else {
        return;
    };
    let theme = app.theme;
    match popup {
        Popup::Help(pane) => help::render(*pane, theme, frame),
        Popup::Confirm(c) => c.render(theme, frame),
        Popup::Message(m) => m.render(theme, frame),
        Popup::AddSync(form) => form.render(theme, frame),
        Popup::NewToken(form) => form.render(app, frame),
        Popup::TokenShown(shown) => shown.render(theme, frame),
    }
}

/// Clears a centered box of at most `width` x `height` and draws its frame;
/// returns the inside.
pub fn dialog(frame: &mut Frame, width: u16, height: u16, title: Line<'_>, border: Style) -> Rect {
    let area = frame.area();
    let width = width
        .min(area.width.saturating_sub(2))
        .max(10.min(area.width));
    let height = height
        .min(area.height.saturating_sub(2))
        .max(3.min(area.height));
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(border)
        .title(title);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner
}

/// Rows `lines` take when word-wrapped into a dialog of at most `width`
/// columns on this frame, so the dialog can be sized to show them whole.
pub fn wrapped_rows(frame: &Frame, width: u16, lines: &[String]) -> u16 {
    let inner = usize::from(
        width
            .min(frame.area().width.saturating_sub(2))
            .saturating_sub(2),
    )
    .max(1);
    let rows: usize = lines.iter().map(|line| wrapped(line, inner)).sum();
    u16::try_from(rows).unwrap_or(u16::MAX)
}

/// Greedy word wrap, as the paragraph does it.
fn wrapped(line: &str, width: usize) -> usize {
    let (mut rows, mut used) = (1, 0);
    for word in line.split(' ') {
        let len = word.chars().count();
        let needed = if used == 0 { len } else { used + 1 + len };
        if needed <= width {
            used = needed;
        } else {
            rows += 1 + (len.saturating_sub(1)) / width;
            used = len % width;
        }
    }
    rows
}

/// A footer line of `key action` pairs.
pub fn keys_line(theme: Theme, pairs: &[(&str, &str)]) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (key, what)) in pairs.iter().enumerate() {
        if i > 0 {
            spans.push("  ".into());
        }
        spans.push(ratatui::text::Span::styled(key.to_string(), theme.key()));
        spans.push(format!(" {what}").into());
    }
    Line::from(spans)
}
