//! The published catalog: everything a Composer request is answered from,
//! held in memory as one immutable [`Snapshot`] that is swapped whole after
//! each store change. A request reads no store and writes nothing: it looks
//! the token up by hash, checks visibility, and copies prepared bytes.
//!
//! # Freshness
//! The store notes what every commit touched on its [`ChangeFeed`]; a
//! follower task rebuilds only that (one package's documents, the scope
//! views, the tokens) and publishes the result with the feed's sequence
//! number. [`Catalog::fresh`] returns a snapshot at least as new as the
//! sequence number when it was called, waiting for the rebuild if needed,
//! so a revoked token or a lost membership is refused by the next request
//! after its commit returned.
//!
//! # Contents
//! - per package: its p2 documents (tags and `~dev`), serialized once with
//!   a gzip variant and an entity tag, its Last-Modified, and the commits
//!   that may be downloaded;
//! - per token scope that a token uses: the visible package names and its
//!   `packages.json`;
//! - the tokens by hash, each with its in-memory last use, written to the
//!   store in batches (see [`Catalog::take_token_use`]).

mod build;
mod document;
mod scopes;

pub use build::BuildReport;
pub use document::{Document, Modified};

use crate::domain::{Access, Package, PackageName, Timestamp, Token, TokenScope, VersionKind};
use crate::store::{ChangeFeed, Store, StoreError};
use arc_swap::ArcSwap;
use scopes::People;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, DropGuard};

/// How long a request waits for the catalog to catch up with a commit
/// before it is refused; a full rebuild of a large catalog takes seconds.
const FRESH_WAIT: Duration = Duration::from_secs(10);

/// After a failed rebuild, the follower tries again (in full) this late.
const RETRY_AFTER: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot build the package catalog from the store: {0}")]
    Build(#[from] StoreError),
    #[error(
        "the package catalog has not caught up with the store after {} s; the server log says why the rebuild fails",
        FRESH_WAIT.as_secs()
    )]
    Behind,
    #[error("catalog build task failed: {0}")]
    Task(String),
}

/// Handle to the published catalog. Cheap to clone; the follower task stops
/// when the last clone is dropped.
#[derive(Clone)]
pub struct Catalog {
    inner: Arc<Inner>,
}

struct Inner {
    published: ArcSwap<Snapshot>,
    /// The sequence number of the published snapshot.
    built: watch::Sender<u64>,
    feed: ChangeFeed,
    reports: Mutex<Reports>,
    _stop: DropGuard,
}

/// What the follower has done so far, for tests, benches and the log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reports {
    /// Builds published, the first (full) one included.
    pub builds: u64,
    /// Packages whose documents were serialized, over every build.
    pub packages_serialized: u64,
    pub last: Option<BuildReport>,
}

impl Catalog {
    /// Builds the catalog of `store` in full, then follows its changes.
    /// Must be called inside a Tokio runtime.
    pub async fn open(store: Store, public_url: String) -> Result<Catalog, CatalogError> {
        let feed = store.changes();
        let woken = feed.subscribe();
        let (seq, _) = feed.take();
        let (snapshot, report) = {
            let (store, public_url) = (store.clone(), public_url.clone());
            blocking(move || build::full(&store, &public_url, seq)).await?
        };
        let stop = CancellationToken::new();
        let catalog = Catalog {
            inner: Arc::new(Inner {
                published: ArcSwap::from_pointee(snapshot),
                built: watch::Sender::new(seq),
                feed,
                reports: Mutex::new(Reports {
                    builds: 1,
                    packages_serialized: report.packages_serialized as u64,
                    last: Some(report),
                }),
                _stop: stop.clone().drop_guard(),
            }),
        };
        let weak = Arc::downgrade(&catalog.inner);
        tokio::spawn(follow(weak, store, public_url, woken, stop));
        Ok(catalog)
    }

    /// A snapshot that includes every store change committed before this
    /// call, waiting for the rebuild when one is under way.
    pub async fn fresh(&self) -> Result<Arc<Snapshot>, CatalogError> {
        let wanted = self.inner.feed.seq();
        let snapshot = self.inner.published.load_full();
        if snapshot.seq >= wanted {
            return Ok(snapshot);
        }
        let mut built = self.inner.built.subscribe();
        tokio::time::timeout(FRESH_WAIT, built.wait_for(|seq| *seq >= wanted))
            .await
            .map_err(|_| CatalogError::Behind)?
            .map_err(|_| CatalogError::Behind)?;
        Ok(self.inner.published.load_full())
    }

