//! What packyard serves to Composer: repository metadata (`packages.json`,
//! minified p2 files), the published in-memory catalog with its per-token
//! views, and the dist archive cache. HTTP lives in `server`; this module
//! only builds documents and files, reading the store.

pub mod catalog;
pub mod dists;
pub mod metadata;

pub use catalog::{Catalog, CatalogError};
pub use dists::{ArchiveSource, DistCache, DistError};
