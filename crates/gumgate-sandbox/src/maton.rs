//! The Maton layer: records the request, checks the API key, applies the rate limit and the
//! injected faults, picks the seller's connection and hands the Gumroad path to [`gumroad`].

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, request::Parts},
    response::{IntoResponse, Response},
};
use gumroad_wire::params::Params;
use serde_json::json;

use super::{RecordedRequest, connections, gumroad, reply::Reply, state::AppState, store::Account};

/// Bodies bigger than this are not something a Gumroad client sends; cap memory use.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Answers every request outside `/_sandbox`, recording it with the status it got.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    let reply = answer(&state, &parts, &body).await;
    state.record(recorded(&parts, &body, reply.status.as_u16()));
    reply.into_response()
}

fn recorded(parts: &Parts, body: &Bytes, status: u16) -> RecordedRequest {
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_owned(), value)
        })
        .collect();
    RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body: String::from_utf8_lossy(body).into_owned(),
        status,
    }
}

async fn answer(state: &AppState, parts: &Parts, body: &Bytes) -> Reply {
    let latency = state.faults().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let key = match authenticate(state, &parts.headers) {
        Ok(key) => key,
        Err(reply) => return reply,
    };
    if !state.take_rate_slot(&key) {
        return rate_limited(state);
    }
    if let Some(reply) = injected_fault(state) {
        return reply;
    }
    route(state, parts, body)
}

/// Returns the API key when `Authorization: Bearer <key>` matches the configured one.
fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<String, Reply> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(key) if key == state.config().api_key => Ok(key.to_owned()),
        Some(_) => Err(Reply::json(401, json!({"error": "Invalid API key"}))),
        None => Err(Reply::json(401, json!({"error": "Missing API key"}))),
    }
}

fn rate_limited(state: &AppState) -> Reply {
    let reply = Reply::json(
        429,
        json!({"error": "Rate limit exceeded: at most 10 requests per second per account."}),
    );
    match state.config().rate_limit_retry_after {
        Some(secs) => reply.header("retry-after", secs.to_string()),
        None => reply,
    }
}

/// Consumes one `fail_next` or rolls `error_rate`; `None` when this request is served normally.
fn injected_fault(state: &AppState) -> Option<Reply> {
    let (status, f) = state.with_faults(|f| {
        let status = if f.fail_next > 0 {
            f.fail_next -= 1;
            Some(or_503(f.fail_status))
        } else if f.error_rate > 0.0 && rand::random::<f64>() < f.error_rate {
            Some(or_503(f.error_status))
        } else {
            None
        };
        (status, f.clone())
    });
    let status = status?;
    let reply = match f.fail_body {
        Some(body) => Reply::text(status, f.fail_content_type, body),
        None => Reply::json(status, json!({"error": "Injected fault (sandbox)"})),
    };
    let retry_after = f.retry_after;
    Some(match retry_after {
        Some(v) => reply.header("retry-after", v),
        None => reply,
    })
}

fn or_503(status: u16) -> u16 {
    if status == 0 { 503 } else { status }
}

fn route(state: &AppState, parts: &Parts, body: &Bytes) -> Reply {
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    let params = match Params::from_request(parts.uri.query(), content_type, body) {
        Ok(p) => p,
        Err(e) => return Reply::json(400, json!({"success": false, "message": e.to_string()})),
    };
    let path = parts.uri.path();
    let method = parts.method.as_str();
    state.with_store(|store| {
        if let Some(rest) = path.strip_prefix("/connections") {
            return connections::dispatch(store, method, rest, &params);
        }
        let Some(gumroad_path) = path.strip_prefix("/gumroad") else {
            return Reply::json(404, json!({"error": "Not found"}));
        };
        match pick_account(store, &parts.headers) {
            Ok(account) => gumroad::dispatch(store, &account, method, gumroad_path, &params),
            Err(reply) => reply,
        }
    })
}

/// `Maton-Connection` picks the account; without it Maton uses the oldest ACTIVE connection.
fn pick_account(store: &super::store::Store, headers: &HeaderMap) -> Result<Account, Reply> {
    let wanted = headers
        .get("maton-connection")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    let found = match &wanted {
        Some(id) => store.active_connection(id),
        None => store.oldest_active_connection(),
    };
    found.ok_or_else(|| {
        let message = match wanted {
            Some(id) => format!("No active gumroad connection with id '{id}'."),
            None => "No active connection found for app 'gumroad'.".to_owned(),
        };
        Reply::json(400, json!({"error": message}))
    })
}
