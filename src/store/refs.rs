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

    /// Licenses with at least one active activation, last checked before `before`, the
    /// longest-unchecked first.
    pub async fn licenses_due(
        &self,
        before: i64,
        limit: i64,
    ) -> Result<Vec<LicenseRef>, StoreError> {
        let _timed = self.timed("licenses_due");
        Ok(sqlx::query_as(
            "SELECT r.license_hash, r.product_id, r.sale_id, r.last_checked_at FROM license_refs r \
             WHERE r.last_checked_at < $1 AND EXISTS (SELECT 1 FROM activations a \
             WHERE a.license_hash = r.license_hash AND a.deactivated_at IS NULL) \
             ORDER BY r.last_checked_at LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}
