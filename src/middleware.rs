//! The HTTP layers every API request passes through, and the order they go in (outermost
//! first; each sees what the layers above it produced):
//!
//! 1. `sanitize_request_id`: keeps only a caller's first `x-request-id` (a second one is
//!    dropped), and drops that too when it is too long or carries characters unsafe for logs,
//!    so the next layer mints a fresh one.
//! 2. `SetRequestId` / `PropagateRequestId`: every request has an id, echoed in the response.
//! 3. `TraceLayer`: one span per request with method, matched route and request id, nothing else
//!    (query strings and bodies may hold license keys or tokens), and an access line for one in
//!    `log.access_sample` answers; per-IP refusals get none (a flood must not flood the logs).
//! 4. `edge`, one layer for three jobs: it counts and times every answer, including the ones
//!    produced inside it (metrics); it gives a whole request `server.request_timeout`, then 504;
//!    and it answers 400 to path-escape spellings before any handler runs
//!    (`inbound::path_is_safe`).
//! 5. `CatchPanic`: a panic becomes a 500 in Gumroad's shape, not a dropped connection.
//!
//! Few layers, on purpose: every `from_fn` layer boxes the future of everything inside it and
//! is paid on every request (bench/callgrind.sh counts it), so (1) is a plain request map and
//! the three jobs of (4) share one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::error::{AppError, DatabaseFailed, panic_response};
use crate::inbound::path_is_safe;
use crate::limits::LimitedResponse;
use crate::metrics::{Metrics, method_label};

const REQUEST_ID: &str = "x-request-id";
const MAX_REQUEST_ID_LEN: usize = 128;

/// Wraps `router` in the layers above. `access_sample`: one access line per that many answers.
pub fn apply<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    metrics: Arc<Metrics>,
    timeout: Duration,
    access_sample: u64,
) -> Router<S> {
    let answered = Arc::new(AtomicU64::new(0));
    let edge = Edge { metrics, timeout };
    router.layer(
        ServiceBuilder::new()
            .map_request(sanitize_request_id)
            .layer(SetRequestIdLayer::x_request_id(FreshUuid))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(
                        move |response: &Response, latency: Duration, _: &tracing::Span| {
                            access_line(response, latency, &answered, access_sample);
                        },
                    ),
            )
            .layer(middleware::from_fn_with_state(edge, self::edge))
            .layer(CatchPanicLayer::custom(panic_response)),
    )
}

/// The access line of one answer (in the request's span): every `sample`th answer, never a
/// per-IP refusal (those are counted, and summed up once a minute by the limits).
fn access_line(response: &Response, latency: Duration, answered: &AtomicU64, sample: u64) {
    if response.extensions().get::<LimitedResponse>().is_some() {
        return;
    }
    if !answered
        .fetch_add(1, Ordering::Relaxed)
        .is_multiple_of(sample.max(1))
    {
        return;
    }
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_millis() as u64,
        "finished processing request"
    );
}

fn request_span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // `admin` is filled in by the Admin extractor: the token's name, never the token.
    tracing::info_span!(
        "request",
        method = %req.method(),
        route,
        request_id = id,
        admin = tracing::field::Empty
    )
}

fn sanitize_request_id(mut req: Request) -> Request {
    // `remove` takes every value out and returns the first: a second id is dropped, never used,
    // so upstream and the caller see one id at most (and a bad first is not replaced by a later).
    let first = req.headers_mut().remove(REQUEST_ID);
    if let Some(id) = first.filter(|v| usable_request_id(v.as_bytes())) {
        req.headers_mut().insert(REQUEST_ID, id);
    }
    req
}

fn usable_request_id(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= MAX_REQUEST_ID_LEN
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
}

/// Mints a v4 UUID for a request that came without a usable id, as tower-http's
/// `MakeRequestUuid` does, but written into a stack buffer instead of through `to_string` and
/// a parse: that cost ~2,000 instructions on every request (bench/callgrind.sh).
#[derive(Clone, Copy)]
struct FreshUuid;

impl MakeRequestId for FreshUuid {
    fn make_request_id<B>(&mut self, _: &http::Request<B>) -> Option<RequestId> {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        http::HeaderValue::from_str(id).ok().map(RequestId::new)
    }
}

/// Decrements the in-flight gauge however the request ends, a dropped connection included.
struct InFlight(prometheus::IntGauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// What [`edge`] needs.
#[derive(Clone)]
struct Edge {
    metrics: Arc<Metrics>,
    timeout: Duration,
}

/// Layer 4: metrics around a request timeout around the path check (see the module doc).
async fn edge(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    let Edge { metrics, timeout } = edge;
    // MatchedPath is an `Arc<str>` inside: cloning it allocates nothing.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = method_label(req.method());
    metrics.http_in_flight.inc();
    let _guard = InFlight(metrics.http_in_flight.clone());
    let started = Instant::now();
    let response = if !path_is_safe(req.uri().path()) {
        AppError::BadRequest("The request path is not allowed.".into()).into_response()
    } else {
        match tokio::time::timeout(timeout, next.run(req)).await {
            Ok(response) => response,
            Err(_) => AppError::RequestTimeout.into_response(),
        }
    };
    let status = response.status();
    let labels = [route, method, status.as_str()];
    metrics.http_requests.with_label_values(&labels).inc();
    if response.extensions().get::<DatabaseFailed>().is_some() {
        metrics.database_errors.inc();
    }
    metrics
        .http_duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}
