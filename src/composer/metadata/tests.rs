use super::*;
use crate::domain::{RemoteId, SyncId};
use proptest::prelude::*;

const URL: &str = "https://repo.example.test/";

fn entry(value: Value) -> Entry {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn package() -> Package {
    Package {
        name: PackageName::new("acme/widget").unwrap(),
        origin: SyncId::new("gh").unwrap(),
        repo: RemoteId("1".into()),
        repo_full_name: "acme/widget".into(),
        clone_url: "https://git.example.test/acme/widget.git".into(),
        html_url: "https://git.example.test/acme/widget".into(),
        description: None,
        default_branch: "main".into(),
        host: None,
        archived: false,
        abandoned: None,
        manifest_missing: false,
    }
}

fn version(pretty: &str, normalized: &str, kind: VersionKind, manifest: Value) -> Version {
    Version {
        package: package().name,
        version: pretty.into(),
        normalized: normalized.into(),
        kind,
        ref_name: pretty.into(),
        commit: format!("{:0<40}", pretty.len()),
        default_branch: pretty == "dev-main",
        manifest: entry(manifest),
    }
}

#[test]
fn minify_matches_composer_when_keys_change_and_disappear() {
    // composer/metadata-minifier's own test case.
    let source = [
        json!({"name":"foo/bar","version":"2.0.0","version_normalized":"2.0.0.0","type":"library","scripts":{"foo":["bar"]},"license":["MIT"]}),
        json!({"name":"foo/bar","version":"1.2.0","version_normalized":"1.2.0.0","type":"library","license":["GPL"],"homepage":"https://example.org"}),
        json!({"name":"foo/bar","version":"1.0.0","version_normalized":"1.0.0.0","type":"library","license":["GPL"]}),
    ]
    .map(entry);
    let minified = [
        json!({"name":"foo/bar","version":"2.0.0","version_normalized":"2.0.0.0","type":"library","scripts":{"foo":["bar"]},"license":["MIT"]}),
        json!({"version":"1.2.0","version_normalized":"1.2.0.0","license":["GPL"],"homepage":"https://example.org","scripts":"__unset"}),
        json!({"version":"1.0.0","version_normalized":"1.0.0.0","homepage":"__unset"}),
    ]
    .map(entry);
    assert_eq!(minify(&source), minified);
    assert_eq!(expand(&minified), source);
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    let value = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        "[a-z]{0,3}".prop_map(Value::String),
        prop::collection::btree_map("[a-c]", "[a-z]{0,2}", 0..3).prop_map(|m| json!(m)),
    ];
    prop::collection::btree_map("[a-f]", value, 0..6).prop_map(|m| m.into_iter().collect())
}

proptest! {
    #[test]
    fn expand_restores_entries_when_minified(entries in prop::collection::vec(arb_entry(), 0..8)) {
        prop_assert_eq!(expand(&minify(&entries)), entries);
    }
}

#[test]
fn version_entry_takes_repository_fields_when_manifest_declares_them() {
    let v = version(
        "v1.2.0",
        "1.2.0.0",
        VersionKind::Tag,
        json!({"name":"Acme/Other","version":"9.9.9","version_normalized":"9.9.9.0",
               "default-branch":true,"dist":{"url":"x"},"require":{"php":">=8.1"}}),
    );
    let e = version_entry(URL, &package(), &v, "abc");
    assert_eq!(e["name"], "acme/widget");
    assert_eq!(e["version"], "v1.2.0");
    assert_eq!(e["version_normalized"], "1.2.0.0");
    assert_eq!(e["require"], json!({"php":">=8.1"}));
    assert!(!e.contains_key("default-branch"), "tags never carry it");
    assert_eq!(
        e["dist"],
        json!({"type":"zip","reference":v.commit,"shasum":"abc",
               "url":format!("https://repo.example.test/dists/acme/widget/{}.zip", v.commit)})
    );
    assert_eq!(
        e["source"],
        json!({"type":"git","url":"https://git.example.test/acme/widget.git","reference":v.commit})
    );
}

