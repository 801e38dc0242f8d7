//! The webhook inbox: pings stored durably before they are acknowledged, then processed (and
//! retried) from here.

use serde::Serialize;

use sqlx::{Any, Executor};

use super::{Store, StoreError};

/// A ping waiting to be processed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize)]
pub struct Ping {
    pub id: i64,
    pub received_at: i64,
    pub resource_name: Option<String>,
    /// The params processing needs, as JSON (`webhooks::ping`: no buyer's details, no key).
    pub payload: String,
    /// The license key of a ping that names no sale, until it is processed.
    #[serde(skip)]
    pub license_key: Option<String>,
    pub attempts: i64,
}

/// The columns of [`Ping`].
const PING_COLUMNS: &str = "id, received_at, resource_name, payload, license_key, attempts";

/// Where the inbox stands, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboxDepth {
    pub pending: i64,
    /// When the oldest pending ping arrived (unix seconds).
    pub oldest: Option<i64>,
}

impl Store {
    /// Stores a ping (`license_key` only for one that names no sale: it is blanked once the
    /// ping is processed or given up). `false` when the same ping (by `dedup_key`) was already
    /// stored: a retry.
    pub async fn enqueue_ping(
        &self,
        dedup_key: &str,
        resource_name: Option<&str>,
        payload: &str,
        license_key: Option<&str>,
        malformed: bool,
        now: i64,
    ) -> Result<bool, StoreError> {
        let _timed = self.timed("enqueue_ping");
        let state = if malformed { "malformed" } else { "pending" };
        let done = sqlx::query(
            "INSERT INTO webhook_inbox (received_at, dedup_key, resource_name, payload, \
             license_key, state, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $1) \
             ON CONFLICT (dedup_key) DO NOTHING",
        )
        .bind(now)
        .bind(dedup_key)
        .bind(resource_name)
        .bind(payload)
        .bind(license_key)
        .bind(state)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Pending pings due by `now`: those that can revoke access first (a refund must not wait
    /// behind a backlog of sales), then oldest first.
    pub async fn due_pings(&self, now: i64, limit: i64) -> Result<Vec<Ping>, StoreError> {
        let _timed = self.timed("due_pings");
        let revoking = gumroad_wire::webhooks::REVOKING
            .iter()
            .map(|r| format!("'{r}'"))
            .collect::<Vec<_>>()
            .join(", ");
        // The list is our own constant, not input: formatting it into the query is safe.
        let sql = format!(
            "SELECT {PING_COLUMNS} FROM webhook_inbox \
             WHERE state = 'pending' AND next_attempt_at <= $1 \
             ORDER BY CASE WHEN resource_name IN ({revoking}) THEN 0 ELSE 1 END, id LIMIT $2"
        );
        Ok(sqlx::query_as(&sql)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }

    /// Marks a ping processed.
    pub async fn finish_ping(&self, id: i64, now: i64) -> Result<(), StoreError> {
        let _timed = self.timed("finish_ping");
        finish(&self.pool, id, now).await
    }

    /// Records a failed attempt; the ping is tried again at `next` unless `give_up` (then its
    /// license key, if it kept one, is blanked).
    pub async fn retry_ping(
        &self,
        id: i64,
        error: &str,
        next: i64,
        give_up: bool,
    ) -> Result<(), StoreError> {
        let _timed = self.timed("retry_ping");
        let state = if give_up { "failed" } else { "pending" };
        sqlx::query(
            "UPDATE webhook_inbox SET attempts = attempts + 1, last_error = $2, \
             next_attempt_at = $3, state = $4, \
             license_key = CASE WHEN $4 = 'pending' THEN license_key END WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(next)
        .bind(state)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many pings wait, and since when.
    pub async fn inbox_depth(&self) -> Result<InboxDepth, StoreError> {
        let _timed = self.timed("inbox_depth");
        let (pending, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(received_at) FROM webhook_inbox WHERE state = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(InboxDepth { pending, oldest })
    }

    /// How many pings wait to be processed (the receiver's cap).
    pub async fn pending_pings(&self) -> Result<i64, StoreError> {
        let _timed = self.timed("pending_pings");
        let (pending,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM webhook_inbox WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(pending)
    }

    /// Deletes processed pings finished before `before`, and failed and malformed ones received
    /// before it (they are kept for a person to look at, for as long); pending pings stay
    /// whatever their age. Returns how many went.
    pub async fn prune_pings(&self, before: i64) -> Result<u64, StoreError> {
        let _timed = self.timed("prune_pings");
        let done = sqlx::query(
            "DELETE FROM webhook_inbox WHERE state <> 'pending' \
             AND COALESCE(processed_at, received_at) < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Pings in a given state (for inspection and tests).
    pub async fn pings_in(&self, state: &str) -> Result<Vec<Ping>, StoreError> {
        let _timed = self.timed("pings_in");
        let sql = format!("SELECT {PING_COLUMNS} FROM webhook_inbox WHERE state = $1 ORDER BY id");
        Ok(sqlx::query_as(&sql)
            .bind(state)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// Marks a ping processed (its license key, if it kept one, blanked) on any executor, so a
/// re-decision finishes its pings in its own transaction.
pub(super) async fn finish<'e>(
    executor: impl Executor<'e, Database = Any>,
    id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_inbox SET state = 'done', processed_at = $2, license_key = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(executor)
    .await?;
    Ok(())
}
