//! `App::update` driven by messages: keys, replies and engine events in,
//! commands and state out.

use super::*;
use crate::domain::{PlanSummary, RunSummary};
use crate::tui::panes::packages;
use crate::tui::popups::confirm::Pending;
use crate::tui::sample::{self, NOW, package_name, sync_id};
use ratatui::crossterm::event::KeyModifiers;

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Types each character of `keys` as a key press; returns every command.
fn typing(app: &mut App, keys: &str) -> Vec<Cmd> {
    keys.chars()
        .flat_map(|c| app.update(key(KeyCode::Char(c))))
        .collect()
}

fn names(list: &[&str]) -> Vec<PackageName> {
    list.iter().map(|n| package_name(n)).collect()
}

fn shown_packages(app: &App) -> Vec<String> {
    app.packages_view
        .rows
        .iter()
        .map(|&i| app.packages[i].package.name.to_string())
        .collect()
}

#[test]
fn pane_switches_when_tab_shift_tab_or_digit() {
    let mut app = sample::app();
    assert_eq!(app.pane, Pane::Syncs);
    app.update(key(KeyCode::Tab));
    assert_eq!(app.pane, Pane::Teams);
    app.update(key(KeyCode::BackTab));
    app.update(key(KeyCode::BackTab));
    assert_eq!(app.pane, Pane::Activity);
    typing(&mut app, "3");
    assert_eq!(app.pane, Pane::Packages);
    typing(&mut app, "4");
    assert_eq!(app.pane, Pane::Users);
}

