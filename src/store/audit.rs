//! The append-only audit trail (the table's triggers refuse UPDATE and DELETE).

use sqlx::SqliteExecutor;

use super::{AuditEntry, Store, StoreError};

impl Store {
    /// Appends one entry.
    pub async fn audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        insert_audit(&self.pool, &entry).await
    }

    /// The latest `limit` entries of a license, in the order they were appended (oldest of
    /// them first).
    pub async fn audit_trail(
        &self,
        license_hash: &str,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
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
}

/// Appends an entry on any executor, so changes audit themselves in their own transaction.
pub(super) async fn insert_audit<'e>(
    executor: impl SqliteExecutor<'e>,
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
