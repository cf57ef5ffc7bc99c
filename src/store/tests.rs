use super::*;
use crate::domain::*;
use std::collections::BTreeMap;

fn sync_id() -> SyncId {
    SyncId::new("acme").unwrap()
}

fn package(name: &str) -> Package {
    Package {
        name: PackageName::new(name).unwrap(),
        origin: sync_id(),
        repo: RemoteId("1".into()),
        repo_full_name: "acme/widget".into(),
        clone_url: "https://example.test/acme/widget.git".into(),
        html_url: "https://example.test/acme/widget".into(),
        description: None,
        default_branch: "main".into(),
        host: None,
        archived: false,
        abandoned: None,
        manifest_missing: false,
    }
}

fn version(name: &str, v: &str) -> Version {
    Version {
        package: PackageName::new(name).unwrap(),
        version: v.into(),
        normalized: format!("{v}.0"),
        kind: VersionKind::Tag,
        ref_name: v.into(),
        commit: "abc".into(),
        default_branch: false,
        manifest: serde_json::Map::new(),
    }
}

fn team() -> Team {
    Team {
        key: TeamKey {
            sync: sync_id(),
            remote: RemoteId("7".into()),
        },
        kind: TeamKind::Remote,
        slug: "backend".into(),
        name: "Backend".into(),
        members: BTreeMap::from([(RemoteId("42".into()), "alice".into())]),
        repos: BTreeMap::from([(RemoteId("1".into()), Permission::Write)]),
    }
}

fn plan(changes: Vec<Change>) -> Plan {
    Plan {
        changes,
        ..Plan::default()
    }
}

#[test]
fn applied_plan_round_trips_when_store_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        let p = plan(vec![
            Change::PutTeam(team()),
            Change::PutPackage(package("acme/widget")),
            Change::PutVersion(version("acme/widget", "1.0.0")),
        ]);
        assert_eq!(store.apply(&p, 0, Timestamp(100)).unwrap(), 1);
        store.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let current = store.load_current(&sync_id(), &Default::default()).unwrap();
    assert_eq!(current.teams.values().next(), Some(&team()));
    assert_eq!(current.packages.len(), 1);
    assert_eq!(
        current.versions[&PackageName::new("acme/widget").unwrap()]["1.0.0"],
        version("acme/widget", "1.0.0")
    );
    assert_eq!(store.revision().unwrap(), 1);
    assert_eq!(
        store
            .load_package_mtime(&PackageName::new("acme/widget").unwrap())
            .unwrap(),
        Some(Timestamp(100))
    );
}

#[test]
fn stale_plan_is_rejected_and_leaves_state_unchanged_when_revision_moved() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store
        .apply(
            &plan(vec![Change::PutPackage(package("acme/a"))]),
            0,
            Timestamp(1),
        )
        .unwrap();
    let stale = plan(vec![
        Change::PutPackage(package("acme/b")),
        Change::DeletePackage(PackageName::new("acme/a").unwrap()),
    ]);
    let err = store.apply(&stale, 0, Timestamp(2)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                found: 1
            }
        ),
        "{err}"
    );
    let names: Vec<String> = store
        .load_packages()
        .unwrap()
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(names, ["acme/a"]);
}

#[test]
fn mtime_moves_forward_when_changes_land_in_the_same_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let name = PackageName::new("acme/widget").unwrap();
    store
        .apply(
            &plan(vec![Change::PutVersion(version("acme/widget", "1.0.0"))]),
            0,
            Timestamp(50),
        )
        .unwrap();
    store
        .apply(
            &plan(vec![Change::PutVersion(version("acme/widget", "1.1.0"))]),
            1,
            Timestamp(50),
        )
        .unwrap();
    assert_eq!(
        store.load_package_mtime(&name).unwrap(),
        Some(Timestamp(51))
    );
    assert_eq!(store.load_catalog_mtime().unwrap(), Some(Timestamp(51)));
}

#[test]
fn open_fails_with_clear_error_when_schema_differs() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .trees
            .meta
            .insert(SCHEMA_KEY, &99u32.to_be_bytes())
            .unwrap();
        store.flush().unwrap();
    }
    let err = Store::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::SchemaMismatch { found: 99, .. }));
    assert!(err.to_string().contains("schema 99"), "{err}");
}

