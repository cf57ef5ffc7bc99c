//! Simulated code hosts (placeholder).
