//! composer.json as every host delivers it: raw bytes (Bitbucket) or base64
//! inside a JSON envelope (GitHub's contents API, GitLab's files API). One
//! set of rules, so an admin sees the same reasons whatever the host.

use super::ProviderError;
use crate::domain::{Listing, Manifest, PackageName, RefKind, RemoteRef};
use base64::Engine as _;
use futures::{StreamExt, TryStreamExt, stream};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

/// A composer.json is usable when it is UTF-8 JSON, an object, and names a
/// valid package. Every other case becomes `Invalid` with the reason.
pub fn parse(bytes: &[u8]) -> Manifest {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Manifest::Invalid("composer.json is not valid UTF-8".to_owned());
    };
    let map = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => map,
        Ok(_) => return Manifest::Invalid("composer.json is not a JSON object".to_owned()),
        Err(e) => return Manifest::Invalid(format!("composer.json is not valid JSON: {e}")),
    };
    match map.get("name") {
        Some(serde_json::Value::String(name)) if PackageName::new(name).is_ok() => {
            Manifest::Found(map)
        }
        None => Manifest::Invalid("composer.json has no \"name\"".to_owned()),
        Some(name) => Manifest::Invalid(format!(
            "composer.json \"name\" {name} is not a valid package name (expected \"vendor/package\")"
        )),
    }
}

/// Decodes base64 `content` of a file of `size` bytes (hosts wrap the text,
/// so whitespace is ignored) and parses it; files over `max_bytes` are refused.
pub fn decode_base64(content: &str, size: u64, max_bytes: usize) -> Manifest {
    if let Some(refused) = too_large(size, max_bytes) {
        return refused;
    }
    let text: String = content
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    match base64::engine::general_purpose::STANDARD.decode(text) {
        Ok(bytes) => parse(&bytes),
        Err(_) => Manifest::Invalid("composer.json content is not valid base64".to_owned()),
    }
}

/// `Invalid` when a file of `size` bytes is over `max_bytes`.
pub fn too_large(size: u64, max_bytes: usize) -> Option<Manifest> {
    (size > max_bytes as u64)
        .then(|| Manifest::Invalid(format!("composer.json is larger than {max_bytes} bytes")))
}

/// The order every provider lists refs in: tags, then branches, by name.
pub fn sort_refs(refs: &mut [RemoteRef]) {
    refs.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
}

/// A tag or branch as a host lists it.
pub struct ListedRef {
    pub kind: RefKind,
    pub name: String,
    pub commit: String,
}

/// A repository's refs with the composer.json at each. The default branch's
/// manifest is already known; every other distinct commit is fetched once
/// (refs sharing a commit share the fetch), `concurrency` at a time. A ref
/// whose manifest could not be read this time (`fetch` gave `None`) is left
/// out and makes the listing incomplete, rather than guessed.
pub async fn refs_with_manifests<F, Fut>(
    refs: Vec<ListedRef>,
    default: (String, Manifest),
    listed_completely: bool,
    concurrency: usize,
    fetch: F,
) -> Result<Listing<RemoteRef>, ProviderError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Option<Manifest>, ProviderError>>,
{
    let (default_commit, default_manifest) = default;
    let commits: BTreeSet<String> = refs
        .iter()
        .map(|r| r.commit.clone())
        .filter(|c| *c != default_commit)
        .collect();
    let fetch = &fetch;
    let mut manifests: BTreeMap<String, Manifest> = stream::iter(commits)
        .map(|commit| async move {
            Ok::<_, ProviderError>(fetch(commit.clone()).await?.map(|m| (commit, m)))
        })
        .buffer_unordered(concurrency.max(1))
        .try_filter_map(|found| async move { Ok(found) })
        .try_collect()
        .await?;
    manifests.insert(default_commit, default_manifest);
    let mut complete = listed_completely;
    let mut items = Vec::with_capacity(refs.len());
    for r in refs {
        match manifests.get(&r.commit) {
            Some(manifest) => items.push(RemoteRef {
                kind: r.kind,
                name: r.name,
                commit: r.commit,
                manifest: manifest.clone(),
            }),
            None => complete = false,
        }
    }
    sort_refs(&mut items);
    Ok(Listing { items, complete })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_found_when_object_names_a_valid_package() {
        assert!(
            matches!(parse(br#"{"name":"acme/log"}"#), Manifest::Found(m) if m["name"] == "acme/log")
        );
    }

    #[test]
    fn manifest_is_invalid_with_the_reason_when_unusable() {
        let cases: [(&[u8], &str); 6] = [
            (&[0xff, 0xfe], "not valid UTF-8"),
            (b"{\"name\": ", "not valid JSON"),
            (b"[1]", "not a JSON object"),
            (b"{}", "has no \"name\""),
            (br#"{"name":"Not A Name"}"#, "not a valid package name"),
            (br#"{"name":7}"#, "not a valid package name"),
        ];
        for (bytes, reason) in cases {
            let Manifest::Invalid(got) = parse(bytes) else {
                panic!("{bytes:?} accepted")
            };
            assert!(got.contains(reason), "{got} lacks {reason}");
        }
    }

    #[tokio::test]
    async fn each_commit_is_fetched_once_and_unreadable_refs_make_the_listing_partial() {
        let listed = |kind, name: &str, commit: &str| ListedRef {
            kind,
            name: name.into(),
            commit: commit.into(),
        };
        let refs = vec![
            listed(RefKind::Branch, "main", "a"),
            listed(RefKind::Tag, "v1.0.0", "b"),
            listed(RefKind::Tag, "v1.0.1", "b"),
            listed(RefKind::Tag, "v0.9.0", "c"),
        ];
        let asked = std::sync::Mutex::new(Vec::new());
        let found = parse(br#"{"name":"acme/log"}"#);
        let listing = refs_with_manifests(
            refs,
            ("a".into(), found.clone()),
            true,
            4,
            |commit: String| {
                asked.lock().unwrap().push(commit.clone());
                let answer = (commit == "b").then(|| found.clone());
                async move { Ok(answer) }
            },
        )
        .await
        .unwrap();
        let mut asked = asked.into_inner().unwrap();
        asked.sort();
        assert_eq!(
            asked,
            ["b", "c"],
            "the default commit is known; b is shared"
        );
        let names: Vec<&str> = listing.items.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["v1.0.0", "v1.0.1", "main"],
            "tags, then branches, by name"
        );
        assert!(!listing.complete, "v0.9.0 could not be read");
    }

    #[test]
    fn base64_content_is_decoded_when_wrapped_and_refused_when_too_large() {
        let wrapped = "eyJuYW1l\nIjoiYS9i\nIn0=\n";
        assert!(matches!(
            decode_base64(wrapped, 14, 1024),
            Manifest::Found(_)
        ));
        assert!(
            matches!(decode_base64("!!!", 3, 1024), Manifest::Invalid(r) if r.contains("base64"))
        );
        assert!(
            matches!(decode_base64(wrapped, 14, 4), Manifest::Invalid(r) if r.contains("larger than 4 bytes"))
        );
    }
}
