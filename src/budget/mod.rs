//! The upstream budget (being written on branch `budget`).
