//! `POST /v2/licenses/verify`, the public facade. Non-incrementing verifies are answered from
//! the cache (one coalesced upstream call per miss, stale-if-error on failure); incrementing
//! ones always go upstream, uncoalesced and never retried, and their answer refreshes the
//! cache. Unlisted products are refused without an upstream call when an allow-list is set.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gumroad_wire::licenses;
use gumroad_wire::params::increments_uses;
use http::StatusCode;
use serde_json::{Value, json};

use crate::cache::{Answer, AnswerCache, CacheStatus, Lookup};
use crate::error::AppError;
use crate::intake::{Intake, Public};
use crate::licenses::known;
use crate::read_through::{self, Call, Failure, Fill, Freshness, Served, Ttls, Verdict};
use crate::state::AppState;
use crate::upstream::{Retry, Target, UpstreamRequest};

/// Gumroad's answer for a license it does not know, reused for unlisted products.
const NOT_FOUND: &str = licenses::NOT_FOUND;
/// `Retry-After` when an outage gives no better hint.
const OUTAGE_RETRY: Duration = Duration::from_secs(5);

pub async fn verify(
    State(state): State<AppState>,
    Public(p): Public,
) -> Result<Response, AppError> {
    let client = p.client;
    let product = p.params.str("product_id").unwrap_or_default().to_owned();
    if !state.settings.product_allowed(&product) {
        return Ok(not_found());
    }
    // A string that cannot be a Gumroad key is answered as Gumroad would, without asking.
    if let Some(key) = p.params.str("license_key")
        && !state.settings.key_shape_ok(key)
    {
        return Ok(not_found());
    }
    // Only a request the cache key fully describes may read or fill the cache: anything else
    // (a non-string param, Gumroad's legacy `product_permalink`/`id`/`link_id`, any other
    // extra) could make upstream answer for another license than the key says, so it is
    // relayed as it came, and its answer is never stored.
    let Some(canonical) = Canonical::of(&p) else {
        if let Some(refused) = state.limits.upstream_refusal(client) {
            return Ok(refused);
        }
        // Boxed, as is `incrementing`: an await inside this handler makes its whole future as
        // large as the largest one it holds, and every request, cache hits included, moves
        // that future through the layers (bench/callgrind.sh).
        return Box::pin(uncached(&state, &p)).await;
    };
    if increments_uses(&p.params) {
        // Every incrementing verify spends upstream budget: one client gets only its share.
        if let Some(refused) = state.limits.upstream_refusal(client) {
            return Ok(refused);
        }
        Box::pin(incrementing(&state, &canonical)).await
    } else {
        cached(&state, canonical).await
    }
}

/// A verify reduced to what the cache key holds, and the upstream request built from only that.
struct Canonical {
    /// Trimmed; empty when the caller sent none (a legacy product verifies without one).
    product: String,
    /// Normalised ([`licenses::normalize_license_key`]): the key the cache entry is filed
    /// under is the key upstream is asked about, so an entry only ever holds Gumroad's answer
    /// for its own key, whatever spelling filled it.
    license: String,
    /// The caller's request id, so the call can be followed upstream.
    request_id: Option<http::HeaderValue>,
}

/// The params a cacheable verify may carry.
const CANONICAL_PARAMS: &[&str] = &["product_id", "license_key", "increment_uses_count"];

impl Canonical {
    fn of(p: &Intake) -> Option<Self> {
        let params = p.params.as_map();
        if params
            .keys()
            .any(|k| !CANONICAL_PARAMS.contains(&k.as_str()))
        {
            return None;
        }
        let product = match params.get("product_id") {
            None => String::new(),
            Some(v) => v.as_str()?.trim().to_owned(),
        };
        let license = licenses::normalize_license_key(p.params.str("license_key")?);
        if !matches!(
            params.get("increment_uses_count"),
            None | Some(Value::String(_)) | Some(Value::Bool(_))
        ) {
            return None;
        }
        Some(Self {
            product,
            license,
            request_id: p.headers.get("x-request-id").cloned(),
        })
    }

    fn new(product: &str, license: &str) -> Self {
        Self {
            product: product.trim().to_owned(),
            license: licenses::normalize_license_key(license),
            request_id: None,
        }
    }

    /// Its cache key: the configured connection, the product, the license as Gumroad matches it.
    fn key(&self, state: &AppState) -> u128 {
        let connection = state.settings.default_connection().unwrap_or_default();
        state
            .caches
            .keyer
            .verify(connection, &self.product, &self.license)
    }

