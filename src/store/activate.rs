//! Taking a seat: idempotent per fingerprint, and never more than the license's seats.
//!
//! One transaction per attempt: lock the license's counter row, return the machine's
//! existing activation if there is one, else take a seat with a conditional increment and
//! insert the activation. In SQLite `BEGIN IMMEDIATE` serialises the writers; in PostgreSQL
//! (plain `BEGIN`, READ COMMITTED) the upsert on `license_seats` row-locks the license, so
//! same-license activations queue there and each later statement sees what the previous
//! holder committed. The conditional `UPDATE ... WHERE seats_used < $2` is the limit itself
//! and holds even without that lock; the partial unique index backs idempotency.

use sqlx::{Any, AnyConnection, Transaction};

use super::{
    ACTIVATION_COLUMNS, Activated, Activation, AuditEntry, NewActivation, Store, StoreError,
    audit::insert_audit, to_u32,
};

impl Store {
    /// Idempotent per fingerprint; never more than `seats` active activations per license,
    /// whatever the concurrency.
    pub async fn activate(&self, new: NewActivation) -> Result<Activated, StoreError> {
        let _timed = self.timed("activate");
        match self.try_activate(&new).await {
            // Only reachable if two transactions slipped past the license lock (it cannot
            // happen with the lock as written); the retry then finds the winner's row.
            Err(StoreError::Database(e)) if is_unique_violation(&e) => {
                self.try_activate(&new).await
            }
            outcome => outcome,
        }
    }

    async fn try_activate(&self, new: &NewActivation) -> Result<Activated, StoreError> {
        let mut tx = begin_write(self).await?;
        lock_license(&mut tx, &new.license_hash, new.now).await?;
        if let Some(existing) =
            find_active(&mut tx, &new.license_hash, &new.fingerprint_hash).await?
        {
            tx.commit().await?;
            return Ok(Activated::Existing(existing));
        }
        if !take_seat(&mut tx, &new.license_hash, new.seats).await? {
            // A refusal is not audited: the caller counts it (issue 9).
            let seats_used = counter(&mut tx, &new.license_hash).await?;
            tx.commit().await?;
            return Ok(Activated::NoSeat { seats_used });
        }
        let activation = insert_activation(&mut tx, new).await?;
        insert_audit(&mut *tx, &created_entry(&activation)).await?;
        tx.commit().await?;
        Ok(Activated::Created(activation))
    }
}

/// A transaction that holds SQLite's write lock from its first statement, so concurrent
/// writers wait (busy_timeout) at `BEGIN` instead of failing with SQLITE_BUSY when a read
/// lock would have to be upgraded. SQLite-only; the PostgreSQL store uses plain `begin()`.
pub(super) async fn begin_write(store: &Store) -> Result<Transaction<'static, Any>, StoreError> {
    Ok(store.pool.begin_with(store.engine.begin_write()).await?)
}

/// Creates the license's counter row if needed and, being a write, locks it (PostgreSQL
/// row lock; SQLite already holds the database lock).
async fn lock_license(
    conn: &mut AnyConnection,
    license_hash: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO license_seats (license_hash, seats_used, updated_at) VALUES ($1, 0, $2) \
         ON CONFLICT (license_hash) DO UPDATE SET updated_at = excluded.updated_at",
    )
    .bind(license_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn find_active(
    conn: &mut AnyConnection,
    license_hash: &str,
    fingerprint_hash: &str,
) -> Result<Option<Activation>, sqlx::Error> {
    let sql = format!(
        "SELECT {ACTIVATION_COLUMNS} FROM activations \
         WHERE license_hash = $1 AND fingerprint_hash = $2 AND deactivated_at IS NULL"
    );
    sqlx::query_as(&sql)
        .bind(license_hash)
        .bind(fingerprint_hash)
        .fetch_optional(conn)
        .await
}

/// The seat limit, as one atomic statement: true if a seat was free and is now taken.
async fn take_seat(
    conn: &mut AnyConnection,
    license_hash: &str,
    seats: u32,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE license_seats SET seats_used = seats_used + 1 \
         WHERE license_hash = $1 AND seats_used < $2",
    )
    .bind(license_hash)
    .bind(i64::from(seats))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn counter(
    conn: &mut AnyConnection,
    license_hash: &str,
) -> Result<u32, StoreError> {
    let used: Option<i64> =
        sqlx::query_scalar("SELECT seats_used FROM license_seats WHERE license_hash = $1")
            .bind(license_hash)
            .fetch_optional(conn)
            .await?;
    Ok(to_u32(used.unwrap_or(0)))
}

async fn insert_activation(
    conn: &mut AnyConnection,
    new: &NewActivation,
) -> Result<Activation, StoreError> {
    let activation = Activation {
        id: format!("act_{}", uuid::Uuid::new_v4().simple()),
        license_hash: new.license_hash.clone(),
        product_id: new.product_id.clone(),
        fingerprint_hash: new.fingerprint_hash.clone(),
        name: new.name.clone(),
        platform: new.platform.clone(),
        created_at: new.now,
        last_code: None,
        last_good_at: None,
        deactivated_at: None,
        last_seen_at: Some(new.now),
        released_reason: None,
    };
    sqlx::query(
        "INSERT INTO activations (id, license_hash, product_id, fingerprint_hash, name, \
         platform, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&activation.id)
    .bind(&activation.license_hash)
    .bind(&activation.product_id)
    .bind(&activation.fingerprint_hash)
    .bind(&activation.name)
    .bind(&activation.platform)
    .bind(activation.created_at)
    .execute(conn)
    .await?;
    Ok(activation)
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

fn created_entry(activation: &Activation) -> AuditEntry {
    AuditEntry {
        at: activation.created_at,
        action: "activate".into(),
        license_hash: activation.license_hash.clone(),
        activation_id: Some(activation.id.clone()),
        code: None,
        detail: Some(format!("product {}", activation.product_id)),
    }
}
