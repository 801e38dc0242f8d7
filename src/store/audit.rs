//! The append-only audit trail: the table's triggers refuse UPDATE, and DELETE of anything but
//! the rows older than the cutoff that [`Store::prune_audit`] sets for its own transaction
//! (`migrations/*/0004_audit_retention.sql`).

use sqlx::{Any, Executor};

use super::{AuditEntry, Store, StoreError, activate::begin_write};

/// Rows deleted per pruning transaction: each holds SQLite's write lock, so a large backlog
/// (the first prune after an upgrade) is deleted in short turns that activations interleave.
const PRUNE_BATCH: i64 = 1_000;

impl Store {
    /// Appends one entry.
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let _timed = self.timed("audit");
        insert_audit(&self.pool, &entry).await
    }

    /// The latest `limit` entries of a license, in the order they were appended (oldest of
    /// them first).
    pub async fn audit_trail(
        &self,
        license_hash: &str,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let _timed = self.timed("audit_trail");
        // `seq`, not `at`: entries in the same second keep their order.
        let mut entries: Vec<AuditEntry> = sqlx::query_as(
            "SELECT at, action, license_hash, activation_id, code, detail FROM audit_log \
             WHERE license_hash = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(license_hash)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        entries.reverse();
        Ok(entries)
    }

    /// Deletes the entries older than `before` (unix seconds); returns how many went. The only
    /// DELETE the triggers allow: each batch sets the cutoff, deletes, clears the cutoff and
    /// commits, so no other statement ever runs while a cutoff is set.
    pub async fn prune_audit(&self, before: i64) -> Result<u64, StoreError> {
        let _timed = self.timed("prune_audit");
        let mut pruned = 0;
        loop {
            let mut tx = begin_write(self).await?;
            set_cutoff(&mut *tx, Some(before)).await?;
            let done = sqlx::query(
                "DELETE FROM audit_log WHERE seq IN \
                 (SELECT seq FROM audit_log WHERE at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(PRUNE_BATCH)
            .execute(&mut *tx)
            .await?;
            set_cutoff(&mut *tx, None).await?;
            tx.commit().await?;
            pruned += done.rows_affected();
            if done.rows_affected() < PRUNE_BATCH.unsigned_abs() {
                return Ok(pruned);
            }
        }
    }
}

async fn set_cutoff<'e>(
    executor: impl Executor<'e, Database = Any>,
    cutoff: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_prune_cutoff SET cutoff = $1 WHERE id = 1")
        .bind(cutoff)
        .execute(executor)
        .await?;
    Ok(())
}

/// Appends an entry on any executor, so changes audit themselves in their own transaction.
pub(super) async fn insert_audit<'e>(
    executor: impl Executor<'e, Database = Any>,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, action, license_hash, activation_id, code, detail) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(entry.at)
    .bind(&entry.action)
    .bind(&entry.license_hash)
    .bind(&entry.activation_id)
    .bind(&entry.code)
    .bind(&entry.detail)
    .execute(executor)
    .await?;
    Ok(())
}
