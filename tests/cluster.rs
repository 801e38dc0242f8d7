//! Cluster mode as processes: three `gumgate serve` replicas of the built binary sharing one
//! Redis (a private `redis-server`) and one PostgreSQL database (on the server `bash
//! scripts/test.sh` starts), in front of the sandbox as its own process enforcing Maton's 10
//! requests a second per key. Run by `bash scripts/test.sh`; a bare `cargo test`
//! lists them as ignored.

#[path = "common/postgres.rs"]
mod postgres;
// Shared with tests/api; this file needs only starting a replica and its addresses.
#[allow(dead_code)]
#[path = "common/running.rs"]
mod running;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use gumgate_sandbox::{DEFAULT_API_KEY, seed};
use serde_json::Value;
use tokio::process::{Child, Command};
use tokio::time::Instant;

use running::Running;

const BIN: &str = env!("CARGO_BIN_EXE_gumgate");
const CACHE_KEY_SECRET: &str = "cluster-test-cache-key-secret-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_listening(port: u16, what: &str) {
    for _ in 0..400 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} did not listen on {port}");
}

/// A process killed when the test ends, however it ends.
fn spawn(cmd: &mut Command, what: &str) -> Child {
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e} (run bash scripts/test.sh, which installs it)"))
}

/// A private `redis-server` on `port`, no persistence.
fn start_redis(port: u16) -> Child {
    spawn(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"]),
        "redis-server",
    )
}

/// The pieces of one cluster test: the sandbox, Redis and the replicas.
struct Cluster {
    sandbox: String,
    _sandbox: Child,
    redis: Child,
    redis_port: u16,
    replicas: Vec<Running>,
    /// The replicas' PostgreSQL database.
    database: String,
    _keys: tempfile::TempDir,
}

impl Cluster {
    async fn start(replicas: usize) -> Self {
        Self::start_with(replicas, |_, _| {}).await
    }

    /// Starts `replicas` replicas, each command given to `each` (with its index) before it
    /// runs.
    async fn start_with(replicas: usize, each: impl Fn(usize, &mut Command)) -> Self {
        // The test's own HTTP client needs TLS set up (the gateway's reqwest has no default).
        gumgate::tls::install_crypto_provider();
        let (sandbox_port, redis_port) = (free_port(), free_port());
        let sandbox_child = spawn(
            Command::new(BIN).args(["sandbox", "--listen", &format!("127.0.0.1:{sandbox_port}")]),
            "gumgate sandbox",
        );
        let redis_child = start_redis(redis_port);
        wait_listening(sandbox_port, "the sandbox").await;
        wait_listening(redis_port, "redis-server").await;
        let database = postgres::database("gumgate_cluster").await;
        // One signing key, mounted on every replica: a token from one verifies with another's
        // JWKS.
        let keys = tempfile::TempDir::new().unwrap();
        let key = keys.path().join("signing.pem");
        let generated = Command::new(BIN)
            .args(["keys", "generate", "--out"])
            .arg(&key)
            .output()
            .await
            .unwrap();
        assert!(generated.status.success(), "{generated:?}");
        let sandbox = format!("http://127.0.0.1:{sandbox_port}");
        let mut running = Vec::new();
        for r in 0..replicas {
            let mut cmd = Command::new(BIN);
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .arg("serve")
                .env("MATON_API_KEY", DEFAULT_API_KEY)
                .env("GUMGATE_ADMIN_TOKEN", "cluster-test-admin-token")
                .env("GUMGATE_CACHE_KEY_SECRET", CACHE_KEY_SECRET)
                .env(
                    "GUMGATE__REDIS__URL",
                    format!("redis://127.0.0.1:{redis_port}"),
                )
                .env("GUMGATE__UPSTREAM__BASE_URL", &sandbox)
                .env("GUMGATE__SERVER__LISTEN", "127.0.0.1:0")
                .env("GUMGATE__SERVER__METRICS_LISTEN", "127.0.0.1:0")
                .env("GUMGATE__STORAGE__DATABASE_URL", &database)
                .env("GUMGATE__POLICY__SEATS", "15")
                .env("GUMGATE_SIGNING_KEY_FILE", &key)
                // One test client is one IP: its per-IP limits are not what is tested here.
                .env("GUMGATE__LIMITS__VERIFY_PER_IP", "100000/s")
                .env("GUMGATE__LIMITS__FAILED_VERIFY_PER_IP", "100000/s")
                .env("GUMGATE__LIMITS__UPSTREAM_VERIFY_PER_IP", "100000/s");
            each(r, &mut cmd);
            running.push(Running::start(cmd).await);
        }
        Self {
            sandbox,
            _sandbox: sandbox_child,
            redis: redis_child,
            redis_port,
            replicas: running,
            database,
            _keys: keys,
        }
    }

