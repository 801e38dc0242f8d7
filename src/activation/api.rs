//! The public activation API: `POST /v1/licenses/activate | validate | deactivate`. Seats are
//! Gumgate's, kept in the store; whether the license unlocks at all is `crate::decision`'s
//! call. Only handlers live here: what a granted answer carries is `grant.rs`.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use super::grant::{granted, offline};
use super::input::{exact, label, license, required};
use super::mirror::{self, Direction};
use super::reply;
use crate::budget::Priority;
use crate::decision::{self, Code, License, grace};
use crate::error::AppError;
use crate::hashes::{fingerprint_hash, license_hash};
use crate::intake::Public;
use crate::read_through::Freshness;
use crate::state::AppState;
use crate::store::{Activated, Activation, Actor, Deactivated, NewActivation, StoreError};
use gumroad_wire::params::Params;

/// An app's decision: public priority, a cached answer will do.
async fn decide(state: &AppState, product: &str, key: &str) -> License {
    decision::decide(state, product, key, Priority::Public, Freshness::Cached).await
}

pub async fn activate(
    State(state): State<AppState>,
    Public(p): Public,
) -> Result<Response, AppError> {
    let (product, key) = license(&p.params)?;
    let fingerprint = fingerprint_hash(exact(&p.params, "fingerprint")?);
    let (name, platform) = (label(&p.params, "name")?, label(&p.params, "platform")?);
    let license = decide(&state, product, key).await;
    let now = state.clock.unix_now();
    if license.code() != Code::Valid {
        // A machine already activated keeps working through an outage, within its grace.
        if let Some(a) = offline_activation(&state, &license, &fingerprint).await? {
            count_decision(&state, VALID_OFFLINE);
            return offline(&state, &license, &a, "activated").await;
        }
        count_decision(&state, license.code().as_str());
        count_denial(&state, license.code().as_str());
        return Ok(reply::denied("activated", license.code()));
    }
    let new = NewActivation {
        license_hash: license.hash.clone(),
        product_id: license.product.clone(),
        fingerprint_hash: fingerprint,
        name,
        platform,
        seats: license.decision.seats,
        now,
    };
    let (activation, status) = match state.store.activate(new).await? {
        // The store audits created activations in the same transaction; refusals are counted.
        Activated::Created(a) => {
            mirror::uses(&state, &license.product, &license.key, Direction::Up);
            (a, StatusCode::CREATED)
        }
        Activated::Existing(a) => (a, StatusCode::OK),
        Activated::NoSeat { .. } => {
            count_decision(&state, Code::TooManyActivations.as_str());
            count_denial(&state, Code::TooManyActivations.as_str());
            return Ok(reply::denied("activated", Code::TooManyActivations));
        }
    };
    count_decision(&state, Code::Valid.as_str());
    granted(&state, &license, &activation, status, "activated").await
}

pub async fn validate(
    State(state): State<AppState>,
    Public(p): Public,
) -> Result<Response, AppError> {
    check(&state, &p.params, "valid").await
}

/// A machine's sign of life: a validate that also keeps its seat when heartbeats are on, and
/// tells it when to beat next.
pub async fn heartbeat(
    State(state): State<AppState>,
    Public(p): Public,
) -> Result<Response, AppError> {
    check(&state, &p.params, "alive").await
}