#[test]
fn start_loads_every_list() {
    let mut app = sample::app();
    let loads: Vec<Resource> = app
        .start()
        .into_iter()
        .filter_map(|c| match c {
            Cmd::Load(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(
        loads.len(),
        6,
        "syncs, teams, packages, users, tokens and the audit log"
    );
}

#[test]
fn packages_narrow_when_filter_typed_and_widen_when_cleared() {
    let mut app = sample::app();
    typing(&mut app, "3/lo");
    assert!(app.packages_view.editing);
    assert_eq!(shown_packages(&app), ["acme/log"]);
    // `q` is text while filtering, not quit.
    assert!(typing(&mut app, "q").is_empty());
    assert!(shown_packages(&app).is_empty());
    app.update(key(KeyCode::Backspace));
    app.update(key(KeyCode::Enter));
    assert!(!app.packages_view.editing);
    assert_eq!(shown_packages(&app), ["acme/log"]);
    typing(&mut app, "/");
    app.update(key(KeyCode::Esc));
    assert_eq!(shown_packages(&app).len(), 4);
}

#[test]
fn origin_filter_cycles_through_syncs_when_s() {
    let mut app = sample::app();
    typing(&mut app, "3s");
    assert_eq!(app.packages_view.origin, Some(sync_id("acme-github")));
    assert_eq!(
        shown_packages(&app),
        ["acme/cache", "acme/config", "acme/log"]
    );
    typing(&mut app, "s");
    assert_eq!(shown_packages(&app), ["acme/billing"]);
    typing(&mut app, "s");
    assert_eq!(app.packages_view.origin, None);
    assert_eq!(shown_packages(&app).len(), 4);
}

#[test]
fn delete_confirms_the_marked_packages_and_only_y_applies() {
    let mut app = sample::app();
    // Space marks and moves down: cache and config are marked, log is selected.
    typing(&mut app, "3  ");
    assert_eq!(app.packages_view.marked.len(), 2);
    assert!(typing(&mut app, "d").is_empty());
    let Some(Popup::Confirm(confirm)) = &app.popup else {
        panic!("no confirmation dialog");
    };
    assert_eq!(
        confirm.pending,
        Pending::RemovePackages(names(&["acme/cache", "acme/config"]))
    );
    assert!(confirm.lines.iter().any(|l| l.contains("acme/config")));
    // Enter never confirms a destructive action.
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    assert!(matches!(&app.popup, Some(Popup::Confirm(c)) if c.nudged));
    let cmds = typing(&mut app, "y");
    assert!(
        matches!(cmds.as_slice(), [Cmd::RemovePackages(n)] if *n == names(&["acme/cache", "acme/config"]))
    );
    assert!(app.popup.is_none());
}

#[test]
fn delete_targets_the_selected_package_when_none_marked() {
    let mut app = sample::app();
    typing(&mut app, "3jd");
    assert!(matches!(
        &app.popup,
        Some(Popup::Confirm(c)) if c.pending == Pending::RemovePackages(names(&["acme/config"]))
    ));
    assert!(app.update(key(KeyCode::Esc)).is_empty());
    assert!(app.popup.is_none());
}

#[test]
fn marks_of_removed_packages_are_dropped_on_reload() {
    let mut app = sample::app();
    typing(&mut app, "3 ");
    let rest: Vec<_> = sample::packages().into_iter().skip(1).collect();
    app.update(Msg::Reply(Reply::Packages(rest)));
    assert!(app.packages_view.marked.is_empty());
    packages::refresh(&mut app);
    assert_eq!(shown_packages(&app).len(), 3);
}

#[test]
fn enter_on_a_package_loads_its_versions() {
    let mut app = sample::app();
    typing(&mut app, "3");
    let cmds = app.update(key(KeyCode::Enter));
    assert!(matches!(cmds.as_slice(), [Cmd::LoadVersions(n)] if n.as_str() == "acme/cache"));
}

#[test]
fn promote_previews_then_applies_with_y() {
    let mut app = sample::app();
    typing(&mut app, "j");
    let cmds = typing(&mut app, "p");
    assert!(matches!(cmds.as_slice(), [Cmd::PreviewPromote(id)] if id.as_str() == "acme-gitlab"));
    let change = OwnerChange {
        gain: vec![crate::domain::UserId::parse("carol")],
        lose: vec![crate::domain::UserId::parse("bob")],
        keep: vec![crate::domain::UserId::parse("alice")],
    };
    app.update(Msg::Reply(Reply::PromotePreview(
        sync_id("acme-gitlab"),
        change,
    )));
    let Some(Popup::Confirm(confirm)) = &app.popup else {
        panic!("no promote dialog");
    };
    assert!(
        confirm
            .lines
            .iter()
            .any(|l| l.contains("Lose") && l.contains("bob"))
    );
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    let cmds = typing(&mut app, "y");
    assert!(matches!(cmds.as_slice(), [Cmd::Promote(id)] if id.as_str() == "acme-gitlab"));
}

#[test]
fn promote_of_the_primary_asks_nothing() {
    let mut app = sample::app();
    assert!(typing(&mut app, "p").is_empty());
    assert!(app.popup.is_none());
    assert!(
        app.flash_text()
            .is_some_and(|t| t.contains("already the primary"))
    );
}

#[test]
fn delete_of_the_primary_shows_the_refusal_and_the_way_out() {
    let mut app = sample::app();
    let cmds = typing(&mut app, "d");
    assert!(
        matches!(cmds.as_slice(), [Cmd::PreviewRemoveSync(id)] if id.as_str() == "acme-github")
    );
    let reason = "acme-github is the primary synchronization: promote another first".to_owned();
    app.update(Msg::Reply(Reply::RemoveSyncRefused(
        sync_id("acme-github"),
        reason,
    )));
    let Some(Popup::Message(m)) = &app.popup else {
        panic!("no refusal dialog");
    };
    assert!(m.error);
    assert!(m.lines.iter().any(|l| l.contains("press p to promote")));
    // Nothing to confirm: y does nothing, q closes, the next q quits.
    assert!(typing(&mut app, "y").is_empty());
    assert!(typing(&mut app, "q").is_empty());
    assert!(app.popup.is_none());
    assert!(matches!(typing(&mut app, "q").as_slice(), [Cmd::Quit]));
}

#[test]
fn delete_sync_preview_confirms_with_y() {
    let mut app = sample::app();
    typing(&mut app, "jd");
    let removal = SyncRemoval {
        teams: vec!["backend".to_owned()],
        identities: 1,
        packages_kept: names(&["acme/billing"]),
    };
    app.update(Msg::Reply(Reply::RemoveSyncPreview(
        sync_id("acme-gitlab"),
        removal,
    )));
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    let cmds = typing(&mut app, "y");
    assert!(matches!(cmds.as_slice(), [Cmd::RemoveSync(id)] if id.as_str() == "acme-gitlab"));
}

#[test]
fn esc_closes_a_dialog_then_quits() {
    let mut app = sample::app();
    typing(&mut app, "?");
    assert!(matches!(app.popup, Some(Popup::Help(Pane::Syncs))));
    assert!(app.update(key(KeyCode::Esc)).is_empty());
    assert!(app.popup.is_none());
    assert!(matches!(
        app.update(key(KeyCode::Esc)).as_slice(),
        [Cmd::Quit]
    ));
}

#[test]
fn ctrl_c_quits_from_a_dialog() {
    let mut app = sample::app();
    typing(&mut app, "a");
    let cmds = app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(matches!(cmds.as_slice(), [Cmd::Quit]));
}

#[test]
fn run_starts_the_selected_sync() {
    let mut app = sample::app();
    let cmds = typing(&mut app, "r");
    assert!(matches!(cmds.as_slice(), [Cmd::RunSync(id)] if id.as_str() == "acme-github"));
}

#[test]
fn engine_events_drive_the_run_state_and_progress() {
    let mut app = sample::app();
    let id = sync_id("acme-gitlab");
    app.update(Msg::Engine(EngineEvent::SyncStarted { sync: id.clone() }));
    assert_eq!(app.running_jobs(), 1);
    app.update(Msg::Engine(EngineEvent::PhaseChanged {
        sync: id.clone(),
        phase: "repositories".to_owned(),
        done: 3,
        total: 8,
    }));
    assert_eq!(
        app.runs.get(&id),
        Some(&RunState::Running {
            phase: "repositories".to_owned(),
            done: 3,
            total: 8
        })
    );
    let summary = RunSummary {
        started_at: NOW,
        finished_at: NOW,
        error: None,
        partial: false,
        guarded: false,
        changes: PlanSummary {
            packages_added: 1,
            ..PlanSummary::default()
        },
        problems: Vec::new(),
        conflicts: vec![],
        prefetched: 0,
        prefetch_bytes: 0,
        requests: 5,
        not_modified: 0,
        budget: None,
    };
    let cmds = app.update(Msg::Engine(EngineEvent::SyncFinished {
        sync: id.clone(),
        summary: summary.clone(),
    }));
    assert_eq!(app.running_jobs(), 0);
    assert!(!app.runs.contains_key(&id));
    assert_eq!(app.syncs[1].last_run, Some(summary));
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Load(Resource::Packages)))
    );
    assert!(app.activity.entries[0].text.contains("packages +1"));

    app.update(Msg::Engine(EngineEvent::SyncFailed {
        sync: id.clone(),
        error: "cannot reach gitlab.com".to_owned(),
    }));
    assert_eq!(
        app.runs.get(&id),
        Some(&RunState::Failed("cannot reach gitlab.com".to_owned()))
    );
    assert_eq!(app.activity.entries[0].tone, Tone::Error);
}

