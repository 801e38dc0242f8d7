//! Licenses Gumroad has vouched for (answered 200 at least once), by hash: the budget reserve
//! for known licenses survives a restart through them.

use super::{Store, StoreError};

impl Store {
    /// Every known license hash: those remembered, and those holding an active activation
    /// (activated before licenses were remembered, or re-checked since).
    pub async fn known_licenses(&self) -> Result<Vec<String>, StoreError> {
        let _timed = self.timed("known_licenses");
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT license_hash FROM known_licenses UNION \
             SELECT license_hash FROM activations WHERE deactivated_at IS NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|(h,)| h).collect())
    }

    /// Remembers licenses Gumroad answered 200 for (nothing for those already known), in one
    /// transaction: one commit (one fsync) for a whole batch.
    pub async fn remember_known(
        &self,
        license_hashes: &[String],
        now: i64,
    ) -> Result<(), StoreError> {
        let _timed = self.timed("remember_known");
        let mut tx = self.pool.begin().await?;
        for hash in license_hashes {
            sqlx::query(
                "INSERT INTO known_licenses (license_hash, first_seen_at) VALUES ($1, $2) \
                 ON CONFLICT (license_hash) DO NOTHING",
            )
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
