//! Pane 5: a live log of engine events and admin actions, newest first.

use super::{Cursor, fit, window};
use crate::domain::Timestamp;
use crate::tui::app::App;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::VecDeque;

/// Entries kept; older ones are dropped (the log file keeps everything).
const KEPT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Info,
    Ok,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: Timestamp,
    pub tone: Tone,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct ActivityLog {
    /// Newest first.
    pub entries: VecDeque<Entry>,
    pub cursor: Cursor,
}

impl ActivityLog {
    pub fn push(&mut self, at: Timestamp, tone: Tone, text: String) {
        self.entries.push_front(Entry { at, tone, text });
        self.entries.truncate(KEPT);
        // Stay on the entry being read while new ones arrive above it.
        if self.cursor.0 > 0 {
            self.cursor.0 = (self.cursor.0 + 1).min(self.entries.len() - 1);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// `HH:MM:SS` in UTC, like the log file.
fn clock(at: Timestamp) -> String {
    let secs = at.0.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme;
    let log = &app.activity;
    if log.is_empty() {
        frame.render_widget(
            Paragraph::new("Nothing yet: sync runs and admin actions appear here.")
                .style(theme.dim()),
            area,
        );
        return;
    }
    let range = window(log.cursor.0, log.len(), usize::from(area.height));
    let width = usize::from(area.width).saturating_sub(10);
    let lines: Vec<Line> = log
        .entries
        .range(range.clone())
        .enumerate()
        .map(|(i, e)| {
            let style = match e.tone {
                Tone::Info => ratatui::style::Style::new(),
                Tone::Ok => theme.ok(),
                Tone::Warning => theme.warning(),
                Tone::Error => theme.error(),
            };
            let line = Line::from(vec![
                Span::styled(format!("{} ", clock(e.at)), theme.dim()),
                Span::styled(fit(&e.text, width), style),
            ]);
            if range.start + i == log.cursor.0 && log.cursor.0 > 0 {
                line.style(theme.selected())
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}
