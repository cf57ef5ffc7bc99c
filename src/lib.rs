//! packyard: a self-hosted private Composer repository that keeps users,
//! teams, permissions and packages in sync with the code hosts where the code
//! lives, and serves Composer metadata and dist archives to `composer install`.
//!
//! # Layout
//! Dependencies run one way: `domain` ← `providers`/`store`/`composer` ←
//! `engine` ← `admin` ← `cli`/`tui`/`server`.
//! - [`domain`]: plain data types and pure rules (ids, snapshots, plans,
//!   version naming). No I/O.
//! - [`providers`]: code host clients behind `CodeHost`; they turn a host's
//!   REST (or, for GitHub, GraphQL) API into a `RemoteSnapshot`.
//! - [`store`]: the only owner of sled; applies a plan atomically.
//! - [`engine`]: runs synchronizations (snapshot → reconcile → apply) and
//!   broadcasts progress events. [`engine::reconcile`] is the pure planner.
//! - [`composer`]: packages.json, p2 metadata, the published in-memory catalog
//!   and the dist archive cache.
//! - [`server`]: the Composer HTTP server (axum on hyper-util: HTTP/1.1 and
//!   HTTP/2 cleartext) with token authentication.
//! - [`admin`]: the API front ends use to administer packyard.
//! - [`cli`]: command-line parsing and non-interactive commands.
//! - [`config`]: configuration file, data dir and logging.
//! - [`demo`]: `packyard demo` over a simulated organization.
//! - [`simulate`]: simulated code hosts for the demo, tests and benchmarks.
//! - [`tui`]: the terminal dashboard (`packyard`, `packyard demo`) over the admin API.

pub mod admin;
pub mod cli;
pub mod composer;
pub mod config;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod providers;
pub mod server;
pub mod simulate;
pub mod store;
pub mod tui;
