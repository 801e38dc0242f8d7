//! Test harness: the real gateway on a real socket (port 0) in front of a real sandbox on
//! another socket (port 0), one pair per test.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use gumgate::clock::Clock;
use gumgate::config::{Secret, Secrets, Settings};
use gumgate::{Application, StartOptions, build_state};
use gumgate_sandbox::{SandboxConfig, SandboxHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const MATON_KEY: &str = gumgate_sandbox::DEFAULT_API_KEY;
pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";

/// Verify params of the sandbox's plain valid license.
pub const VALID: [(&str, &str); 2] = [
    ("product_id", gumgate_sandbox::seed::PRODUCT_ONE_TIME),
    ("license_key", gumgate_sandbox::seed::LICENSE_VALID),
];

pub struct TestApp {
    pub api: String,
    pub api_addr: SocketAddr,
    pub ops: String,
    pub sandbox: SandboxHandle,
    pub client: reqwest::Client,
    /// The clock cache freshness is judged by; it only moves when a test advances it.
    pub clock: Clock,
    /// The running app's state (its store, caches, ...), for assertions.
    pub state: gumgate::state::AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    /// Holds the test's database; removed with everything in it when the test app is dropped.
    _dir: tempfile::TempDir,
}

/// A gateway with default settings in front of a sandbox without its rate limit (tests that
/// want Maton's 429 ask for it with faults).
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_on(
        SandboxConfig {
            rate_limit: 0,
            ..SandboxConfig::default()
        },
        tweak,
    )
    .await
}

/// A gateway in front of a sandbox configured by the test (Maton's rate limit, say).
pub async fn spawn_app_on(sandbox: SandboxConfig, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn(sandbox, tweak, true).await
}

/// A gateway whose configuration has no signing key, as `serve` without `[tokens]` runs.
pub async fn spawn_app_without_keys() -> TestApp {
    let sandbox = SandboxConfig {
        rate_limit: 0,
        ..SandboxConfig::default()
    };
    spawn(sandbox, |_| {}, false).await
}

async fn spawn(
    sandbox: SandboxConfig,
    tweak: impl FnOnce(&mut Settings),
    ephemeral_key: bool,
) -> TestApp {
    spawn_with_secrets(sandbox, tweak, ephemeral_key, |_| {}).await
}

async fn spawn_with_secrets(
    sandbox: SandboxConfig,
    tweak: impl FnOnce(&mut Settings),
    ephemeral_key: bool,
    tweak_secrets: impl FnOnce(&mut Secrets),
) -> TestApp {
    gumgate::telemetry::init_for_tests();
    let sandbox =
        gumgate_sandbox::spawn(TcpListener::bind("127.0.0.1:0").await.unwrap(), sandbox).await;
    let mut settings = Settings::load_from(
        None,
        [
            // Tests send many verifies (and wrong admin tokens) from 127.0.0.1; the limit tests set
            // their own.
            ("GUMGATE__LIMITS__VERIFY_PER_IP", "100000/s"),
            ("GUMGATE__LIMITS__FAILED_VERIFY_PER_IP", "100000/s"),
            ("GUMGATE__LIMITS__UPSTREAM_VERIFY_PER_IP", "100000/s"),
            ("GUMGATE__LIMITS__FAILED_ADMIN_AUTH_PER_IP", "100000/s"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    )
    .unwrap();
    settings.upstream.base_url = sandbox.base_url().parse().unwrap();
    // A database of its own for each test, in a directory that goes when the test app does.
    let dir = tempfile::TempDir::new().unwrap();
    settings.storage.database_url = format!("sqlite://{}", dir.path().join("gumgate.db").display());
    tweak(&mut settings);
    let clock = Clock::manual();
    let mut secrets = Secrets {
        maton_api_key: Some(Secret::new(MATON_KEY)),
        admin_tokens: vec![Secret::new(ADMIN_TOKEN)],
        webhook_secrets: vec![Secret::new(WEBHOOK_SECRET)],
        ..Secrets::default()
    };
    tweak_secrets(&mut secrets);
    let options = StartOptions {
        clock: clock.clone(),
        ephemeral_signing_key: ephemeral_key,
    };
    let state = build_state(settings, secrets, options).await.unwrap();
    let handle = state.clone();
    let app = Application::from_listeners(
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
        state,
    );
    let (api_addr, ops_addr) = (app.api_addr(), app.ops_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        // Only an explicit `shutdown()` stops the server; a dropped sender (a destructured
        // TestApp) must not, or the test would race the shutdown it never asked for.
        if stopped.await.is_err() {
            std::future::pending::<()>().await;
        }
    }));
    TestApp {
        api: format!("http://{api_addr}"),
        api_addr,
        ops: format!("http://{ops_addr}"),
        sandbox,
        client: reqwest::Client::new(),
        clock,
        state: handle,
        stop: Some(stop),
        task: Some(task),
        _dir: dir,
    }
}

