//! Admin `GET /v2/sales` and `GET /v2/sales/{id}`, cached briefly (`cache.sales_ttl`) per
//! connection and normalised query, coalesced, with stale-if-error. `Cache-Control: no-cache`
//! asks for a fresh copy. Paging params (`page_key`, the deprecated `page`) are part of the
//! key and pass through untouched, as do the relative `next_page_url`s in the answers.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gumroad_wire::sales;
use http::{HeaderMap, Method, StatusCode, header};
use serde_json::Value;

use crate::cache::Answer;
use crate::error::AppError;
use crate::inbound;
use crate::intake::{Admin, Intake};
use crate::read_through::{self, Call, Failure, Freshness, Served, Ttls, Verdict};
use crate::state::AppState;
use crate::upstream::Target;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v2/sales", get(sales))
        .route("/v2/sales.json", get(sales))
        .route("/v2/sales/{id}", get(sales))
}

async fn sales(State(state): State<AppState>, Admin(p): Admin) -> Result<Response, AppError> {
    let segments = inbound::path_segments(p.uri.path());
    let connection = p.connection.clone();
    // axum routes HEAD here too; its empty body must never become the GET's cached answer.
    if p.method != Method::GET {
        let answer = state
            .upstream
            .send(p.upstream_request(Target::Gumroad(segments), connection))
            .await
            .map_err(|e| p.failure(e))?;
        return Ok(answer.into_response());
    }
    let conn_key = connection
        .as_ref()
        .map(|c| c.as_bytes().to_vec())
        .unwrap_or_else(|| {
            let default = state.settings.default_connection().unwrap_or_default();
            default.as_bytes().to_vec()
        });
    let query = normalized_query(p.query.as_deref());
    let path = segments.join("/");
    let key = state
        .caches
        .keyer
        .hash(&[b"sales", &conn_key, path.as_bytes(), query.as_bytes()]);
    let call = Call {
        key,
        // Built now: it borrows the intake, and admin reads are not the hot path.
        request: {
            let request = p.upstream_request(Target::Gumroad(segments), connection);
            Box::new(move || request)
        },
        classify,
        ttls: Ttls {
            ok: state.settings.cache.sales_ttl,
            not_found: state.settings.cache.sales_ttl,
        },
        freshness: freshness(&p.headers),
        gate: None,
    };
    match state.caches.sales.serve(&state.upstream, call).await {
        Served::Answer(answer, status) => Ok(read_through::respond(answer, status)),
        Served::Failed(failure) => failed(&state, &p, failure),
    }
}

/// Gumroad's 200s are kept: a page of sales, one sale, or its 200 "sale not found". A 200 in
/// any other shape (an HTML maintenance page, broken JSON, a bare `{"success":false}`) is what
/// a proxy in between passed off as an answer: an outage, never stored, so it can neither
/// replace a good entry nor become the stale fallback (issue 9). Throttling and 5xx outages
/// fail too; other errors (Gumroad's 400 for a bad `page_key`, say) are the caller's and pass.
fn classify(answer: &Answer, ttls: &Ttls) -> Verdict {
    if answer.status == StatusCode::OK {
        let body = serde_json::from_slice::<Value>(&answer.body).unwrap_or(Value::Null);
        if found(&body) || sales::is_sale_not_found(&body) {
            Verdict::Store(ttls.ok)
        } else {
            Verdict::Fail
        }
    } else if read_through::is_failure(answer) {
        Verdict::Fail
    } else {
        Verdict::Pass
    }
}

/// `{"success":true,...}` with a `sales` array (a page) or a `sale` object (one sale).
fn found(body: &Value) -> bool {
    body.get("success") == Some(&Value::Bool(true))
        && (body.get("sales").is_some_and(Value::is_array)
            || body.get("sale").is_some_and(Value::is_object))
}

/// Without a stale copy, an admin gets what the passthrough would have given: upstream's own
/// outage answer, or Gumgate's 429/502/504.
fn failed(state: &AppState, p: &Intake, failure: Failure) -> Result<Response, AppError> {
    match failure {
        Failure::Outage(answer) => {
            let mut response =
                read_through::respond(answer, crate::cache::CacheStatus::Unavailable);
            // The 429's Retry-After went into the budget's pause; say what is left of it.
            if let Some(left) = state.upstream.budget().paused_for() {
                response.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    crate::error::retry_after_value(left),
                );
            }
            Ok(response)
        }
        Failure::Upstream(e) => Err(p.failure(e)),
        Failure::Crashed => Err(AppError::Internal("a sales cache fill panicked".into())),
    }
}

/// The query as a cache key: pairs sorted by name, so `a=1&b=2` and `b=2&a=1` share an entry.
/// The sort is stable, so repeated names keep their order: Rails reads the last one, and
/// `id=A&id=B` must not share an entry with `id=B&id=A`.
fn normalized_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `Cache-Control: no-cache` (or `max-age=0`) asks for an answer fresh from upstream.
fn freshness(headers: &HeaderMap) -> Freshness {
    let refresh = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .any(|d| d == "no-cache" || d == "max-age=0");
    if refresh {
        Freshness::Refresh
    } else {
        Freshness::Cached
    }
}
