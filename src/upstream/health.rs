//! What Gumgate knows about upstream reachability, for `/readyz`: the outcome of the most
//! recent real call (passive, costs no budget) and a TCP connect probe to Maton's host
//! (also free: it sends no HTTP request, so it never spends the 10 requests/s).
//!
//! It also keeps what an alert needs (issue 10): since when every call has failed (an expired
//! OAuth grant makes Maton answer 5xx to every call, the likeliest production outage) and
//! whether Maton's latest answer refused Gumgate's own key. Neither fails readiness, for the
//! reason `crate::health` gives: they are reported, on `/readyz` and as metrics.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde::Serialize;
use url::Url;

/// How long a probe result is reused, so frequent readiness checks cost one connect at most.
const PROBE_TTL: Duration = Duration::from_secs(10);
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Upstream reachability as last seen.
pub struct UpstreamHealth {
    host: Option<(String, u16)>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    last_call: Option<(Instant, Result<u16, &'static str>)>,
    last_probe: Option<(Instant, bool)>,
    /// When the current unbroken run of failed calls began; `None` while calls succeed.
    failing_since: Option<Instant>,
    /// Whether Maton's latest HTTP answer refused Gumgate's key.
    credentials_refused: bool,
}

impl State {
    fn record(&mut self, now: Instant, outcome: Result<u16, &'static str>, failed: bool) {
        self.last_call = Some((now, outcome));
        if failed {
            // The run starts at its first failure, not at the last success: after a quiet
            // night, one failed call is not hours of outage.
            self.failing_since.get_or_insert(now);
        } else {
            self.failing_since = None;
        }
    }

    fn failing_seconds(&self, now: Instant) -> u64 {
        self.failing_since
            .map_or(0, |since| now.saturating_duration_since(since).as_secs())
    }
}

/// The `/readyz` report of upstream.
#[derive(Debug, Serialize)]
pub struct UpstreamObservation {
    /// Whether a TCP connection to upstream could be opened just now.
    pub reachable: bool,
    /// The last real call's status code, or its error kind.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<serde_json::Value>,
    /// Seconds since that call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_call_seconds_ago: Option<u64>,
    /// Whether every call has failed lately (transport errors, 5xx, a refused key).
    pub failing: bool,
    /// Seconds since the first of those failures; 0 when the last call succeeded.
    pub failing_seconds: u64,
    /// Whether Maton's latest answer refused Gumgate's own `MATON_API_KEY`.
    pub credentials_refused: bool,
}

impl UpstreamHealth {
    pub fn new(base: &Url) -> Self {
        let host = base
            .host_str()
            .zip(base.port_or_known_default())
            .map(|(h, p)| {
                (
                    h.trim_start_matches('[').trim_end_matches(']').to_owned(),
                    p,
                )
            });
        Self {
            host,
            state: Mutex::new(State::default()),
        }
    }

    /// An HTTP answer (not Maton's refusal): a 5xx continues a failing run, anything else
    /// (a 4xx, a 429 included, is an answer) ends it; it proves Maton took the key.
    pub fn observe_status(&self, status: StatusCode) {
        let mut state = self.lock();
        state.credentials_refused = false;
        state.record(
            Instant::now(),
            Ok(status.as_u16()),
            status.is_server_error(),
        );
    }

    /// A call that got no answer.
    pub fn observe_error(&self, kind: &'static str) {
        self.lock().record(Instant::now(), Err(kind), true);
    }

    /// Maton refused Gumgate's key: a failure, and reported as such until Maton takes it.
    pub fn observe_credentials_refused(&self, status: StatusCode) {
        let mut state = self.lock();
        state.credentials_refused = true;
        state.record(Instant::now(), Ok(status.as_u16()), true);
    }

    /// Seconds since the first of an unbroken run of failed calls; 0 when healthy.
    pub fn failing_seconds(&self) -> u64 {
        self.lock().failing_seconds(Instant::now())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of plain data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current report, probing upstream's TCP port when the last probe is stale.
    pub async fn observe(&self) -> UpstreamObservation {
        let cached = self
            .lock()
            .last_probe
            .filter(|(at, _)| at.elapsed() < PROBE_TTL)
            .map(|(_, ok)| ok);
        let reachable = match cached {
            Some(ok) => ok,
            None => {
                let ok = self.probe().await;
                self.lock().last_probe = Some((Instant::now(), ok));
                ok
            }
        };
        let state = self.lock();
        let (last_status, last_call_seconds_ago) = match &state.last_call {
            Some((at, outcome)) => (
                Some(match outcome {
                    Ok(code) => serde_json::json!(code),
                    Err(kind) => serde_json::json!(kind),
                }),
                Some(at.elapsed().as_secs()),
            ),
            None => (None, None),
        };
        UpstreamObservation {
            reachable,
            last_status,
            last_call_seconds_ago,
            failing: state.failing_since.is_some(),
            failing_seconds: state.failing_seconds(Instant::now()),
            credentials_refused: state.credentials_refused,
        }
    }

    async fn probe(&self) -> bool {
        let Some((host, port)) = &self.host else {
            return false;
        };
        let connect = tokio::net::TcpStream::connect((host.as_str(), *port));
        matches!(
            tokio::time::timeout(PROBE_TIMEOUT, connect).await,
            Ok(Ok(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_seconds_count_from_the_first_failure_of_a_run_until_a_success() {
        let t0 = Instant::now();
        let at = |secs| t0 + Duration::from_secs(secs);
        let mut state = State::default();
        state.record(t0, Ok(200), false);
        assert_eq!(state.failing_seconds(at(600)), 0);
        // A quiet night, then failures: the run starts at the first one.
        state.record(at(1000), Ok(500), true);
        state.record(at(1030), Err("connect"), true);
        state.record(at(1090), Ok(502), true);
        assert_eq!(state.failing_seconds(at(1000)), 0);
        assert_eq!(state.failing_seconds(at(1300)), 300);
        // One answer ends it.
        state.record(at(1301), Ok(404), false);
        assert_eq!(state.failing_seconds(at(1400)), 0);
        assert!(state.failing_since.is_none());
    }
}
