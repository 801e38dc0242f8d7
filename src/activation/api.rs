//! The public activation API: `POST /v1/licenses/activate | validate | deactivate`. Seats are
//! Gumgate's, kept in the store; whether the license unlocks at all is the decision over the
//! facade's cached, non-incrementing verify. Successful activates and validates carry a fresh
//! signed token the app can check offline.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::decision::{Code, Decision, Upstream, decide};
use super::input::{label, required};
use super::{mirror, reply};
use crate::budget::Priority;
use crate::error::AppError;
use crate::hashes::{fingerprint_hash, license_hash};
use crate::relay::{Access, Inbound, prepare};
use crate::state::AppState;
use crate::store::{Activated, Activation, Actor, AuditEntry, Deactivated, NewActivation};
use crate::tokens::NewToken;

/// A license as the activation API sees it, with its decision.
pub struct License {
    pub product: String,
    pub key: String,
    pub hash: String,
    pub decision: Decision,
    /// The Gumroad sale it belongs to, when upstream said (the reconciler re-checks by it).
    pub sale_id: Option<String>,
}

/// Decides a license through the facade's cached verify and the product's policy, as an app's
/// call (public priority).
pub async fn check(state: &AppState, product: &str, key: &str) -> License {
    check_at(state, product, key, Priority::Public, false).await
}

/// [`check`] at a given budget priority (pings and the reconciler use spare capacity only),
/// optionally asking upstream even when a fresh answer is cached (`refresh`).
pub async fn check_at(
    state: &AppState,
    product: &str,
    key: &str,
    priority: Priority,
    refresh: bool,
) -> License {
    let mut sale_id = None;
    let allowed = &state.settings.licenses.allowed_products;
    let decision = if !allowed.is_empty() && !allowed.iter().any(|p| p == product) {
        Decision {
            code: Code::ProductNotAllowed,
            seats: 0,
        }
    } else {
        let policy = state.settings.policy_for(product);
        let now = state.caches.clock.utc_now();
        let asked = if refresh {
            crate::licenses::recheck(state, product, key, priority).await
        } else {
            crate::licenses::check(state, product, key, priority).await
        };
        match asked {
            Ok(answer) => {
                let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                sale_id = body
                    .pointer("/purchase/id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                decide(
                    Upstream::Answered {
                        status: answer.status,
                        body: &body,
                    },
                    &policy,
                    now,
                )
            }
            Err(_) => decide(Upstream::Unavailable, &policy, now),
        }
    };
    License {
        product: product.to_owned(),
        key: key.to_owned(),
        hash: license_hash(key),
        decision,
        sale_id,
    }
}

pub async fn activate(State(state): State<AppState>, req: Inbound) -> Result<Response, AppError> {
    let p = prepare(&state, Access::Public, req).await?;
    let (product, key) = (
        required(&p.params, "product_id")?,
        required(&p.params, "license_key")?,
    );
    let fingerprint = fingerprint_hash(super::input::exact(&p.params, "fingerprint")?);
    let (name, platform) = (label(&p.params, "name")?, label(&p.params, "platform")?);
    let license = check(&state, product, key).await;
    let now = state.caches.clock.unix_now();
    if license.decision.code != Code::Valid {
        // A machine already activated keeps working through an outage, within its grace.
        if let Some(a) = offline_activation(&state, &license, &fingerprint).await? {
            return offline_answer(&state, &license, &a, "activated").await;
        }
        audit(
            &state,
            "deny",
            &license.hash,
            None,
            license.decision.code,
            now,
        )
        .await?;
        return Ok(reply::denied("activated", license.decision.code));
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
        // The store audits created activations and seat refusals in the same transaction.
        Activated::Created(a) => {
            mirror::uses(&state, &license, true);
            (a, StatusCode::CREATED)
        }
        Activated::Existing(a) => (a, StatusCode::OK),
        Activated::NoSeat { .. } => {
            return Ok(reply::denied("activated", Code::TooManyActivations));
        }
    };
    granted(&state, &license, &activation, status, "activated").await
}

