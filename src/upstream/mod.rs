//! The one client that talks to Maton (and through it to Gumroad). It holds the only copy of
//! `MATON_API_KEY` that leaves the process, builds every URL with `Url` segment APIs (never by
//! pasting caller input into a string), spends the shared budget on every attempt, reports
//! each outcome to it (429s pause everything, failures feed the breaker), records metrics,
//! and retries only the requests their callers marked safe to repeat.

pub mod endpoint;
pub mod headers;
mod health;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use url::Url;

use crate::budget::{Budget, BudgetSettings, Denied, Outcome, Priority, parse_retry_after};
use crate::cluster::SharedBudget;
use crate::config::{Secret, Settings};
use crate::metrics::{Metrics, method_label};

pub use health::{UpstreamHealth, UpstreamObservation};

/// Largest upstream body Gumgate will buffer; Gumroad's answers are small JSON documents, and
/// the biggest (an unpaginated subscriber list) stays far below this.
const MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// `User-Agent` on every upstream request, so Maton and Gumroad can tell who is calling.
const USER_AGENT: &str = concat!("gumgate/", env!("CARGO_PKG_VERSION"));

/// Header naming the Maton connection (the Gumroad account) a request is for.
pub const MATON_CONNECTION: &str = "maton-connection";

/// Why an upstream call produced no answer. Every variant is transient from the caller's point
/// of view (the same request may succeed later); whether it is *safe* to repeat is the caller's
/// call, since an incrementing verify may have reached Gumroad before the failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("upstream did not answer in time")]
    Timeout,
    #[error("upstream could not be reached")]
    Connect,
    #[error("upstream transport failed: {0}")]
    Transport(String),
    #[error("upstream answer exceeded {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    /// Maton refused Gumgate's own `MATON_API_KEY` (its 401/403, told from Gumroad's by
    /// [`is_maton_refusal`]): no caller can fix that, so it is an outage, never the caller's 401.
    #[error("Maton refused the gateway's upstream credentials ({0})")]
    CredentialsRefused(StatusCode),
    /// Not sent: no budget in time, a 429 pause, or an open circuit.
    #[error(transparent)]
    Denied(#[from] Denied),
}

impl UpstreamError {
    /// A short, bounded label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Transport(_) => "transport",
            Self::TooLarge => "too_large",
            Self::CredentialsRefused(_) => "credentials_refused",
            Self::Denied(d) => d.reason.label(),
        }
    }

    fn from_reqwest(e: reqwest::Error) -> Self {
        if e.is_connect() {
            Self::Connect
        } else if e.is_timeout() {
            Self::Timeout
        } else {
            // Without the URL: it may hold a license key or an email in its query.
            Self::Transport(e.without_url().to_string())
        }
    }
}

/// Where on Maton a request goes.
#[derive(Debug, Clone)]
pub enum Target {
    /// A Gumroad path, as decoded segments starting with `v2`: sent to `{base}/gumroad/...`.
    Gumroad(Vec<String>),
    /// Maton's connection management: `{base}/connections[/{id}]`.
    Connections(Option<String>),
}

/// Whether a request may be sent again after a failure that left its effect unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Never: it may change state upstream (an incrementing verify, a PUT).
    Never,
    /// On connection errors and 502/503/504: reading it twice changes nothing.
    Safe,
}

/// One request to send upstream. Headers and body are already free of caller credentials.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: Method,
    pub target: Target,
    /// An already-encoded query string, without the `?`.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The `Maton-Connection` to send; `None` uses the configured default.
    pub connection: Option<HeaderValue>,
    /// Its place in the budget queue.
    pub priority: Priority,
    pub retry: Retry,
}

impl UpstreamRequest {
    /// One of Gumgate's own Gumroad calls (`path` after `/v2`): no query, headers or body yet,
    /// on the configured connection.
    pub fn gumroad(method: Method, path: &[&str], priority: Priority, retry: Retry) -> Self {
        let mut segments = vec!["v2".to_owned()];
        segments.extend(path.iter().map(|s| (*s).to_owned()));
        Self {
            method,
            target: Target::Gumroad(segments),
            query: None,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            connection: None,
            priority,
            retry,
        }
    }

    /// Sets a form-encoded body, as Gumroad documents its params.
    pub fn form(mut self, body: String) -> Self {
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        self.body = body.into();
        self
    }
}

/// Upstream's answer, buffered.
#[derive(Debug, Clone)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl IntoResponse for UpstreamResponse {
    /// Passes upstream's status, body and meaningful headers back unchanged.
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        *response.headers_mut() = headers::response_headers(&self.headers);
        response
    }
}

/// A cheap-to-clone handle on the upstream client.
#[derive(Clone)]
pub struct Upstream {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    base: Url,
    api_key: Secret,
    default_connection: Option<HeaderValue>,
    metrics: Arc<Metrics>,
    health: UpstreamHealth,
    budget: Budget,
    /// Cluster mode (`redis.url`): the budget every replica shares, booked after the local one.
    shared: Option<Arc<SharedBudget>>,
    max_wait: Duration,
    max_retries: u32,
}