#[test]
fn p2_lists_tags_newest_first_when_asked_for_tags() {
    let versions = [
        version("1.0.0", "1.0.0.0", VersionKind::Tag, json!({})),
        version("v1.10.0", "1.10.0.0", VersionKind::Tag, json!({})),
        version("v2.0.0-RC1", "2.0.0.0-RC1", VersionKind::Tag, json!({})),
        version("1.2.0", "1.2.0.0", VersionKind::Tag, json!({})),
        version("dev-main", "dev-main", VersionKind::Branch, json!({})),
    ];
    let doc = p2_json(
        URL,
        &package(),
        &versions,
        VersionKind::Tag,
        &BTreeMap::new(),
    );
    assert_eq!(doc["minified"], MINIFIED);
    let list: Vec<Entry> = serde_json::from_value(doc["packages"]["acme/widget"].clone()).unwrap();
    let order: Vec<String> = expand(&list)
        .iter()
        .map(|e| e["version"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(order, ["v2.0.0-RC1", "v1.10.0", "1.2.0", "1.0.0"]);
}

#[test]
fn p2_dev_keeps_default_branch_and_alias_when_asked_for_branches() {
    let versions = [
        version(
            "1.x-dev",
            "1.9999999.9999999.9999999-dev",
            VersionKind::Branch,
            json!({}),
        ),
        version(
            "dev-main",
            "dev-main",
            VersionKind::Branch,
            json!({"extra":{"branch-alias":{"dev-main":"2.x-dev"}}}),
        ),
        version("1.0.0", "1.0.0.0", VersionKind::Tag, json!({})),
    ];
    let shasums = BTreeMap::from([(versions[1].commit.clone(), "f00".to_owned())]);
    let doc = p2_json(URL, &package(), &versions, VersionKind::Branch, &shasums);
    let list: Vec<Entry> = serde_json::from_value(doc["packages"]["acme/widget"].clone()).unwrap();
    let full = expand(&list);
    assert_eq!(full.len(), 2);
    let main = full.iter().find(|e| e["version"] == "dev-main").unwrap();
    assert_eq!(main["default-branch"], true);
    assert_eq!(main["extra"]["branch-alias"]["dev-main"], "2.x-dev");
    assert_eq!(main["dist"]["shasum"], "f00");
    let other = full.iter().find(|e| e["version"] == "1.x-dev").unwrap();
    assert!(!other.contains_key("default-branch"));
    assert_eq!(other["dist"]["shasum"], "");
}

#[test]
fn packages_json_uses_absolute_urls_when_base_has_trailing_slash() {
    let names = [
        PackageName::new("acme/a").unwrap(),
        PackageName::new("acme/b").unwrap(),
    ];
    assert_eq!(
        packages_json(URL, &names),
        json!({
            "packages": [],
            "metadata-url": "https://repo.example.test/p2/%package%.json",
            "available-packages": ["acme/a", "acme/b"],
            "notify-batch": "https://repo.example.test/downloads/",
        })
    );
}

#[test]
fn version_entry_says_abandoned_when_archived_or_marked_by_an_admin() {
    let v = version(
        "v1.0.0",
        "1.0.0.0",
        VersionKind::Tag,
        json!({"name":"acme/widget","abandoned":false}),
    );
    assert_eq!(version_entry(URL, &package(), &v, "")["abandoned"], false);
    let archived = Package {
        archived: true,
        ..package()
    };
    assert_eq!(version_entry(URL, &archived, &v, "")["abandoned"], true);
    let replaced = Package {
        abandoned: Some(crate::domain::Abandoned {
            replacement: Some(PackageName::new("acme/gadget").unwrap()),
        }),
        ..archived
    };
    assert_eq!(
        version_entry(URL, &replaced, &v, "")["abandoned"],
        "acme/gadget"
    );
}
