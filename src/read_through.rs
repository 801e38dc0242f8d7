//! The read-through path to upstream, shared by license verifies and admin sales reads: a
//! fresh entry answers at once; otherwise one coalesced fill (in its own task, see
//! `cache::flight`) asks upstream; when that fails, a stale entry within the stale-if-error
//! window stands in. Every answer says how it was served in `Cache-Status`.

use governor::DefaultDirectRateLimiter;

use std::sync::Arc;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

use crate::budget::{Denied, DenyReason, Priority};
use crate::cache::{Answer, AnswerCache, CacheStatus, Flights, Lookup};
use crate::cluster::{Found, SharedAnswers, SharedBudget};
use crate::metrics::Metrics;
use crate::upstream::{Upstream, UpstreamError, UpstreamRequest, UpstreamResponse, is_outage};

/// What to do with an upstream answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it and keep it fresh this long.
    Store(Duration),
    /// Serve it, don't keep it (the caller's own error, say).
    Pass,
    /// Treat it as an outage: stale may stand in.
    Fail,
}

/// Decides the verdict on an answer.
pub type Classifier = fn(&Answer, &Ttls) -> Verdict;

/// The freshness lifetimes a classifier hands out.
#[derive(Debug, Clone, Copy)]
pub struct Ttls {
    pub ok: Duration,
    pub not_found: Duration,
}

/// Whether a fresh cached answer will do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// A fresh entry answers; upstream is asked only on a miss.
    Cached,
    /// Ask upstream even past a fresh entry (`Cache-Control: no-cache`, a ping's re-check);
    /// the new answer replaces it, and on failure the old one may still stand in.
    Refresh,
}

/// Why a fill produced nothing to serve.
#[derive(Debug, Clone)]
pub enum Failure {
    /// No answer: nothing was sent (no budget in time, a 429 pause, an open circuit), or what
    /// was sent got none (timeout, connection refused, ...).
    Upstream(UpstreamError),
    /// Upstream answered with an outage (429, 502/503/504, or what the classifier failed).
    Outage(Answer),
    /// The fill's task panicked: a bug, logged where it happened; nothing was learnt.
    Crashed,
}

/// The shared result of one fill.
#[derive(Debug, Clone)]
pub enum Fill {
    Answered {
        answer: Answer,
        stored: bool,
    },
    /// Another replica's answer (cluster mode), fresh for this long; stored here too.
    Shared(Answer, Duration),
    Failed(Failure),
}

/// What the caller gets.
pub enum Served {
    Answer(Answer, CacheStatus),
    /// Upstream failed and nothing stored could stand in.
    Failed(Failure),
}

/// One cacheable upstream call.
pub struct Call {
    pub key: u128,
    /// Builds the upstream request, only when the call does go upstream: a hit never needs it.
    pub request: Box<dyn FnOnce() -> UpstreamRequest + Send>,
    pub classify: Classifier,
    pub ttls: Ttls,
    pub freshness: Freshness,
    /// A share of the budget the call must also find room in before it may go upstream
    /// (first-time license keys, `crate::licenses::known`), decided only when the call does go
    /// upstream: deciding hashes the license key, which a cache hit never needs.
    pub gate: Option<GateCheck>,
}

/// Decides the gate of a call that goes upstream; `None` from it: no gate.
pub type GateCheck = Box<dyn FnOnce() -> Option<Gate> + Send>;

/// A cached route's answers and the fills in flight for it: always used together.
#[derive(Clone)]
pub struct ReadThrough {
    cache: AnswerCache,
    fills: Arc<Flights<Fill>>,
    /// Cluster mode: the answers replicas share, looked at before a fill goes upstream.
    shared: Option<Arc<SharedAnswers>>,
}

impl ReadThrough {
    pub fn new(cache: AnswerCache) -> Self {
        Self {
            cache,
            fills: Flights::new(),
            shared: None,
        }
    }

