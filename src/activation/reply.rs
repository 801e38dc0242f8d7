//! The activation API's answers: JSON bodies with the decision's code and message, the status a
//! denial deserves (409 seats, 403 other denials, 503 + Retry-After upstream), and the marker
//! that tells the per-IP limits a guesser was answered.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::decision::Code;
use crate::error::retry_after_value;
use crate::limits::FailedAttempt;
use crate::store::Activation;

/// When an app should retry a check that found upstream unavailable.
const UNAVAILABLE_RETRY: Duration = Duration::from_secs(5);

/// The status a denial is answered with.
pub fn status_of(code: Code) -> StatusCode {
    match code {
        Code::Valid => StatusCode::OK,
        Code::TooManyActivations => StatusCode::CONFLICT,
        Code::UpstreamUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::FORBIDDEN,
    }
}

/// A denial: `{<flag>: false, code, message}` (no flag when `flag` is empty) with its status,
/// `Retry-After` when upstream is down, and the failed-attempt marker when the license itself
/// was not recognised.
pub fn denied(flag: &str, code: Code) -> Response {
    let mut body = serde_json::Map::new();
    if !flag.is_empty() {
        body.insert(flag.to_owned(), Value::Bool(false));
    }
    body.insert("code".into(), json!(code.as_str()));
    body.insert("message".into(), json!(code.message()));
    let body = Value::Object(body);
    let mut response = (status_of(code), Json(body)).into_response();
    if code == Code::UpstreamUnavailable {
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            retry_after_value(UNAVAILABLE_RETRY),
        );
    }
    if matches!(code, Code::NotFound | Code::Disabled | Code::AccessRevoked) {
        response.extensions_mut().insert(FailedAttempt);
    }
    response
}

/// The public view of an activation (no hashes).
pub fn activation(a: &Activation) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "platform": a.platform,
        "created_at": rfc3339(a.created_at),
        "last_seen_at": rfc3339(a.seen_at()),
    })
}

/// A unix time as RFC 3339, the format Gumroad's own timestamps use.
pub fn rfc3339(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A `SystemTime` as RFC 3339.
pub fn rfc3339_system(t: std::time::SystemTime) -> String {
    let unix = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    rfc3339(unix)
}
