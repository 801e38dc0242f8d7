//! What a granted activate, validate or heartbeat answers with: the decision recorded on the
//! activation (the machine seen now, its heartbeat deadline moved), the license's terms and sale
//! remembered, what the purchase unlocks, and a fresh signed token; or, while upstream is
//! unavailable and the activation is within its grace, an offline answer that says so, with a
//! token that ends with the grace.

use std::time::{Duration, UNIX_EPOCH};

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::reply;
use crate::config::Policy;
use crate::decision::grace::{self, secs};
use crate::decision::{Code, Entitlements, License};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::{Activation, StoreError};
use crate::tokens::NewToken;

/// A valid answer with a fresh token: `{<flag>: true, code, activation, license, entitlements,
/// token, heartbeat, ...}`.
pub(super) async fn granted(
    state: &AppState,
    license: &License,
    activation: &Activation,
    status: StatusCode,
    flag: &str,
) -> Result<Response, AppError> {
    let now = state.clock.unix_now();
    let policy = state.settings.policy_for(&license.product);
    let deadline = deadline(&policy, now);
    let recorded = state
        .store
        .record_decision(&activation.id, Code::Valid.as_str(), true, now, deadline)
        .await;
    match recorded {
        Ok(()) => {}
        // Released or deactivated while its license was being decided: no renewal, no token.
        Err(StoreError::UnknownActivation(_)) => return gone(state, activation, flag).await,
        Err(e) => return Err(e.into()),
    }
    let terms = license.entitlements.clone().unwrap_or_default();
    // For offline answers, which cannot ask Gumroad for the purchase's quantity or variants.
    let remembered = serde_json::to_string(&terms).ok();
    state
        .store
        .remember_terms(&license.hash, license.decision.seats, remembered.as_deref())
        .await?;
    // Remember the license's sale, so the reconciler can re-check it without its key.
    if let Some(sale) = &license.sale_id {
        state
            .store
            .remember_license(&license.hash, &license.product, sale, now)
            .await?;
    }
    let seats = license.decision.seats;
    let entitlements = with_features(state, &license.product, terms);
    let seen = Activation {
        last_seen_at: Some(now),
        ..activation.clone()
    };
    let mut body = summary(state, license, seats, &seen, flag).await?;
    let token = Token {
        seats,
        entitlements: &entitlements,
        // No token outlives the subscription it stands for.
        not_after: entitlements.ends_at_unix(),
        now,
    };
    sign(state, license, activation, &policy, token, &mut body);
    body["entitlements"] = json!(entitlements);
    body["heartbeat"] = heartbeat(&policy, now);
    Ok((status, Json(body)).into_response())
}