impl Upstream {
    /// Builds the client once: timeouts from config, our User-Agent, no redirects (an API
    /// gateway passes a redirect back rather than following it with our credentials).
    pub fn new(
        settings: &Settings,
        api_key: Secret,
        metrics: Arc<Metrics>,
    ) -> Result<Self, reqwest::Error> {
        Self::with_shared_budget(settings, api_key, metrics, None)
    }

    /// [`Upstream::new`], each call also booking a slot of `shared` (cluster mode).
    pub fn with_shared_budget(
        settings: &Settings,
        api_key: Secret,
        metrics: Arc<Metrics>,
        shared: Option<Arc<SharedBudget>>,
    ) -> Result<Self, reqwest::Error> {
        crate::tls::install_crypto_provider();
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(settings.upstream.timeout)
            .connect_timeout(settings.upstream.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        let default_connection = settings
            .default_connection()
            .and_then(|c| HeaderValue::from_str(c).ok());
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                base: settings.upstream.base_url.clone(),
                api_key,
                default_connection,
                budget: Budget::new(BudgetSettings::from(&settings.upstream), metrics.clone()),
                shared,
                metrics,
                health: UpstreamHealth::new(&settings.upstream.base_url),
                max_wait: settings.upstream.max_wait,
                max_retries: settings.upstream.max_retries,
            }),
        })
    }

    /// The upstream budget of this process.
    pub fn budget(&self) -> &Budget {
        &self.inner.budget
    }

    /// The budget shared with the other replicas, in cluster mode.
    pub fn shared_budget(&self) -> Option<&SharedBudget> {
        self.inner.shared.as_deref()
    }

    /// What recent upstream calls looked like, for `/readyz`.
    pub fn health(&self) -> &UpstreamHealth {
        &self.inner.health
    }

    /// Publishes what is computed at scrape time (how long every call has been failing).
    pub fn report(&self) {
        let failing = i64::try_from(self.inner.health.failing_seconds()).unwrap_or(i64::MAX);
        self.inner.metrics.upstream_failing_seconds.set(failing);
    }

    /// The full URL for a target.
    pub fn url(&self, target: &Target, query: Option<&str>) -> Url {
        let mut url = self.inner.base.clone();
        {
            let mut segs = url
                .path_segments_mut()
                .expect("base_url is validated to be a base");
            segs.pop_if_empty();
            match target {
                Target::Gumroad(path) => {
                    segs.push("gumroad").extend(path);
                }
                Target::Connections(id) => {
                    segs.push("connections").extend(id);
                }
            }
        }
        url.set_query(query.filter(|q| !q.is_empty()));
        url
    }

    /// Sends a request under the budget, retrying it when it is safe to and the failure is one
    /// a retry can cure. Any HTTP status is an `Ok`; only the absence of an answer is an error.
    pub async fn send(&self, req: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let attempts = match req.retry {
            Retry::Safe => 1 + self.inner.max_retries,
            Retry::Never => 1,
        };
        let mut attempt = 1;
        let mut previous = None;
        loop {
            let asked = tokio::time::Instant::now();
            let permit = match self
                .inner
                .budget
                .acquire(req.priority, self.inner.max_wait)
                .await
            {
                Ok(permit) => permit,
                // A retry that cannot go (no budget, a pause, the breaker just opened) returns
                // what the last attempt got: upstream's own answer beats our refusal.
                Err(denied) => return previous.unwrap_or(Err(denied.into())),
            };
            if let Some(shared) = &self.inner.shared {
                // The cluster's slot, within what is left of this call's wait. A refusal
                // abandons the local permit: it cost a local slot, never an upstream call.
                let left = self.inner.max_wait.saturating_sub(asked.elapsed());
                if let Err(denied) = shared.book(req.priority, left).await {
                    self.inner
                        .metrics
                        .budget_denials
                        .with_label_values(&[req.priority.label(), denied.reason.label()])
                        .inc();
                    return previous.unwrap_or(Err(denied.into()));
                }
            }
            let result = self.attempt(req.clone()).await;
            let outcome = outcome(&result);
            self.inner.budget.complete(permit, outcome);
            if let (Some(shared), Outcome::Throttled { .. }) = (&self.inner.shared, outcome)
                && let Some(pause) = self.inner.budget.paused_for()
            {
                // The pause this replica just took (Retry-After, or its backoff streak, capped
                // at upstream.max_pause) holds every replica.
                shared.pause(pause).await;
            }
            if attempt >= attempts || !worth_retrying(&result) {
                return result;
            }
            previous = Some(result);
            attempt += 1;
            // Jitter, so replicas that failed together do not retry together.
            let pause = Duration::from_millis(rand::random_range(20..120));
            tokio::time::sleep(pause).await;
        }
    }

    /// One attempt, with its metrics.
    #[tracing::instrument(skip_all, fields(endpoint, method = %req.method, status))]
    async fn attempt(&self, req: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let endpoint = match &req.target {
            Target::Gumroad(segs) => endpoint::gumroad_template(segs),
            Target::Connections(None) => "/connections",
            Target::Connections(Some(_)) => "/connections/{id}",
        };
        let span = tracing::Span::current();
        span.record("endpoint", endpoint);
        let method = method_label(&req.method);
        let started = Instant::now();
        let result = self.execute(req).await.and_then(refused_by_maton);
        let elapsed = started.elapsed();

        let m = &self.inner.metrics;
        m.upstream_duration
            .with_label_values(&[endpoint])
            .observe(elapsed.as_secs_f64());
        match &result {
            Ok(resp) => {
                span.record("status", resp.status.as_u16());
                m.upstream_requests
                    .with_label_values(&[endpoint, method, resp.status.as_str()])
                    .inc();
                self.inner.health.observe_status(resp.status);
            }
            Err(UpstreamError::CredentialsRefused(status)) => {
                span.record("status", status.as_u16());
                tracing::error!(
                    status = status.as_u16(),
                    "Maton refused the gateway's credentials: check MATON_API_KEY"
                );
                m.upstream_requests
                    .with_label_values(&[endpoint, method, status.as_str()])
                    .inc();
                m.upstream_credentials_refused.inc();
                self.inner.health.observe_credentials_refused(*status);
            }
            Err(e) => {
                tracing::warn!(error = %e, elapsed_ms = elapsed.as_millis() as u64, "upstream call failed");
                m.upstream_requests
                    .with_label_values(&[endpoint, method, e.kind()])
                    .inc();
                self.inner.health.observe_error(e.kind());
            }
        }
        result
    }

    async fn execute(&self, req: UpstreamRequest) -> Result<UpstreamResponse, UpstreamError> {
        let url = self.url(&req.target, req.query.as_deref());
        let mut headers = req.headers;
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", self.inner.api_key.expose()))
                .map_err(|_| UpstreamError::Transport("invalid API key characters".into()))?,
        );
        if let Some(conn) = req
            .connection
            .or_else(|| self.inner.default_connection.clone())
        {
            headers.insert(MATON_CONNECTION, conn);
        }
        let mut response = self
            .inner
            .client
            .request(req.method, url)
            .headers(headers)
            .body(req.body)
            .send()
            .await
            .map_err(UpstreamError::from_reqwest)?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = BytesMut::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(UpstreamError::from_reqwest)?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(UpstreamError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(UpstreamResponse {
            status,
            headers,
            body: body.freeze(),
        })
    }
}

