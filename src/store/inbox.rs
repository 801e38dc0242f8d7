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
    /// Who claimed it ([`Store::due_pings`]): only they may finish it. `None` for a ping read
    /// without being claimed ([`Store::pings_in`]).
    #[serde(skip)]
    pub claimed_by: Option<String>,
}

impl Ping {
    /// The claim that fences this ping's finish (empty, which fences everything out, when it
    /// was read without one).
    pub fn claim(&self) -> &str {
        self.claimed_by.as_deref().unwrap_or_default()
    }
}

/// The columns of [`Ping`].
const PING_COLUMNS: &str =
    "id, received_at, resource_name, payload, license_key, attempts, claimed_by";

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

    /// Claims pending pings due by `now` that nobody holds (a claim whose lease has passed is
    /// nobody's): those that can revoke access first (a refund must not wait behind a backlog of
    /// sales), then oldest first. Several gateways on one PostgreSQL database claim disjoint
    /// rows (`FOR UPDATE SKIP LOCKED`); on SQLite one gateway is alone with its file. Every
    /// ping returned carries the round's claim, which its finish must show. The claim holds for
    /// `lease` seconds (`webhooks.claim_lease`): a claimant that is gone (killed, partitioned)
    /// leaves its pings to others once it passes, and its late finishes are refused (fenced) so
    /// nothing is recorded twice.
    pub async fn due_pings(
        &self,
        now: i64,
        limit: i64,
        lease: i64,
    ) -> Result<Vec<Ping>, StoreError> {
        let _timed = self.timed("due_pings");
        let revoking = revoking_first();
        let skip_locked = match self.engine {
            super::Engine::Postgres => "FOR UPDATE SKIP LOCKED",
            super::Engine::Sqlite => "",
        };
        let claim = uuid::Uuid::new_v4().simple().to_string();
        let sql = format!(
            "UPDATE webhook_inbox SET claimed_by = $1, claimed_until = $2 WHERE id IN \
             (SELECT id FROM webhook_inbox WHERE state = 'pending' AND next_attempt_at <= $3 \
             AND (claimed_until IS NULL OR claimed_until <= $3) \
             ORDER BY {revoking}, id LIMIT $4 {skip_locked}) RETURNING {PING_COLUMNS}"
        );
        let mut tx = super::activate::begin_write(self).await?;
        let mut pings: Vec<Ping> = sqlx::query_as(&sql)
            .bind(&claim)
            .bind(now.saturating_add(lease))
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        // RETURNING keeps no order.
        pings.sort_by_key(|p| (!is_revoking(p.resource_name.as_deref()), p.id));
        Ok(pings)
    }

    /// Marks a claimed ping done; refused ([`StoreError::ClaimLost`]) unless `ping`'s claim
    /// still holds it.
    pub async fn finish_ping(&self, ping: &Ping, now: i64) -> Result<(), StoreError> {
        let _timed = self.timed("finish_ping");
        finish(&self.pool, ping.id, ping.claim(), now).await
    }

    /// Records a failed attempt at a claimed ping and lets go of it (due again at `next`, or
    /// given up); refused unless `ping`'s claim still holds it.
    pub async fn retry_ping(
        &self,
        ping: &Ping,
        error: &str,
        next: i64,
        give_up: bool,
    ) -> Result<(), StoreError> {
        let _timed = self.timed("retry_ping");
        let state = if give_up { "failed" } else { "pending" };
        let done = sqlx::query(
            "UPDATE webhook_inbox SET attempts = attempts + 1, last_error = $2, \
             next_attempt_at = $3, state = $4, \
             license_key = CASE WHEN $4 = 'pending' THEN license_key END, \
             claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $5",
        )
        .bind(ping.id)
        .bind(error)
        .bind(next)
        .bind(state)
        .bind(ping.claim())
        .execute(&self.pool)
        .await?;
        fenced(done.rows_affected(), ping.id)
    }

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
    claim: &str,
    now: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE webhook_inbox SET state = 'done', processed_at = $2, license_key = NULL, \
         claimed_by = NULL, claimed_until = NULL WHERE id = $1 AND claimed_by = $3",
    )
    .bind(id)
    .bind(now)
    .bind(claim)
    .execute(executor)
    .await?;
    fenced(done.rows_affected(), id)
}

/// A fenced write that touched nothing lost its claim: the lease passed and another claimant
/// may hold the ping now. The caller's transaction must not commit.
fn fenced(rows: u64, id: i64) -> Result<(), StoreError> {
    if rows == 0 {
        return Err(StoreError::ClaimLost(id));
    }
    Ok(())
}

/// The resources whose pings go first.
fn is_revoking(resource: Option<&str>) -> bool {
    resource.is_some_and(|r| gumroad_wire::webhooks::REVOKING.contains(&r))
}

/// SQL ordering revoking pings first (the names are constants of ours, not input).
fn revoking_first() -> String {
    let revoking = gumroad_wire::webhooks::REVOKING
        .iter()
        .map(|r| format!("'{r}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("CASE WHEN resource_name IN ({revoking}) THEN 0 ELSE 1 END")
}
