//! Giving seats back: user deactivations (held to a daily limit, against seat juggling) and
//! admin ones, one by one or all of a license at once.

use sqlx::AnyConnection;

use super::{
    Actor, AuditEntry, Deactivated, Store, StoreError, activate::begin_write, audit::insert_audit,
};

/// The window of the daily deactivation limit.
const DAY: i64 = 24 * 60 * 60;

impl Store {
    /// A user deactivation counts against `max_per_day` (deactivations by Actor::User in the
    /// last 24 h); an admin one does not. `by`: the admin token's name, for the audit row.
    pub async fn deactivate(
        &self,
        license_hash: &str,
        activation_id: &str,
        actor: Actor,
        max_per_day: u32,
        now: i64,
        by: Option<&str>,
    ) -> Result<Deactivated, StoreError> {
        let _timed = self.timed("deactivate");
        let mut tx = begin_write(self).await?;
        // The license row first, as in `activate`: PostgreSQL then serialises this license's
        // deactivations, so two cannot both pass the daily count.
        if !lock_existing_license(&mut tx, license_hash, now).await? {
            return Ok(Deactivated::NotFound);
        }
        if !is_active(&mut tx, license_hash, activation_id).await? {
            return Ok(Deactivated::NotFound);
        }
        if actor == Actor::User
            && let Some(retry_after_secs) =
                daily_limit_wait(&mut tx, license_hash, max_per_day, now).await?
        {
            // A refusal changes nothing and is not audited (the caller counts it).
            tx.rollback().await?;
            return Ok(Deactivated::TooManyToday { retry_after_secs });
        }
        mark_deactivated(&mut tx, activation_id, actor, now).await?;
        release_seats(&mut tx, license_hash, 1).await?;
        let action = match actor {
            Actor::User => "deactivate",
            Actor::Admin => "admin_deactivate",
        };
        let detail = by.map(|name| format!("by {name}"));
        let entry = entry(action, license_hash, Some(activation_id), now, detail);
        insert_audit(&mut *tx, &entry).await?;
        tx.commit().await?;
        Ok(Deactivated::Done)
    }

    /// Admin: deactivates every active activation of a license; returns how many. `by`: the
    /// admin token's name, for the audit row.
    pub async fn release_all(
        &self,
        license_hash: &str,
        now: i64,
        by: Option<&str>,
    ) -> Result<u32, StoreError> {
        let _timed = self.timed("release_all");
        let mut tx = begin_write(self).await?;
        if !lock_existing_license(&mut tx, license_hash, now).await? {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE activations SET deactivated_at = $1, deactivated_by = 'admin' \
             WHERE license_hash = $2 AND deactivated_at IS NULL",
        )
        .bind(now)
        .bind(license_hash)
        .execute(&mut *tx)
        .await?;
        let released = u32::try_from(done.rows_affected()).unwrap_or(u32::MAX);
        release_seats(&mut tx, license_hash, released).await?;
        let detail = Some(match by {
            Some(name) => format!("{released} activations by {name}"),
            None => format!("{released} activations"),
        });
        insert_audit(
            &mut *tx,
            &entry("release_all", license_hash, None, now, detail),
        )
        .await?;
        tx.commit().await?;
        Ok(released)
    }
}

/// Locks the license's counter row; false if the license never had an activation.
pub(super) async fn lock_existing_license(
    conn: &mut AnyConnection,
    license_hash: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE license_seats SET updated_at = $1 WHERE license_hash = $2")
        .bind(now)
        .bind(license_hash)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

async fn is_active(
    conn: &mut AnyConnection,
    license_hash: &str,
    activation_id: &str,
) -> Result<bool, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT id FROM activations \
         WHERE id = $1 AND license_hash = $2 AND deactivated_at IS NULL",
    )
    .bind(activation_id)
    .bind(license_hash)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// None if a user deactivation is allowed now; else the seconds until the oldest one that
/// matters leaves the 24 h window. With `n` in the window and a limit of `max`, the count
/// drops below `max` once the `(n - max)`-th oldest (from 0) is a day old.
async fn daily_limit_wait(
    conn: &mut AnyConnection,
    license_hash: &str,
    max_per_day: u32,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let times: Vec<i64> = sqlx::query_scalar(
        "SELECT deactivated_at FROM activations WHERE license_hash = $1 \
         AND deactivated_by = 'user' AND deactivated_at > $2 ORDER BY deactivated_at",
    )
    .bind(license_hash)
    .bind(now - DAY)
    .fetch_all(conn)
    .await?;
    let max = usize::try_from(max_per_day).unwrap_or(usize::MAX);
    if times.len() < max {
        return Ok(None);
    }
    // A limit of 0 forbids user deactivations outright; a day is the honest "not soon".
    let frees_at = times.get(times.len() - max).map_or(now + DAY, |t| t + DAY);
    Ok(Some((frees_at - now).max(1)))
}

async fn mark_deactivated(
    conn: &mut AnyConnection,
    activation_id: &str,
    actor: Actor,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE activations SET deactivated_at = $1, deactivated_by = $2 \
         WHERE id = $3 AND deactivated_at IS NULL",
    )
    .bind(now)
    .bind(actor.as_str())
    .bind(activation_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives `n` seats back to the counter (never below zero, which the CHECK also enforces).
pub(super) async fn release_seats(
    conn: &mut AnyConnection,
    license_hash: &str,
    n: u32,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE license_seats SET seats_used = CASE WHEN seats_used > $1 \
         THEN seats_used - $1 ELSE 0 END WHERE license_hash = $2",
    )
    .bind(i64::from(n))
    .bind(license_hash)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) fn entry(
    action: &str,
    license_hash: &str,
    activation_id: Option<&str>,
    now: i64,
    detail: Option<String>,
) -> AuditEntry {
    AuditEntry {
        at: now,
        action: action.into(),
        license_hash: license_hash.into(),
        activation_id: activation_id.map(Into::into),
        code: None,
        detail,
    }
}
