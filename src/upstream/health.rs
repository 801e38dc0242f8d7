//! What Gumgate knows about upstream reachability, for `/readyz`: the outcome of the most
//! recent real call (passive, costs no budget) and a TCP connect probe to Maton's host
//! (also free: it sends no HTTP request, so it never spends the 10 requests/s).

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

    pub fn observe_status(&self, status: StatusCode) {
        self.lock().last_call = Some((Instant::now(), Ok(status.as_u16())));
    }

    pub fn observe_error(&self, kind: &'static str) {
        self.lock().last_call = Some((Instant::now(), Err(kind)));
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
