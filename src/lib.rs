//! Gumgate: a license gateway for software sold on Gumroad, in front of Maton's managed-OAuth
//! proxy. The binary (`main.rs`) only parses the command line; everything else lives here so
//! that the tests drive the real application.
//!
//! # Layout
//!
//! Where a request goes, by feature (each ends in a `router()` merged in `app`):
//! - [`licenses`]: the public `POST /v2/licenses/verify` over the verify cache, and the admin
//!   license edits that invalidate it.
//! - [`activation`]: `/v1/licenses/activate | validate | deactivate | heartbeat | machines`,
//!   the heartbeat sweep, the admin activation views, uses mirroring, the reconciler that
//!   re-checks licenses holding activations, and the hourly pruning of audit entries past
//!   `audit.retention`.
//! - [`webhooks`]: the ping receiver, the inbox processor, `gumgate webhooks register`.
//! - [`sales`]: cached admin `GET /v2/sales[/{id}]`.
//! - [`admin`]: every other Gumroad call passed through, Maton connections, the cache purge,
//!   the upstream resume (ends a 429 pause, closes the breaker).
//! - [`health`]: `/livez`, `/readyz`.
//!
//! What those share:
//! - [`decision`]: the license decision: pure rules, `decide` (ask through the verify cache,
//!   judge), `redecide` (a background re-check recorded in one transaction), offline grace,
//!   the purchase's entitlements.
//! - [`intake`]: the `Public` and `Admin` extractors: body limit, credentials out, params in;
//!   `Admin` refuses a client locked out for guessing tokens before comparing any.
//! - [`relay`]: a request sent upstream under the budget, its answer passed back.
//! - [`read_through`]: the cached path: lookup, one coalesced fill, stale-if-error,
//!   `Cache-Status`.
//! - [`cache`]: the answer cache, keyed hashes, single-flight fills.
//! - [`upstream`]: the one Maton client; [`budget`]: its GCRA spacing, priorities, 429 pause and
//!   circuit breaker; [`limits`]: inbound per-IP limits, and the lockouts of license-key and
//!   admin-token guessers.
//! - [`store`]: activations, seats, audit, webhook inbox in SQLite or PostgreSQL, one process
//!   per SQLite file (an advisory lock), the online backup; [`cluster`]: Redis for several
//!   replicas (shared budget, answers, invalidations); [`cors`]: CORS for desktop web views; [`tokens`]: Ed25519 JWTs and the JWKS; [`hashes`]: what the store and
//!   tokens hold instead of keys.
//! - [`app`]: `build_state` (every start-up decision once), the routers, `Application::run`
//!   (listeners, background tasks, shutdown); [`state`]: the handles handlers share.
//! - [`config`], [`error`], [`inbound`] (path safety, body reading), [`middleware`],
//!   [`metrics`], [`telemetry`], [`clock`], [`auth`], [`tls`], [`commands`] (the subcommands).
//!
//! Beside this crate in the workspace: `gumroad_wire`, Gumroad's wire vocabulary (param
//! reading, license-key matching, verify messages, webhook resource names), and
//! `gumgate_sandbox`, the local stand-in for Maton and Gumroad that `serve --sandbox` and
//! `gumgate sandbox` run (the default `sandbox` feature) and the tests drive, and
//! `gumgate_client`, the Rust client library for desktop apps.

pub mod activation;
pub mod admin;
pub mod app;
pub mod auth;
pub mod budget;
pub mod cache;
pub mod clock;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod cors;
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
pub mod redact;
pub mod relay;
pub mod sales;
pub mod serve;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod tokens;
pub mod upstream;
pub mod webhooks;

pub use app::{Application, StartOptions, api_router, build_state, ops_router};