#[test]
fn guarded_run_is_logged_with_what_it_revoked_and_what_it_held() {
    let mut app = sample::app();
    let id = sample::sync_id("acme-github");
    let summary = RunSummary {
        started_at: NOW,
        finished_at: NOW,
        error: Some("this run would remove 6 of 10 packages, more than half".to_owned()),
        partial: false,
        guarded: true,
        changes: PlanSummary {
            teams_changed: 1,
            revoked: vec!["carol from web".to_owned()],
            ..PlanSummary::default()
        },
        problems: Vec::new(),
        conflicts: vec![],
        prefetched: 0,
        prefetch_bytes: 0,
        requests: 5,
        not_modified: 0,
        budget: None,
    };
    app.update(Msg::Engine(EngineEvent::SyncFinished {
        sync: id.clone(),
        summary,
    }));
    let entry = &app.activity.entries[0];
    assert_eq!(entry.tone, Tone::Warning);
    assert!(
        entry.text.contains("revoked carol from web"),
        "{}",
        entry.text
    );
    assert!(
        entry.text.contains("held: this run would remove 6 of 10"),
        "{}",
        entry.text
    );
    assert!(matches!(app.runs.get(&id), Some(RunState::Failed(_))));
}

#[test]
fn a_webhook_refresh_is_logged_with_its_scope_and_reloads_the_lists() {
    let mut app = sample::app();
    let cmds = app.update(Msg::Engine(EngineEvent::HookRefreshed {
        sync: sample::sync_id("acme-github"),
        scope: vec!["acme/log".to_owned(), "team core".to_owned()],
        changes: PlanSummary {
            versions_added: 1,
            ..PlanSummary::default()
        },
        conflicts: vec![],
    }));
    let entry = &app.activity.entries[0];
    assert_eq!(entry.tone, Tone::Ok);
    assert!(
        entry.text.contains("acme/log, team core") && entry.text.contains("versions +1"),
        "{}",
        entry.text
    );
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::Load(Resource::Packages)))
    );
    assert_eq!(app.running_jobs(), 0, "a refresh is not a run");
}

