//! Admin license edits (`PUT /v2/licenses/enable | disable | decrement_uses_count | rotate`),
//! relayed like any admin call, then the cached verify answers they touch are dropped: Gumroad
//! sends no webhook for these changes, so Gumgate is the only one who can know.

use crate::cluster::Invalidation;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::error::AppError;
use crate::intake::Intake;
use crate::state::AppState;
use crate::upstream::Target;

/// The edits Gumgate relays and invalidates after.
pub const ACTIONS: &[&str] = &["enable", "disable", "decrement_uses_count", "rotate"];

/// Handles `PUT /v2/licenses/{action}` for one of [`ACTIONS`].
/// `p` is an admin's request (the router and the passthrough take [`crate::intake::Admin`]).
pub async fn edit(
    state: &AppState,
    action: &'static str,
    p: &Intake,
) -> Result<Response, AppError> {
    let target = Target::Gumroad(vec!["v2".into(), "licenses".into(), action.into()]);
    let answer = state
        .upstream
        .send(p.upstream_request(target, p.connection.clone()))
        .await
        .map_err(|e| p.failure(e))?;
    if answer.status.is_success() {
        let product = p.params.str("product_id").unwrap_or_default();
        if let Some(key) = p.params.str("license_key") {
            invalidate(state, product, key);
        }
        // The key Gumroad answers with is the serial it matched: after a rotate the new key,
        // otherwise the license itself, however the caller spelled it (Gumroad's collation is
        // wider than Gumgate's normalisation). Neither may keep an old entry.
        let new_key = serde_json::from_slice::<Value>(&answer.body)
            .ok()
            .and_then(|v| {
                v.pointer("/purchase/license_key")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        if let Some(key) = new_key {
            invalidate(state, product, &key);
        }
    }
    Ok(answer.into_response())
}

/// Drops the cached verify answers of one license: under its product and under no product (a
/// legacy product's license verifies without `product_id`, and is keyed so).
pub fn invalidate(state: &AppState, product: &str, license_key: &str) {
    for product in [product, ""] {
        invalidate_entry(state, product, license_key);
    }
}

/// Drops one cached verify answer: the license's under exactly this product (`""`: none), here
/// and, in cluster mode, on every other replica.
pub fn invalidate_entry(state: &AppState, product: &str, license_key: &str) {
    let key = verify_key(state, product, license_key);
    state.caches.verify.cache().invalidate(key);
    if let Some(invalidations) = &state.invalidations {
        invalidations.publish(Invalidation::Verify(key));
    }
}

/// Drops the other replicas' cached verify answer of a license under `product`, this one's
/// being fresh (a background re-check just stored it).
pub fn invalidate_elsewhere(state: &AppState, product: &str, license_key: &str) {
    if let Some(invalidations) = &state.invalidations {
        invalidations.publish(Invalidation::Verify(verify_key(
            state,
            product,
            license_key,
        )));
    }
}

fn verify_key(state: &AppState, product: &str, license_key: &str) -> u128 {
    let connection = state.settings.default_connection().unwrap_or_default();
    state.caches.keyer.verify(connection, product, license_key)
}

/// The edit a decoded `/v2/licenses/{action}` path names, however it was spelled.
pub fn action(segments: &[String]) -> Option<&'static str> {
    let [v2, licenses, action] = segments else {
        return None;
    };
    let action = action.strip_suffix(".json").unwrap_or(action);
    (v2 == "v2" && licenses == "licenses")
        .then(|| ACTIONS.iter().find(|a| **a == action).copied())
        .flatten()
}
