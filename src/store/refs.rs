//! License references for the reconciler: the sale a license belongs to and when it was last
//! checked upstream, for licenses that hold activations.

use super::{Store, StoreError};

/// A license due for a re-check.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LicenseRef {
    pub license_hash: String,
    pub product_id: String,
    pub sale_id: String,
    pub last_checked_at: i64,
}

impl Store {
    /// Remembers (or refreshes) a license's sale, checked at `now`.
    pub async fn remember_license(
        &self,
        license_hash: &str,
        product_id: &str,
        sale_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        let _timed = self.timed("remember_license");
        sqlx::query(
            "INSERT INTO license_refs (license_hash, product_id, sale_id, last_checked_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (license_hash) DO UPDATE SET \
             product_id = excluded.product_id, sale_id = excluded.sale_id, \
             last_checked_at = excluded.last_checked_at",
        )
        .bind(license_hash)
        .bind(product_id)
        .bind(sale_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a license checked at `now`.
    pub async fn touch_license(&self, license_hash: &str, now: i64) -> Result<(), StoreError> {
        let _timed = self.timed("touch_license");
        sqlx::query("UPDATE license_refs SET last_checked_at = $2 WHERE license_hash = $1")
            .bind(license_hash)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Makes every license due for the reconciler (last checked no later than `due_before`,
    /// the cut-off of `licenses_due`), keeping the older times of those already due so they
    /// still come first. Returns how many licenses were touched.
    pub async fn mark_all_licenses_due(&self, due_before: i64) -> Result<u64, StoreError> {
        let _timed = self.timed("mark_all_licenses_due");
        let done =
            sqlx::query("UPDATE license_refs SET last_checked_at = $1 WHERE last_checked_at > $1")
                .bind(due_before.saturating_sub(1))
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    /// Claims licenses with at least one active activation, last checked before `before`,
    /// that nobody holds, the longest-unchecked first: each is the caller's to re-check for
    /// [`LICENSE_LEASE_SECS`] (several gateways on one PostgreSQL database claim disjoint
    /// rows), so one round over all of them checks each due license once. Re-deciding marks it
    /// checked; [`Store::release_license`] hands back one left unchecked.
    pub async fn licenses_due(
        &self,
        now: i64,
        before: i64,
        limit: i64,
    ) -> Result<Vec<LicenseRef>, StoreError> {
        let _timed = self.timed("licenses_due");
        let skip_locked = match self.engine {
            super::Engine::Postgres => "FOR UPDATE OF r SKIP LOCKED",
            super::Engine::Sqlite => "",
        };
        let sql = format!(
            "UPDATE license_refs SET claimed_until = $3 WHERE license_hash IN \
             (SELECT r.license_hash FROM license_refs r \
             WHERE r.last_checked_at < $1 AND (r.claimed_until IS NULL OR r.claimed_until <= $4) \
             AND EXISTS (SELECT 1 FROM activations a \
             WHERE a.license_hash = r.license_hash AND a.deactivated_at IS NULL) \
             ORDER BY r.last_checked_at LIMIT $2 {skip_locked}) \
             RETURNING license_hash, product_id, sale_id, last_checked_at"
        );
        let mut tx = super::activate::begin_write(self).await?;
        let mut due: Vec<LicenseRef> = sqlx::query_as(&sql)
            .bind(before)
            .bind(limit)
            .bind(now.saturating_add(LICENSE_LEASE_SECS))
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        // RETURNING keeps no order.
        due.sort_by(|a, b| {
            (a.last_checked_at, &a.license_hash).cmp(&(b.last_checked_at, &b.license_hash))
        });
        Ok(due)
    }

    /// Hands back a claimed license the round did not get to (no spare budget left).
    pub async fn release_license(&self, license_hash: &str) -> Result<(), StoreError> {
        let _timed = self.timed("release_license");
        sqlx::query("UPDATE license_refs SET claimed_until = NULL WHERE license_hash = $1")
            .bind(license_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// How long the reconciler's claim on a license lasts: past it, another gateway may check it.
pub const LICENSE_LEASE_SECS: i64 = 300;