#[test]
fn lagging_behind_the_engine_reloads_everything() {
    let mut app = sample::app();
    assert_eq!(app.update(Msg::EventsLagged).len(), 6);
}

#[test]
fn add_sync_form_reports_invalid_fields_then_submits_and_shows_host_errors() {
    let mut app = sample::app();
    typing(&mut app, "a");
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    let Some(Popup::AddSync(form)) = &app.popup else {
        panic!("no form");
    };
    assert!(
        form.error
            .as_deref()
            .is_some_and(|e| e.starts_with("Name:"))
    );
    // Provider → Name → Org → API URL → Token
    app.update(key(KeyCode::Tab));
    typing(&mut app, "acme-two");
    app.update(key(KeyCode::Tab));
    typing(&mut app, "acme2");
    app.update(key(KeyCode::Tab));
    app.update(key(KeyCode::Tab));
    typing(&mut app, "ghp_secret");
    let cmds = app.update(key(KeyCode::Enter));
    let [Cmd::AddSync(new)] = cmds.as_slice() else {
        panic!("expected AddSync, got {cmds:?}");
    };
    assert_eq!(new.id.as_str(), "acme-two");
    assert_eq!(new.org, "acme2");
    assert_eq!(new.api_url, "https://api.github.com");
    app.update(Msg::Reply(Reply::AddSyncFailed(
        "bad credentials at api.github.com".to_owned(),
    )));
    assert!(
        matches!(&app.popup, Some(Popup::AddSync(f)) if f.error.as_deref() == Some("bad credentials at api.github.com") && !f.submitting)
    );
    let mut added = sample::syncs().remove(1);
    added.id = sync_id("acme-two");
    let cmds = app.update(Msg::Reply(Reply::SyncAdded(Box::new(added))));
    assert!(app.popup.is_none());
    assert!(
        cmds.iter()
            .any(|c| matches!(c, Cmd::RunSync(id) if id.as_str() == "acme-two"))
    );
}

#[test]
fn add_sync_form_changes_the_default_api_url_with_the_provider() {
    let mut app = sample::app();
    typing(&mut app, "a");
    app.update(key(KeyCode::Right));
    let Some(Popup::AddSync(form)) = &app.popup else {
        panic!("no form");
    };
    assert_eq!(form.api_url.value(), "https://gitlab.com/api/v4");
}

#[test]
fn created_token_is_shown_once_then_forgotten() {
    let mut app = sample::app();
    let cmds = typing(&mut app, "4c");
    assert!(cmds.is_empty());
    let cmds = app.update(key(KeyCode::Enter));
    assert!(matches!(
        cmds.as_slice(),
        [Cmd::CreateToken { scope: TokenScope::OrgWide, label }] if label == "dashboard"
    ));
    let token = sample::tokens().remove(0);
    app.update(Msg::Reply(Reply::TokenCreated(
        token,
        Secret::new("pky_secret"),
    )));
    assert!(matches!(app.popup, Some(Popup::TokenShown(_))));
    app.update(key(KeyCode::Esc));
    assert!(app.popup.is_none());
}

