//! The durable store of desktop activations (machine seats) and their audit trail: SQLite by
//! default (`storage.database_url`), PostgreSQL for replicas that share one database; through
//! sqlx's `Any` driver with embedded migrations per engine (`migrations/sqlite`,
//! `migrations/postgres`, the same versions in both) and runtime queries in SQL both engines
//! read alike (`$N` parameters, which sqlx binds to the N-th argument on SQLite as PostgreSQL
//! does).
//!
//! The store only sees hashes (`crate::hashes`), never license keys or fingerprints. It
//! audits its own changes in the transaction that makes them (`activate`, `deactivate`,
//! `admin_deactivate`, `release_all`, re-decisions); callers audit other admin actions through
//! [`Store::audit`]. Refusals change nothing and are not audited: callers count them in
//! metrics. Entries older than `audit.retention` are pruned ([`Store::prune_audit`]).
//!
//! A database belongs to one gateway: `lock.rs` refuses a second (a file lock for SQLite, an
//! advisory lock for PostgreSQL, until replicas share answers and invalidations). `connect.rs`
//! refuses a database that cannot be written, at start.

mod activate;
mod audit;
mod backup;
mod connect;
mod deactivate;
mod heartbeats;
mod inbox;
mod known;
mod lock;
mod redecide;
mod refs;
mod types;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use prometheus::{Histogram, HistogramVec};
use sqlx::AnyPool;

use lock::Held;

pub use backup::{BackupTarget, backup};
pub use connect::{Engine, Sharing};
pub use heartbeats::Expired;
pub use inbox::{InboxDepth, Ping};
pub use redecide::{Cause, Previous};
pub use refs::LicenseRef;
pub use types::{Activated, Activation, Actor, AuditEntry, Deactivated, NewActivation, StoreError};

/// The embedded migrations of each engine, every one applied when the store opens. On
/// PostgreSQL sqlx holds an advisory lock while it migrates, so replicas starting together
/// migrate once.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
pub static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The columns of [`Activation`], in one place for every query that returns one.
const ACTIVATION_COLUMNS: &str = "id, license_hash, product_id, fingerprint_hash, name, \
     platform, created_at, last_code, last_good_at, deactivated_at, last_seen_at, released_reason";

/// A cheap handle on the activation database (a connection pool). A file database is this
/// process's alone while any clone of its `Store` lives, until [`Store::close`].
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    engine: Engine,
    /// The one-gateway lock (`lock.rs`): a file lock for SQLite, an advisory lock for
    /// PostgreSQL; `None` for an in-memory database, or once closed.
    lock: Arc<Mutex<Option<Held>>>,
    /// `gumgate_database_query_duration_seconds`, once [`Store::with_metrics`] set it.
    durations: Option<HistogramVec>,
}

/// Observes one store operation's latency when dropped, so an operation that fails half-way
/// (`?` on any query) is timed too.
struct Timed(Option<(Histogram, Instant)>);

impl Drop for Timed {
    fn drop(&mut self) {
        if let Some((histogram, start)) = self.0.take() {
            histogram.observe(start.elapsed().as_secs_f64());
        }
    }
}

