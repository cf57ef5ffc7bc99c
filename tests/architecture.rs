//! Module boundaries from DESIGN.md, checked on the source: dependencies run
//! one way (domain ← providers/store/composer ← engine ← admin ← cli/tui/server),
//! and only `store` touches sled.

use std::path::{Path, PathBuf};

/// Which top-level modules each module may use (besides itself).
const ALLOWED: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("simulate", &["domain"]),
    ("providers", &["domain"]),
    ("store", &["domain"]),
    ("composer", &["domain", "store"]),
    ("engine", &["domain", "providers", "store", "composer"]),
    ("admin", &["domain", "engine", "providers", "store"]),
    // `serve` hosts the admin socket beside the Composer server.
    (
        "server",
        &["admin", "domain", "engine", "store", "composer"],
    ),
    ("config", &["domain"]),
    ("cli", &["admin", "config", "domain"]),
    // The dashboard speaks only the admin API; main and demo wire the engine.
    ("tui", &["admin", "domain"]),
    // The demo wires a simulated host to the whole stack, like main does.
    (
        "demo",
        &[
            "admin", "cli", "config", "domain", "server", "simulate", "tui",
        ],
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file under `src/` belongs to.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy()
        .into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// Every `crate::name` a file mentions.
fn crate_uses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    // `use crate::{a, b::c}` groups
    let mut rest = text;
    while let Some(at) = rest.find("crate::{") {
        rest = &rest[at + "crate::{".len()..];
        let group = &rest[..rest.find('}').unwrap_or(0)];
        out.extend(
            group
                .split(',')
                .filter_map(|p| p.trim().split("::").next())
                .filter(|n| !n.is_empty())
                .map(str::to_owned),
        );
    }
    out
}

#[test]
fn modules_import_only_in_the_allowed_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == module) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for used in crate_uses(&text) {
            if used != module && !allowed.contains(&used.as_str()) {
                violations.push(format!("{}: {module} uses crate::{used}", file.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "forbidden imports:\n{}",
        violations.join("\n")
    );
}

#[test]
fn only_the_store_touches_sled() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| module_of(&src, f) != "store")
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("sled::"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "sled used outside src/store: {offenders:?}"
    );
}

#[test]
fn every_module_of_the_crate_has_a_rule() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    for line in lib.lines().filter_map(|l| l.strip_prefix("pub mod ")) {
        let name = line.trim_end_matches(';');
        assert!(
            ALLOWED.iter().any(|(m, _)| *m == name),
            "add module {name} to ALLOWED in tests/architecture.rs"
        );
    }
}