#[test]
fn token_form_scopes_a_user_token_to_the_chosen_user() {
    let mut app = sample::app();
    typing(&mut app, "4jc");
    app.update(key(KeyCode::Right));
    let cmds = app.update(key(KeyCode::Enter));
    assert!(matches!(
        cmds.as_slice(),
        [Cmd::CreateToken { scope: TokenScope::User { user }, .. }] if user.as_str() == "bob"
    ));
}

#[test]
fn revoke_confirms_the_selected_token_with_y() {
    let mut app = sample::app();
    typing(&mut app, "4ljx");
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    let cmds = typing(&mut app, "y");
    assert!(matches!(cmds.as_slice(), [Cmd::RevokeToken(id)] if id == "77b1e2f3a4c5"));
}

#[test]
fn failures_are_logged_and_shown_in_the_status_bar() {
    let mut app = sample::app();
    app.update(Msg::Reply(Reply::Failed {
        what: "loading packages".to_owned(),
        error: "store is locked".to_owned(),
    }));
    assert_eq!(
        app.flash_text(),
        Some("loading packages failed: store is locked")
    );
    app.update(Msg::Tick(Timestamp(NOW.0 + 60)));
    assert_eq!(app.flash_text(), None);
    assert_eq!(app.activity.entries[0].tone, Tone::Error);
}

#[test]
fn teams_filter_by_sync_and_count_installable_packages() {
    let mut app = sample::app();
    // platform reads repos 1 and 3; the primary's owners install everything.
    assert_eq!(app.teams_view.installable, [2, 4, 1]);
    typing(&mut app, "2ss");
    assert_eq!(app.teams_view.origin, Some(sync_id("acme-gitlab")));
    assert_eq!(app.teams_view.rows, [2]);
}

#[test]
fn run_past_the_deletion_guard_needs_y() {
    let mut app = sample::app();
    let id = sync_id("acme-github");
    app.update(Msg::Engine(EngineEvent::SyncFailed {
        sync: id.clone(),
        error: "this run would remove 3 packages, more than half; nothing was changed".to_owned(),
    }));
    assert!(typing(&mut app, "R").is_empty());
    assert!(
        matches!(&app.popup, Some(Popup::Confirm(c)) if c.lines.iter().any(|l| l.contains("more than half; nothing")))
    );
    assert!(app.update(key(KeyCode::Enter)).is_empty());
    let cmds = typing(&mut app, "y");
    assert!(matches!(cmds.as_slice(), [Cmd::RunSyncConfirmingRemovals(i)] if *i == id));
}

#[test]
fn missed_events_clear_runs_that_may_have_ended() {
    let mut app = sample::app();
    app.update(Msg::Engine(EngineEvent::SyncStarted {
        sync: sync_id("acme-github"),
    }));
    app.update(Msg::EventsLagged);
    assert_eq!(app.running_jobs(), 0);
}

#[test]
fn admin_actions_from_the_audit_log_appear_once_in_the_activity_pane() {
    let mut app = sample::app();
    let entry = |action: &str| AuditEntry {
        at: NOW,
        actor: "uid 1000".to_owned(),
        via: "admin socket".to_owned(),
        action: action.to_owned(),
    };
    let before = app.activity.entries.len();
    app.update(Msg::Reply(Reply::Audit(vec![entry("revoked token a1")])));
    app.update(Msg::Reply(Reply::Audit(vec![
        entry("revoked token a1"),
        entry("promoted sync acme to primary"),
    ])));
    assert_eq!(app.activity.entries.len(), before + 2);
    assert_eq!(
        app.activity.entries[0].text,
        "uid 1000 via admin socket: promoted sync acme to primary"
    );
}
