//! Every Prometheus metric Gumgate exports, in one registry owned here. Labels are bounded
//! sets: matched route templates, methods, status codes and upstream endpoint templates;
//! never a raw path, key, token, email or IP.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
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
