//! Gumgate: a license gateway for software sold on Gumroad, in front of Maton's managed-OAuth
//! proxy. The binary (`main.rs`) only parses the command line; everything else lives here so
//! that the tests drive the real application.
//!
//! Where a request goes: `licenses/` (the public verify), `admin/` (passthrough and Maton
//! connections), `health.rs`; the infrastructure beside them: `upstream/` (the Maton client),
//! `inbound.rs` (body, path and credential handling), `middleware.rs`, `metrics.rs`,
//! `config/`, `error.rs`. Beside this crate in the workspace: `gumroad_wire`, Gumroad's wire
//! vocabulary (param reading, license-key matching, verify messages, webhook resource names),
//! and `gumgate_sandbox`, the local stand-in for Maton and Gumroad that `serve --sandbox` and
//! `gumgate sandbox` run (the default `sandbox` feature) and the tests drive.

pub mod activation;
pub mod admin;
pub mod app;
pub mod auth;
pub mod budget;
pub mod cache;
pub mod clock;
pub mod commands;
pub mod config;
pub mod decision;
pub mod error;
pub mod hashes;
pub mod health;
pub mod inbound;
pub mod intake;
pub mod licenses;
pub mod limits;
pub mod metrics;
pub mod middleware;
pub mod read_through;
pub mod relay;
pub mod sales;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod upstream;
pub mod webhooks;

pub use app::{Application, StartOptions, api_router, build_state, ops_router};
