//! Composer version naming for tags and branches, as composer/semver's
//! `VersionParser` and Composer's `VcsRepository` do it. Reconcile uses these
//! rules, so they live here rather than in the HTTP-facing `composer` module.
//! Normalizing and ordering come from `composer-semver`, a port of
//! composer/semver tested against upstream's own cases.

use composer_semver::Version as ComposerVersion;

/// A version derived from a ref: `(pretty, normalized)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub version: String,
    pub normalized: String,
}

/// Why a tag yields no version. Shown to admins in the run summary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagError {
    #[error("tag {0:?} is not a valid Composer version (expected e.g. 1.2.0 or v1.2.0)")]
    Invalid(String),
    #[error("tag {0:?} names a dev version; tags must name releases")]
    Dev(String),
    #[error(
        "composer.json at tag {tag:?} declares version {declared:?}, which does not match the tag"
    )]
    Mismatch { tag: String, declared: String },
}

/// Composer's `VersionParser::normalize`; `None` where Composer would throw.
pub fn normalize(input: &str) -> Option<String> {
    ComposerVersion::parse(input).ok().map(|v| v.to_string())
}

/// The version a tag yields. `declared` is the `version` key of the tag's
/// composer.json, which Composer prefers and requires to match the tag.
pub fn tag(name: &str, declared: Option<&str>) -> Result<Named, TagError> {
    let normalized = normalize(name).ok_or_else(|| TagError::Invalid(name.to_owned()))?;
    if normalized.starts_with("dev-") || normalized.ends_with("-dev") {
        return Err(TagError::Dev(name.to_owned()));
    }
    match declared {
        Some(d) if normalize(d).as_deref().map(strip_dev) != Some(normalized.as_str()) => {
            Err(TagError::Mismatch {
                tag: name.to_owned(),
                declared: d.to_owned(),
            })
        }
        Some(d) => Ok(Named {
            version: strip_dev(d).to_owned(),
            normalized,
        }),
        None => Ok(Named {
            version: name.to_owned(),
            normalized,
        }),
    }
}

fn strip_dev(v: &str) -> &str {
    v.strip_suffix("-dev")
        .or_else(|| v.strip_suffix(".dev"))
        .unwrap_or(v)
}

/// The version a branch yields: `main` → `dev-main`, `1.x` → `1.x-dev`
/// (Composer's `VcsRepository`). Returns `None` for names Composer cannot use
/// in a constraint.
pub fn branch(name: &str) -> Option<Named> {
    let name = name.trim();
    let normalized = ComposerVersion::normalize_branch(name);
    if normalize(&normalized).is_none() || name.contains(char::is_whitespace) {
        return None;
    }
    if normalized.starts_with("dev-") {
        let version = format!("dev-{}", name.replace('#', "+"));
        return Some(Named {
            normalized: version.clone(),
            version,
        });
    }
    let prefix = if name.starts_with('v') { "v" } else { "" };
    // Composer collapses the run of `.9999999` parts into one `.x`.
    let pretty = normalized
        .strip_suffix("-dev")
        .map(|n| n.split(".9999999").next().unwrap_or(n))
        .map(|n| format!("{n}.x-dev"))
        .unwrap_or_else(|| normalized.clone());
    Some(Named {
        version: format!("{prefix}{pretty}"),
        normalized,
    })
}