#[test]
fn credential_is_kept_apart_from_the_listed_sync() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let sync = Sync {
        id: sync_id(),
        provider: ProviderKind::Github,
        api_url: "https://api.github.com".into(),
        org: "acme".into(),
        primary: true,
        created_at: Timestamp(1),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    };
    let cred = Credential::Token(Secret::new("ghp_secret"));
    store.apply_new_sync(&sync, &cred).unwrap();
    assert!(matches!(
        store.apply_new_sync(&sync, &cred),
        Err(StoreError::SyncExists(_))
    ));
    assert_eq!(store.load_syncs().unwrap(), vec![sync.clone()]);
    assert!(
        !serde_json::to_string(&store.load_syncs().unwrap())
            .unwrap()
            .contains("ghp_secret")
    );
    assert_eq!(store.load_credential(&sync.id).unwrap(), Some(cred));
}

#[test]
fn github_app_credential_round_trips_and_is_redacted_when_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let sync = Sync {
        id: sync_id(),
        provider: ProviderKind::Github,
        api_url: "https://ghe.example.com/api/v3".into(),
        org: "acme".into(),
        primary: true,
        created_at: Timestamp(1),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    };
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEsecret\n-----END RSA PRIVATE KEY-----\n";
    let cred = Credential::GithubApp {
        app_id: 42,
        installation_id: 7,
        private_key: Secret::new(key),
    };
    assert!(!format!("{cred:?}").contains("MIIEsecret"));
    store.apply_new_sync(&sync, &cred).unwrap();
    assert!(
        !serde_json::to_string(&store.load_syncs().unwrap())
            .unwrap()
            .contains("MIIEsecret")
    );
    assert_eq!(store.load_credential(&sync.id).unwrap(), Some(cred));
}

#[test]
fn revoked_token_is_no_longer_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let token = Token {
        id: "t1".into(),
        label: "ci".into(),
        scope: TokenScope::OrgWide,
        hash: "deadbeef".into(),
        created_at: Timestamp(1),
        last_used: None,
        expires_at: None,
    };
    store.apply_new_token(&token).unwrap();
    store.apply_token_used(&token, Timestamp(500)).unwrap();
    assert_eq!(
        store
            .load_token_by_hash("deadbeef")
            .unwrap()
            .unwrap()
            .last_used,
        Some(Timestamp(500))
    );
    assert!(store.apply_token_revoked("t1").unwrap());
    assert!(!store.apply_token_revoked("t1").unwrap());
    assert_eq!(store.load_token_by_hash("deadbeef").unwrap(), None);
}

#[test]
fn second_open_reports_the_directory_in_use_when_already_open() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Store::open(dir.path()).unwrap();
    let err = Store::open(dir.path()).err().unwrap();
    assert!(err.is_locked(), "{err:?}");
    assert!(
        err.to_string()
            .contains("in use by another packyard process"),
        "{err}"
    );
}

mod hook_queue {
    use super::*;

    fn repo(name: &str) -> HookTarget {
        HookTarget::Repo(name.to_owned())
    }

    fn queue(store: &Store, delivery: &str, targets: &[HookTarget]) -> Enqueued {
        store
            .apply_delivery(&sync_id(), Some(delivery), targets, Timestamp(100), 3)
            .unwrap()
    }

