//! Building snapshots from the store: in full at start (and after a failed
//! build), otherwise from the previous snapshot and what the feed says
//! changed, so a one-package change serializes one package.
//!
//! Blocking sled reads; the caller runs these on the blocking pool.

use super::scopes::{self, People, RepoIndex};
use super::{
    Document, Modified, Published, PublishedParts, ScopeView, Snapshot, TokenEntry, Usage,
};
use crate::composer::metadata;
use crate::domain::{Access, Package, PackageName, Token, TokenScope, VersionKind};
use crate::store::{Changed, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Below this many packages a build stays on one thread.
const PARALLEL_FROM: usize = 64;

/// What one build did.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    pub seq: u64,
    pub full: bool,
    /// Packages whose p2 documents were serialized.
    pub packages_serialized: usize,
    pub packages_removed: usize,
    /// Scope views computed from scratch.
    pub scopes_computed: usize,
    /// Scope views whose visible set changed with the changed packages.
    pub scopes_updated: usize,
    pub tokens: usize,
    /// Loading and serializing packages, of `took`.
    pub packages_took: Duration,
    pub took: Duration,
}

/// Everything, from the store alone.
pub(super) fn full(
    store: &Store,
    public_url: &str,
    seq: u64,
) -> Result<(Snapshot, BuildReport), StoreError> {
    let work = store
        .load_packages()?
        .into_iter()
        .map(|p| Work::Loaded(Box::new(p)))
        .collect();
    let everything = Changed {
        people: true,
        tokens: true,
        ..Changed::default()
    };
    let nothing = Snapshot {
        seq: 0,
        packages: BTreeMap::new(),
        people: Arc::default(),
        scopes: HashMap::new(),
        tokens: HashMap::new(),
    };
    build(store, public_url, &nothing, seq, work, everything, true)
}

/// `previous` with `changed` applied.
pub(super) fn update(
    store: &Store,
    public_url: &str,
    previous: &Snapshot,
    seq: u64,
    changed: Changed,
) -> Result<(Snapshot, BuildReport), StoreError> {
    let work = changed.packages.iter().cloned().map(Work::Named).collect();
    build(store, public_url, previous, seq, work, changed, false)
}

/// `previous` with `work` published and what `changed` names reloaded.
/// `took` leaves out listing the packages of a full build.
fn build(
    store: &Store,
    public_url: &str,
    previous: &Snapshot,
    seq: u64,
    work: Vec<Work>,
    changed: Changed,
    full: bool,
) -> Result<(Snapshot, BuildReport), StoreError> {
    let started = Instant::now();
    let people = if changed.people {
        Arc::new(People::load(store)?)
    } else {
        previous.people.clone()
    };
    let mut packages = previous.packages.clone();
    let (mut serialized, mut removed) = (0, 0);
    for (name, published) in publish_all(store, public_url, work)? {
        match published {
            Some(published) => {
                serialized += 1;
                packages.insert(name, published);
            }
            None => {
                removed += usize::from(packages.remove(&name).is_some());
            }
        }
    }
    let packages_took = started.elapsed();
    let tokens = if changed.tokens {
        store.load_tokens()?
    } else {
        previous.tokens.values().map(|t| t.token.clone()).collect()
    };
    let from = if changed.people {
        ViewsFrom::Scratch
    } else {
        ViewsFrom::Previous {
            changed: &changed.packages,
            names_moved: changed
                .packages
                .iter()
                .any(|n| previous.packages.contains_key(n) != packages.contains_key(n)),
        }
    };
    let (scopes, computed, updated) = views(
        public_url,
        &tokens,
        &packages,
        &people,
        from,
        &previous.scopes,
    );
    let snapshot = assemble(
        store,
        seq,
        packages,
        people,
        scopes,
        tokens,
        &previous.tokens,
    )?;
    let report = BuildReport {
        seq,
        full,
        packages_serialized: serialized,
        packages_removed: removed,
        scopes_computed: computed,
        scopes_updated: updated,
        tokens: snapshot.tokens.len(),
        packages_took,
        took: started.elapsed(),
    };
    Ok((snapshot, report))
}

fn assemble(
    store: &Store,
    seq: u64,
    packages: BTreeMap<PackageName, Published>,
    people: Arc<People>,
    scopes: HashMap<TokenScope, Arc<ScopeView>>,
    tokens: Vec<Token>,
    previous: &HashMap<String, Arc<TokenEntry>>,
) -> Result<Snapshot, StoreError> {
    let catalog_mtime = store.load_catalog_mtime()?;
    let tokens = tokens
        .into_iter()
        .filter_map(|token| {
            let view = scopes.get(&token.scope)?.clone();
            let since = catalog_mtime.map_or(token.created_at, |m| m.max(token.created_at));
            // The last use lives on across rebuilds until it is written.
            let usage = previous
                .get(&token.hash)
                .map_or_else(|| Arc::new(Usage::new()), |t| t.usage.clone());
            let entry = TokenEntry {
                view,
                packages_modified: Modified::new(since),
                usage,
                token,
            };
            Some((entry.token.hash.clone(), Arc::new(entry)))
        })
        .collect();
    Ok(Snapshot {
        seq,
        packages,
        people,
        scopes,
        tokens,
    })
}