pub async fn validate(State(state): State<AppState>, req: Inbound) -> Result<Response, AppError> {
    let p = prepare(&state, Access::Public, req).await?;
    let (product, key) = (
        required(&p.params, "product_id")?,
        required(&p.params, "license_key")?,
    );
    let by_id = p.params.get("activation_id").is_some();
    let by_fp = p.params.get("fingerprint").is_some();
    if !by_id && !by_fp {
        return Err(AppError::BadRequest(
            "Give the 'activation_id' or the 'fingerprint' parameter.".into(),
        ));
    }
    let hash = license_hash(key);
    let fingerprint = if by_fp {
        Some(fingerprint_hash(super::input::exact(
            &p.params,
            "fingerprint",
        )?))
    } else {
        None
    };
    let found = if by_id {
        state
            .store
            .get(&hash, required(&p.params, "activation_id")?)
            .await?
    } else {
        state
            .store
            .find_by_fingerprint(&hash, fingerprint.as_deref().unwrap_or_default())
            .await?
    };
    let activation = match found.filter(|a| a.deactivated_at.is_none()) {
        Some(a)
            if fingerprint
                .as_deref()
                .is_none_or(|f| f == a.fingerprint_hash) =>
        {
            a
        }
        Some(_) => return Ok(reply::denied("valid", Code::FingerprintMismatch)),
        None if by_id => return Ok(reply::denied("valid", Code::NotFound)),
        None => return Ok(reply::denied("valid", Code::FingerprintMismatch)),
    };
    let license = check(&state, product, key).await;
    let now = state.caches.clock.unix_now();
    if license.decision.code == Code::Valid {
        return granted(&state, &license, &activation, StatusCode::OK, "valid").await;
    }
    if license.decision.code == Code::UpstreamUnavailable
        && within_grace(&state, &license, &activation, now)
    {
        return offline_answer(&state, &license, &activation, "valid").await;
    }
    state
        .store
        .record_decision(&activation.id, license.decision.code.as_str(), false, now)
        .await?;
    Ok(reply::denied("valid", license.decision.code))
}

