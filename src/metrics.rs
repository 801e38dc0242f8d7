//! Every Prometheus metric Gumgate exports, in one registry owned here. Labels are bounded
//! sets: matched route templates, methods, status codes and upstream endpoint templates;
//! never a raw path, key, token, email or IP.

use prometheus::{
    Counter, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

const NAMESPACE: &str = "gumgate";

/// Latency buckets in seconds: cache hits answer in microseconds, upstream calls in tens to
/// hundreds of milliseconds, timeouts at seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The metric handles; cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    /// Inbound requests by matched route, method and status.
    pub http_requests: IntCounterVec,
    /// Inbound latency by matched route, method and status.
    pub http_duration: HistogramVec,
    /// Inbound requests being served right now.
    pub http_in_flight: IntGauge,
    /// Upstream requests by endpoint template, method and outcome (status code or error kind).
    pub upstream_requests: IntCounterVec,
    /// Upstream latency by endpoint template.
    pub upstream_duration: HistogramVec,
    /// Cache lookups by cache (`verify`, `sales`) and result (`hit`, `miss`, `stale`,
    /// `collapsed`, `bypass`).
    pub cache_lookups: IntCounterVec,
    /// Entries held, by cache (refreshed at scrape time).
    pub cache_entries: IntGaugeVec,
    /// Weighed bytes held, by cache (refreshed at scrape time).
    pub cache_bytes: IntGaugeVec,
    /// Time calls waited for upstream budget, by priority.
    pub budget_wait: HistogramVec,
    /// Calls refused budget, by priority and reason (`budget`, `paused`, `circuit_open`).
    pub budget_denials: IntCounterVec,
    /// 429 answers received from upstream.
    pub upstream_throttled: IntCounter,
    /// Seconds of upstream pause ordered by 429s.
    pub upstream_blocked_seconds: Counter,
    /// Circuit breaker state: 0 closed, 1 half-open, 2 open.
    pub circuit_state: IntGauge,
    /// Inbound requests refused by a per-IP limit, by limit (`verify`, `failed_verify`).
    pub inbound_limited: IntCounterVec,
    /// Webhook pings by resource name and outcome (`accepted`, `duplicate`, `malformed`,
    /// `processed`, `retried`, `failed`).
    pub webhook_pings: IntCounterVec,
    /// Pings waiting in the inbox.
    pub webhook_inbox_pending: IntGauge,
    /// Age of the oldest waiting ping, in seconds.
    pub webhook_inbox_oldest_seconds: IntGauge,
    /// Activations re-decided after a ping, by the new code.
    pub webhook_decisions: IntCounterVec,
    /// Licenses re-checked by the reconciler.
    pub reconcile_checks: IntCounter,
    /// Activations whose decision the reconciler changed, by the new code.
    pub reconcile_changed: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "Inbound HTTP requests.").namespace(NAMESPACE),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Inbound HTTP request latency in seconds.",
            )
            .namespace(NAMESPACE)
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_in_flight = IntGauge::with_opts(
            Opts::new(
                "http_requests_in_flight",
                "Inbound HTTP requests being served.",
            )
            .namespace(NAMESPACE),
        )
        .expect("valid metric");
        let upstream_requests = IntCounterVec::new(
            Opts::new("upstream_requests_total", "Requests sent to Maton/Gumroad.")
                .namespace(NAMESPACE),
            &["endpoint", "method", "status"],
        )
        .expect("valid metric");
        let upstream_duration = HistogramVec::new(
            HistogramOpts::new(
                "upstream_request_duration_seconds",
                "Latency of requests sent to Maton/Gumroad, in seconds.",
            )
            .namespace(NAMESPACE)
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["endpoint"],
        )
        .expect("valid metric");
        let cache_lookups = IntCounterVec::new(
            opts("cache_lookups_total", "Cache lookups by cache and result."),
            &["cache", "result"],
        )
        .expect("valid metric");
        let cache_entries = IntGaugeVec::new(
            opts("cache_entries", "Entries held by each cache."),
            &["cache"],
        )
        .expect("valid metric");
        let cache_bytes = IntGaugeVec::new(
            opts("cache_bytes", "Weighed bytes held by each cache."),
            &["cache"],
        )
        .expect("valid metric");
        let budget_wait = HistogramVec::new(
            HistogramOpts::new(
                "budget_wait_seconds",
                "Time upstream calls waited for budget, by priority.",
            )
            .namespace(NAMESPACE)
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["priority"],
        )
        .expect("valid metric");
        let budget_denials = IntCounterVec::new(
            opts(
                "budget_denials_total",
                "Upstream calls refused budget, by priority and reason.",
            ),
            &["priority", "reason"],
        )
        .expect("valid metric");
        let upstream_throttled = IntCounter::with_opts(opts(
            "upstream_throttled_total",
            "429 answers received from upstream.",
        ))
        .expect("valid metric");
        let upstream_blocked_seconds = Counter::with_opts(opts(
            "upstream_blocked_seconds_total",
            "Seconds of upstream pause ordered by 429 answers.",
        ))
        .expect("valid metric");
        let circuit_state = IntGauge::with_opts(opts(
            "circuit_state",
            "Upstream circuit breaker: 0 closed, 1 half-open, 2 open.",
        ))
        .expect("valid metric");
        let inbound_limited = IntCounterVec::new(
            opts(
                "inbound_limited_total",
                "Inbound requests refused by a per-IP limit.",
            ),
            &["limit"],
        )
        .expect("valid metric");
        let webhook_pings = IntCounterVec::new(
            opts(
                "webhook_pings_total",
                "Gumroad pings by resource and outcome.",
            ),
            &["resource", "outcome"],
        )
        .expect("valid metric");
        let webhook_inbox_pending =
            IntGauge::with_opts(opts("webhook_inbox_pending", "Pings waiting in the inbox."))
                .expect("valid metric");
        let webhook_inbox_oldest_seconds = IntGauge::with_opts(opts(
            "webhook_inbox_oldest_seconds",
            "Age of the oldest waiting ping, in seconds.",
        ))
        .expect("valid metric");
        let webhook_decisions = IntCounterVec::new(
            opts(
                "webhook_decisions_total",
                "Activations re-decided after a ping, by the new code.",
            ),
            &["code"],
        )
        .expect("valid metric");
        let reconcile_checks = IntCounter::with_opts(opts(
            "reconcile_checks_total",
            "Licenses re-checked by the reconciler.",
        ))
        .expect("valid metric");
        let reconcile_changed = IntCounterVec::new(
            opts(
                "reconcile_changed_total",
                "Activations whose decision the reconciler changed, by the new code.",
            ),
            &["code"],
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "Gumgate build; always 1.").namespace(NAMESPACE),
            &["version"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(http_in_flight.clone()),
            Box::new(upstream_requests.clone()),
            Box::new(upstream_duration.clone()),
            Box::new(build_info),
            Box::new(cache_lookups.clone()),
            Box::new(cache_entries.clone()),
            Box::new(cache_bytes.clone()),
            Box::new(budget_wait.clone()),
            Box::new(budget_denials.clone()),
            Box::new(upstream_throttled.clone()),
            Box::new(upstream_blocked_seconds.clone()),
            Box::new(circuit_state.clone()),
            Box::new(inbound_limited.clone()),
            Box::new(webhook_pings.clone()),
            Box::new(webhook_inbox_pending.clone()),
            Box::new(webhook_inbox_oldest_seconds.clone()),
            Box::new(webhook_decisions.clone()),
            Box::new(reconcile_checks.clone()),
            Box::new(reconcile_changed.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registered once");

        Self {
            registry,
            http_requests,
            http_duration,
            http_in_flight,
            upstream_requests,
            upstream_duration,
            cache_lookups,
            cache_entries,
            cache_bytes,
            budget_wait,
            budget_denials,
            upstream_throttled,
            upstream_blocked_seconds,
            circuit_state,
            inbound_limited,
            webhook_pings,
            webhook_inbox_pending,
            webhook_inbox_oldest_seconds,
            webhook_decisions,
            reconcile_checks,
            reconcile_changed,
        }
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NAMESPACE)
}

/// A method label from a bounded set, so that invented methods cannot grow the series count.
pub fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::DELETE => "DELETE",
        http::Method::PATCH => "PATCH",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