    /// What reached the sandbox (`RecordedRequest`s as JSON).
    async fn upstream_requests(&self) -> Vec<Value> {
        reqwest::get(format!("{}/_sandbox/requests", self.sandbox))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A key in Gumroad's shape that the sandbox does not know: each one a distinct upstream call.
fn distinct_key(i: u32) -> String {
    format!(
        "{:08X}-{:08X}-{:08X}-{:08X}",
        0xC0FFEE00u32 + i,
        i,
        i ^ 0x5A5A,
        i * 7
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn three_replicas_stay_under_matons_limit_together() {
    let cluster = Cluster::start(3).await;
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    // 300 distinct verifies, round-robin over the replicas, 30 at a time.
    for batch in 0..10u32 {
        let calls: Vec<_> = (0..30u32)
            .map(|j| {
                let i = batch * 30 + j;
                verify(&cluster, i as usize % 3, i)
            })
            .collect();
        for status in futures_util::future::join_all(calls).await {
            *answered.entry(status).or_default() += 1;
        }
    }
    let upstream = cluster.upstream_requests().await;
    let throttled = upstream.iter().filter(|r| r["status"] == 429).count();
    assert_eq!(throttled, 0, "Maton's 429s: {answered:?}");
    // Every answer is Gumroad's 404 for an unknown key, or 503 for a verify the shared budget
    // could not fit within upstream.max_wait; upstream saw one call per 404.
    let not_found = answered.get(&404).copied().unwrap_or_default();
    assert_eq!(
        not_found + answered.get(&503).copied().unwrap_or_default(),
        300,
        "{answered:?}"
    );
    assert_eq!(upstream.len(), not_found, "{answered:?}");
    assert!(not_found >= 30, "the budget was used: {answered:?}");
}

impl Cluster {
    async fn set_faults(&self, faults: Value) {
        let res = reqwest::Client::new()
            .put(format!("{}/_sandbox/faults", self.sandbox))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }

    async fn clear_requests(&self) {
        reqwest::Client::new()
            .delete(format!("{}/_sandbox/requests", self.sandbox))
            .send()
            .await
            .unwrap();
    }
}

/// A verify of `license_key` sent to `addr` (a replica's API, or the load balancer);
/// `increment`: Gumroad's default, which always goes upstream, or `increment_uses_count=false`,
/// which the cache serves.
async fn verify_at(
    addr: impl std::fmt::Display,
    license_key: &str,
    increment: bool,
) -> reqwest::Response {
    let mut form = vec![
        ("product_id", seed::PRODUCT_ONE_TIME),
        ("license_key", license_key),
    ];
    if !increment {
        form.push(("increment_uses_count", "false"));
    }
    reqwest::Client::new()
        .post(format!("http://{addr}/v2/licenses/verify"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// One verify of a distinct key through replica `r`; its status.
async fn verify(cluster: &Cluster, r: usize, i: u32) -> u16 {
    let api = cluster.replicas[r].api;
    verify_at(api, &distinct_key(i), true)
        .await
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn a_429_seen_by_one_replica_holds_every_replica_for_its_retry_after() {
    let cluster = Arc::new(Cluster::start(3).await);
    cluster
        .set_faults(serde_json::json!({"fail_next": 1, "fail_status": 429, "retry_after": "3"}))
        .await;
    // Replica 0 gets Maton's 429 (Retry-After: 3); its caller gets a refusal, not the 429.
    assert_eq!(verify(&cluster, 0, 1).await, 503);
    let paused_at = Instant::now();
    cluster.clear_requests().await;
    // While more of the pause is left than a verify may wait (upstream.max_wait, 1 s), every
    // replica refuses at once.
    let mut i = 2;
    while paused_at.elapsed() < Duration::from_millis(1_700) {
        for r in 0..3 {
            let asked = Instant::now();
            assert_eq!(verify(&cluster, r, i).await, 503, "replica {r}");
            assert!(
                asked.elapsed() < Duration::from_millis(500),
                "replica {r} waited"
            );
            i += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Within a second of its end, a verify on any replica waits the pause out, then goes.
    tokio::time::sleep(Duration::from_millis(2_200).saturating_sub(paused_at.elapsed())).await;
    let waiting: Vec<_> = (0..3)
        .map(|r| {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let status = verify(&cluster, r, 1_000 + r as u32).await;
                (status, paused_at.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(2_800).saturating_sub(paused_at.elapsed())).await;
    assert!(
        cluster.upstream_requests().await.is_empty(),
        "a call went during the pause"
    );
    // Each goes after the pause, or, when the first-time share (5 a second across the
    // replicas, 210 ms apart) has no slot within its wait, is refused: never during it.
    let mut went = 0;
    for (r, task) in waiting.into_iter().enumerate() {
        let (status, at) = task.await.unwrap();
        assert!(status == 404 || status == 503, "replica {r}: {status}");
        if status == 404 {
            went += 1;
            assert!(
                at >= Duration::from_millis(2_950),
                "replica {r} went at {at:?}"
            );
        }
    }
    assert!(went >= 2, "the calls waiting the pause out went after it");
    assert_eq!(cluster.upstream_requests().await.len(), went);
}

/// A verify of the seeded valid license through replica `r`: its status and body.
async fn verify_valid(cluster: &Cluster, r: usize) -> (u16, Value) {
    let res = verify_at(cluster.replicas[r].api, seed::LICENSE_VALID, false).await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn a_license_disabled_through_one_replica_is_disabled_on_every_replica() {
    let cluster = Cluster::start(3).await;
    // Every replica has the valid answer cached.
    for r in 0..3 {
        assert_eq!(verify_valid(&cluster, r).await.0, 200, "replica {r}");
        assert_eq!(
            verify_valid(&cluster, r).await.0,
            200,
            "replica {r}, from its cache"
        );
    }
    let res = reqwest::Client::new()
        .put(format!(
            "http://{}/v2/licenses/disable",
            cluster.replicas[0].api
        ))
        .bearer_auth("cluster-test-admin-token")
        .form(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, disabled) = verify_valid(&cluster, 0).await;
    assert_ne!(status, 200, "disabled here: {disabled}");
    // The other replicas drop their cached answer as the invalidation reaches them.
    for r in 1..3 {
        let mut answer = verify_valid(&cluster, r).await;
        for _ in 0..40 {
            if answer.0 == status {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
            answer = verify_valid(&cluster, r).await;
        }
        assert_eq!(answer, (status, disabled.clone()), "replica {r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn sixty_machines_racing_over_three_replicas_get_exactly_fifteen_seats() {
    let cluster = Arc::new(Cluster::start(3).await);
    let barrier = Arc::new(tokio::sync::Barrier::new(60));
    let racers: Vec<_> = (0..60)
        .map(|i| {
            let (cluster, barrier) = (cluster.clone(), barrier.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let url = format!(
                    "http://{}/v1/licenses/activate",
                    cluster.replicas[i % 3].api
                );
                barrier.wait().await;
                client
                    .post(url)
                    .json(&serde_json::json!({
                        "product_id": seed::PRODUCT_ONE_TIME,
                        "license_key": seed::LICENSE_VALID,
                        "fingerprint": format!("machine-{i}"),
                    }))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut answered = std::collections::BTreeMap::<u16, usize>::new();
    for racer in racers {
        *answered.entry(racer.await.unwrap()).or_default() += 1;
    }
    assert_eq!(answered.get(&201), Some(&15), "{answered:?}");
    assert_eq!(answered.values().sum::<usize>(), 60, "{answered:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn a_machine_activated_on_one_replica_validates_on_the_others() {
    let cluster = Cluster::start(3).await;
    let client = reqwest::Client::new();
    let call = |r: usize, action: &str, body: Value| {
        let url = format!("http://{}/v1/licenses/{action}", cluster.replicas[r].api);
        let client = client.clone();
        async move {
            let res = client.post(url).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let (status, activated) = call(
        0,
        "activate",
        serde_json::json!({
            "product_id": seed::PRODUCT_ONE_TIME,
            "license_key": seed::LICENSE_VALID,
            "fingerprint": "machine-1",
        }),
    )
    .await;
    assert_eq!(status, 201, "{activated}");
    assert!(activated["token"].is_string(), "{activated}");
    let jwks = |r: usize| {
        let url = format!("http://{}/.well-known/jwks.json", cluster.replicas[r].api);
        async move {
            reqwest::get(url)
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let published = jwks(0).await;
    for r in 1..3 {
        assert_eq!(
            jwks(r).await,
            published,
            "replica {r} publishes the same keys"
        );
        let (status, validated) = call(
            r,
            "validate",
            serde_json::json!({
                "product_id": seed::PRODUCT_ONE_TIME,
                "license_key": seed::LICENSE_VALID,
                "activation_id": activated["activation"]["id"],
            }),
        )
        .await;
        assert_eq!(
            (status, &validated["code"]),
            (200, &Value::from("VALID")),
            "{validated}"
        );
        assert!(validated["token"].is_string(), "{validated}");
    }
}

/// nginx from the OS packages running the load balancer's shipped configuration
/// (`deploy/nginx/gumgate-cluster.conf`) in front of `replicas`; its port.
async fn load_balancer(replicas: &[Running], dir: &std::path::Path) -> (u16, Child) {
    let port = free_port();
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/nginx/gumgate-cluster.conf"
    );
    std::fs::copy(shipped, dir.join("gumgate-cluster.conf")).unwrap();
    std::fs::write(
        dir.join("gumgate-listen.conf"),
        format!("listen 127.0.0.1:{port};\n"),
    )
    .unwrap();
    let servers: String = replicas
        .iter()
        .map(|r| format!("server {} max_fails=1 fail_timeout=5s;\n", r.api))
        .collect();
    std::fs::write(dir.join("gumgate-upstreams.conf"), servers).unwrap();
    let main = format!(
        "daemon off;\npid {dir}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\n  \
         access_log off;\n  include gumgate-cluster.conf;\n}}\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), main).unwrap();
    let nginx = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|n| std::path::Path::new(n).is_file())
        .unwrap_or("nginx");
    let child = spawn(
        Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf")),
        "nginx",
    );
    wait_listening(port, "nginx").await;
    (port, child)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL, redis-server and nginx: run bash scripts/test.sh"]
async fn behind_the_shipped_load_balancer_a_client_is_served_while_replicas_die() {
    let mut cluster = Cluster::start(3).await;
    let dir = tempfile::TempDir::new().unwrap();
    let (port, _nginx) = load_balancer(&cluster.replicas, dir.path()).await;
    let balancer = format!("127.0.0.1:{port}");
    let verify = || verify_at(&balancer, seed::LICENSE_VALID, false);
    assert_eq!(verify().await.status(), 200);
    // The replica the client's IP hashes to, and one more, killed outright (SIGKILL): the
    // balancer moves the client to the last one.
    let mut served = None;
    for (r, replica) in cluster.replicas.iter().enumerate() {
        if verifies_served(replica).await > 0.0 {
            served = Some(r);
        }
    }
    let served = served.expect("one replica served the verify");
    for r in [served, (served + 1) % 3] {
        cluster.replicas[r].child.kill().await.unwrap();
    }
    for _ in 0..5 {
        assert_eq!(verify().await.status(), 200);
    }
    let activated = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/licenses/activate"))
        .json(&serde_json::json!({
            "product_id": seed::PRODUCT_ONE_TIME,
            "license_key": seed::LICENSE_VALID,
            "fingerprint": "behind-the-balancer",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(activated.status(), 201);
}

/// How many verifies a replica answered, from its own metrics.
async fn verifies_served(replica: &Running) -> f64 {
    let text = reqwest::get(format!("http://{}/metrics", replica.ops))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("gumgate_http_requests_total{")
                && l.contains(r#"route="/v2/licenses/verify""#)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Verifies reaching the sandbox so far.
async fn upstream_verifies(cluster: &Cluster) -> usize {
    cluster
        .upstream_requests()
        .await
        .iter()
        .filter(|r| r["path"] == "/gumroad/v2/licenses/verify")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn a_license_verified_on_every_replica_costs_one_upstream_call() {
    let cluster = Arc::new(Cluster::start(3).await);
    // One after another: the first fills, the others find its answer in Redis.
    for r in 0..3 {
        let res = verify_at(cluster.replicas[r].api, seed::LICENSE_VALID, false).await;
        assert_eq!(res.status(), 200);
        let status = res.headers()["cache-status"].to_str().unwrap().to_owned();
        if r > 0 {
            assert!(status.contains("detail=shared"), "replica {r}: {status}");
        }
    }
    assert_eq!(upstream_verifies(&cluster).await, 1);
    // All at once, a key nobody has: one replica fills, the others wait for its answer.
    let racers: Vec<_> = (0..3)
        .map(|r| {
            let cluster = cluster.clone();
            tokio::spawn(async move {
                let api = cluster.replicas[r].api;
                verify_at(api, &distinct_key(7_777), false)
                    .await
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for racer in racers {
        assert_eq!(racer.await.unwrap(), 404);
    }
    assert_eq!(
        upstream_verifies(&cluster).await,
        2,
        "one call for the three"
    );
}

/// A replica's readiness report.
async fn readyz(replica: &Running) -> Value {
    reqwest::get(format!("http://{}/readyz", replica.ops))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn with_redis_stopped_replicas_serve_within_their_shares_and_share_again_when_it_is_back() {
    let mut cluster = Cluster::start(3).await;
    for r in 0..3 {
        assert_eq!(verify_valid(&cluster, r).await.0, 200);
    }
    cluster.redis.kill().await.unwrap();
    // Hits keep serving; misses are spaced at each replica's share (3 of Maton's 10 a second,
    // 9 together): a burst of distinct verifies on every replica draws no 429 upstream.
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for round in 0..4u32 {
        let calls: Vec<_> = (0..15u32)
            .map(|j| {
                let (r, i) = (j as usize % 3, 20_000 + round * 15 + j);
                let api = cluster.replicas[r].api;
                async move {
                    let key = distinct_key(i);
                    verify_at(api, &key, false).await.status().as_u16()
                }
            })
            .collect();
        for status in futures_util::future::join_all(calls).await {
            *statuses.entry(status).or_default() += 1;
        }
        for r in 0..3 {
            assert_eq!(
                verify_valid(&cluster, r).await.0,
                200,
                "a hit on replica {r}"
            );
        }
    }
    let upstream = cluster.upstream_requests().await;
    let throttled = upstream.iter().filter(|r| r["status"] == 429).count();
    assert_eq!(
        throttled, 0,
        "Maton's 429s while Redis was down: {statuses:?}"
    );
    assert!(
        statuses.get(&404).copied().unwrap_or_default() >= 9,
        "{statuses:?}"
    );
    for replica in &cluster.replicas {
        assert_eq!(readyz(replica).await["redis"]["reachable"], false);
    }

    // Redis back on the same address: each replica shares again at its next upstream call.
    cluster.redis = start_redis(cluster.redis_port);
    wait_listening(cluster.redis_port, "redis-server").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for (r, replica) in cluster.replicas.iter().enumerate() {
        let mut reachable = Value::Null;
        for attempt in 0..20u32 {
            verify(&cluster, r, 30_000 + attempt * 3 + r as u32).await;
            reachable = readyz(replica).await["redis"]["reachable"].clone();
            if reachable == true {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(reachable, true, "replica {r} shares again");
    }
}

const WEBHOOK_SECRET: &str = "cluster-test-webhook-secret-0123456789";

/// Inbox rows as `(id, state, claimed_until)`.
async fn inbox(db: &mut sqlx::PgConnection) -> Vec<(i64, String, Option<i64>)> {
    sqlx::query_as("SELECT id, state, claimed_until FROM webhook_inbox ORDER BY id")
        .fetch_all(db)
        .await
        .unwrap()
}

fn unix_now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    i64::try_from(since.unwrap().as_secs()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn pings_held_by_a_killed_replica_are_each_processed_once_by_the_others() {
    use sqlx::Connection;
    // Replica 0's claims last 3 s, the others' 10 minutes: a pending ping whose claim ends
    // within a minute is replica 0's, so the test knows what the killed replica held.
    let mut cluster = Cluster::start_with(3, |r, cmd| {
        let lease = if r == 0 { "3s" } else { "10m" };
        cmd.env("GUMGATE_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("GUMGATE__WEBHOOKS__CLAIM_LEASE", lease);
    })
    .await;
    let mut db = sqlx::PgConnection::connect(&cluster.database)
        .await
        .unwrap();
    // Each re-check takes a while, so rounds are under way when the kill comes and replicas
    // that took the same ping would be seen recording it twice.
    cluster
        .set_faults(serde_json::json!({"latency_ms": 300}))
        .await;
    // 60 refunds, each about a license of its own (unknown upstream, so each re-check is one
    // verify answered 404): each one processed is one `webhook` audit entry for its license.
    let client = reqwest::Client::new();
    let receiver = format!(
        "http://{}/webhooks/gumroad/{WEBHOOK_SECRET}",
        cluster.replicas[0].api
    );
    let sent = futures_util::future::join_all((0..60).map(|i| {
        let form = [
            ("resource_name", "refund".to_owned()),
            ("product_id", seed::PRODUCT_ONE_TIME.to_owned()),
            ("license_key", distinct_key(i)),
        ];
        client.post(&receiver).form(&form).send()
    }))
    .await;
    for res in sent {
        assert_eq!(res.unwrap().status(), 200);
    }
    // Killed while it holds pings it has not finished.
    let deadline = Instant::now() + Duration::from_secs(20);
    let held = loop {
        let soon = unix_now() + 60;
        let held: Vec<i64> = inbox(&mut db)
            .await
            .into_iter()
            .filter(|(_, state, until)| state == "pending" && until.is_some_and(|u| u < soon))
            .map(|(id, ..)| id)
            .collect();
        if !held.is_empty() {
            break held;
        }
        assert!(Instant::now() < deadline, "replica 0 never claimed a ping");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    cluster.replicas[0].child.kill().await.unwrap();
    // The others take the held pings once their lease passes, and everything else as it comes.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = inbox(&mut db).await;
        assert_eq!(rows.len(), 60);
        if rows.iter().all(|(_, state, _)| state == "done") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all processed (replica 0 held {held:?}): {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let effects: Vec<(String, i64)> = sqlx::query_as(
        "SELECT license_hash, count(*) FROM audit_log WHERE action = 'webhook' \
         GROUP BY license_hash",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(effects.len(), 60, "one entry per license: {effects:?}");
    assert!(
        effects.iter().all(|(_, n)| *n == 1),
        "each ping's effect recorded once: {effects:?}"
    );
}

/// A private CA and a certificate for 127.0.0.1 it signed, as PEM files in a temp dir:
/// `(dir, ca, cert, key)`.
fn tls_files() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = tempfile::TempDir::new().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = params
        .signed_by(&key, &Issuer::new(ca_params, &ca_key))
        .unwrap();
    let write = |name: &str, pem: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca = write("ca.pem", ca.pem());
    let cert = write("redis.pem", cert.pem());
    let key = write("redis.key", key.serialize_pem());
    (dir, ca, cert, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL and redis-server: run bash scripts/test.sh"]
async fn replicas_share_over_tls_and_never_through_a_redis_they_cannot_verify() {
    let (_dir, ca, cert, key) = tls_files();
    let port = free_port();
    // TLS only: the plain port is off.
    let _redis = spawn(
        Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--tls-ca-cert-file")
            .arg(&ca)
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ]),
        "redis-server (TLS)",
    );
    wait_listening(port, "redis-server (TLS)").await;
    // Replicas 0 and 1 trust the private CA; replica 2 has only the system's roots, so it must
    // refuse the server's certificate and run on its own.
    let cluster = Cluster::start_with(3, |r, cmd| {
        cmd.env("GUMGATE__REDIS__URL", format!("rediss://127.0.0.1:{port}"));
        if r < 2 {
            cmd.env("GUMGATE__REDIS__CA_FILE", &ca);
        }
    })
    .await;
    let key = distinct_key(9_001);
    assert_eq!(
        verify_at(cluster.replicas[0].api, &key, false)
            .await
            .status(),
        404
    );
    let res = verify_at(cluster.replicas[1].api, &key, false).await;
    assert_eq!(res.status(), 404);
    let status = res.headers()["cache-status"].to_str().unwrap().to_owned();
    assert!(status.contains("detail=shared"), "replica 1: {status}");
    assert_eq!(upstream_verifies(&cluster).await, 1, "shared over TLS");
    for r in 0..2 {
        assert_eq!(
            readyz(&cluster.replicas[r]).await["redis"]["reachable"],
            true,
            "replica {r}"
        );
    }
    // The unverifiable one: its own upstream call, and Redis reported unreachable.
    assert_eq!(
        verify_at(cluster.replicas[2].api, &key, false)
            .await
            .status(),
        404
    );
    assert_eq!(upstream_verifies(&cluster).await, 2);
    assert_eq!(
        readyz(&cluster.replicas[2]).await["redis"]["reachable"],
        false
    );
    // Refused for its certificate, not for a timeout or any other failure.
    let log = cluster.replicas[2].log();
    assert!(
        log.contains("UnknownIssuer") || log.contains("invalid peer certificate"),
        "{log}"
    );
}
