//! A local, in-memory, stateful stand-in for Maton's managed-OAuth proxy in front of Gumroad
//! API v2, faithful to the status codes, bodies and quirks recorded in `GUMROAD.md`.
//!
//! Tests start it on a port-0 listener with [`spawn`]; the CLI runs it with [`serve`]
//! (`gumgate sandbox`, or in process under `gumgate serve --sandbox`). Every request to the
//! Maton/Gumroad surface is recorded, faults can be injected, and the `/_sandbox/*` control
//! endpoints let a test (or a human with curl) steer it. It shares Gumroad's wire vocabulary
//! (param reading, license-key matching, messages, resource names) with the gateway through
//! the `gumroad_wire` crate and depends on nothing of the gateway itself.
//!
//! # Layout
//!
//! - This file: the public API ([`spawn`], [`serve`], [`SandboxConfig`], [`Faults`],
//!   [`RecordedRequest`], [`SandboxHandle`]).
//! - `listener.rs`: the TCP listener that can refuse connections (a fault), except to the
//!   `/_sandbox` controls, which peeking at each request line lets through.
//! - `control.rs`: the `/_sandbox/*` endpoints; `maton.rs`: Maton's layer (recording, API key,
//!   rate limit, faults, connection choice) in front of `gumroad.rs`, the Gumroad route table.
//! - Gumroad's endpoints, one file each: `licenses.rs`, `sales.rs`, `products.rs`,
//!   `product_parts.rs` with `offer_codes.rs` and `variants.rs`, `subscribers.rs`,
//!   `resource_subscriptions.rs`, `user.rs`; Maton's `connections.rs`.
//! - Their shared shapes: `purchase.rs` (sale JSON), `paging.rs` (cursors), `ids.rs`,
//!   `reply.rs` (a handler's answer, free of axum types).
//! - The data: `state.rs` (shared state behind std mutexes), `store.rs` (connections, sellers,
//!   webhooks) and `catalog.rs` (products and sales), [`seed`] with `seed_data.rs` and
//!   `seed_sales.rs` (the deterministic seed), `extra_licenses.rs` (load-test licenses computed
//!   on demand).

mod catalog;
mod connections;
mod control;
mod extra_licenses;
mod gumroad;
mod ids;
mod licenses;
mod listener;
mod maton;
mod offer_codes;
mod paging;
mod product_parts;
mod products;
mod purchase;
mod reply;
mod resource_subscriptions;
mod sales;
pub mod seed;
mod seed_data;
mod seed_sales;
mod state;
mod store;
mod subscribers;
mod user;
mod variants;

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

use state::AppState;

/// The Maton API key the sandbox accepts unless configured otherwise.
pub const DEFAULT_API_KEY: &str = "sandbox-maton-key";

/// How the sandbox behaves as Maton.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The Maton API key expected in `Authorization: Bearer <key>`.
    pub api_key: String,
    /// Requests per rolling second per API key (Maton's limit is 10); 0 = unlimited.
    pub rate_limit: u32,
    /// `Retry-After` seconds on natural 429s; `None` sends no header (Maton's is unknown).
    pub rate_limit_retry_after: Option<u64>,
    /// Extra one-time licenses on seller A's [`seed::PRODUCT_ONE_TIME`], for load tests that
    /// need many distinct valid keys (0 = only the seed). License `i` (0 ≤ i < N) has the key
    /// [`seed::extra_license_key`]`(i)` = `EB000000-{i}-{0xFFFFFFFF - i}-{i}` (8 upper-case hex
    /// digits a group) and a purchase shaped like the seeded one-time ones, with its own sale id,
    /// email `buyer{100000 + i}@customer.example` and order number `627752800 + i`.
    ///
    /// They are computed on demand, not stored, so a million cost nothing until used (only a
    /// verify's `uses` count is kept, per key). They answer `POST /v2/licenses/verify` only:
    /// they are not listed by `/v2/sales` or the product's `sales_count`, and the license `PUT`s
    /// (enable, disable, rotate, ...) do not know them.
    pub extra_licenses: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            api_key: DEFAULT_API_KEY.to_owned(),
            rate_limit: 10,
            rate_limit_retry_after: None,
            extra_licenses: 0,
        }
    }
}

/// Injected misbehaviour, applied to the Maton/Gumroad surface after auth, before routing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Milliseconds added before answering every request.
    pub latency_ms: u64,
    /// Fraction (0..1) of requests answered with `error_status`.
    pub error_rate: f64,
    /// Status for `error_rate` faults; 503 when 0.
    pub error_status: u16,
    /// The next N requests are answered with `fail_status` (deterministic, for tests).
    pub fail_next: u32,
    /// Status for `fail_next` faults (e.g. 429, 500, 502); 503 when 0.
    pub fail_status: u16,
    /// `Retry-After` value on fault answers (e.g. "2"); `None` sends no header.
    pub retry_after: Option<String>,
    /// The body of fault answers, sent exactly as given instead of the sandbox's own JSON
    /// error: with `fail_status` 200, what a misbehaving proxy passes off as an answer (an HTML
    /// maintenance page, truncated JSON, a bare `{"success":false}`). `None` keeps the JSON
    /// error.
    pub fail_body: Option<String>,
    /// The `Content-Type` sent with `fail_body` (e.g. `text/html; charset=utf-8`); `None` sends
    /// no `Content-Type`. Ignored without `fail_body`.
    pub fail_content_type: Option<String>,
    /// Break every connection before it is answered, so clients see a transport error. The
    /// `/_sandbox` controls still answer, so the fault can be switched off over HTTP.
    pub refuse_connections: bool,
}

/// One request that reached the Maton/Gumroad surface, as the sandbox saw and answered it.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query, e.g. `/gumroad/v2/licenses/verify`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// All headers, names lower-case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, decoded as lossy UTF-8.
    pub body: String,
    /// The status the sandbox answered with.
    pub status: u16,
}

/// A running sandbox started by [`spawn`].
pub struct SandboxHandle {
    addr: SocketAddr,
    state: AppState,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl SandboxHandle {
    /// The address the sandbox listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the Maton base URL to point a client at.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every recorded request, in the order they were answered.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// How many requests were recorded.
    pub fn request_count(&self) -> usize {
        self.state.request_count()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.state.clear_requests();
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        self.state.set_faults(faults);
    }

    /// Stops serving and waits until the listener is closed.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts the sandbox on `listener` in a background task.
pub async fn spawn(listener: TcpListener, config: SandboxConfig) -> SandboxHandle {
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    let state = AppState::new(config);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    SandboxHandle {
        addr,
        state,
        stop,
        task,
    }
}

/// Serves the sandbox on `listener` until `shutdown` completes (the CLI's `gumgate sandbox`).
pub async fn serve(
    listener: TcpListener,
    config: SandboxConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run(listener, AppState::new(config), shutdown).await
}

async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener::RefusingListener::new(listener, state.refuse_flag());
    let app = control::router().fallback(maton::handle).with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
