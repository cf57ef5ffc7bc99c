//! packyard: a self-hosted private Composer repository kept in sync with code hosts.

pub mod admin;
pub mod cli;
pub mod domain;
pub mod engine;
pub mod providers;
pub mod simulate;
pub mod store;