/// How scope views relate to the previous snapshot's.
enum ViewsFrom<'a> {
    /// Who may see what changed, or there is nothing before.
    Scratch,
    /// Only `changed` packages moved; `names_moved` when one came or went.
    Previous {
        changed: &'a BTreeSet<PackageName>,
        names_moved: bool,
    },
}

/// The views of the scopes `tokens` use, and how many were computed from
/// scratch and how many updated.
fn views(
    public_url: &str,
    tokens: &[Token],
    packages: &BTreeMap<PackageName, Published>,
    people: &People,
    from: ViewsFrom,
    previous: &HashMap<TokenScope, Arc<ScopeView>>,
) -> (HashMap<TokenScope, Arc<ScopeView>>, usize, usize) {
    let mut index: Option<RepoIndex> = None;
    let (mut computed, mut updated) = (0, 0);
    let mut out = HashMap::new();
    for scope in tokens.iter().map(|t| &t.scope) {
        if out.contains_key(scope) {
            continue;
        }
        let kept = match (&from, previous.get(scope)) {
            (
                ViewsFrom::Previous {
                    changed,
                    names_moved,
                },
                Some(view),
            ) => match moved(view, scope, changed, *names_moved, packages, people) {
                None => Some(view.clone()),
                Some(visible) => {
                    updated += 1;
                    Some(Arc::new(view_of(public_url, visible, packages)))
                }
            },
            _ => None,
        };
        let view = kept.unwrap_or_else(|| {
            computed += 1;
            let index = index.get_or_insert_with(|| scopes::index_by_repo(packages));
            Arc::new(view_of(
                public_url,
                people.visible(scope, packages, index),
                packages,
            ))
        });
        out.insert(scope.clone(), view);
    }
    (out, computed, updated)
}

/// The new visible set of `view` when the changed packages alter it.
fn moved(
    view: &ScopeView,
    scope: &TokenScope,
    changed: &BTreeSet<PackageName>,
    names_moved: bool,
    packages: &BTreeMap<PackageName, Published>,
    people: &People,
) -> Option<Access> {
    let Access::Only(visible) = &view.visible else {
        return names_moved.then_some(Access::All);
    };
    let allowed = |name: &PackageName| {
        packages
            .get(name)
            .is_some_and(|p| people.allows(scope, &p.0.package))
    };
    let flips: Vec<&PackageName> = changed
        .iter()
        .filter(|n| allowed(n) != visible.contains(*n))
        .collect();
    if flips.is_empty() {
        return None;
    }
    let mut visible = visible.clone();
    for name in flips {
        if !visible.remove(name) {
            visible.insert(name.clone());
        }
    }
    Some(Access::Only(visible))
}

fn view_of(
    public_url: &str,
    visible: Access,
    packages: &BTreeMap<PackageName, Published>,
) -> ScopeView {
    let names: Vec<PackageName> = match &visible {
        Access::All => packages.keys().cloned().collect(),
        Access::Only(names) => names.iter().cloned().collect(),
    };
    let packages_json = Document::new(
        metadata::packages_json(public_url, &names)
            .to_string()
            .into_bytes(),
    );
    ScopeView {
        visible,
        packages_json,
    }
}

/// A package to publish: already loaded, or to be looked up (and maybe
/// found gone).
enum Work {
    /// Boxed: a package record is far larger than a name.
    Loaded(Box<Package>),
    Named(PackageName),
}

/// Publishes every package of `work`, on several threads when there are
/// many. `None` marks a package that no longer exists.
fn publish_all(
    store: &Store,
    public_url: &str,
    work: Vec<Work>,
) -> Result<Vec<(PackageName, Option<Published>)>, StoreError> {
    let one = |work: Work| -> Result<(PackageName, Option<Published>), StoreError> {
        let package = match work {
            Work::Loaded(package) => *package,
            Work::Named(name) => match store.load_package(&name)? {
                Some(package) => package,
                None => return Ok((name, None)),
            },
        };
        let published = publish(store, public_url, package)?;
        Ok((published.0.package.name.clone(), Some(published)))
    };
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if work.len() < PARALLEL_FROM || threads == 1 {
        return work.into_iter().map(one).collect();
    }
    let mut chunks: Vec<Vec<Work>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, w) in work.into_iter().enumerate() {
        chunks[i % threads].push(w);
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| s.spawn(|| chunk.into_iter().map(one).collect::<Result<Vec<_>, _>>()))
            .collect();
        let mut out = Vec::new();
        for handle in handles {
            let part = handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            out.extend(part);
        }
        Ok(out)
    })
}

/// One package's documents, serialized once.
fn publish(store: &Store, public_url: &str, package: Package) -> Result<Published, StoreError> {
    let versions = store.load_versions(&package.name)?;
    let mut shasums = BTreeMap::new();
    for v in &versions {
        if let Some(info) = store.load_dist(&package.name, &v.commit)? {
            shasums.insert(v.commit.clone(), info.sha1);
        }
    }
    let document = |kind| {
        let doc = metadata::p2_json(public_url, &package, &versions, kind, &shasums);
        Document::new(doc.to_string().into_bytes())
    };
    let (tags, dev) = (document(VersionKind::Tag), document(VersionKind::Branch));
    let modified = store.load_package_mtime(&package.name)?.map(Modified::new);
    let commits = store.load_published_commits(&package.name)?;
    Ok(Published(Arc::new(PublishedParts {
        package,
        tags,
        dev,
        modified,
        commits,
    })))
}
