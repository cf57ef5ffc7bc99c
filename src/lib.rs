//! packyard: a self-hosted private Composer repository kept in sync with code hosts.

pub mod composer;
pub mod domain;
pub mod providers;
pub mod server;
pub mod simulate;
pub mod store;
