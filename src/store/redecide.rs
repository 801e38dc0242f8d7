//! Recording a background re-decision (after a webhook ping, or by the reconciler) in one
//! transaction: every active activation's new decision, the license's last check, the audit
//! row and, for a ping, its inbox entry marked done. The upstream re-check happens before,
//! never inside: SQLite's write lock must not wait on the network.

use super::activate::begin_write;
use super::audit::insert_audit;
use super::{AuditEntry, Store, StoreError};

/// Why a license is re-decided, which says what else the transaction records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause<'a> {
    /// Webhook pings about one license (their inbox ids, and their resource names for the
    /// audit, comma-separated): always audited once as `webhook`, and every one of the pings is
    /// finished in the same transaction.
    Ping {
        ids: &'a [i64],
        /// The claim the pings were taken with ([`super::Ping::claim`]): a lost one rolls the
        /// whole re-decision back.
        claim: &'a str,
        resource: Option<&'a str>,
    },
    /// The reconciler: audited as `reconcile` when the decision changed an activation.
    Reconcile,
}

/// An activation's decision before a re-decision.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Previous {
    pub activation_id: String,
    pub last_code: Option<String>,
}

impl Store {
    /// Records `code` (`good` = it was VALID) for every active activation of a license, marks
    /// the license checked, audits, and finishes the pings that caused it, all or nothing.
    /// Returns each activation's previous decision.
    pub async fn record_redecision(
        &self,
        license_hash: &str,
        code: &str,
        good: bool,
        cause: Cause<'_>,
        now: i64,
    ) -> Result<Vec<Previous>, StoreError> {
        let _timed = self.timed("record_redecision");
        let mut tx = begin_write(self).await?;
        let previous: Vec<Previous> = sqlx::query_as(
            "SELECT id AS activation_id, last_code FROM activations \
             WHERE license_hash = $1 AND deactivated_at IS NULL ORDER BY created_at, id",
        )
        .bind(license_hash)
        .fetch_all(&mut *tx)
        .await?;
        // COALESCE keeps the previous good time on a bad decision (see `record_decision`).
        sqlx::query(
            "UPDATE activations SET last_code = $1, last_good_at = COALESCE($2, last_good_at) \
             WHERE license_hash = $3 AND deactivated_at IS NULL",
        )
        .bind(code)
        .bind(good.then_some(now))
        .bind(license_hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE license_refs SET last_checked_at = $2 WHERE license_hash = $1")
            .bind(license_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let changed = previous
            .iter()
            .any(|p| p.last_code.as_deref() != Some(code));
        let (action, detail) = match cause {
            Cause::Ping { resource, .. } => (Some("webhook"), resource),
            Cause::Reconcile => (changed.then_some("reconcile"), None),
        };
        if let Some(action) = action {
            let entry = AuditEntry {
                at: now,
                action: action.into(),
                license_hash: license_hash.into(),
                activation_id: None,
                code: Some(code.into()),
                detail: detail.map(str::to_owned),
            };
            insert_audit(&mut *tx, &entry).await?;
        }
        if let Cause::Ping { ids, claim, .. } = cause {
            for &id in ids {
                super::inbox::finish(&mut *tx, id, claim, now).await?;
            }
        }
        tx.commit().await?;
        Ok(previous)
    }
}