impl TestApp {
    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.api))
            .bearer_auth(ADMIN_TOKEN)
    }

    pub fn direct(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}/gumroad{path}", self.sandbox.base_url()))
            .bearer_auth(MATON_KEY)
    }

    pub async fn verify(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/v2/licenses/verify", self.api))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A public verify with a JSON body.
    pub async fn verify_json(&self, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v2/licenses/verify", self.api))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Makes the sandbox answer the next `n` requests with `status` (and `Retry-After`).
    pub fn fail_next(&self, n: u32, status: u16, retry_after: Option<&str>) {
        self.sandbox.set_faults(gumgate_sandbox::Faults {
            fail_next: n,
            fail_status: status,
            retry_after: retry_after.map(str::to_owned),
            ..gumgate_sandbox::Faults::default()
        });
    }

    /// Makes the sandbox answer the next `n` requests with `status` and `body` exactly as
    /// given (an HTML page, broken JSON, ...), under `content_type` when given.
    pub fn answer_next(&self, n: u32, status: u16, content_type: Option<&str>, body: &str) {
        self.sandbox.set_faults(gumgate_sandbox::Faults {
            fail_next: n,
            fail_status: status,
            fail_body: Some(body.to_owned()),
            fail_content_type: content_type.map(str::to_owned),
            ..gumgate_sandbox::Faults::default()
        });
    }

    pub async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.ops))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Sends bytes exactly as given (reqwest would normalise `..` away) and returns the status
    /// code and the whole response text.
    pub async fn raw(&self, request: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(self.api_addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    }

    /// Begins graceful shutdown and waits for the server to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }
}

/// How long [`eventually`] keeps looking: generous, so a busy machine does not flake.
const EVENTUALLY_WITHIN: Duration = Duration::from_secs(10);
/// How often [`eventually`] looks.
const EVENTUALLY_EVERY: Duration = Duration::from_millis(5);

/// Waits for something the test cannot await directly (a background task's effect, a request
/// reaching a queue): runs `check` until it returns `Some`, and returns that. Panics naming
/// `what` if it has not happened within 10 s.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + EVENTUALLY_WITHIN;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "still waiting after {EVENTUALLY_WITHIN:?} for {what}"
        );
        tokio::time::sleep(EVENTUALLY_EVERY).await;
    }
}

/// The `Cache-Status` of an answer.
pub fn cache_status(res: &reqwest::Response) -> String {
    res.headers()["cache-status"].to_str().unwrap().to_owned()
}

/// The value of one sample line of the Prometheus text output, 0 when absent.
pub fn sample(metrics: &str, name_and_labels: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A gateway signing with `GUMGATE_SIGNING_KEY_FILE` = `active` (and the previous key), as a
/// production `serve` with mounted key files runs: no ephemeral key to fall back on.
pub async fn spawn_app_with_key_files(active: &Path, previous: Option<&Path>) -> TestApp {
    let sandbox = SandboxConfig {
        rate_limit: 0,
        ..SandboxConfig::default()
    };
    let files = (active.to_owned(), previous.map(Path::to_owned));
    spawn_with_secrets(
        sandbox,
        |_| {},
        false,
        move |s| {
            s.signing_key_file = Some(files.0);
            s.previous_signing_key_file = files.1;
        },
    )
    .await
}