/// Valid while offline: said plainly, with when the grace runs out. The machine was seen (its
/// seat is kept: an outage must not cost heartbeats), and its token is refreshed but capped at
/// `offline_until`, so the offline proof an app holds is always signed and never outlives the
/// grace.
pub(super) async fn offline(
    state: &AppState,
    license: &License,
    a: &Activation,
    flag: &str,
) -> Result<Response, AppError> {
    let now = state.clock.unix_now();
    let policy = state.settings.policy_for(&license.product);
    state
        .store
        .touch(&a.id, now, deadline(&policy, now))
        .await?;
    // Offline, the decision knows no purchase: the seats and terms are the last good ones.
    let (seats, remembered) = state.store.terms(&license.hash).await?;
    let terms: Entitlements = remembered
        .and_then(|json| serde_json::from_str(&json).ok())
        .unwrap_or_default();
    let entitlements = with_features(state, &license.product, terms);
    let seen = Activation {
        last_seen_at: Some(now),
        ..a.clone()
    };
    let seats = seats.unwrap_or(0);
    let mut body = summary(state, license, seats, &seen, flag).await?;
    let until = grace::until(a, policy.offline_grace);
    let token = Token {
        seats,
        entitlements: &entitlements,
        not_after: Some(
            entitlements
                .ends_at_unix()
                .map_or(until, |end| end.min(until)),
        ),
        now,
    };
    sign(state, license, a, &policy, token, &mut body);
    body["offline"] = Value::Bool(true);
    body["message"] = json!(
        "Validated offline: upstream is unavailable; the last good check is within the grace period."
    );
    body["offline_until"] = json!(reply::rfc3339(until));
    body["entitlements"] = json!(entitlements);
    body["heartbeat"] = heartbeat(&policy, now);
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// The denial for an activation that stopped being live after it was read: `HEARTBEAT_MISSED`
/// when the sweep released it, else `NOT_FOUND`.
async fn gone(state: &AppState, a: &Activation, flag: &str) -> Result<Response, AppError> {
    let now = state.store.get(&a.license_hash, &a.id).await?;
    let code = if now.is_some_and(|a| a.missed_heartbeats()) {
        Code::HeartbeatMissed
    } else {
        Code::NotFound
    };
    Ok(reply::denied(flag, code))
}

/// The machine's heartbeat deadline from `now`, when its product has heartbeats.
pub(super) fn deadline(policy: &Policy, now: i64) -> Option<i64> {
    policy
        .heartbeat_window()
        .map(|w| now.saturating_add(secs(w)))
}

/// What the app needs to keep its seat: `{interval_secs, next_at, deadline}`, or null when the
/// product has no heartbeats.
fn heartbeat(policy: &Policy, now: i64) -> Value {
    match deadline(policy, now) {
        None => Value::Null,
        Some(deadline) => json!({
            "interval_secs": policy.heartbeat_interval.as_secs(),
            "next_at": reply::rfc3339(now.saturating_add(secs(policy.heartbeat_interval))),
            "deadline": reply::rfc3339(deadline),
        }),
    }
}

/// The purchase's terms with the features its variants unlock here.
fn with_features(state: &AppState, product: &str, mut terms: Entitlements) -> Entitlements {
    terms.features = state.settings.features_for(product, &terms.variants);
    terms
}

/// What a token says beyond the license and activation.
struct Token<'a> {
    seats: u32,
    entitlements: &'a Entitlements,
    /// The latest `exp` allowed (unix seconds).
    not_after: Option<i64>,
    now: i64,
}

/// Signs a token into `body` (`token`, `token_expires_at`), or says why none was signed.
fn sign(
    state: &AppState,
    license: &License,
    activation: &Activation,
    policy: &Policy,
    token: Token<'_>,
    body: &mut Value,
) {
    let at = |unix: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    let issued = state.signer.issue(NewToken {
        product_id: license.product.clone(),
        activation_id: activation.id.clone(),
        license_hash: license.hash.clone(),
        fingerprint_hash: activation.fingerprint_hash.clone(),
        seats: token.seats,
        code: Code::Valid.as_str().into(),
        entitlements: token.entitlements.clone(),
        ttl: policy.token_lifetime(),
        not_after: token.not_after.map(at),
        now: at(token.now),
    });
    match issued {
        Ok(t) => {
            body["token"] = json!(t.token);
            body["token_expires_at"] = json!(reply::rfc3339_system(t.expires_at));
        }
        Err(e) => {
            state.metrics.token_signing_failures.inc();
            tracing::error!(error = %e, "activation token not signed");
            body["token"] = Value::Null;
            body["token_error"] = json!(e.to_string());
        }
    }
}

/// The body shared by valid answers.
async fn summary(
    state: &AppState,
    license: &License,
    seats: u32,
    activation: &Activation,
    flag: &str,
) -> Result<Value, AppError> {
    let seats_used = state.store.seats_used(&license.hash).await?;
    // The flag first: it is what an app reads before anything else.
    let mut body = serde_json::Map::new();
    body.insert(flag.to_owned(), Value::Bool(true));
    body.insert("code".into(), json!(Code::Valid.as_str()));
    body.insert("message".into(), json!(Code::Valid.message()));
    body.insert("activation".into(), reply::activation(activation));
    body.insert(
        "license".into(),
        json!({
            "product_id": license.product,
            "seats": seats,
            "seats_used": seats_used,
        }),
    );
    Ok(Value::Object(body))
}
