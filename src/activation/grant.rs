//! What a granted activate or validate answers with: the decision recorded on the activation,
//! the license's sale remembered for the reconciler, and a fresh signed token; or, while
//! upstream is unavailable and the activation is within its grace, an offline answer that
//! says so and carries no new token.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

use super::reply;
use crate::decision::{Code, License, grace};
use crate::error::AppError;
use crate::state::AppState;
use crate::store::Activation;
use crate::tokens::NewToken;

/// A valid answer with a fresh token: `{<flag>: true, code, activation, license, token, ...}`.
pub(super) async fn granted(
    state: &AppState,
    license: &License,
    activation: &Activation,
    status: StatusCode,
    flag: &str,
) -> Result<Response, AppError> {
    let now = state.clock.unix_now();
    state
        .store
        .record_decision(&activation.id, Code::Valid.as_str(), true, now)
        .await?;
    // For offline answers, which cannot ask Gumroad for the purchase's quantity.
    state
        .store
        .remember_seat_limit(&license.hash, license.decision.seats)
        .await?;
    // Remember the license's sale, so the reconciler can re-check it without its key.
    if let Some(sale) = &license.sale_id {
        state
            .store
            .remember_license(&license.hash, &license.product, sale, now)
            .await?;
    }
    let seats = license.decision.seats;
    let mut body = summary(state, license, seats, activation, flag).await?;
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
            state.metrics.token_signing_failures.inc();
            tracing::error!(error = %e, "activation token not signed");
            body["token"] = Value::Null;
            body["token_error"] = json!(e.to_string());
        }
    }
    Ok((status, Json(body)).into_response())
}

/// Valid while offline: said plainly, with when the grace runs out, and no new token (the app
/// keeps the one it has; a fresh one would stretch the grace).
pub(super) async fn offline(
    state: &AppState,
    license: &License,
    a: &Activation,
    flag: &str,
) -> Result<Response, AppError> {
    let grace = state.settings.policy_for(&license.product).offline_grace;
    // Offline, the decision knows no purchase: the seats are those of the last good decision.
    let seats = state.store.seat_limit(&license.hash).await?.unwrap_or(0);
    let mut body = summary(state, license, seats, a, flag).await?;
    body["offline"] = Value::Bool(true);
    body["message"] = json!(
        "Validated offline: upstream is unavailable; the last good check is within the grace period."
    );
    body["offline_until"] = json!(reply::rfc3339(grace::until(a, grace)));
    Ok((StatusCode::OK, Json(body)).into_response())
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
