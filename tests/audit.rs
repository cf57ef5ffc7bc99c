//! The audit log as an admin reads it with `packyard audit`: every change,
//! by whom (the OS user), how they reached packyard, and when; reads are
//! not logged.

mod support;

use serde_json::Value;
use support::{Served, ok, packyard, stdout};

fn audit(data: &std::path::Path) -> Vec<Value> {
    let out = ok(packyard(data).args(["audit", "--json"]));
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_logged_with_the_os_user_whether_in_process_or_over_the_socket() {
    let data = tempfile::tempdir().unwrap();
    let uid = rustix::process::getuid().as_raw();
    let created = ok(packyard(data.path()).args(["token", "create", "--org-wide", "--name", "ci"]));
    assert!(!stdout(&created).is_empty());
    ok(packyard(data.path()).args(["token", "list"]));
    let entries = audit(data.path());
    assert_eq!(entries.len(), 1, "listing is not an action: {entries:?}");
    assert_eq!(entries[0]["actor"], format!("uid {uid}"));
    assert_eq!(entries[0]["via"], "this process");
    let action = entries[0]["action"].as_str().unwrap();
    assert!(
        action.starts_with("created token ") && action.ends_with("(ci)"),
        "{action}"
    );
    assert!(
        !action.contains(stdout(&created).trim()),
        "the secret is never logged"
    );

    let served = Served::start(data.path());
    let listed = ok(packyard(data.path()).args(["token", "list", "--json"]));
    let id = serde_json::from_slice::<Vec<Value>>(&listed.stdout).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(packyard(data.path()).args(["token", "revoke", &id, "--yes"]));
    let entries = audit(data.path());
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[1]["actor"], format!("uid {uid}"));
    assert_eq!(entries[1]["via"], "admin socket");
    assert_eq!(entries[1]["action"], format!("revoked token {id}"));
    assert!(served.terminate().success());

    let table = stdout(&ok(packyard(data.path()).args(["audit"])));
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("WHEN"), "{lines:?}");
    assert!(
        lines[2].contains("revoked token"),
        "oldest first: {lines:?}"
    );
}