pub async fn deactivate(State(state): State<AppState>, req: Inbound) -> Result<Response, AppError> {
    let p = prepare(&state, Access::Public, req).await?;
    let (product, key) = (
        required(&p.params, "product_id")?,
        required(&p.params, "license_key")?,
    );
    let id = required(&p.params, "activation_id")?;
    let hash = license_hash(key);
    let now = state.caches.clock.unix_now();
    // The activation's own product decides the limit, never the product the caller names.
    let stored = state.store.get(&hash, id).await?;
    let Some(product) = stored
        .filter(|a| a.deactivated_at.is_none() && a.product_id == product.trim())
        .map(|a| a.product_id)
    else {
        return Ok(no_such_activation());
    };
    let product = product.as_str();
    let limit = state.settings.policy_for(product).max_deactivations_per_day;
    match state
        .store
        .deactivate(&hash, id, Actor::User, limit, now)
        .await?
    {
        Deactivated::Done => {
            let license = License {
                product: product.into(),
                key: key.into(),
                hash,
                decision: Decision {
                    code: Code::Valid,
                    seats: 0,
                },
                sale_id: None,
            };
            mirror::uses(&state, &license, false);
            Ok(Json(json!({ "deactivated": true })).into_response())
        }
        Deactivated::NotFound => Ok(no_such_activation()),
        Deactivated::TooManyToday { retry_after_secs } => {
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

/// Deactivating what does not exist (or not for this license and product) is a 404, unlike
/// the 403 of other denials.
fn no_such_activation() -> Response {
    let mut r = reply::denied("deactivated", Code::NotFound);
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// A valid answer with a fresh token: `{<flag>: true, code, activation, license, token, ...}`.
async fn granted(
    state: &AppState,
    license: &License,
    activation: &Activation,
    status: StatusCode,
    flag: &str,
) -> Result<Response, AppError> {
    let now = state.caches.clock.unix_now();
    state
        .store
        .record_decision(&activation.id, Code::Valid.as_str(), true, now)
        .await?;
    // Remember the license's sale, so the reconciler can re-check it without its key.
    if let Some(sale) = &license.sale_id {
        state
            .store
            .remember_license(&license.hash, &license.product, sale, now)
            .await?;
    }
    let mut body = summary(state, license, activation, flag, true).await?;
    let policy = state.settings.policy_for(&license.product);
    let issued = state.signer.issue(NewToken {
        product_id: license.product.clone(),
        activation_id: activation.id.clone(),
        license_hash: license.hash.clone(),
        fingerprint_hash: activation.fingerprint_hash.clone(),
        seats: license.decision.seats,
        code: Code::Valid.as_str().into(),
        ttl: policy.token_ttl,
        now: std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(u64::try_from(now).unwrap_or(0)),
    });
    match issued {
        Ok(t) => {
            body["token"] = json!(t.token);
            body["token_expires_at"] = json!(reply::rfc3339_system(t.expires_at));
        }
        Err(e) => {
            body["token"] = Value::Null;
            body["token_error"] = json!(e.to_string());
        }
    }
    Ok((status, Json(body)).into_response())
}

/// The body shared by valid answers.
async fn summary(
    state: &AppState,
    license: &License,
    activation: &Activation,
    flag: &str,
    ok: bool,
) -> Result<Value, AppError> {
    let seats_used = state.store.seats_used(&license.hash).await?;
    // The flag first: it is what an app reads before anything else.
    let mut body = serde_json::Map::new();
    body.insert(flag.to_owned(), Value::Bool(ok));
    body.insert("code".into(), json!(Code::Valid.as_str()));
    body.insert("message".into(), json!(Code::Valid.message()));
    body.insert("activation".into(), reply::activation(activation));
    body.insert(
        "license".into(),
        json!({
            "product_id": license.product,
            "seats": license.decision.seats,
            "seats_used": seats_used,
        }),
    );
    Ok(Value::Object(body))
}

/// The machine's live activation when upstream is down and its last good decision is recent.
async fn offline_activation(
    state: &AppState,
    license: &License,
    fingerprint: &str,
) -> Result<Option<Activation>, AppError> {
    if license.decision.code != Code::UpstreamUnavailable {
        return Ok(None);
    }
    let now = state.caches.clock.unix_now();
    let found = state
        .store
        .find_by_fingerprint(&license.hash, fingerprint)
        .await?;
    Ok(found.filter(|a| a.deactivated_at.is_none() && within_grace(state, license, a, now)))
}

/// Whether an activation may validate offline: its last good decision is recent, and nothing
/// learnt since (a ping, the reconciler) said the license stopped unlocking.
fn within_grace(state: &AppState, license: &License, a: &Activation, now: i64) -> bool {
    let revoked = a
        .last_code
        .as_deref()
        .is_some_and(|c| c != Code::Valid.as_str() && c != Code::UpstreamUnavailable.as_str());
    if revoked {
        return false;
    }
    let grace = state
        .settings
        .policy_for(&license.product)
        .offline_grace
        .as_secs();
    a.last_good_at
        .is_some_and(|at| now.saturating_sub(at) <= i64::try_from(grace).unwrap_or(i64::MAX))
}

/// Valid while offline: said plainly, with when the grace runs out, and no new token (the app
/// keeps the one it has; a fresh one would stretch the grace).
async fn offline_answer(
    state: &AppState,
    license: &License,
    a: &Activation,
    flag: &str,
) -> Result<Response, AppError> {
    let grace = state
        .settings
        .policy_for(&license.product)
        .offline_grace
        .as_secs();
    let until = a
        .last_good_at
        .unwrap_or_default()
        .saturating_add(i64::try_from(grace).unwrap_or(0));
    let mut body = summary(state, license, a, flag, true).await?;
    body["offline"] = Value::Bool(true);
    body["message"] = json!(
        "Validated offline: upstream is unavailable; the last good check is within the grace period."
    );
    body["offline_until"] = json!(reply::rfc3339(until));
    Ok((StatusCode::OK, Json(body)).into_response())
}

async fn audit(
    state: &AppState,
    action: &str,
    license_hash: &str,
    activation_id: Option<&str>,
    code: Code,
    at: i64,
) -> Result<(), AppError> {
    state
        .store
        .audit(AuditEntry {
            at,
            action: action.into(),
            license_hash: license_hash.into(),
            activation_id: activation_id.map(str::to_owned),
            code: Some(code.as_str().into()),
            detail: None,
        })
        .await?;
    Ok(())
}
