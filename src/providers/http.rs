//! Shared HTTP client behaviour for providers (placeholder).