impl Store {
    /// Opens (creating the SQLite file and its directory if missing), takes the database's
    /// one-gateway lock, checks that it can be written, and migrates.
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        Self::open(database_url, Sharing::OneGateway).await
    }

    /// [`Store::connect`] for a gateway in cluster mode: on PostgreSQL no one-gateway lock is
    /// taken, the replicas coordinating through claims, Redis and the database's row locks. A
    /// SQLite file stays one process's.
    pub async fn connect_cluster(database_url: &str) -> Result<Self, StoreError> {
        Self::open(database_url, Sharing::Cluster).await
    }

    async fn open(database_url: &str, sharing: Sharing) -> Result<Self, StoreError> {
        let connect::Opened { pool, engine, lock } = connect::open(database_url, sharing).await?;
        match engine {
            Engine::Sqlite => MIGRATOR.run(&pool).await?,
            Engine::Postgres => PG_MIGRATOR.run(&pool).await?,
        }
        let lock = Arc::new(Mutex::new(lock));
        Ok(Self {
            pool,
            engine,
            lock,
            durations: None,
        })
    }

    /// Times every operation from now on into `durations` (by `op`, the method's name).
    pub fn with_metrics(mut self, durations: HistogramVec) -> Self {
        self.durations = Some(durations);
        self
    }

    /// The engine this store runs on.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Starts timing the operation `op`; the returned guard observes when dropped.
    fn timed(&self, op: &'static str) -> Timed {
        Timed(
            self.durations
                .as_ref()
                .map(|d| (d.with_label_values(&[op]), Instant::now())),
        )
    }

    /// What [`Store::connect`] would refuse, checked without opening, locking or migrating
    /// the database (for `check-config`). Another process holding the lock is not a refusal
    /// here: `check-config` is meant to run beside the `serve` it will replace.
    pub fn check(database_url: &str) -> Result<(), StoreError> {
        connect::check(database_url)
    }

    /// Folds the write-ahead log into the database file, then closes the pool, waiting for
    /// connections in use; for a clean shutdown. SQLite also checkpoints as its last
    /// connection closes, but connections closing at once can each leave that to another, so
    /// the checkpoint is asked for here: a cleanly stopped store is one self-contained file.
    /// Then lets go of the lock: with every connection closed, a successor may open the file.
    pub async fn close(&self) {
        if self.engine == Engine::Sqlite
            && let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await
        {
            tracing::warn!(error = %e, "the database could not be checkpointed at shutdown");
        }
        self.pool.close().await;
        let lock = self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(lock) = lock {
            lock.release().await;
        }
    }

    /// Whether the database answers a trivial query within a second (for `/readyz`).
    pub async fn ping(&self) -> bool {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(1), query).await,
            Ok(Ok(_))
        )
    }

    /// An activation of this license by id, deactivated or not.
    pub async fn get(
        &self,
        license_hash: &str,
        activation_id: &str,
    ) -> Result<Option<Activation>, StoreError> {
        let _timed = self.timed("get");
        let sql = format!(
            "SELECT {ACTIVATION_COLUMNS} FROM activations WHERE license_hash = $1 AND id = $2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(license_hash)
            .bind(activation_id)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The active activation of this machine, if any (deactivated ones are history).
    pub async fn find_by_fingerprint(
        &self,
        license_hash: &str,
        fingerprint_hash: &str,
    ) -> Result<Option<Activation>, StoreError> {
        let _timed = self.timed("find_by_fingerprint");
        let mut conn = self.pool.acquire().await?;
        Ok(activate::find_active(&mut conn, license_hash, fingerprint_hash).await?)
    }

    /// Active (not deactivated) activations of a license, oldest first (ties by id, so the
    /// order is stable).
    pub async fn list(&self, license_hash: &str) -> Result<Vec<Activation>, StoreError> {
        let _timed = self.timed("list");
        let sql = format!(
            "SELECT {ACTIVATION_COLUMNS} FROM activations \
             WHERE license_hash = $1 AND deactivated_at IS NULL ORDER BY created_at, id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(license_hash)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Remembers a license's seat limit and what the purchase is (entitlements as JSON) at a
    /// good decision, for offline answers.
    pub async fn remember_terms(
        &self,
        license_hash: &str,
        seats: u32,
        entitlements: Option<&str>,
    ) -> Result<(), StoreError> {
        let _timed = self.timed("remember_terms");
        sqlx::query(
            "UPDATE license_seats SET seat_limit = $2, \
             entitlements = COALESCE($3, entitlements) WHERE license_hash = $1",
        )
        .bind(license_hash)
        .bind(i64::from(seats))
        .bind(entitlements)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The seat limit and entitlements (JSON) remembered at the license's last good decision.
    pub async fn terms(
        &self,
        license_hash: &str,
    ) -> Result<(Option<u32>, Option<String>), StoreError> {
        let _timed = self.timed("terms");
        let row: Option<(Option<i64>, Option<String>)> = sqlx::query_as(
            "SELECT seat_limit, entitlements FROM license_seats WHERE license_hash = $1",
        )
        .bind(license_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map_or((None, None), |(n, e)| (n.map(to_u32), e)))
    }

    /// Seats taken: the active activations themselves, the truth the counter guards.
    pub async fn seats_used(&self, license_hash: &str) -> Result<u32, StoreError> {
        let _timed = self.timed("seats_used");
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM activations WHERE license_hash = $1 AND deactivated_at IS NULL",
        )
        .bind(license_hash)
        .fetch_one(&self.pool)
        .await?;
        Ok(to_u32(n))
    }

    /// Records the latest decision for a live activation (`good` = it was VALID), for offline
    /// grace: `last_good_at` only moves on a good decision. The machine was seen `now`; its
    /// heartbeat deadline becomes `deadline` (`None`: heartbeats off for its product).
    /// [`StoreError::UnknownActivation`] when no live activation has that id: one deactivated or
    /// released since the caller read it must not be renewed (nor get a token).
    pub async fn record_decision(
        &self,
        activation_id: &str,
        code: &str,
        good: bool,
        now: i64,
        deadline: Option<i64>,
    ) -> Result<(), StoreError> {
        let _timed = self.timed("record_decision");
        // COALESCE keeps the previous good time on a bad decision, without a boolean
        // parameter (whose binding differs between the engines).
        let done = sqlx::query(
            "UPDATE activations SET last_code = $1, last_good_at = COALESCE($2, last_good_at), \
             last_seen_at = $4, heartbeat_deadline = $5 WHERE id = $3 AND deactivated_at IS NULL",
        )
        .bind(code)
        .bind(good.then_some(now))
        .bind(activation_id)
        .bind(now)
        .bind(deadline)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownActivation(activation_id.to_owned()));
        }
        Ok(())
    }
}

/// Counts come back as BIGINT; they are never negative nor anywhere near `u32::MAX`.
fn to_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}