/// Turns Maton's refusal of Gumgate's own key into an error; every other answer stays one.
fn refused_by_maton(resp: UpstreamResponse) -> Result<UpstreamResponse, UpstreamError> {
    if is_maton_refusal(&resp) {
        Err(UpstreamError::CredentialsRefused(resp.status))
    } else {
        Ok(resp)
    }
}

/// Whether a 401/403 is Maton refusing `MATON_API_KEY` rather than Gumroad refusing the
/// seller's OAuth token. Gumroad's (Doorkeeper's) come with an empty body and a
/// `WWW-Authenticate` header; Maton's with a JSON body such as `{"error":"Invalid API key"}`
/// and no such header (GUMROAD.md). A body in Gumroad's own shape (with `success`) is left to
/// Gumroad too, so only an answer that is clearly not Gumroad's is taken for Maton's.
pub fn is_maton_refusal(resp: &UpstreamResponse) -> bool {
    if !matches!(
        resp.status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
    ) || resp.headers.contains_key(header::WWW_AUTHENTICATE)
        || resp.body.is_empty()
    {
        return false;
    }
    let gumroad_shaped = serde_json::from_slice::<serde_json::Value>(&resp.body)
        .is_ok_and(|v| v.get("success").is_some());
    !gumroad_shaped
}

/// What an attempt tells the budget: a 429 pauses everyone, an outage feeds the breaker.
fn outcome(result: &Result<UpstreamResponse, UpstreamError>) -> Outcome {
    match result {
        Ok(r) if r.status == StatusCode::TOO_MANY_REQUESTS => Outcome::Throttled {
            retry_after: r
                .headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, std::time::SystemTime::now())),
        },
        Ok(r) if is_outage(r.status) => Outcome::Failure,
        // A refused key is Maton answering, not an outage: the breaker (documented for
        // transport errors, timeouts and 502/503/504) stays shut, so every caller keeps getting
        // the 502 that names the cause rather than a 503 that hides it.
        Ok(_) | Err(UpstreamError::TooLarge | UpstreamError::CredentialsRefused(_)) => {
            Outcome::Success
        }
        Err(_) => Outcome::Failure,
    }
}

/// Statuses that say upstream (Maton or Gumroad) is down rather than answering. A 500 is left
/// out: Gumroad answers a missing `product_id` with one, which is the caller's error.
pub fn is_outage(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
    )
}

fn worth_retrying(result: &Result<UpstreamResponse, UpstreamError>) -> bool {
    match result {
        Ok(r) => is_outage(r.status),
        Err(e) => matches!(e, UpstreamError::Connect),
    }
}
