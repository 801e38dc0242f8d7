//! Serving a listener with explicit limits, so hostile clients cannot exhaust the process:
//!
//! - **Header-read timeout** (`server.header_read_timeout`): a client must send a whole request
//!   head within it, and an idle keep-alive connection must start its next request within it
//!   (hyper starts the same timer when a connection goes idle), else the connection is closed.
//! - **Header buffer bound** (`server.max_header_bytes`): the most a connection buffers while
//!   reading a request head; a larger head is refused.
//! - **A cap on open connections per listener** (`server.max_connections` for the API,
//!   `server.metrics_max_connections` for the operations listener): past it, new connections
//!   wait in the kernel's backlog instead of taking a file descriptor each. The two listeners
//!   have caps of their own, so `/livez`, `/readyz` and `/metrics` still answer while the API
//!   listener is saturated. Both caps together stay under half the process's file-descriptor
//!   limit ([`fit_to_fd_limit`]), leaving the rest to upstream and database connections.
//! - **Accept errors back off** (EMFILE, ENFILE, ENOMEM) instead of spinning.
//! - **Shutdown**: once `stop` is cancelled the listener closes; connections that have not sent
//!   a whole request head (idle keep-alives, half-sent heads) are closed at once; requests in
//!   progress finish, then their connections close; whatever is still open at
//!   `server.shutdown_deadline` is dropped.
//!
//! axum's own `serve` offers none of these knobs, so this drives hyper-util's connection
//! builder directly, with the same router and `ConnectInfo` the handlers expect.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The limits one listener is served with.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    /// How long shutdown waits for requests in progress before dropping their connections.
    pub shutdown_deadline: Duration,
}

/// hyper refuses a smaller read buffer.
const MIN_HEADER_BYTES: usize = 8192;
/// The longest pause of the accept loop after a resource error (it doubles from 10 ms).
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Lowers the two listeners' caps, in proportion, so that together they stay under half of
/// `fd_limit` (the process's soft `RLIMIT_NOFILE`). Returns the caps and whether they were
/// lowered.
pub fn fit_to_fd_limit(api: usize, ops: usize, fd_limit: u64) -> (usize, usize, bool) {
    let budget = usize::try_from(fd_limit / 2).unwrap_or(usize::MAX).max(2);
    let wanted = api.saturating_add(ops);
    if wanted <= budget {
        return (api, ops, false);
    }
    let ops_fit = (ops * budget / wanted).max(1);
    (budget - ops_fit, ops_fit, true)
}

/// The process's soft limit on open files, when it can be read.
pub fn fd_limit() -> Option<u64> {
    rlimit::Resource::NOFILE.get_soft().ok()
}

/// Serves `router` on `listener` under `limits` until `stop` is cancelled and every connection
/// is closed (or dropped at the deadline).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Cancelled at the shutdown deadline: the connections still open are dropped.
    let deadline = CancellationToken::new();
    let connections = tokio_util::task::TaskTracker::new();
    let builder = builder(&limits);
    let mut backoff = Duration::ZERO;
    loop {
        // A slot first: past the cap, connections wait in the kernel's backlog, not here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = stop.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    backoff = next_backoff(backoff, &e);
                    if !backoff.is_zero() {
                        tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = stop.cancelled() => break,
                        }
                    }
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        backoff = Duration::ZERO;
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            builder: builder.clone(),
            router: router.clone(),
            peer,
            stop: stop.clone(),
            deadline: deadline.clone(),
        };
        connections.spawn(async move {
            connection.run(stream).await;
            drop(slot);
        });
    }
    // No new connections: the listener closes here; the open ones wind down.
    drop(listener);
    connections.close();
    if tokio::time::timeout(limits.shutdown_deadline, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "connections still open at the shutdown deadline were dropped"
        );
        deadline.cancel();
        connections.wait().await;
    }
}

fn builder(limits: &ConnLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// How long to pause after an accept error: nothing for errors of one connection (it was reset
/// before we took it), a growing pause for errors of the process or system (out of file
/// descriptors or memory), which would otherwise fail again at once, in a hot loop.
fn next_backoff(previous: Duration, e: &std::io::Error) -> Duration {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset, Interrupted};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    ) {
        return Duration::ZERO;
    }
    (previous * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF)
}

/// One accepted connection.
struct Connection {
    builder: auto::Builder<TokioExecutor>,
    router: Router,
    peer: SocketAddr,
    stop: CancellationToken,
    deadline: CancellationToken,
}

impl Connection {
    async fn run(self, stream: tokio::net::TcpStream) {
        // Requests whose head has arrived and whose response is not yet fully written.
        let busy = Arc::new(AtomicUsize::new(0));
        let (router, peer, counter) = (self.router, self.peer, busy.clone());
        let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let guard = Busy::enter(&counter);
            let router = router.clone();
            async move {
                let response = router.oneshot(req.map(Body::new)).await?;
                Ok::<_, Infallible>(response.map(|body| {
                    Body::new(Tracked {
                        body,
                        _guard: guard,
                    })
                }))
            }
        });
        let mut conn = pin!(self.builder.serve_connection(TokioIo::new(stream), service));
        tokio::select! {
            _ = conn.as_mut() => return,
            () = self.stop.cancelled() => {}
        }
        // Shutting down: no further requests on this connection.
        conn.as_mut().graceful_shutdown();
        if busy.load(Ordering::Acquire) == 0 {
            // Idle, or still sending its head: nothing is owed to it.
            return;
        }
        tokio::select! {
            _ = conn => {}
            () = self.deadline.cancelled() => {}
        }
    }
}

/// Counts a request as in progress until its response body is dropped (fully written, or the
/// connection gone).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(counter.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that holds its request's [`Busy`] guard.
struct Tracked {
    body: Body,
    _guard: Busy,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_fit_in_half_the_descriptor_limit() {
        assert_eq!(fit_to_fd_limit(4096, 64, 1 << 20), (4096, 64, false));
        let (api, ops, lowered) = fit_to_fd_limit(4096, 64, 2048);
        assert!(lowered);
        assert!(api + ops <= 1024, "{api} + {ops}");
        assert!(ops >= 1 && api > ops);
    }

    #[test]
    fn resource_errors_back_off_and_connection_errors_do_not() {
        let emfile = std::io::Error::from_raw_os_error(24);
        let first = next_backoff(Duration::ZERO, &emfile);
        assert_eq!(first, Duration::from_millis(10));
        assert_eq!(next_backoff(first, &emfile), Duration::from_millis(20));
        assert_eq!(
            next_backoff(Duration::from_secs(5), &emfile),
            MAX_ACCEPT_BACKOFF
        );
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(next_backoff(first, &reset), Duration::ZERO);
    }
}