    #[test]
    fn a_redelivery_is_recognised_and_queues_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            queue(&store, "d1", &[repo("acme/log")]),
            Enqueued::Queued {
                added: 1,
                merged: 0
            }
        );
        assert_eq!(
            queue(&store, "d1", &[repo("acme/log")]),
            Enqueued::Duplicate
        );
        assert_eq!(store.load_queued().unwrap().len(), 1);
    }

    #[test]
    fn deliveries_for_one_target_coalesce_and_a_later_one_survives_an_earlier_refresh() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        queue(&store, "d1", &[repo("acme/log")]);
        let taken = store.load_queued().unwrap().remove(0);
        // A push arrives while the refresh for d1 is in flight.
        assert_eq!(
            queue(&store, "d2", &[repo("acme/log")]),
            Enqueued::Queued {
                added: 0,
                merged: 1
            }
        );
        store.apply_queued_done(&taken).unwrap();
        let left = store.load_queued().unwrap();
        assert_eq!(left.len(), 1, "d2 still needs a refresh");
        store.apply_queued_done(&left[0]).unwrap();
        assert!(store.load_queued().unwrap().is_empty());
    }

    #[test]
    fn a_failed_target_backs_off_and_counts_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        queue(
            &store,
            "d1",
            &[repo("acme/log"), HookTarget::Team("core".into())],
        );
        let items = store.load_queued().unwrap();
        store.apply_queued_retry(&items[0], Timestamp(160)).unwrap();
        let again = store.load_queued().unwrap();
        let retried = again.iter().find(|i| i.target == items[0].target).unwrap();
        assert_eq!((retried.attempts, retried.not_before), (1, Timestamp(160)));
    }

    #[test]
    fn a_full_queue_refuses_new_targets_but_still_merges_waiting_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        queue(&store, "d1", &[repo("a/1"), repo("a/2"), repo("a/3")]);
        assert_eq!(queue(&store, "d2", &[repo("a/4")]), Enqueued::Full);
        assert_eq!(
            queue(&store, "d3", &[repo("a/1")]),
            Enqueued::Queued {
                added: 0,
                merged: 1
            }
        );
    }

    #[test]
    fn the_queue_and_seen_deliveries_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            queue(&store, "d1", &[repo("acme/log")]);
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.load_queued().unwrap()[0].target, repo("acme/log"));
        assert_eq!(
            queue(&store, "d1", &[repo("acme/log")]),
            Enqueued::Duplicate
        );
    }

    #[test]
    fn removing_a_sync_drops_its_queue_and_secret() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let kept = store
            .apply_hook_secret(&sync_id(), &Secret::new("first"))
            .unwrap();
        let again = store
            .apply_hook_secret(&sync_id(), &Secret::new("second"))
            .unwrap();
        assert_eq!((kept.expose(), again.expose()), ("first", "first"));
        queue(&store, "d1", &[repo("acme/log")]);
        store.apply_hooks_removed(&sync_id()).unwrap();
        assert!(store.load_queued().unwrap().is_empty());
        assert!(store.load_hook_secret(&sync_id()).unwrap().is_none());
    }
}

fn sync_named(name: &str, primary: bool) -> Sync {
    Sync {
        id: SyncId::new(name).unwrap(),
        provider: ProviderKind::Github,
        api_url: "https://api.github.com".into(),
        org: name.into(),
        primary,
        created_at: Timestamp(1),
        last_run: None,
        resync_minutes: None,
        hooks: None,
    }
}

#[test]
fn concurrent_promotes_and_run_records_never_leave_two_primaries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cred = Credential::Token(Secret::new("t"));
    store.apply_new_sync(&sync_named("a", true), &cred).unwrap();
    store
        .apply_new_sync(&sync_named("b", false), &cred)
        .unwrap();
    let recorder = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..300 {
                let id = SyncId::new(if i % 2 == 0 { "a" } else { "b" }).unwrap();
                store.apply_resync_minutes(&id, Some(i)).unwrap();
            }
        })
    };
    for i in 0..300i64 {
        // What a promote plans: both records with the flag moved.
        let to_a = i % 2 == 0;
        let p = plan(vec![
            Change::SetPrimary {
                sync: SyncId::new("a").unwrap(),
                primary: to_a,
            },
            Change::SetPrimary {
                sync: SyncId::new("b").unwrap(),
                primary: !to_a,
            },
        ]);
        while let Err(e) = store.apply(&p, store.revision().unwrap(), Timestamp(i)) {
            assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
        }
    }
    recorder.join().unwrap();
    let syncs = store.load_syncs().unwrap();
    assert_eq!(syncs.iter().filter(|s| s.primary).count(), 1, "{syncs:?}");
    assert!(
        syncs.iter().all(|s| s.resync_minutes.is_some()),
        "no record went back stale"
    );
}