    /// Shares this cache's answers with the other replicas through `shared`.
    pub fn with_shared(mut self, shared: Arc<SharedAnswers>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// The answers themselves (lookups, invalidation, metrics).
    pub fn cache(&self) -> &AnswerCache {
        &self.cache
    }

    /// Serves `call` from cache or from one coalesced upstream fill.
    pub async fn serve(&self, upstream: &Upstream, call: Call) -> Served {
        let cache = &self.cache;
        let stale = match cache.lookup(call.key) {
            Lookup::Fresh(answer, left) if call.freshness == Freshness::Cached => {
                let ttl = left.as_secs();
                return counted(cache, answer, CacheStatus::Hit { ttl });
            }
            Lookup::Fresh(answer, _) => Some((answer, Duration::ZERO)),
            Lookup::Stale(answer, past) => Some((answer, past)),
            Lookup::Miss => None,
        };
        let key = call.key;
        // Boxed: a miss pays one allocation, and the future of every lookup (hits included)
        // stays small, instead of holding a whole fill inline (bench/callgrind.sh).
        let fill = Box::pin(fill(
            upstream.clone(),
            cache.clone(),
            self.shared.clone(),
            call,
        ));
        let on_panic = Fill::Failed(Failure::Crashed);
        let (result, collapsed) = self.fills.join(key, fill, on_panic).await;
        match (result, stale) {
            (Fill::Answered { answer, stored }, stale) => {
                let status = CacheStatus::Forwarded {
                    status: answer.status.as_u16(),
                    stale: stale.is_some(),
                    collapsed,
                    stored,
                };
                counted(cache, answer, status)
            }
            (Fill::Shared(answer, fresh), _) => {
                let ttl = fresh.as_secs();
                counted(cache, answer, CacheStatus::Shared { ttl, collapsed })
            }
            (Fill::Failed(_), Some((answer, past))) => {
                let age = past.as_secs();
                counted(cache, answer, CacheStatus::StaleIfError { age })
            }
            (Fill::Failed(failure), None) => {
                cache.count(CacheStatus::Unavailable);
                Served::Failed(failure)
            }
        }
    }
}

fn counted(cache: &AnswerCache, answer: Answer, status: CacheStatus) -> Served {
    cache.count(status);
    Served::Answer(answer, status)
}

/// How long after an invalidation here a fill does not take what replicas share: far longer
/// than the invalidation takes to reach Redis.
const DISTRUST_SHARED: Duration = Duration::from_secs(60);

/// One upstream call and what it leaves in the cache; runs detached from any caller. The gate
/// is asked here, once per upstream call: requests that join a fill in flight spend nothing.
async fn fill(
    upstream: Upstream,
    cache: AnswerCache,
    shared: Option<Arc<SharedAnswers>>,
    call: Call,
) -> Fill {
    // Cluster mode: another replica's fresh answer costs no upstream call and no gate. A
    // refresh (`no-cache`, a re-check) asks upstream whatever is shared, and so does a key
    // invalidated here within the last minute: the shared answer is dropped on the way to the
    // other replicas, which may not have happened yet, and a stale answer must not come back.
    let mut lease = None;
    let shareable =
        call.freshness == Freshness::Cached && !cache.invalidated_within(call.key, DISTRUST_SHARED);
    if let Some(shared) = shared.as_deref().filter(|_| shareable) {
        let asked = cache.asked();
        match shared.find(call.key).await {
            Found::Answer(answer, fresh) => {
                cache.store(call.key, &answer, fresh, asked);
                return Fill::Shared(answer, fresh);
            }
            Found::Lease(l) => lease = Some(l),
            Found::Nothing => {}
        }
    }
    let filled = fill_upstream(&upstream, &cache, call).await;
    if let (Some(shared), Some(lease)) = (shared.as_deref(), lease) {
        match &filled {
            (
                Fill::Answered {
                    answer,
                    stored: true,
                },
                Verdict::Store(fresh),
            ) => {
                shared.put(lease, answer, *fresh).await;
            }
            _ => shared.release(lease).await,
        }
    }
    filled.0
}

/// The upstream half of a fill: the gate, the call, and the verdict on what came back.
async fn fill_upstream(upstream: &Upstream, cache: &AnswerCache, call: Call) -> (Fill, Verdict) {
    if let Some(gate) = call.gate.and_then(|decide| decide())
        && let Err(refused) = gate.pass().await
    {
        return (Fill::Failed(Failure::Upstream(refused)), Verdict::Pass);
    }
    let asked = cache.asked();
    match upstream.send((call.request)()).await {
        Ok(response) => {
            let answer = answer_of(response);
            let verdict = (call.classify)(&answer, &call.ttls);
            (
                settle(cache, call.key, answer, call.classify, &call.ttls, asked),
                verdict,
            )
        }
        Err(e) => (Fill::Failed(Failure::Upstream(e)), Verdict::Pass),
    }
}

/// A rate some calls must find room in, waiting at most `max_wait` like the budget itself;
/// refused, the call is served like a spent budget.
#[derive(Clone)]
pub struct Gate {
    pub limiter: Arc<DefaultDirectRateLimiter>,
    pub max_wait: Duration,
    pub metrics: Arc<Metrics>,
    /// Cluster mode: the same rate for every replica together, booked in Redis instead of
    /// `limiter` (this replica's own).
    pub shared: Option<Arc<SharedBudget>>,
}

impl Gate {
    /// Waits for room (at most `max_wait`); `Err` when there was none.
    pub async fn pass(&self) -> Result<(), UpstreamError> {
        let mut retry_after = Duration::from_secs(1);
        if let Some(shared) = &self.shared {
            match shared.book(Priority::Public, self.max_wait).await {
                Ok(_) => return Ok(()),
                Err(denied) => retry_after = denied.retry_after.max(Duration::from_millis(1)),
            }
        } else if tokio::time::timeout(self.max_wait, self.limiter.until_ready())
            .await
            .is_ok()
        {
            return Ok(());
        }
        let reason = DenyReason::FirstTimeShare;
        self.metrics
            .budget_denials
            .with_label_values(&[Priority::Public.label(), reason.label()])
            .inc();
        Err(UpstreamError::Denied(Denied {
            reason,
            retry_after,
        }))
    }
}

/// Applies the verdict on an answer to a question asked at `asked`: store it, pass it, or call
/// it an outage.
pub fn settle(
    cache: &AnswerCache,
    key: u128,
    answer: Answer,
    classify: Classifier,
    ttls: &Ttls,
    asked: Duration,
) -> Fill {
    match classify(&answer, ttls) {
        Verdict::Store(ttl) => {
            cache.store(key, &answer, ttl, asked);
            Fill::Answered {
                answer,
                stored: true,
            }
        }
        Verdict::Pass => Fill::Answered {
            answer,
            stored: false,
        },
        Verdict::Fail => Fill::Failed(Failure::Outage(answer)),
    }
}

pub fn answer_of(r: UpstreamResponse) -> Answer {
    Answer {
        status: r.status,
        content_type: r.headers.get(header::CONTENT_TYPE).cloned(),
        body: r.body,
    }
}

/// The classification every cached route starts from: throttling and outages are failures
/// (stale may stand in), never answers to keep.
pub fn is_failure(answer: &Answer) -> bool {
    answer.status == StatusCode::TOO_MANY_REQUESTS || is_outage(answer.status)
}

impl Failure {
    /// How long a caller should wait before trying again. `fallback` covers outages (the
    /// budget's pause already carries a 429's `Retry-After`, so callers pass what is left of it).
    pub fn retry_after(&self, fallback: Duration) -> Duration {
        match self {
            Self::Upstream(UpstreamError::Denied(d)) => d.retry_after,
            Self::Upstream(_) | Self::Outage(_) | Self::Crashed => fallback,
        }
    }
}

/// An answer as an HTTP response, with its `Cache-Status`.
pub fn respond(answer: Answer, status: CacheStatus) -> Response {
    let mut response = (answer.status, answer.body).into_response();
    let headers = response.headers_mut();
    // Upstream's content type, or none: never the octet-stream default of a bare body.
    match answer.content_type {
        Some(ct) => headers.insert(header::CONTENT_TYPE, ct),
        None => headers.remove(header::CONTENT_TYPE),
    };
    headers.insert("cache-status", status.header());
    response
}

/// Adds a `Cache-Status` to a response built elsewhere.
pub fn with_status(mut response: Response, status: CacheStatus) -> Response {
    response
        .headers_mut()
        .insert("cache-status", status.header());
    response
}
