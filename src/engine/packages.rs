//! An admin's changes to one package's life: give it to another repository
//! (`package move`), mark it abandoned or maintained again, and let a
//! removed package come back (`package restore`). Each is previewed first,
//! then applied as one store transaction.

use super::{EngineError, EngineHandle, reconcile};
use crate::domain::{Abandoned, Change, Package, PackageName, Plan, SyncId};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What to change about a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum PackageChange {
    /// Give the name to the repository at `path` (as `package list` shows
    /// it) of sync `sync`; the package's versions become that repository's.
    Move { sync: SyncId, path: String },
    /// Mark the package abandoned, optionally naming its replacement.
    Abandon { replacement: Option<PackageName> },
    /// Undo `Abandon`.
    Maintain,
    /// Let the repositories it was removed from provide it again.
    Restore,
}

/// What a package change does, line by line, for the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageChangePreview {
    pub lines: Vec<String>,
}

impl EngineHandle {
    /// Previews `change` of package `name`; applies it when `apply`.
    pub async fn change_package(
        &self,
        name: PackageName,
        change: PackageChange,
        apply: bool,
    ) -> Result<PackageChangePreview, EngineError> {
        let PackageChange::Move { sync, path } = change else {
            return self
                .operate(apply, move |s| plan_lifecycle(s, &name, &change))
                .await;
        };
        let record = self.load_sync(&sync).await?;
        let host = self.host(&record).await?;
        let repo = host.fetch_repo(&path).await?.ok_or_else(|| {
            EngineError::InvalidInput(format!(
                "synchronization {sync:?} sees no repository {path:?}; give the path as the host shows it (owner/repo, GitLab group/sub/repo, Bitbucket Data Center PROJECT/repo)"
            ))
        })?;
        self.operate(apply, move |s| {
            let claimed = BTreeSet::from([name.clone()]);
            let current = s.load_current(&sync, &claimed)?;
            let plan = reconcile::plan_move(&sync, &name, &repo, &current)
                .map_err(EngineError::InvalidInput)?;
            let from = current.packages.get(&name).map_or_else(
                || "no repository yet".to_owned(),
                |p| format!("{}:{}", p.origin, p.repo_full_name),
            );
            let lines = vec![
                format!("{name}: from {from} to {sync}:{}", repo.full_name),
                format!("versions: {}", plan.summary.describe()),
            ];
            Ok((plan, PackageChangePreview { lines }))
        })
        .await
    }
}

/// Plans every change but a move, which needs the host first.
fn plan_lifecycle(
    store: &Store,
    name: &PackageName,
    change: &PackageChange,
) -> Result<(Plan, PackageChangePreview), EngineError> {
    let mut plan = Plan::default();
    let package = store.load_package(name)?;
    let mut put = |package: Package, line: String| {
        plan.changes.push(Change::PutPackage(package));
        vec![line]
    };
    let lines = match (change, package) {
        (PackageChange::Restore, _) => {
            let removals: Vec<_> = store
                .load_removals()?
                .into_iter()
                .filter(|r| &r.name == name)
                .collect();
            if removals.is_empty() {
                return Err(EngineError::InvalidInput(format!(
                    "{name} was not removed by an admin, so there is nothing to restore"
                )));
            }
            removals
                .into_iter()
                .map(|r| {
                    let line = format!(
                        "{name}: synchronization {} may create it again from its repository at its next run",
                        r.sync
                    );
                    plan.changes.push(Change::DeleteRemoval {
                        sync: r.sync,
                        repo: r.repo,
                    });
                    line
                })
                .collect()
        }
        (_, None) => {
            return Err(EngineError::InvalidInput(format!(
                "no package {name}. `packyard package list` shows the package names"
            )));
        }
        (PackageChange::Abandon { replacement }, Some(package)) => {
            let line = match replacement {
                Some(other) => {
                    format!("{name}: marked abandoned; Composer suggests {other} instead")
                }
                None => format!("{name}: marked abandoned"),
            };
            put(
                Package {
                    abandoned: Some(Abandoned {
                        replacement: replacement.clone(),
                    }),
                    ..package
                },
                line,
            )
        }
        (PackageChange::Maintain, Some(package)) => put(
            Package {
                abandoned: None,
                ..package
            },
            format!("{name}: no longer marked abandoned"),
        ),
        (PackageChange::Move { .. }, Some(_)) => {
            return Err(EngineError::Internal(
                "a package move is planned with its repository".into(),
            ));
        }
    };
    Ok((plan, PackageChangePreview { lines }))
}
