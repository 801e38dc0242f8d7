//! Inbound per-client-IP limits (being written on branch `limits`).