/// Validate and heartbeat: the machine's activation (by id or fingerprint), then the license's
/// decision; answered with `flag` (`valid`, `alive`).
async fn check(state: &AppState, p: &Params, flag: &str) -> Result<Response, AppError> {
    let (product, key) = license(p)?;
    let by_id = p.get("activation_id").is_some();
    let by_fp = p.get("fingerprint").is_some();
    if !by_id && !by_fp {
        return Err(AppError::BadRequest(
            "Give the 'activation_id' or the 'fingerprint' parameter.".into(),
        ));
    }
    let hash = license_hash(key);
    let fingerprint = if by_fp {
        Some(fingerprint_hash(exact(p, "fingerprint")?))
    } else {
        None
    };
    let found = if by_id {
        let id = required(p, "activation_id")?;
        state.store.get(&hash, id).await?
    } else {
        let fp = fingerprint.as_deref().unwrap_or_default();
        state.store.find_by_fingerprint(&hash, fp).await?
    };
    let matches = |a: &Activation| {
        fingerprint
            .as_deref()
            .is_none_or(|f| f == a.fingerprint_hash)
    };
    let activation = match found {
        Some(a) if a.deactivated_at.is_none() && matches(&a) => a,
        found => {
            // A machine that lost its seat to missed heartbeats is told so: it may activate again.
            let missed = match &found {
                Some(a) => matches(a) && a.missed_heartbeats(),
                None if by_fp => {
                    let fp = fingerprint.as_deref().unwrap_or_default();
                    let latest = state.store.latest_by_fingerprint(&hash, fp).await?;
                    latest.is_some_and(|a| a.missed_heartbeats())
                }
                None => false,
            };
            let live = found.as_ref().is_some_and(|a| a.deactivated_at.is_none());
            let code = if missed {
                Code::HeartbeatMissed
            } else if by_id && !live {
                // No live activation with that id (never, or no longer).
                Code::NotFound
            } else {
                Code::FingerprintMismatch
            };
            count_decision(state, code.as_str());
            return Ok(reply::denied(flag, code));
        }
    };
    let license = decide(state, product, key).await;
    let now = state.clock.unix_now();
    if license.code() == Code::Valid {
        count_decision(state, Code::Valid.as_str());
        return granted(state, &license, &activation, StatusCode::OK, flag).await;
    }
    let policy = state.settings.policy_for(&license.product);
    if license.code() == Code::UpstreamUnavailable
        && grace::within(&activation, policy.offline_grace, now)
    {
        count_decision(state, VALID_OFFLINE);
        return offline(state, &license, &activation, flag).await;
    }
    let code = license.code().as_str();
    count_decision(state, code);
    let deadline = super::grant::deadline(&policy, now);
    match state
        .store
        .record_decision(&activation.id, code, false, now, deadline)
        .await
    {
        // Gone since it was read: the refusal stands either way.
        Ok(()) | Err(StoreError::UnknownActivation(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(reply::denied(flag, license.code()))
}

/// A license holder's own machines: every live activation of the license for this product
/// (id, name, platform, created, last seen), so a lost machine's seat can be freed by id through
/// `deactivate`. Knowing the key is the proof of holding it: a key with activations here is
/// listed at once; one without is decided first, and a key Gumroad does not know answers 403
/// `NOT_FOUND` (counted as a failed verify, so guessing meets the same per-IP limits), never an
/// empty list.
pub async fn machines(
    State(state): State<AppState>,
    Public(p): Public,
) -> Result<Response, AppError> {
    let (product, key) = license(&p.params)?;
    let hash = license_hash(key);
    let mut listed = state.store.list(&hash).await?;
    listed.retain(|a| a.product_id == product);
    let seats = if listed.is_empty() {
        let license = decide(&state, product, key).await;
        if license.code() != Code::Valid {
            return Ok(reply::denied("", license.code()));
        }
        license.decision.seats
    } else {
        state.store.terms(&hash).await?.0.unwrap_or(0)
    };
    let policy = state.settings.policy_for(product);
    let machines: Vec<_> = listed.iter().map(reply::activation).collect();
    Ok(Json(json!({
        "machines": machines,
        "license": {
            "product_id": product,
            "seats": seats,
            "seats_used": listed.len(),
        },
        "max_deactivations_per_day": policy.max_deactivations_per_day,
    }))
    .into_response())
}

pub async fn deactivate(
    State(state): State<AppState>,
    Public(p): Public,
) -> Result<Response, AppError> {
    let (product, key) = license(&p.params)?;
    let id = required(&p.params, "activation_id")?;
    let hash = license_hash(key);
    let now = state.clock.unix_now();
    // The activation's own product decides the limit, never the product the caller names.
    let stored = state.store.get(&hash, id).await?;
    let Some(product) = stored
        .filter(|a| a.deactivated_at.is_none() && a.product_id == product.trim())
        .map(|a| a.product_id)
    else {
        return Ok(no_such_activation());
    };
    let limit = state
        .settings
        .policy_for(&product)
        .max_deactivations_per_day;
    match state
        .store
        .deactivate(&hash, id, Actor::User, limit, now, None)
        .await?
    {
        Deactivated::Done => {
            mirror::uses(&state, &product, key, Direction::Down);
            Ok(Json(json!({ "deactivated": true })).into_response())
        }
        Deactivated::NotFound => Ok(no_such_activation()),
        Deactivated::TooManyToday { retry_after_secs } => {
            count_denial(&state, "TOO_MANY_DEACTIVATIONS");
            let body = json!({
                "deactivated": false,
                "code": "TOO_MANY_DEACTIVATIONS",
                "message": "This license was deactivated too often today. Please retry later.",
            });
            let mut r = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
            let wait = std::time::Duration::from_secs(u64::try_from(retry_after_secs).unwrap_or(1));
            r.headers_mut().insert(
                http::header::RETRY_AFTER,
                crate::error::retry_after_value(wait),
            );
            Ok(r)
        }
    }
}

/// The `code` of a decision granted within the offline grace while upstream is unavailable.
const VALID_OFFLINE: &str = "VALID_OFFLINE";

/// Every activate and validate answer is counted by its code (`activation_decisions_total`),
/// granted or refused; `count_denial` counts the refusals of activate and deactivate only.
fn count_decision(state: &AppState, code: &'static str) {
    state
        .metrics
        .activation_decisions
        .with_label_values(&[code])
        .inc();
}

/// A refusal is counted, not audited: the audit trail records changes only, and one row per
/// refusal let anyone grow the append-only table without bound (issue 9). `code` is a reason
/// code, a bounded set.
fn count_denial(state: &AppState, code: &str) {
    state
        .metrics
        .activation_denials
        .with_label_values(&[code])
        .inc();
}

/// Deactivating what does not exist (or not for this license and product) is a 404, unlike
/// the 403 of other denials, and says that the activation is what was not found (the license
/// may well exist). The code stays `NOT_FOUND`, which apps already handle.
fn no_such_activation() -> Response {
    let body = json!({
        "deactivated": false,
        "code": Code::NotFound.as_str(),
        "message": "No active activation with this id for this license and product.",
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// The machine's live activation when upstream is down and its last good decision is recent.
async fn offline_activation(
    state: &AppState,
    license: &License,
    fingerprint: &str,
) -> Result<Option<Activation>, AppError> {
    if license.code() != Code::UpstreamUnavailable {
        return Ok(None);
    }
    let now = state.clock.unix_now();
    let grace = state.settings.policy_for(&license.product).offline_grace;
    let found = state
        .store
        .find_by_fingerprint(&license.hash, fingerprint)
        .await?;
    Ok(found.filter(|a| a.deactivated_at.is_none() && grace::within(a, grace, now)))
}
