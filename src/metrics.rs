//! Every Prometheus metric Gumgate exports, in one registry owned here. Labels are bounded
//! sets: matched route templates, methods, status codes and upstream endpoint templates;
//! never a raw path, key, token, email or IP.
//!
//! # The declaration table
//! Each metric is declared once, in the `metrics!` table below, so adding one is one edit:
//!
//! ```text
//! /// Help text, exported as the metric's HELP line: the doc comment's first paragraph.
//! ///
//! /// Later paragraphs are for readers of the code only.
//! pub field: Type["label", ...] as "exported_name" buckets BUCKETS,
//! ```
//!
//! The exported name is `gumgate_` and the field name, unless `as` gives another (counters end
//! in `_total`, durations in `_seconds`). Only vec types name labels, each a bounded set as
//! above, and only histograms name buckets; a declaration that gets this wrong does not
//! compile. The macro (`metrics/macros.rs`) writes the struct and `Metrics::declared`, which
//! creates every declared metric and registers it, so a metric cannot be declared yet
//! unregistered; `Metrics::new` adds what a declaration cannot say: the build info's value and,
//! on Linux, the process collector.

use prometheus::{
    Counter, Encoder, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, TextEncoder,
};

mod macros;
use macros::metrics;

/// Latency buckets in seconds: cache hits answer in microseconds, upstream calls in tens to
/// hundreds of milliseconds, timeouts at seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

