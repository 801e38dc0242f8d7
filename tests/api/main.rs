//! Integration tests of the gateway: the real router on a real socket against the sandbox.

mod activation;
mod auth;
mod budget;
mod desktop;
mod errors;
mod facade;
mod health;
mod helpers;
mod limits;
mod metrics;
mod openapi;
mod passthrough;
mod paths;
#[path = "../common/postgres.rs"]
mod postgres;
mod process;
#[path = "../common/running.rs"]
mod running;
mod sales;
mod verify;
mod webhooks;
