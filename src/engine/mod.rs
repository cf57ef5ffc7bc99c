//! The engine (placeholder while reconcile lands).
pub mod reconcile;
