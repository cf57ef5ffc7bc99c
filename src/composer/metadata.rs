//! Composer repository metadata: the root `packages.json` and the per-package
//! `p2/{vendor}/{name}.json` (tags) and `~dev.json` (branches) files, in the
//! minified form Composer 2 reads (composer/metadata-minifier).
//!
//! Everything here is pure: callers load packages, versions and dist shasums
//! from the store and pass them in. URLs are absolute, built from the
//! externally visible base URL, because Composer cannot download a dist from
//! a relative URL (COMPOSER-PROTOCOL.md §4).

use crate::domain::{Package, PackageName, Version, VersionKind, version};
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// One version entry of a p2 file: a composer.json plus repository fields.
pub type Entry = Map<String, Value>;

/// The `minified` marker Composer checks before expanding a p2 file.
pub const MINIFIED: &str = "composer/2.0";

/// The value a minified entry uses for a key the previous entry had.
const UNSET: &str = "__unset";

/// Keys the repository owns: whatever the composer.json says, these come from
/// the ref and the stored package, so they are dropped from the manifest.
const OWNED_KEYS: [&str; 7] = [
    "name",
    "version",
    "version_normalized",
    "dist",
    "source",
    "default-branch",
    "notification-url",
];

/// `packages.json` for a token that may see `available` (already sorted).
pub fn packages_json(public_url: &str, available: &[PackageName]) -> Value {
    let base = base(public_url);
    json!({
        "packages": [],
        "metadata-url": format!("{base}/p2/%package%.json"),
        "available-packages": available.iter().map(PackageName::as_str).collect::<Vec<_>>(),
        "notify-batch": format!("{base}/downloads/"),
    })
}

/// The absolute URL of a dist archive, as the server routes it.
pub fn dist_url(public_url: &str, name: &PackageName, commit: &str) -> String {
    format!(
        "{}/dists/{}/{}/{commit}.zip",
        base(public_url),
        name.vendor(),
        name.project()
    )
}

/// The p2 file of `package` for one kind of version: tags for `{name}.json`,
/// branches for `{name}~dev.json`. `shasums` maps a commit to the SHA-1 of its
/// cached archive; a commit not yet cached gets an empty shasum, which
/// Composer does not check.
pub fn p2_json(
    public_url: &str,
    package: &Package,
    versions: &[Version],
    kind: VersionKind,
    shasums: &BTreeMap<String, String>,
) -> Value {
    let mut selected: Vec<&Version> = versions.iter().filter(|v| v.kind == kind).collect();
    sort_newest_first(&mut selected);
    let entries: Vec<Entry> = selected
        .into_iter()
        .map(|v| {
            let shasum = shasums.get(&v.commit).map_or("", String::as_str);
            version_entry(public_url, package, v, shasum)
        })
        .collect();
    json!({
        "minified": MINIFIED,
        "packages": { package.name.as_str(): minify(&entries) },
    })
}

/// One complete version entry: the stored composer.json with the fields the
/// repository owns set from the ref.
pub fn version_entry(
    public_url: &str,
    package: &Package,
    version: &Version,
    shasum: &str,
) -> Entry {
    let mut entry = version.manifest.clone();
    for key in OWNED_KEYS {
        entry.remove(key);
    }
    let name = package.name.as_str();
    entry.insert("name".into(), name.into());
    entry.insert("version".into(), version.version.as_str().into());
    entry.insert(
        "version_normalized".into(),
        version.normalized.as_str().into(),
    );
    entry.insert(
        "dist".into(),
        json!({
            "type": "zip",
            "url": dist_url(public_url, &package.name, &version.commit),
            "reference": version.commit,
            "shasum": shasum,
        }),
    );
    entry.insert(
        "source".into(),
        json!({
            "type": "git",
            "url": package.clone_url,
            "reference": version.commit,
        }),
    );
    // Only branches can be the default branch; tags never carry the flag.
    if version.kind == VersionKind::Branch && version.default_branch {
        entry.insert("default-branch".into(), Value::Bool(true));
    }
    // Composer reads `abandoned` from each version entry and warns on
    // install; packyard's verdict (archived, or an admin's) wins over what
    // the composer.json of that version said.
    if let Some(abandoned) = package.abandoned_value() {
        entry.insert("abandoned".into(), abandoned);
    }
    entry
}

/// Newest first by Composer's version comparison of the normalized versions,
/// as Packagist lists them; equal versions are ordered by their pretty name so
/// the output (and so its Last-Modified-driven caching) is deterministic.
pub fn sort_newest_first(versions: &mut [&Version]) {
    versions.sort_by(
        |a, b| match version::compare_normalized(&b.normalized, &a.normalized) {
            Ordering::Equal => a.version.cmp(&b.version),
            other => other,
        },
    );
}

/// `MetadataMinifier::minify`: the first entry whole, then for each entry only
/// the top-level keys that differ from the previous expanded entry, and
/// `"__unset"` for keys it no longer has. The diff is shallow.
pub fn minify(entries: &[Entry]) -> Vec<Entry> {
    let mut out = Vec::with_capacity(entries.len());
    let mut previous: Option<&Entry> = None;
    for entry in entries {
        match previous {
            None => out.push(entry.clone()),
            Some(prev) => {
                let mut diff: Entry = entry
                    .iter()
                    .filter(|(k, v)| prev.get(*k) != Some(*v))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for key in prev.keys().filter(|k| !entry.contains_key(*k)) {
                    diff.insert(key.clone(), UNSET.into());
                }
                out.push(diff);
            }
        }
        // The previous *expanded* entry is the entry itself, since expanding
        // the diff against `prev` reproduces it exactly.
        previous = Some(entry);
    }
    out
}

/// `MetadataMinifier::expand`, the client side of [`minify`].
pub fn expand(entries: &[Entry]) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    for diff in entries {
        let mut entry = out.last().cloned().unwrap_or_default();
        for (key, value) in diff {
            if value.as_str() == Some(UNSET) {
                entry.remove(key);
            } else {
                entry.insert(key.clone(), value.clone());
            }
        }
        out.push(entry);
    }
    out
}

fn base(public_url: &str) -> &str {
    public_url.trim_end_matches('/')
}

#[cfg(test)]
mod tests;
