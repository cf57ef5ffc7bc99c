//! Which key does what, per pane. One table serves both dispatch and the
//! `?` help overlay, so the help can never drift from the behaviour.

use super::panes::Pane;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for, before the app decides what that means now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    NextPane,
    PrevPane,
    ShowPane(Pane),
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Add,
    Run,
    RunConfirmingRemovals,
    Promote,
    Delete,
    Details,
    Filter,
    CycleSync,
    Mark,
    CreateToken,
    Revoke,
    FocusNext,
}

pub struct Binding {
    pub code: KeyCode,
    pub action: Action,
    /// How the help shows the key; empty for aliases listed with another key.
    pub keys: &'static str,
    pub help: &'static str,
}

const fn bind(code: KeyCode, action: Action, keys: &'static str, help: &'static str) -> Binding {
    Binding {
        code,
        action,
        keys,
        help,
    }
}

const fn alias(code: KeyCode, action: Action) -> Binding {
    bind(code, action, "", "")
}

use Action as A;
use KeyCode::{BackTab, Char, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up};

const GLOBAL: &[Binding] = &[
    bind(Tab, A::NextPane, "Tab / S-Tab", "next / previous pane"),
    alias(BackTab, A::PrevPane),
    bind(Char('1'), A::ShowPane(Pane::Syncs), "1-5", "go to a pane"),
    alias(Char('2'), A::ShowPane(Pane::Teams)),
    alias(Char('3'), A::ShowPane(Pane::Packages)),
    alias(Char('4'), A::ShowPane(Pane::Users)),
    alias(Char('5'), A::ShowPane(Pane::Activity)),
    bind(Up, A::Up, "↑ ↓ / k j", "move the selection"),
    alias(Down, A::Down),
    alias(Char('k'), A::Up),
    alias(Char('j'), A::Down),
    bind(PageUp, A::PageUp, "PgUp PgDn", "move by a page"),
    alias(PageDown, A::PageDown),
    bind(Home, A::Top, "Home End / g G", "first / last"),
    alias(End, A::Bottom),
    alias(Char('g'), A::Top),
    alias(Char('G'), A::Bottom),
    bind(Char('?'), A::Help, "?", "this help"),
    bind(Char('q'), A::Quit, "q / Esc", "close the dialog, else quit"),
    alias(Esc, A::Quit),
];

const SYNCS: &[Binding] = &[
    bind(Char('a'), A::Add, "a", "add a synchronization"),
    bind(
        Char('r'),
        A::Run,
        "r",
        "run the selected synchronization now",
    ),
    bind(
        Char('R'),
        A::RunConfirmingRemovals,
        "R",
        "run, allowing it to remove more than half (asks first)",
    ),
    bind(
        Char('p'),
        A::Promote,
        "p",
        "promote to primary (shows who gains/loses access)",
    ),
    bind(
        Char('d'),
        A::Delete,
        "d",
        "delete (previews what goes and what stays)",
    ),
    bind(Enter, A::Details, "Enter", "details of the last run"),
];

const TEAMS: &[Binding] = &[bind(
    Char('s'),
    A::CycleSync,
    "s",
    "show teams of the next sync",
)];

const PACKAGES: &[Binding] = &[
    bind(
        Char('/'),
        A::Filter,
        "/",
        "filter by name (Enter keeps, Esc clears)",
    ),
    bind(
        Char('s'),
        A::CycleSync,
        "s",
        "filter by origin sync (cycles)",
    ),
    bind(Char(' '), A::Mark, "Space", "mark / unmark"),
    bind(
        Char('d'),
        A::Delete,
        "d",
        "delete the marked (or selected) packages",
    ),
    bind(
        Enter,
        A::Details,
        "Enter",
        "versions and their dist references",
    ),
];

const USERS: &[Binding] = &[
    bind(
        Left,
        A::FocusNext,
        "← → / h l",
        "switch between users and tokens",
    ),
    alias(Right, A::FocusNext),
    alias(Char('h'), A::FocusNext),
    alias(Char('l'), A::FocusNext),
    bind(
        Char('c'),
        A::CreateToken,
        "c",
        "create a token (shown once)",
    ),
    bind(Char('x'), A::Revoke, "x", "revoke the selected token"),
];

fn pane_bindings(pane: Pane) -> &'static [Binding] {
    match pane {
        Pane::Syncs => SYNCS,
        Pane::Teams => TEAMS,
        Pane::Packages => PACKAGES,
        Pane::Users => USERS,
        Pane::Activity => &[],
    }
}

/// The action of `key` on `pane`: the pane's own keys first, then the global ones.
pub fn action_for(pane: Pane, key: &KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return (key.code == Char('c')).then_some(A::Quit);
    }
    pane_bindings(pane)
        .iter()
        .chain(GLOBAL)
        .find(|b| b.code == key.code)
        .map(|b| b.action)
}

/// `(keys, what they do)` lines of the help overlay.
pub type HelpLines = Vec<(&'static str, &'static str)>;

/// The help overlay's lines: the pane's keys, then the global ones.
pub fn help_for(pane: Pane) -> (HelpLines, HelpLines) {
    let listed = |bindings: &'static [Binding]| {
        bindings
            .iter()
            .filter(|b| !b.keys.is_empty())
            .map(|b| (b.keys, b.help))
            .collect()
    };
    (listed(pane_bindings(pane)), listed(GLOBAL))
}
