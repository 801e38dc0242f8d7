//! Hostile clients against the real binary, run as a process under `prlimit --nofile=2048`:
//! a flood of half-open connections, a half-sent request, SIGTERM with a connection that never
//! finishes its request. Each test starts its own process and opens up to thousands of
//! sockets, so they run one at a time; every bound is 5x the configured timeout, so a busy
//! machine does not flake them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_gumgate");

/// One test at a time (a `std` mutex cannot be held across an await).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A request head that never ends: no blank line.
const HALF_A_REQUEST: &[u8] = b"GET /livez HTTP/1.1\r\nHost: gumgate\r\nX-Slow: ";

#[path = "common/running.rs"]
mod running;

use running::Running;

/// `gumgate serve --sandbox` under `prlimit --nofile=2048`, with `env` on top of a clean
/// environment, once it listens; its database goes with the returned directory.
async fn start(env: &[(&str, &str)]) -> (Running, tempfile::TempDir) {
    let dir = tempfile::TempDir::new().unwrap();
    let mut cmd = Command::new("prlimit");
    cmd.args(["--nofile=2048", "--", BIN, "serve", "--sandbox"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUMGATE__SERVER__LISTEN", "127.0.0.1:0")
        .env("GUMGATE__SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .env(
            "GUMGATE__STORAGE__DATABASE_URL",
            format!("sqlite://{}", dir.path().join("gumgate.db").display()),
        )
        .envs(env.iter().copied());
    (Running::start(cmd).await, dir)
}

/// `GET path` on a fresh connection; the status line's code.
async fn get(addr: SocketAddr, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: gumgate\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out);
    Ok(text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0))
}

/// Opens a connection and sends half a request head.
async fn half_open(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(HALF_A_REQUEST).await?;
    Ok(stream)
}

