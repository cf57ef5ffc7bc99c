//! Snapshot tests: each pane, the help overlay and every dialog drawn at
//! 80x24 on ratatui's `TestBackend`. Times come from the sample's fixed
//! clock and the token secret is a fixed fake, so the snapshots are stable.
//! Accept changes with `INSTA_UPDATE=always cargo test --lib tui`.

use super::app::{App, Msg, Reply};
use super::render;
use super::sample::{self, package_name, sync_id};
use crate::admin::{EngineEvent, OwnerChange, SyncRemoval};
use crate::domain::{Secret, UserId};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

fn draw(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    terminal.draw(|frame| render(app, frame)).expect("draw");
    terminal.backend().to_string()
}

fn keys(app: &mut App, keys: &str) {
    for c in keys.chars() {
        app.update(Msg::Key(KeyEvent::new(
            KeyCode::Char(c),
            KeyModifiers::NONE,
        )));
    }
}

fn press(app: &mut App, code: KeyCode) {
    app.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

macro_rules! snapshot {
    ($name:literal, $app:expr) => {
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!($name, draw(&$app));
        });
    };
}

#[test]
fn pane_syncs() {
    snapshot!("pane_syncs", sample::app());
}

#[test]
fn pane_syncs_running() {
    let mut app = sample::app();
    let sync = sync_id("acme-gitlab");
    app.update(Msg::Engine(EngineEvent::SyncStarted { sync: sync.clone() }));
    app.update(Msg::Engine(EngineEvent::PhaseChanged {
        sync,
        phase: "repositories".to_owned(),
        done: 3,
        total: 8,
    }));
    keys(&mut app, "j");
    snapshot!("pane_syncs_running", app);
}

#[test]
fn pane_teams() {
    snapshot!("pane_teams", {
        let mut app = sample::app();
        keys(&mut app, "2");
        app
    });
}

#[test]
fn pane_packages() {
    let mut app = sample::app();
    keys(&mut app, "3 ");
    snapshot!("pane_packages", app);
}

#[test]
fn pane_packages_filtered() {
    let mut app = sample::app();
    keys(&mut app, "3/c");
    snapshot!("pane_packages_filtered", app);
}

#[test]
fn pane_users() {
    let mut app = sample::app();
    keys(&mut app, "4");
    snapshot!("pane_users", app);
}

#[test]
fn pane_activity() {
    let mut app = sample::app();
    app.update(Msg::Notice(
        "simulated push: tag v1.1.3 on acme/log".to_owned(),
    ));
    app.update(Msg::Engine(EngineEvent::SyncStarted {
        sync: sync_id("acme-github"),
    }));
    app.update(Msg::Engine(EngineEvent::SyncFailed {
        sync: sync_id("acme-github"),
        error: "cannot reach api.github.com: timed out".to_owned(),
    }));
    keys(&mut app, "5");
    snapshot!("pane_activity", app);
}

#[test]
fn help_overlay() {
    let mut app = sample::app();
    keys(&mut app, "3?");
    snapshot!("help_overlay_packages", app);
}

#[test]
fn dialog_delete_packages() {
    let mut app = sample::app();
    keys(&mut app, "3  d");
    press(&mut app, KeyCode::Enter);
    snapshot!("dialog_delete_packages", app);
}

#[test]
fn dialog_promote() {
    let mut app = sample::app();
    keys(&mut app, "j");
    let change = OwnerChange {
        gain: vec![UserId::parse("carol")],
        lose: vec![UserId::parse("bob")],
        keep: vec![UserId::parse("alice")],
    };
    app.update(Msg::Reply(Reply::PromotePreview(
        sync_id("acme-gitlab"),
        change,
    )));
    snapshot!("dialog_promote", app);
}

#[test]
fn dialog_delete_sync() {
    let mut app = sample::app();
    keys(&mut app, "j");
    let removal = SyncRemoval {
        teams: vec!["backend".to_owned()],
        identities: 1,
        packages_kept: vec![package_name("acme/billing")],
    };
    app.update(Msg::Reply(Reply::RemoveSyncPreview(
        sync_id("acme-gitlab"),
        removal,
    )));
    snapshot!("dialog_delete_sync", app);
}

#[test]
fn dialog_primary_refused() {
    let mut app = sample::app();
    let reason = "acme-github is the primary synchronization: its remote owners and admins are packyard's owners and admins. Promote another synchronization first (`packyard sync promote NAME`), then remove this one";
    app.update(Msg::Reply(Reply::RemoveSyncRefused(
        sync_id("acme-github"),
        reason.to_owned(),
    )));
    snapshot!("dialog_primary_refused", app);
}

#[test]
fn form_add_sync_error() {
    let mut app = sample::app();
    keys(&mut app, "a");
    press(&mut app, KeyCode::Tab);
    keys(&mut app, "Acme!");
    press(&mut app, KeyCode::Enter);
    snapshot!("form_add_sync_error", app);
}

#[test]
fn form_add_sync_host_error() {
    let mut app = sample::app();
    keys(&mut app, "a");
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Right);
    for (field, text) in [
        (1, "acme-bb"),
        (1, "acme"),
        (2, "me@acme.test"),
        (1, "secret"),
    ] {
        for _ in 0..field {
            press(&mut app, KeyCode::Tab);
        }
        keys(&mut app, text);
    }
    press(&mut app, KeyCode::Enter);
    app.update(Msg::Reply(Reply::AddSyncFailed(
        "Bitbucket answered 401 Unauthorized: check the username and API token".to_owned(),
    )));
    snapshot!("form_add_sync_host_error", app);
}

#[test]
fn dialog_token_shown() {
    let mut app = sample::app();
    let token = sample::tokens().remove(0);
    app.update(Msg::Reply(Reply::TokenCreated(
        token,
        Secret::new("pky_FAKE_SECRET_FOR_SNAPSHOTS_0000000000000"),
    )));
    snapshot!("dialog_token_shown", app);
}

#[test]
fn dialog_versions() {
    let mut app = sample::app();
    keys(&mut app, "3jj");
    let versions = ["v1.1.2", "v1.1.0", "dev-main"]
        .iter()
        .enumerate()
        .map(|(i, v)| crate::domain::Version {
            package: package_name("acme/log"),
            version: (*v).to_owned(),
            normalized: (*v).to_owned(),
            kind: if v.starts_with("dev-") {
                crate::domain::VersionKind::Branch
            } else {
                crate::domain::VersionKind::Tag
            },
            ref_name: (*v).to_owned(),
            commit: format!("{i}").repeat(40),
            default_branch: v.starts_with("dev-"),
            manifest: serde_json::Map::new(),
        })
        .collect();
    app.update(Msg::Reply(Reply::Versions(
        package_name("acme/log"),
        versions,
    )));
    snapshot!("dialog_versions", app);
}