metrics! {
    /// The metric handles; cheap to share behind an `Arc`.
    pub struct Metrics {
        /// Inbound HTTP requests.
        ///
        /// By matched route, method and status.
        pub http_requests: IntCounterVec["route", "method", "status"] as "http_requests_total",
        /// Inbound HTTP request latency in seconds.
        ///
        /// By matched route, method and status.
        pub http_duration: HistogramVec["route", "method", "status"]
            as "http_request_duration_seconds" buckets LATENCY_BUCKETS,
        /// Inbound HTTP requests being served.
        pub http_in_flight: IntGauge as "http_requests_in_flight",
        /// Requests sent to Maton/Gumroad.
        ///
        /// By endpoint template, method and outcome (status code or error kind).
        pub upstream_requests: IntCounterVec["endpoint", "method", "status"]
            as "upstream_requests_total",
        /// Latency of requests sent to Maton/Gumroad, in seconds.
        ///
        /// By endpoint template.
        pub upstream_duration: HistogramVec["endpoint"]
            as "upstream_request_duration_seconds" buckets LATENCY_BUCKETS,
        /// Cache lookups by cache and result.
        ///
        /// Caches are `verify` and `sales`; results `hit`, `miss`, `stale`, `collapsed` and
        /// `bypass`.
        pub cache_lookups: IntCounterVec["cache", "result"] as "cache_lookups_total",
        /// Entries held by each cache.
        ///
        /// Refreshed at scrape time.
        pub cache_entries: IntGaugeVec["cache"],
        /// Weighed bytes held by each cache.
        ///
        /// Refreshed at scrape time.
        pub cache_bytes: IntGaugeVec["cache"],
        /// Entries that left a cache on their own, by cache and cause.
        ///
        /// `size`: evicted for room (`cache.max_bytes`); `expired`: past the stale-if-error
        /// horizon. Invalidations and replacements are not counted.
        pub cache_evictions: IntCounterVec["cache", "cause"] as "cache_evictions_total",
        /// Time upstream calls waited for budget, by priority.
        pub budget_wait: HistogramVec["priority"]
            as "budget_wait_seconds" buckets LATENCY_BUCKETS,
        /// Upstream calls refused budget, by priority and reason.
        ///
        /// Reasons are `budget`, `paused` and `circuit_open`.
        pub budget_denials: IntCounterVec["priority", "reason"] as "budget_denials_total",
        /// Upstream calls per second the budget allows (`upstream.rate_limit`).
        ///
        /// Set once by `Budget::new`, so dashboards can draw calls against it.
        pub upstream_budget_rate: IntGauge as "upstream_budget_calls_per_second",
        /// 429 answers received from upstream.
        pub upstream_throttled: IntCounter as "upstream_throttled_total",
        /// Seconds of upstream pause ordered by 429 answers.
        pub upstream_blocked_seconds: Counter as "upstream_blocked_seconds_total",
        /// Upstream circuit breaker: 0 closed, 1 half-open, 2 open.
        pub circuit_state: IntGauge,
        /// Inbound requests refused by a per-IP limit.
        ///
        /// Limits are `verify`, `failed_verify`, `upstream_verify` and `admin_auth` (admin calls
        /// from a client locked out for failed admin authentications).
        pub inbound_limited: IntCounterVec["limit"] as "inbound_limited_total",
        /// Gumroad pings by resource and outcome.
        ///
        /// Outcomes are `accepted`, `duplicate`, `malformed`, `refused` (the inbox was full),
        /// `processed`, `retried` and `failed`.
        pub webhook_pings: IntCounterVec["resource", "outcome"] as "webhook_pings_total",
        /// Pings waiting in the inbox.
        pub webhook_inbox_pending: IntGauge,
        /// Age of the oldest waiting ping, in seconds.
        pub webhook_inbox_oldest_seconds: IntGauge,
        /// Activations re-decided after a ping, by the new code.
        pub webhook_decisions: IntCounterVec["code"] as "webhook_decisions_total",
        /// Licenses re-checked by the reconciler.
        pub reconcile_checks: IntCounter as "reconcile_checks_total",
        /// Activations whose decision the reconciler changed, by the new code.
        pub reconcile_changed: IntCounterVec["code"] as "reconcile_changed_total",
        /// Activations released because their machine sent no heartbeat in time.
        pub heartbeat_releases: IntCounter as "heartbeat_releases_total",
        /// Refused activations and deactivations, by reason code.
        ///
        /// Codes are the decision's reason codes plus `TOO_MANY_ACTIVATIONS` and
        /// `TOO_MANY_DEACTIVATIONS`, a bounded set. Refusals used to be audit rows, one each,
        /// which a flood of refused activations turned into an unbounded append-only table
        /// (issue 9): the audit trail records changes, this counts refusals.
        pub activation_denials: IntCounterVec["code"] as "activation_denials_total",
        /// Answers of the activate, validate and heartbeat API, by code.
        ///
        /// Every decision, granted or not: `VALID`, `VALID_OFFLINE` (granted within the offline
        /// grace while upstream is unavailable) or the refusal's reason code. Unlike
        /// `activation_denials`, which counts refused activations and deactivations only, this
        /// is the whole picture of activate and validate; deactivations are not decisions.
        pub activation_decisions: IntCounterVec["code"] as "activation_decisions_total",
        /// Store (database) errors answered 500.
        ///
        /// Counted by the metrics middleware on responses marked by `AppError::Database`.
        pub database_errors: IntCounter as "database_errors_total",
        /// Whether this replica reaches Redis (1) or runs on its fallback share (0).
        ///
        /// 1 when `redis.url` is empty: nothing to reach, nothing degraded.
        pub redis_up: IntGauge,
        /// Upstream calls booked on the local fallback budget while Redis could not be reached.
        pub redis_fallback_bookings: IntCounter as "redis_fallback_bookings_total",
        /// Latency of store operations in seconds, failed ones included.
        ///
        /// By operation: the `Store` method (`activate`, `list`, `due_pings`, ...), each one
        /// query or one transaction.
        pub database_duration: HistogramVec["op"]
            as "database_query_duration_seconds" buckets LATENCY_BUCKETS,
        /// Activation tokens that failed to sign.
        ///
        /// The activation is answered without a token (`token_error`).
        pub token_signing_failures: IntCounter as "token_signing_failures_total",
        /// Audit entries deleted after `audit.retention`.
        pub audit_pruned: IntCounter as "audit_pruned_total",
        /// Gumgate build; always 1.
        ///
        /// Set by `Metrics::new`, labelled with the crate version.
        build_info: IntGaugeVec["version"],
        /// Upstream answers that were Maton refusing Gumgate's own `MATON_API_KEY` (401/403).
        ///
        /// Callers get a 502 (admin) or a stale answer or 503 (public) for these (issue 10).
        pub upstream_credentials_refused: IntCounter as "upstream_credentials_refused_total",
        /// Seconds since the first of an unbroken run of failed upstream calls; 0 when healthy.
        ///
        /// A failed call is a transport error, a 5xx or Maton refusing Gumgate's key; any other
        /// answer ends the run. Refreshed at scrape time (issue 10).
        pub upstream_failing_seconds: IntGauge,
    }
    namespace: "gumgate",
}

impl Metrics {
    /// Every declared metric, registered, with the build info set and the process collector.
    pub fn new() -> Self {
        let metrics = Self::declared();
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        metrics.init_known_labels();
        #[cfg(target_os = "linux")]
        metrics
            .registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registered once");
        metrics
    }