    /// What was built so far.
    pub fn reports(&self) -> Reports {
        self.inner
            .reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Token uses recorded since the last call, each with the time of its
    /// latest request, for the caller to write to the store.
    pub fn take_token_use(&self) -> Vec<(Token, Timestamp)> {
        self.inner
            .published
            .load()
            .tokens
            .values()
            .filter_map(|t| t.usage.take().map(|at| (t.token.clone(), at)))
            .collect()
    }

    fn publish(&self, snapshot: Snapshot, report: BuildReport) {
        let seq = snapshot.seq;
        self.inner.published.store(Arc::new(snapshot));
        {
            let mut reports = self
                .inner
                .reports
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            reports.builds += 1;
            reports.packages_serialized += report.packages_serialized as u64;
            reports.last = Some(report);
        }
        self.inner.built.send_replace(seq);
    }
}

/// Rebuilds after every change noted on the feed until the catalog goes.
async fn follow(
    catalog: std::sync::Weak<Inner>,
    store: Store,
    public_url: String,
    mut woken: watch::Receiver<u64>,
    stop: CancellationToken,
) {
    // A failed build lost track of what changed, so the next one is full.
    let mut full = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = woken.changed() => if changed.is_err() { return },
        }
        let Some(inner) = catalog.upgrade() else {
            return;
        };
        let catalog = Catalog { inner };
        let (seq, changed) = catalog.inner.feed.take();
        if changed.is_empty() && !full {
            // An earlier pass already took these changes.
            continue;
        }
        let previous = catalog.inner.published.load_full();
        let (store, public_url) = (store.clone(), public_url.clone());
        let was_full = std::mem::take(&mut full);
        let built = blocking(move || {
            if was_full {
                build::full(&store, &public_url, seq)
            } else {
                build::update(&store, &public_url, &previous, seq, changed)
            }
        })
        .await;
        match built {
            Ok((snapshot, report)) => {
                tracing::debug!(?report, "catalog rebuilt");
                catalog.publish(snapshot, report);
            }
            Err(e) => {
                tracing::error!(error = %e, "catalog rebuild failed; retrying in full");
                full = true;
                drop(catalog);
                tokio::time::sleep(RETRY_AFTER).await;
                // Wake again even if nothing else changes meanwhile.
                woken.mark_changed();
            }
        }
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, CatalogError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| CatalogError::Task(e.to_string()))?
        .map_err(CatalogError::from)
}

/// One immutable state of the catalog.
pub struct Snapshot {
    seq: u64,
    packages: BTreeMap<PackageName, Published>,
    people: Arc<People>,
    scopes: HashMap<TokenScope, Arc<ScopeView>>,
    tokens: HashMap<String, Arc<TokenEntry>>,
}

impl Snapshot {
    /// The store change sequence number this snapshot includes.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The token whose secret hashes to `hash` (expired or not).
    pub fn token(&self, hash: &str) -> Option<&Arc<TokenEntry>> {
        self.tokens.get(hash)
    }

    /// The p2 document of `name` for `kind`, when `view` may see it. Absent
    /// and forbidden are the same `None`.
    pub fn p2(
        &self,
        view: &ScopeView,
        name: &PackageName,
        kind: VersionKind,
    ) -> Option<(&Document, Option<&Modified>)> {
        let published = self.visible(view, name)?;
        let doc = match kind {
            VersionKind::Tag => &published.0.tags,
            VersionKind::Branch => &published.0.dev,
        };
        Some((doc, published.0.modified.as_ref()))
    }

    /// The package called `name` if `view` may see it and `commit` was ever
    /// the commit of one of its versions: only those can be downloaded, so a
    /// token cannot pull arbitrary commits through packyard's credentials,
    /// and a lock keeps installing after its tag moved or went.
    pub fn dist_package(
        &self,
        view: &ScopeView,
        name: &PackageName,
        commit: &str,
    ) -> Option<&Package> {
        let published = self.visible(view, name)?;
        published
            .0
            .commits
            .contains(commit)
            .then_some(&published.0.package)
    }

    /// Every package name, sorted.
    pub fn package_names(&self) -> impl Iterator<Item = &PackageName> {
        self.packages.keys()
    }

    fn visible(&self, view: &ScopeView, name: &PackageName) -> Option<&Published> {
        view.visible
            .allows(name)
            .then(|| self.packages.get(name))
            .flatten()
    }
}

/// A package as published: its documents and what a dist request checks.
#[derive(Clone)]
struct Published(Arc<PublishedParts>);

struct PublishedParts {
    package: Package,
    tags: Document,
    dev: Document,
    /// Last-Modified of both documents: when the package or one of its
    /// versions or dists last changed.
    modified: Option<Modified>,
    /// Every commit that was ever a version (the store's published set).
    commits: BTreeSet<String>,
}

impl Borrow<Package> for Published {
    fn borrow(&self) -> &Package {
        &self.0.package
    }
}

/// What one token scope sees.
#[derive(Debug)]
pub struct ScopeView {
    visible: Access,
    packages_json: Document,
}

impl ScopeView {
    pub fn packages_json(&self) -> &Document {
        &self.packages_json
    }

    pub fn allows(&self, name: &PackageName) -> bool {
        self.visible.allows(name)
    }
}

/// A token as the request path needs it.
#[derive(Debug)]
pub struct TokenEntry {
    token: Token,
    view: Arc<ScopeView>,
    /// packages.json's Last-Modified for this token: the catalog's, or the
    /// token's creation when later, so that a new token never confirms a
    /// copy fetched with an older one.
    packages_modified: Modified,
    usage: Arc<Usage>,
}

impl TokenEntry {
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.token.is_expired(now)
    }

    pub fn view(&self) -> &ScopeView {
        &self.view
    }

    pub fn packages_modified(&self) -> &Modified {
        &self.packages_modified
    }

    /// Notes a request in memory; [`Catalog::take_token_use`] collects it.
    pub fn record_use(&self, now: Timestamp) {
        self.usage.last.fetch_max(now.0, Ordering::Relaxed);
    }
}

/// A token's last use, carried from snapshot to snapshot.
#[derive(Debug)]
struct Usage {
    /// Latest request time; `i64::MIN` for none.
    last: AtomicI64,
    /// What was handed out for writing last.
    taken: AtomicI64,
}

impl Usage {
    fn new() -> Self {
        Self {
            last: AtomicI64::new(i64::MIN),
            taken: AtomicI64::new(i64::MIN),
        }
    }

    fn take(&self) -> Option<Timestamp> {
        let last = self.last.load(Ordering::Relaxed);
        let before = self.taken.swap(last, Ordering::Relaxed);
        (last > before).then_some(Timestamp(last))
    }
}