#[tokio::test]
async fn the_ops_listener_answers_while_3000_half_open_connections_are_held() {
    let _one_at_a_time = SERIAL.lock().await;
    // This test's own sockets need descriptors too.
    rlimit::increase_nofile_limit(8192).unwrap();
    let (server, _db) = start(&[("GUMGATE__SERVER__HEADER_READ_TIMEOUT", "60s")]).await;
    let attempts: Vec<_> = (0..3000)
        .map(|_| {
            let api = server.api;
            tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(2), half_open(api))
                    .await
                    .ok()
                    .and_then(Result::ok)
            })
        })
        .collect();
    let mut held = Vec::new();
    for attempt in attempts {
        held.extend(attempt.await.unwrap());
    }
    // Under prlimit 2048 the API listener takes about 1,000 (half the limit, less the ops
    // listener's share); the kernel's accept backlog holds what it can of the rest.
    assert!(held.len() >= 1000, "only {} connections held", held.len());
    let livez = tokio::time::timeout(Duration::from_secs(5), get(server.ops, "/livez")).await;
    assert!(
        matches!(livez, Ok(Ok(200))),
        "/livez on the ops listener: {livez:?}\n{}",
        server.log()
    );
    let metrics = tokio::time::timeout(Duration::from_secs(5), get(server.ops, "/metrics")).await;
    assert!(matches!(metrics, Ok(Ok(200))), "/metrics: {metrics:?}");
    drop(held);
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let _one_at_a_time = SERIAL.lock().await;
    let (server, _db) = start(&[("GUMGATE__SERVER__HEADER_READ_TIMEOUT", "1s")]).await;
    let mut stream = half_open(server.api).await.unwrap();
    let mut buf = [0_u8; 1024];
    // Closed (EOF, or a reset) within 5x the timeout; an answer to half a request is not due.
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(_)) | Ok(Err(_))),
        "the connection was still open after 5 s"
    );
    // An idle keep-alive connection is closed the same way.
    let mut stream = TcpStream::connect(server.api).await.unwrap();
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: gumgate\r\n\r\n")
        .await
        .unwrap();
    let mut answered = Vec::new();
    let idle = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answered));
    assert!(
        matches!(idle.await, Ok(Ok(_)) | Ok(Err(_))),
        "the idle keep-alive connection was still open after 5 s"
    );
    assert!(String::from_utf8_lossy(&answered).starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn sigterm_with_a_half_open_connection_exits_within_the_deadline() {
    let _one_at_a_time = SERIAL.lock().await;
    let (server, _db) = start(&[
        ("GUMGATE__SERVER__HEADER_READ_TIMEOUT", "60s"),
        ("GUMGATE__SERVER__SHUTDOWN_DEADLINE", "2s"),
    ])
    .await;
    let _slow = half_open(server.api).await.unwrap();
    // Let the server take the connection before the signal.
    assert_eq!(get(server.api, "/livez").await.unwrap(), 200);
    // Stopped within 5x the deadline (Running::stop would wait longer before giving up).
    let stopped = tokio::time::timeout(Duration::from_secs(10), server.stop()).await;
    let (status, log) = stopped.expect("no exit within 10 s of SIGTERM");
    assert!(status.success(), "{log}");
}

/// Sends `n` public verifies of the sandbox's valid license; the statuses.
async fn verifies(api: SocketAddr, n: usize) -> Vec<u16> {
    gumgate::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..n {
        let res = client
            .post(format!("http://{api}/v2/licenses/verify"))
            .form(&[
                ("product_id", "9Y2u8Dy4AWioyNrmNROrFA=="),
                ("license_key", "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0"),
                ("increment_uses_count", "false"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    statuses
}

/// A flood of refused requests costs no log line each (350 bytes a refusal once made 813 MB of
/// logs in 30 s): refusals are counted, and answered requests keep their access line.
#[tokio::test]
async fn refusals_are_counted_not_logged_one_line_each() {
    let _one_at_a_time = SERIAL.lock().await;
    let (server, _db) = start(&[("GUMGATE__LIMITS__VERIFY_PER_IP", "5/min")]).await;
    let statuses = verifies(server.api, 200).await;
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        (statuses.len() - refused, refused),
        (5, 195),
        "{statuses:?}"
    );
    let lines = || server.log().matches("finished processing request").count();
    assert_eq!(lines(), 5, "{}", server.log());
    let metrics = reqwest::get(format!("http://{}/metrics", server.ops))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"gumgate_inbound_limited_total{limit="verify"} 195"#),
        "{metrics}"
    );
}

/// `log.access_sample = 10`: one access line per ten answers.
#[tokio::test]
async fn access_lines_can_be_sampled() {
    let _one_at_a_time = SERIAL.lock().await;
    let (server, _db) = start(&[
        ("GUMGATE__LIMITS__VERIFY_PER_IP", "1000/s"),
        ("GUMGATE__LOG__ACCESS_SAMPLE", "10"),
    ])
    .await;
    let statuses = verifies(server.api, 50).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let lines = server.log().matches("finished processing request").count();
    assert_eq!(lines, 5, "{}", server.log());
}

/// SIGTERM while a load generator drives verifies, with a shutdown delay: the generator, like a
/// load balancer, stops sending once `/readyz` says so; every request it sent is answered, and
/// the process exits 0 within the delay plus the request timeout (5x, for a busy machine).
#[tokio::test]
async fn sigterm_under_load_answers_every_request_and_exits_in_time() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let _one_at_a_time = SERIAL.lock().await;
    let (server, _db) = start(&[
        ("GUMGATE__SERVER__SHUTDOWN_DELAY", "2s"),
        ("GUMGATE__SERVER__REQUEST_TIMEOUT", "2s"),
        ("GUMGATE__LIMITS__VERIFY_PER_IP", "100000/s"),
    ])
    .await;
    gumgate::tls::install_crypto_provider();
    // A new connection for every request: an error is then an unanswered request, never a
    // pooled connection the server had already closed.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let answered = std::sync::Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, stop, answered) = (client.clone(), stop.clone(), answered.clone());
            let url = format!("http://{}/v2/licenses/verify", server.api);
            tokio::spawn(async move {
                let mut failures = Vec::new();
                for _ in 0..10_000 {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let form = [
                        ("product_id", "9Y2u8Dy4AWioyNrmNROrFA=="),
                        ("license_key", "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0"),
                        ("increment_uses_count", "false"),
                    ];
                    match client.post(&url).form(&form).send().await {
                        Ok(res) if res.status() == 200 => {
                            answered.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(res) => failures.push(format!("status {}", res.status())),
                        Err(e) => failures.push(format!("{e:?}")),
                    }
                }
                failures
            })
        })
        .collect();
    // The balancer: stops sending as soon as readiness goes off.
    let readyz = format!("http://{}/readyz", server.ops);
    let watcher = {
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(async move {
            for _ in 0..2_000 {
                match client.get(&readyz).send().await {
                    Ok(res) if res.status() == 200 => {}
                    _ => break,
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            stop.store(true, Ordering::Release);
        })
    };
    let busy = answered.clone();
    tokio::time::timeout(Duration::from_secs(10), async move {
        while busy.load(Ordering::Relaxed) < 200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the load generator got going");
    let signalled = std::time::Instant::now();
    let stopped = tokio::time::timeout(Duration::from_secs(20), server.stop()).await;
    let (status, log) = stopped.expect("no exit within 5x (delay + request timeout)");
    assert!(status.success(), "{log}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "the delay was kept"
    );
    watcher.await.unwrap();
    for worker in workers {
        let failures = worker.await.unwrap();
        assert!(failures.is_empty(), "unanswered requests: {failures:?}");
    }
    assert!(answered.load(Ordering::Relaxed) >= 200);
}
