//! The store against real SQLite files in temp dirs; helpers here, tests by topic.

mod deactivations;
mod known;
mod opening;
mod records;
mod redaction;
mod redecisions;
mod seats;

use std::sync::Arc;

use tempfile::TempDir;

use super::*;

const LIC: &str = "lic-hash-1";
const T0: i64 = 1_800_000_000;

async fn store_in(dir: &TempDir) -> Store {
    let url = format!("sqlite://{}/gumgate.db", dir.path().display());
    Store::connect(&url).await.expect("connect")
}

fn new(fingerprint: &str, seats: u32, now: i64) -> NewActivation {
    NewActivation {
        license_hash: LIC.into(),
        product_id: "prod-1".into(),
        fingerprint_hash: fingerprint.into(),
        name: Some("Studio Mac".into()),
        platform: Some("macos".into()),
        seats,
        now,
    }
}

fn created(outcome: Activated) -> Activation {
    match outcome {
        Activated::Created(a) => a,
        other => panic!("expected Created, got {other:?}"),
    }
}

/// Runs `n` activations of distinct fingerprints (`{prefix}{i}`) at once.
async fn concurrent(store: &Store, prefix: &str, n: usize, seats: u32) -> Vec<Activated> {
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (store, barrier) = (store.clone(), barrier.clone());
            let activation = new(&format!("{prefix}{i}"), seats, T0);
            tokio::spawn(async move {
                barrier.wait().await;
                store.activate(activation).await.expect("activate")
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task"));
    }
    outcomes
}

fn count(outcomes: &[Activated]) -> (usize, usize, usize) {
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Activated::Created(_)));
    let existing = outcomes
        .iter()
        .filter(|o| matches!(o, Activated::Existing(_)));
    let no_seat = outcomes
        .iter()
        .filter(|o| matches!(o, Activated::NoSeat { .. }));
    (created.count(), existing.count(), no_seat.count())
}

/// The seat counter and the active rows must agree.
async fn counter_of(store: &Store) -> u32 {
    let mut conn = store.pool.acquire().await.unwrap();
    activate::counter(&mut conn, LIC).await.unwrap()
}