    /// `product_id` (when given), `license_key`, and the increment flag only when it must be
    /// skipped (its absence increments, as at Gumroad). No caller header but the request id.
    fn request(&self, increment: bool) -> UpstreamRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        if !self.product.is_empty() {
            form.append_pair("product_id", &self.product);
        }
        form.append_pair("license_key", &self.license);
        if !increment {
            form.append_pair("increment_uses_count", "false");
        }
        // A read may be repeated; an increment never.
        let retry = if increment { Retry::Never } else { Retry::Safe };
        let mut request = UpstreamRequest::gumroad(
            http::Method::POST,
            &["licenses", "verify"],
            crate::budget::Priority::Public,
            retry,
        )
        .form(form.finish());
        if let Some(id) = &self.request_id {
            request.headers.insert("x-request-id", id.clone());
        }
        request
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "success": false, "message": NOT_FOUND })),
    )
        .into_response()
}

fn target() -> Target {
    Target::Gumroad(vec!["v2".into(), "licenses".into(), "verify".into()])
}

/// Gumroad's verify answers, and only those, are kept: a 200 carrying a purchase or an
/// imported customer stays fresh for `verify_ttl`, one of the three definitive 404s for
/// `negative_ttl`. A 400 or 500 in Gumroad's own shape (a non-string param, a missing
/// `product_id`) is the caller's error and passes. Anything else is an outage for which a stale
/// answer may stand in: 429, 5xx, Maton's 400/401 about its own setup, and whatever a proxy in
/// between passes off as an answer, a 200 included (an HTML maintenance page, broken JSON, a
/// bare `{"success":false}`). Storing one of those would replace a good answer and then serve as
/// the stale fallback during the outage (issue 9).
fn classify(answer: &Answer, ttls: &Ttls) -> Verdict {
    let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else {
        return Verdict::Fail;
    };
    match answer.status {
        StatusCode::OK if verified(&body) => Verdict::Store(ttls.ok),
        StatusCode::NOT_FOUND if definitive_not_found(&body) => Verdict::Store(ttls.not_found),
        StatusCode::BAD_REQUEST | StatusCode::INTERNAL_SERVER_ERROR if caller_error(&body) => {
            Verdict::Pass
        }
        _ => Verdict::Fail,
    }
}

/// `{"success":true,...}` with a `purchase` or, for an imported customer, an
/// `imported_customer` object.
fn verified(body: &Value) -> bool {
    body.get("success") == Some(&Value::Bool(true))
        && (body.get("purchase").is_some_and(Value::is_object)
            || body.get("imported_customer").is_some_and(Value::is_object))
}

/// One of Gumroad's three verify 404s, and not some other 404 (a proxy's, a routing error's).
fn definitive_not_found(body: &Value) -> bool {
    body.get("success") == Some(&Value::Bool(false))
        && body
            .get("message")
            .and_then(Value::as_str)
            .is_some_and(|m| licenses::VERIFY_NOT_FOUND_MESSAGES.contains(&m))
}

/// Gumroad's own refusal of a request: `{"success":false,"message":"..."}`.
fn caller_error(body: &Value) -> bool {
    body.get("success") == Some(&Value::Bool(false))
        && body.get("message").is_some_and(Value::is_string)
}

fn ttls(state: &AppState) -> Ttls {
    Ttls {
        ok: state.settings.cache.verify_ttl,
        not_found: state.settings.cache.negative_ttl,
    }
}

async fn cached(state: &AppState, c: Canonical) -> Result<Response, AppError> {
    let c = Arc::new(c);
    let call = verify_call(
        state,
        c.clone(),
        crate::budget::Priority::Public,
        Freshness::Cached,
    );
    let served = state.caches.verify.serve(&state.upstream, call).await;
    learn_from(state, &c.license, &served);
    match served {
        Served::Answer(answer, status) => Ok(read_through::respond(answer, status)),
        Served::Failed(failure) => Ok(unavailable(state, &failure)),
    }
}

/// A fresh 200 that was stored is Gumroad vouching for the license: it is known from now on.
fn learn_from(state: &AppState, license: &str, served: &Served) {
    if let Served::Answer(
        _,
        CacheStatus::Forwarded {
            status: 200,
            stored: true,
            ..
        },
    ) = served
    {
        known::learn(state, license);
    }
}

/// The cached, non-incrementing verify of `c`, as every caller of the cache makes it.
fn verify_call(
    state: &AppState,
    c: Arc<Canonical>,
    priority: crate::budget::Priority,
    freshness: Freshness,
) -> Call {
    // The gate and the request are decided only if the call goes upstream, from the one
    // canonical verify both closures share.
    let gate = (priority == crate::budget::Priority::Public).then(|| {
        let (known, c) = (state.known.clone(), c.clone());
        Box::new(move || known.gate(&c.license, priority)) as crate::read_through::GateCheck
    });
    Call {
        key: c.key(state),
        request: Box::new(move || {
            let mut request = c.request(false);
            request.priority = priority;
            request
        }),
        classify,
        ttls: ttls(state),
        freshness,
        gate,
    }
}