    /// Creates, at 0, every counter series whose label values are known in advance, so that
    /// `rate()` and `increase()` see the first event as an increase from the first scrape
    /// (a series born at 1 has no earlier sample, and its first event is invisible to alerts).
    fn init_known_labels(&self) {
        use crate::budget::{DenyReason, Priority};
        use crate::cache::CacheStatus;
        use crate::decision::Code;
        const PRIORITIES: [Priority; 3] = [Priority::Public, Priority::Admin, Priority::Background];
        for p in PRIORITIES {
            for r in [
                DenyReason::Budget,
                DenyReason::Paused,
                DenyReason::CircuitOpen,
                DenyReason::FirstTimeShare,
            ] {
                self.budget_denials
                    .with_label_values(&[p.label(), r.label()]);
            }
        }
        let results = [
            CacheStatus::Hit { ttl: 0 },
            CacheStatus::StaleIfError { age: 0 },
            CacheStatus::Forwarded {
                status: 200,
                stale: false,
                collapsed: false,
                stored: false,
            },
            CacheStatus::Forwarded {
                status: 200,
                stale: false,
                collapsed: true,
                stored: false,
            },
            CacheStatus::Bypass {
                status: 200,
                stored: false,
            },
        ];
        for cache in ["verify", "sales"] {
            for r in &results {
                self.cache_lookups.with_label_values(&[cache, r.result()]);
            }
            for cause in ["size", "expired"] {
                self.cache_evictions.with_label_values(&[cache, cause]);
            }
        }
        for resource in crate::webhooks::RESOURCES {
            for outcome in crate::webhooks::OUTCOMES {
                self.webhook_pings.with_label_values(&[resource, outcome]);
            }
        }
        for code in Code::ALL {
            self.activation_decisions
                .with_label_values(&[code.as_str()]);
            if code != Code::Valid {
                self.activation_denials.with_label_values(&[code.as_str()]);
            }
        }
        self.activation_decisions
            .with_label_values(&["VALID_OFFLINE"]);
        self.activation_denials
            .with_label_values(&["TOO_MANY_DEACTIVATIONS"]);
        for limit in ["verify", "failed_verify", "upstream_verify", "admin_auth"] {
            self.inbound_limited.with_label_values(&[limit]);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_metric_is_exported_with_its_help_and_type() {
        let metrics = Metrics::new();
        metrics.touch_every_vec();
        let text = metrics.render();
        for declaration in Metrics::DECLARATIONS {
            let name = format!("{}_{}", declaration.namespace, declaration.name);
            let help = format!("# HELP {name} {}\n", declaration.help());
            assert!(text.contains(&help), "no `{help}` in:\n{text}");
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}"
            );
        }
        let exported = text.lines().filter(|l| l.starts_with("# HELP gumgate_"));
        assert_eq!(exported.count(), Metrics::DECLARATIONS.len());
        // The table's syntax, pinned on one row of each shape.
        assert!(text.contains("# HELP gumgate_http_requests_total Inbound HTTP requests.\n"));
        assert!(text.contains("# TYPE gumgate_http_request_duration_seconds histogram\n"));
        assert!(
            text.contains(r#"gumgate_budget_wait_seconds_bucket{priority="priority",le="30"} 0"#)
        );
        assert!(text.contains("# TYPE gumgate_circuit_state gauge\n"));
    }

    #[test]
    fn counters_with_known_labels_start_at_zero() {
        let text = Metrics::new().render();
        for series in [
            r#"gumgate_budget_denials_total{priority="public",reason="budget"} 0"#,
            r#"gumgate_budget_denials_total{priority="background",reason="first_time_share"} 0"#,
            r#"gumgate_budget_denials_total{priority="admin",reason="circuit_open"} 0"#,
            r#"gumgate_cache_lookups_total{cache="verify",result="stale"} 0"#,
            r#"gumgate_cache_lookups_total{cache="sales",result="collapsed"} 0"#,
            r#"gumgate_cache_lookups_total{cache="verify",result="bypass"} 0"#,
            r#"gumgate_webhook_pings_total{outcome="failed",resource="refund"} 0"#,
            r#"gumgate_webhook_pings_total{outcome="refused",resource="sale"} 0"#,
            r#"gumgate_activation_decisions_total{code="VALID"} 0"#,
            r#"gumgate_activation_decisions_total{code="VALID_OFFLINE"} 0"#,
            r#"gumgate_activation_decisions_total{code="REFUNDED"} 0"#,
            r#"gumgate_activation_denials_total{code="TOO_MANY_DEACTIVATIONS"} 0"#,
            r#"gumgate_inbound_limited_total{limit="admin_auth"} 0"#,
            "gumgate_upstream_throttled_total 0",
            "gumgate_database_errors_total 0",
            "gumgate_token_signing_failures_total 0",
            "gumgate_circuit_state 0",
        ] {
            assert!(
                text.contains(&format!("{series}\n")),
                "no `{series}` in:\n{text}"
            );
        }
        // Every resource Gumroad sends, with every outcome, and every priority x reason.
        let pings = text
            .lines()
            .filter(|l| l.starts_with("gumgate_webhook_pings_total{"));
        assert_eq!(pings.count(), crate::webhooks::RESOURCES.len() * 7);
        let denials = text
            .lines()
            .filter(|l| l.starts_with("gumgate_budget_denials_total{"));
        assert_eq!(denials.count(), 3 * 4);
        // A valid decision is not a denial.
        assert!(!text.contains(r#"gumgate_activation_denials_total{code="VALID"}"#));
    }
}
