//! Integration tests of the gateway: the real router on a real socket against the sandbox.

mod auth;
mod errors;
mod health;
mod helpers;
mod metrics;
mod passthrough;
mod paths;
mod process;
mod verify;