/// The cached, non-incrementing verify of one license, for Gumgate's own license decisions
/// (`crate::decision`): the same cache entry and coalescing an app's verify gets.
pub async fn cached_verify(
    state: &AppState,
    product: &str,
    license: &str,
    priority: crate::budget::Priority,
    freshness: Freshness,
) -> Served {
    let call = verify_call(
        state,
        Arc::new(Canonical::new(product, license)),
        priority,
        freshness,
    );
    let served = state.caches.verify.serve(&state.upstream, call).await;
    learn_from(state, license, &served);
    served
}

/// Always upstream, once: an increment must never be swallowed by a cached or shared answer,
/// nor doubled by a retry after an ambiguous failure. When upstream fails, the increment could
/// not happen anyway; a stale answer then keeps a paying user working, and says it is stale.
/// An incrementing verify's answer, counted and marked as one the cache did not serve.
fn bypassed(cache: &AnswerCache, answer: Answer, stored: bool) -> Response {
    let status = CacheStatus::Bypass {
        status: answer.status.as_u16(),
        stored,
    };
    cache.count(status);
    read_through::respond(answer, status)
}

async fn incrementing(state: &AppState, c: &Canonical) -> Result<Response, AppError> {
    let cache = state.caches.verify.cache();
    let key = c.key(state);
    let asked = cache.asked();
    let fill = if let Err(refused) = state.known.admit(&c.license).await {
        Fill::Failed(Failure::Upstream(refused))
    } else {
        match state.upstream.send(c.request(true)).await {
            Ok(response) => {
                let answer = read_through::answer_of(response);
                read_through::settle(cache, key, answer, classify, &ttls(state), asked)
            }
            Err(e) => Fill::Failed(Failure::Upstream(e)),
        }
    };
    if let Fill::Answered {
        answer,
        stored: true,
    } = &fill
        && answer.status == StatusCode::OK
    {
        known::learn(state, &c.license);
    }
    match fill {
        Fill::Answered { answer, stored } => Ok(bypassed(cache, answer, stored)),
        // `settle` never gives it: an incrementing verify always asks upstream.
        Fill::Shared(answer, _) => Ok(bypassed(cache, answer, true)),
        Fill::Failed(failure) => match cache.lookup(key) {
            Lookup::Stale(answer, past) => {
                let status = CacheStatus::StaleIfError {
                    age: past.as_secs(),
                };
                cache.count(status);
                Ok(read_through::respond(answer, status))
            }
            // A fresh entry while upstream fails: the last answer, now at zero staleness.
            Lookup::Fresh(answer, _) => {
                let status = CacheStatus::StaleIfError { age: 0 };
                cache.count(status);
                Ok(read_through::respond(answer, status))
            }
            Lookup::Miss => {
                cache.count(CacheStatus::Unavailable);
                Ok(unavailable(state, &failure))
            }
        },
    }
}

/// Requests the cache cannot key (no string `license_key`): relayed as they are.
async fn uncached(state: &AppState, p: &Intake) -> Result<Response, AppError> {
    // Odd params must not be a way around the first-time gate.
    let key = p.params.str("license_key").unwrap_or_default();
    let sent = match state.known.admit(key).await {
        Ok(()) => {
            state
                .upstream
                .send(p.upstream_request(target(), None))
                .await
        }
        Err(refused) => Err(refused),
    };
    let answer = match sent {
        Ok(answer) => answer,
        Err(e) => {
            state.caches.verify.cache().count(CacheStatus::Unavailable);
            let response = p.failure(e).into_response();
            return Ok(read_through::with_status(
                response,
                CacheStatus::Unavailable,
            ));
        }
    };
    let status = CacheStatus::Bypass {
        status: answer.status.as_u16(),
        stored: false,
    };
    state.caches.verify.cache().count(status);
    let failed = answer.status.is_client_error() || answer.status.is_server_error();
    let mut response = read_through::with_status(answer.into_response(), status);
    // A caller whose odd requests only earn errors counts as failing, like a 404 guesser.
    if failed {
        response
            .extensions_mut()
            .insert(crate::limits::FailedAttempt);
    }
    Ok(response)
}

/// 503 with `Retry-After` and Gumroad's shape: upstream failed and nothing stored can stand in.
fn unavailable(state: &AppState, failure: &Failure) -> Response {
    let fallback = state.upstream.budget().paused_for().unwrap_or(OUTAGE_RETRY);
    let error = AppError::Unavailable {
        retry_after: failure.retry_after(fallback),
    };
    read_through::with_status(error.into_response(), CacheStatus::Unavailable)
}
