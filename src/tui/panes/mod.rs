//! The five panes. Each module holds its pane's view state (selection,
//! filters), what its keys do, and how it is drawn from [`App`].

pub mod activity;
pub mod packages;
pub mod syncs;
pub mod teams;
pub mod users;

use super::keymap::Action;
use crate::domain::{SyncId, Timestamp};
use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Syncs,
    Teams,
    Packages,
    Users,
    Activity,
}

impl Pane {
    pub const ALL: [Pane; 5] = [
        Pane::Syncs,
        Pane::Teams,
        Pane::Packages,
        Pane::Users,
        Pane::Activity,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Syncs => "Synchronizations",
            Pane::Teams => "Teams",
            Pane::Packages => "Packages",
            Pane::Users => "Users & tokens",
            Pane::Activity => "Activity",
        }
    }

    pub fn index(self) -> usize {
        Pane::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    pub fn next(self) -> Pane {
        Pane::ALL[(self.index() + 1) % Pane::ALL.len()]
    }

    pub fn prev(self) -> Pane {
        Pane::ALL[(self.index() + Pane::ALL.len() - 1) % Pane::ALL.len()]
    }
}

/// Rows a page key moves. The real page height is only known when drawing,
/// and `update` must not depend on drawing.
const PAGE: usize = 10;

/// The selected row of a list.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub usize);

impl Cursor {
    /// Moves for a navigation action; false when `action` is not one.
    pub fn apply(&mut self, action: Action, len: usize) -> bool {
        let last = len.saturating_sub(1);
        self.0 = match action {
            Action::Up => self.0.saturating_sub(1),
            Action::Down => (self.0 + 1).min(last),
            Action::PageUp => self.0.saturating_sub(PAGE),
            Action::PageDown => (self.0 + PAGE).min(last),
            Action::Top => 0,
            Action::Bottom => last,
            _ => return false,
        };
        true
    }

    pub fn clamp(&mut self, len: usize) {
        self.0 = self.0.min(len.saturating_sub(1));
    }
}

/// The rows to draw so that `selected` stays visible in `height` rows.
/// Only these rows are built each frame, however long the list.
pub fn window(selected: usize, len: usize, height: usize) -> Range<usize> {
    let height = height.max(1);
    let start = (selected + 1).saturating_sub(height);
    start..(start + height).min(len)
}

/// "42s ago", "5m ago", "3h ago", "12d ago": short enough for a column.
pub fn ago(now: Timestamp, then: Timestamp) -> String {
    let secs = (now.0 - then.0).max(0);
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// Cuts `text` to `width` characters, ending with … when cut.
pub fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The filter after `current`: all (`None`), then each of `ids` in order.
pub fn cycle(ids: &[SyncId], current: Option<&SyncId>) -> Option<SyncId> {
    match current {
        None => ids.first().cloned(),
        Some(id) => ids
            .iter()
            .position(|s| s == id)
            .and_then(|i| ids.get(i + 1).cloned()),
    }
}
