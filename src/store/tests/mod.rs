//! The store against real databases: SQLite files in temp dirs, and a database of its own on
//! the PostgreSQL server `bash scripts/test.sh` starts (`GUMGATE_TEST_POSTGRES_URL`). Tests
//! declared with [`on_both_engines!`] run on each; helpers here, tests by topic.

// The integration tests' helper, one piece for both.
#[path = "../../../tests/common/postgres.rs"]
mod postgres;

mod claims;
mod deactivations;
mod heartbeats;
mod known;
mod opening;
mod records;
mod redaction;
mod redecisions;
mod seats;

use std::sync::Arc;

use sqlx::Executor;
use tempfile::TempDir;

use super::*;

const LIC: &str = "lic-hash-1";
const T0: i64 = 1_800_000_000;
/// A ping claim's lease in these tests (the default `webhooks.claim_lease`).
const LEASE: i64 = 300;

/// Declares store tests that run on both engines: `name::sqlite` always, `name::postgres`
/// listed as ignored by a bare `cargo test` and run by `bash scripts/test.sh`. Each body gets a
/// fresh, empty [`TestDb`] as `db`.
macro_rules! on_both_engines {
    ($($(#[doc = $doc:literal])* async fn $name:ident($db:ident) $body:block)*) => {$(
        $(#[doc = $doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            async fn sqlite() {
                run(TestDb::sqlite()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 8)]
            #[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
            async fn postgres() {
                run(TestDb::postgres().await).await
            }
        }
    )*};
}
pub(crate) use on_both_engines;

/// An empty database that outlives the stores opened on it (a close and reopen is a restart).
enum TestDb {
    Sqlite(TempDir),
    /// The URL of a database created for this test alone.
    Postgres(String),
}

impl TestDb {
    fn sqlite() -> Self {
        Self::Sqlite(TempDir::new().unwrap())
    }

    /// A new database on the server `bash scripts/test.sh` started. Fails, never skips, when
    /// there is none: this only runs when asked for with `--include-ignored`.
    async fn postgres() -> Self {
        Self::Postgres(postgres::database("gumgate_test").await)
    }

    fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}/gumgate.db", dir.path().display()),
            Self::Postgres(url) => url.clone(),
        }
    }

    /// Opens (and migrates) a store on this database.
    async fn store(&self) -> Store {
        Store::connect(&self.url()).await.expect("connect")
    }
}

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
