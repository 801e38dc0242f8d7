//! The README's example: what a desktop app does at start (compiled with the crate, so it stays
//! true). `cargo run -p gumgate-client --example startup -- KEY STATE_FILE JWKS_FILE`.

use std::sync::Arc;

use gumgate_client::{Client, ClientError, HeartbeatTask, Machine, Outcome, ReasonCode};

/// At start: `None` when the app may not run, else the heartbeat task to keep while it does.
async fn license(key: &str, state: &str, jwks: &str) -> Result<Option<HeartbeatTask>, ClientError> {
    let client = Arc::new(
        Client::builder("https://licenses.example.com", "9Y2u8Dy4AWioyNrmNROrFA==")
            .state_path(state)
            .pinned_jwks(jwks) // your server's /.well-known/jwks.json, shipped with the app
            .build()?,
    );
    let mut outcome = match client.activation_id() {
        Some(_) => client.validate().await?, // online, or offline from the stored token
        None => client.activate(key, Machine::named("Ada's laptop")).await?,
    };
    if matches!(&outcome, Outcome::Denied(d) if d.code == ReasonCode::HeartbeatMissed) {
        outcome = client.activate(key, Machine::named("Ada's laptop")).await?; // a seat again
    }
    if !outcome.is_licensed() {
        return Ok(None); // Outcome::Denied says why: REFUNDED, TOO_MANY_ACTIVATIONS, ...
    }
    println!(
        "features: {:?}",
        outcome.entitlements().map(|e| &e.features)
    );
    Ok(Some(
        client.spawn_heartbeats(|beat| eprintln!("heartbeat: {beat:?}")),
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [key, state, jwks] = args.as_slice() else {
        eprintln!("usage: startup LICENSE_KEY STATE_FILE JWKS_FILE");
        std::process::exit(2);
    };
    let heartbeats = license(key, state, &std::fs::read_to_string(jwks)?).await?;
    println!("licensed: {}", heartbeats.is_some());
    Ok(())
}