/// Orders normalized versions as Composer's `Comparator` does (stability
/// counts: `2.0.0-beta1` < `2.0.0`). Unparsable input sorts textually.
pub fn compare_normalized(a: &str, b: &str) -> std::cmp::Ordering {
    match (ComposerVersion::parse(a), ComposerVersion::parse(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// The version the package list shows as latest: the highest stable tag,
/// or the highest tag when there is no stable one yet (as Packagist does).
pub fn latest_tag(versions: &[super::Version]) -> Option<&super::Version> {
    let stable = |v: &super::Version| {
        ComposerVersion::parse(&v.normalized)
            .is_ok_and(|p| p.stability() == composer_semver::Stability::Stable)
    };
    let by_version =
        |a: &&super::Version, b: &&super::Version| compare_normalized(&a.normalized, &b.normalized);
    let tags = || {
        versions
            .iter()
            .filter(|v| v.kind == super::VersionKind::Tag)
    };
    tags()
        .filter(|v| stable(v))
        .max_by(by_version)
        .or_else(|| tags().max_by(by_version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag_ok(name: &str) -> (String, String) {
        let n = tag(name, None).unwrap();
        (n.version, n.normalized)
    }

    #[test]
    fn tags_normalize_like_composer() {
        let cases = [
            ("v1.2.0", "v1.2.0", "1.2.0.0"),
            ("1.2.0", "1.2.0", "1.2.0.0"),
            ("1.2", "1.2", "1.2.0.0"),
            ("1.0.0-beta1", "1.0.0-beta1", "1.0.0.0-beta1"),
            ("v2.0.0-RC1", "v2.0.0-RC1", "2.0.0.0-RC1"),
            ("2.0.0-alpha.2", "2.0.0-alpha.2", "2.0.0.0-alpha2"),
            ("1.0.0-p1", "1.0.0-p1", "1.0.0.0-patch1"),
            ("1.0.0-stable", "1.0.0-stable", "1.0.0.0"),
            ("1.2.3.4", "1.2.3.4", "1.2.3.4"),
            ("2024.01.15", "2024.01.15", "2024.01.15.0"),
            ("20240115", "20240115", "20240115"),
        ];
        for (input, pretty, normalized) in cases {
            assert_eq!(
                tag_ok(input),
                (pretty.to_owned(), normalized.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn tags_are_rejected_when_invalid_or_dev() {
        for bad in [
            "release-1.2",
            "latest",
            "1.2.3.4.5",
            "v",
            "1.0-foo",
            "1.0.0-dev2",
        ] {
            assert_eq!(
                tag(bad, None),
                Err(TagError::Invalid(bad.to_owned())),
                "{bad}"
            );
        }
        assert!(matches!(tag("1.0.0-dev", None), Err(TagError::Dev(_))));
        assert!(matches!(tag("dev-main", None), Err(TagError::Dev(_))));
    }

    #[test]
    fn tag_is_rejected_when_declared_version_differs() {
        assert!(matches!(
            tag("v1.2.0", Some("1.3.0")),
            Err(TagError::Mismatch { .. })
        ));
        let ok = tag("v1.2.0", Some("1.2.0")).unwrap();
        assert_eq!(
            (ok.version.as_str(), ok.normalized.as_str()),
            ("1.2.0", "1.2.0.0")
        );
    }

    #[test]
    fn branches_are_named_like_composer() {
        let cases = [
            ("main", "dev-main", "dev-main"),
            ("master", "dev-master", "dev-master"),
            ("feature/foo", "dev-feature/foo", "dev-feature/foo"),
            ("1.x", "1.x-dev", "1.9999999.9999999.9999999-dev"),
            ("2.1.x", "2.1.x-dev", "2.1.9999999.9999999-dev"),
            ("v2.1", "v2.1.x-dev", "2.1.9999999.9999999-dev"),
            ("1.0", "1.0.x-dev", "1.0.9999999.9999999-dev"),
            ("fix#12", "dev-fix+12", "dev-fix+12"),
        ];
        for (input, pretty, normalized) in cases {
            let n = branch(input).unwrap();
            assert_eq!(
                (n.version.as_str(), n.normalized.as_str()),
                (pretty, normalized),
                "{input}"
            );
        }
        assert_eq!(branch("has space"), None);
        assert_eq!(branch("vendor-fix").unwrap().version, "dev-vendor-fix");
    }

    #[test]
    fn versions_order_like_composer_when_compared() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_normalized("1.10.0.0", "1.9.0.0"), Greater);
        assert_eq!(compare_normalized("2.0.0.0-beta1", "2.0.0.0"), Less);
        assert_eq!(compare_normalized("2.0.0.0-RC1", "2.0.0.0-beta2"), Greater);
    }
}
