//! Machines that stopped beating: the sweep that releases their seats (issue 13). Each release is
//! one conditional UPDATE in the transaction that gives the seat back and audits it, so however
//! many gateways sweep one database, an activation is released once, and a machine that beat in
//! the meantime (its deadline moved) is not released at all.

use super::deactivate::{entry, lock_existing_license, release_seats};
use super::{Store, StoreError, activate::begin_write, audit::insert_audit};

/// A live activation whose heartbeat deadline has passed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Expired {
    pub id: String,
    pub license_hash: String,
    pub product_id: String,
    pub heartbeat_deadline: i64,
}

impl Store {
    /// Up to `limit` live activations whose deadline passed before `now`, most overdue first.
    pub async fn expired_heartbeats(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Expired>, StoreError> {
        let _timed = self.timed("expired_heartbeats");
        Ok(sqlx::query_as(
            "SELECT id, license_hash, product_id, heartbeat_deadline FROM activations \
             WHERE deactivated_at IS NULL AND heartbeat_deadline IS NOT NULL \
             AND heartbeat_deadline < $1 ORDER BY heartbeat_deadline, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Releases `expired` if it is still live and still past its deadline: its seat goes back
    /// and the release is audited (`heartbeat_release`), all or nothing. `false` when another
    /// gateway released it first or the machine beat since.
    pub async fn release_expired(&self, expired: &Expired, now: i64) -> Result<bool, StoreError> {
        let _timed = self.timed("release_expired");
        let mut tx = begin_write(self).await?;
        // The seat counter's row first, as every seat change takes it (PostgreSQL's per-license
        // lock; SQLite's `begin_write` already holds its one write lock), then the activation,
        // which PostgreSQL re-reads after any concurrent change.
        lock_existing_license(&mut tx, &expired.license_hash, now).await?;
        let done = sqlx::query(
            "UPDATE activations SET deactivated_at = $2, released_reason = 'heartbeat' \
             WHERE id = $1 AND deactivated_at IS NULL AND heartbeat_deadline IS NOT NULL \
             AND heartbeat_deadline < $2",
        )
        .bind(&expired.id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        release_seats(&mut tx, &expired.license_hash, 1).await?;
        let detail = format!(
            "no sign of life by its deadline {}",
            expired.heartbeat_deadline
        );
        let entry = entry(
            "heartbeat_release",
            &expired.license_hash,
            Some(&expired.id),
            now,
            Some(detail),
        );
        insert_audit(&mut *tx, &entry).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Forgets an activation's deadline: its product's heartbeats were switched off.
    pub async fn clear_heartbeat(&self, activation_id: &str) -> Result<(), StoreError> {
        let _timed = self.timed("clear_heartbeat");
        sqlx::query("UPDATE activations SET heartbeat_deadline = NULL WHERE id = $1")
            .bind(activation_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records that a machine was seen while its license could not be decided (upstream
    /// unavailable, within the offline grace): its seat is kept, its deadline moves. `false`
    /// when the activation is no longer live (released or deactivated since it was read).
    pub async fn touch(
        &self,
        activation_id: &str,
        now: i64,
        deadline: Option<i64>,
    ) -> Result<bool, StoreError> {
        let _timed = self.timed("touch");
        let done = sqlx::query(
            "UPDATE activations SET last_seen_at = $2, heartbeat_deadline = $3 \
             WHERE id = $1 AND deactivated_at IS NULL",
        )
        .bind(activation_id)
        .bind(now)
        .bind(deadline)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives every live activation of a product (or of every product but `except`) that has no
    /// heartbeat deadline one at `deadline`: heartbeats were switched on (or the activation
    /// predates them), so each machine gets one full window to check in before a lost one is
    /// released. Returns how many got one.
    pub async fn backfill_heartbeats(
        &self,
        product: Option<&str>,
        except: &[String],
        deadline: i64,
    ) -> Result<u64, StoreError> {
        let _timed = self.timed("backfill_heartbeats");
        let mut sql = String::from(
            "UPDATE activations SET heartbeat_deadline = $1 \
             WHERE deactivated_at IS NULL AND heartbeat_deadline IS NULL",
        );
        if product.is_some() {
            sql.push_str(" AND product_id = $2");
        } else if !except.is_empty() {
            let marks: Vec<String> = (0..except.len()).map(|i| format!("${}", i + 2)).collect();
            sql.push_str(&format!(" AND product_id NOT IN ({})", marks.join(", ")));
        }
        let mut query = sqlx::query(&sql).bind(deadline);
        if let Some(product) = product {
            query = query.bind(product);
        } else {
            for p in except {
                query = query.bind(p);
            }
        }
        Ok(query.execute(&self.pool).await?.rows_affected())
    }

    /// The latest activation this machine held of a license, live or not: tells a machine that
    /// lost its seat to missed heartbeats why.
    pub async fn latest_by_fingerprint(
        &self,
        license_hash: &str,
        fingerprint_hash: &str,
    ) -> Result<Option<super::Activation>, StoreError> {
        let _timed = self.timed("latest_by_fingerprint");
        let sql = format!(
            "SELECT {} FROM activations WHERE license_hash = $1 AND fingerprint_hash = $2 \
             ORDER BY created_at DESC, id DESC LIMIT 1",
            super::ACTIVATION_COLUMNS
        );
        Ok(sqlx::query_as(&sql)
            .bind(license_hash)
            .bind(fingerprint_hash)
            .fetch_optional(&self.pool)
            .await?)
    }
}
