//! The `gumgate` binary itself: configuration errors, the sandbox demo end to end, logs free of
//! secrets, and a graceful exit on SIGTERM.

use std::time::Duration;

use gumgate_sandbox::seed;
use tokio::process::Command;

use crate::postgres;
use crate::running::Running;

const BIN: &str = env!("CARGO_BIN_EXE_gumgate");

fn gumgate() -> Command {
    let mut cmd = Command::new(BIN);
    // Start from a clean slate: the developer's shell must not change what is tested.
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.kill_on_drop(true);
    cmd
}

/// The database URL of `gumgate.db` in `dir`.
fn db_in(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("gumgate.db").display())
}

/// `gumgate serve --sandbox` on ports the kernel picks (`Running` reads them back from the
/// start-up record), with its database at `db`.
fn serve_sandbox(db: &str) -> Command {
    let mut cmd = gumgate();
    cmd.args(["serve", "--sandbox"])
        .env("GUMGATE__SERVER__LISTEN", "127.0.0.1:0")
        .env("GUMGATE__SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .env("GUMGATE__STORAGE__DATABASE_URL", db);
    cmd
}

#[tokio::test]
async fn bad_configuration_stops_with_one_line_naming_the_setting() {
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("GUMGATE__SERVER__LISTEN", "not-an-address")], "listen"),
        (
            &[("GUMGATE__UPSTREAM__BASE_URL", "ftp://x")],
            "upstream.base_url",
        ),
        (&[("GUMGATE__LOG__FORMAT", "xml")], "format"),
        (&[], "MATON_API_KEY"),
        (
            &[("MATON_API_KEY", "k"), ("GUMGATE_ADMIN_TOKEN", "short")],
            "GUMGATE_ADMIN_TOKEN",
        ),
    ];
    for (env, needle) in cases {
        for sub in ["check-config", "serve"] {
            let out = gumgate()
                .arg(sub)
                .envs(env.iter().copied())
                .output()
                .await
                .unwrap();
            assert_eq!(out.status.code(), Some(2), "{sub} {env:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<_> = err.lines().collect();
            assert_eq!(lines.len(), 1, "{sub} {env:?}: {err}");
            assert!(
                lines[0].starts_with("gumgate: ") && lines[0].contains(needle),
                "{sub} {env:?}: {err}"
            );
        }
    }
    let out = gumgate()
        .arg("check-config")
        .env("MATON_API_KEY", "k")
        .env("GUMGATE_ADMIN_TOKEN", "a-long-enough-admin-token")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("configuration OK") && !text.contains("a-long-enough-admin-token"));
}

#[tokio::test]
async fn serve_sandbox_works_logs_no_secret_and_stops_cleanly_on_sigterm() {
    // This test's own client needs TLS set up even when no other test in the run did it.
    gumgate::tls::install_crypto_provider();
    let admin = "process-test-admin-token-42";
    let dir = tempfile::TempDir::new().unwrap();
    let mut cmd = serve_sandbox(&db_in(&dir));
    cmd.env("RUST_LOG", "trace,hyper=info,h2=info,reqwest=info")
        .env("GUMGATE_ADMIN_TOKEN", admin);
    let server = Running::start(cmd).await;
    let (api, ops) = (server.api, server.ops);

    let client = reqwest::Client::new();
    let res = client
        .post(format!("http://{api}/v2/licenses/verify"))
        .form(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
            ("access_token", admin),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .get(format!(
            "http://{api}/v2/sales?license_key={}&email=someone%40example.com",
            seed::LICENSE_VALID
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = client
        .get(format!("http://{api}/v2/user"))
        .bearer_auth("wrong-token-0000000000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        reqwest::get(format!("http://{ops}/metrics"))
            .await
            .unwrap()
            .status(),
        200
    );

    // The healthcheck subcommand agrees.
    let hc = gumgate()
        .args(["healthcheck", "--url", &format!("http://{ops}/livez")])
        .status()
        .await
        .unwrap();
    assert!(hc.success());

    let (status, all) = server.stop().await;
    assert!(status.success(), "exit {status:?}: {all}");
    assert!(all.contains("gumgate stopped"), "{all}");
    // The signing decision is made (and said) once: the demo signs with an ephemeral key.
    assert_eq!(
        all.matches("signing with an ephemeral key").count(),
        1,
        "{all}"
    );
    assert!(!all.contains("activations will carry no token"), "{all}");
    for secret in [
        admin,
        "wrong-token-0000000000",
        seed::LICENSE_VALID,
        "someone",
        gumgate_sandbox::DEFAULT_API_KEY,
    ] {
        assert!(
            !all.contains(secret),
            "{secret} appeared in the logs:\n{all}"
        );
    }
    let hc = gumgate()
        .args(["healthcheck", "--url", &format!("http://{ops}/livez")])
        .status()
        .await
        .unwrap();
    assert!(!hc.success());
}

#[tokio::test]
async fn webhooks_register_is_idempotent_lists_masked_and_unregisters() {
    let sandbox = unlimited_sandbox().await;
    let secret = "cli-webhook-secret-0123456789";
    let run = |args: &'static [&'static str]| webhooks_cli(&sandbox, secret, args);
    let (ok, text) = run(&["register", "--public-url", "https://licenses.example.com"]).await;
    assert!(ok, "{text}");
    assert_eq!(text.matches("created").count(), 8, "{text}");
    let (ok, text) = run(&["register", "--public-url", "https://licenses.example.com"]).await;
    assert!(
        ok && text.matches("exists").count() == 8 && !text.contains("created"),
        "{text}"
    );
    let (ok, text) = run(&["list"]).await;
    assert!(ok, "{text}");
    assert_eq!(
        text.matches("https://licenses.example.com/webhooks/gumroad/***")
            .count(),
        8,
        "{text}"
    );
    let (ok, text) = run(&["unregister", "--public-url", "https://licenses.example.com"]).await;
    assert!(ok && text.matches("deleted").count() == 8, "{text}");
    let (_, text) = run(&["list"]).await;
    assert!(!text.contains("licenses.example.com"), "{text}");
}

/// `serve` without `[tokens]` says once that activations carry no token, and a clean stop
/// closes the database (its write-ahead log checkpointed into the database file).
#[tokio::test]
async fn serve_without_keys_warns_once_and_closes_the_store_on_sigterm() {
    let sandbox = sandbox(gumgate_sandbox::SandboxConfig::default()).await;
    let dir = tempfile::TempDir::new().unwrap();
    let db = dir.path().join("gumgate.db");
    let mut cmd = gumgate();
    cmd.arg("serve")
        .env("GUMGATE__SERVER__LISTEN", "127.0.0.1:0")
        .env("GUMGATE__SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .env("GUMGATE__SERVER__SHUTDOWN_DELAY", "0s")
        .env(
            "GUMGATE__STORAGE__DATABASE_URL",
            format!("sqlite://{}", db.display()),
        )
        .env("GUMGATE__UPSTREAM__BASE_URL", sandbox.base_url())
        .env("MATON_API_KEY", gumgate_sandbox::DEFAULT_API_KEY)
        .env("GUMGATE_ADMIN_TOKEN", "process-test-admin-token-42");
    let server = Running::start(cmd).await;
    assert!(
        std::path::Path::new(&format!("{}-wal", db.display())).exists(),
        "the database runs in WAL mode"
    );
    let (status, all) = server.stop().await;
    assert!(status.success(), "exit {status:?}: {all}");
    assert_eq!(
        all.matches("activations will carry no token").count(),
        1,
        "{all}"
    );
    // Closed: the write-ahead log (which holds at least the migrations) was folded into the
    // database file, so it is gone or empty.
    let wal = std::fs::metadata(format!("{}-wal", db.display()));
    assert!(
        wal.as_ref().map_or(true, |m| m.len() == 0),
        "the store was not closed ({wal:?}): {all}"
    );
}

/// `check-config` prints where it would connect, never a credential inside those URLs.
#[tokio::test]
async fn check_config_masks_credentials_in_urls() {
    // The database path is relative: it would be created (and is probed) under this directory.
    let dir = tempfile::TempDir::new().unwrap();
    let check = |database_url: &str| {
        let mut cmd = gumgate();
        cmd.arg("check-config")
            .current_dir(dir.path())
            .env("MATON_API_KEY", "k")
            .env("GUMGATE_ADMIN_TOKEN", "a-long-enough-admin-token")
            .env(
                "GUMGATE__UPSTREAM__BASE_URL",
                "https://maton-user:upstream-pw-123@maton.example/",
            )
            .env("GUMGATE__STORAGE__DATABASE_URL", database_url);
        cmd
    };
    // SQLite knows no `password` param, so `serve` refuses this URL, and so does check-config
    // (issue 10): with the param's name, never its value.
    let out = check("sqlite://localhost/gumgate.db?mode=rwc&password=query-pw-789")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("query-pw-789"));
    let out = check("sqlite://db-user:storage-pw-456@localhost/gumgate.db?mode=rwc")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    for secret in ["upstream-pw-123", "storage-pw-456"] {
        assert!(!text.contains(secret), "{secret} printed: {text}");
    }
    assert!(
        text.contains("https://maton-user:***@maton.example/"),
        "{text}"
    );
    assert!(text.contains("db-user:***@localhost"), "{text}");
    assert!(text.contains("mode=rwc"), "{text}");
}

/// Runs a `serve` that must refuse to start: exit code 2 and one line on stderr, returned.
async fn refused(mut serve: Command) -> String {
    let out = tokio::time::timeout(Duration::from_secs(20), serve.output())
        .await
        .expect("this serve should have refused to start, but it kept running")
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("gumgate: "), "{err}");
    err
}

/// One `serve` per SQLite file: a second one on the same database refuses to start (today it
/// ran, and both processed every ping). The lock dies with its process, so after a `kill -9`
/// a successor starts; and a database that cannot be written is refused at start too.
#[tokio::test]
async fn one_serve_per_database_file_and_a_killed_ones_successor_starts() {
    let sandbox = sandbox(gumgate_sandbox::SandboxConfig::default()).await;
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}/gumgate.db", dir.path().display());
    let serve = |url: &str| {
        let mut cmd = gumgate();
        cmd.arg("serve")
            .env("GUMGATE__SERVER__LISTEN", "127.0.0.1:0")
            .env("GUMGATE__SERVER__METRICS_LISTEN", "127.0.0.1:0")
            .env("GUMGATE__SERVER__SHUTDOWN_DELAY", "0s")
            .env("GUMGATE__STORAGE__DATABASE_URL", url)
            .env("GUMGATE__UPSTREAM__BASE_URL", sandbox.base_url())
            .env("MATON_API_KEY", gumgate_sandbox::DEFAULT_API_KEY)
            .env("GUMGATE_ADMIN_TOKEN", "process-test-admin-token-42")
            .env("GUMGATE__LOG__FORMAT", "json");
        cmd
    };

    let mut first = Running::start(serve(&url)).await;
    let err = refused(serve(&url)).await;
    assert!(
        err.contains("gumgate.db.lock") && err.contains("in use"),
        "{err}"
    );

    // SIGKILL: no shutdown code runs, only the kernel lets go of the lock.
    first.child.start_kill().unwrap();
    first.child.wait().await.unwrap();
    let successor = Running::start(serve(&url)).await;
    gumgate::tls::install_crypto_provider();
    let live = reqwest::get(format!("http://{}/livez", successor.api))
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let (status, log) = successor.stop().await;
    assert!(status.success(), "{status:?}: {log}");
    let err = refused(serve(&format!("{url}?mode=ro"))).await;
    assert!(err.contains("cannot be written"), "{err}");
}

/// Admin-token guessing is refused per client and said once a burst in the log, not once a
/// guess.
#[tokio::test]
async fn admin_token_guessing_is_logged_once_a_burst() {
    let dir = tempfile::TempDir::new().unwrap();
    let mut cmd = serve_sandbox(&db_in(&dir));
    cmd.env("GUMGATE__SERVER__SHUTDOWN_DELAY", "0s")
        .env("GUMGATE__LIMITS__FAILED_ADMIN_AUTH_PER_IP", "3/min");
    let server = Running::start(cmd).await;
    let api = server.api;

    gumgate::tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for i in 0..20 {
        let res = client
            .get(format!("http://{api}/v2/user"))
            .bearer_auth(format!("guessed-admin-token-{i:04}"))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses[..3], [401; 3]);
    assert_eq!(statuses[3..], [429; 17]);

    let (status, all) = server.stop().await;
    assert!(status.success(), "{all}");
    assert_eq!(
        all.matches("repeated failed admin authentications").count(),
        1,
        "{all}"
    );
    assert!(!all.contains("guessed-admin-token"), "{all}");
}

/// Environment variables for a run, as (name, value).
type Env = Vec<(String, String)>;

/// Runs `gumgate SUB` with the production secrets, listeners on port 0 and `env`; `serve` is
/// given a few seconds to refuse (it must never get as far as serving).
async fn run_to_exit(sub: &str, extra: &[&str], env: &[(String, String)]) -> (Option<i32>, String) {
    let mut cmd = gumgate();
    cmd.arg(sub)
        .args(extra)
        .env("MATON_API_KEY", "k")
        .env("GUMGATE_ADMIN_TOKEN", "a-long-enough-admin-token")
        .env("GUMGATE__SERVER__LISTEN", "127.0.0.1:0")
        .env("GUMGATE__SERVER__METRICS_LISTEN", "127.0.0.1:0")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let out = tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{sub} {env:?} did not stop"))
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn check_config_refuses_what_serve_refuses_naming_the_key() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = |url: String| ("GUMGATE__STORAGE__DATABASE_URL".to_owned(), url);
    let good_db = db(format!("sqlite://{}", dir.path().join("ok.db").display()));
    let missing_pem = dir.path().join("missing.pem").display().to_string();
    let config = dir.path().join("keys.toml");
    std::fs::write(
        &config,
        format!("[tokens]\nactive_kid = \"k1\"\n\n[[tokens.keys]]\nkid = \"k1\"\npath = \"{missing_pem}\"\n"),
    )
    .unwrap();
    let config = config.display().to_string();
    let not_a_dir = dir.path().join("a-file");
    std::fs::write(&not_a_dir, "").unwrap();
    let cases: Vec<(Vec<&str>, Env, &str)> = vec![
        (
            vec![],
            vec![
                good_db.clone(),
                ("GUMGATE_SIGNING_KEY_FILE".into(), missing_pem.clone()),
            ],
            "GUMGATE_SIGNING_KEY_FILE",
        ),
        (vec!["--config", &config], vec![good_db.clone()], "\"k1\""),
        (
            vec![],
            vec![db(format!(
                "sqlite://{}?mode=ro",
                dir.path().join("ro.db").display()
            ))],
            "ro.db",
        ),
        (
            vec![],
            vec![db(format!("sqlite://{}/sub/x.db", not_a_dir.display()))],
            "database directory",
        ),
        (
            vec![],
            vec![db("mysql://u:pw@db/gg".into())],
            "unsupported database URL",
        ),
        (
            vec![],
            vec![
                good_db.clone(),
                (
                    "GUMGATE__REDIS__URL".into(),
                    "redis://:pw@127.0.0.1:1".into(),
                ),
            ],
            "GUMGATE_CACHE_KEY_SECRET",
        ),
        (
            vec![],
            vec![
                good_db.clone(),
                (
                    "GUMGATE__REDIS__URL".into(),
                    "rediss://:pw@cache:6380/#insecure".into(),
                ),
                ("GUMGATE_CACHE_KEY_SECRET".into(), "x".repeat(40)),
            ],
            "redis.url",
        ),
        (
            vec![],
            vec![
                good_db.clone(),
                ("GUMGATE_CACHE_KEY_SECRET".into(), "too-short".into()),
            ],
            "GUMGATE_CACHE_KEY_SECRET",
        ),
    ];
    for (args, env, needle) in cases {
        for sub in ["check-config", "serve"] {
            let (code, err) = run_to_exit(sub, &args, &env).await;
            assert_eq!(code, Some(2), "{sub} {env:?}: {err}");
            // serve may log warnings first; its refusal is the last line.
            let last = err.lines().last().unwrap_or_default();
            assert!(
                last.starts_with("gumgate: ") && last.contains(needle),
                "{sub} {env:?}: {err}"
            );
            assert!(!err.contains(":pw@"), "a password shown: {err}");
        }
    }
    // A PostgreSQL URL: check-config only parses it (it runs offline); serve connects, and
    // names the server without its password when it cannot.
    let pg = db("postgres://u:hunter2@127.0.0.1:1/gg".into());
    let (code, err) = run_to_exit("check-config", &[], std::slice::from_ref(&pg)).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let (code, err) = run_to_exit("serve", &[], &[pg]).await;
    assert_eq!(code, Some(2), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("cannot connect to the database server postgres://u:***@127.0.0.1:1/gg"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    // A good configuration passes and check-config leaves no database behind.
    let fresh = dir.path().join("fresh").join("gumgate.db");
    let fresh_db = db(format!("sqlite://{}", fresh.display()));
    let (code, err) = run_to_exit("check-config", &[], &[fresh_db]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(!fresh.parent().unwrap().exists());
}

#[tokio::test]
async fn healthcheck_probes_the_configured_ops_listener() {
    let dir = tempfile::TempDir::new().unwrap();
    let db = db_in(&dir);
    let server = Running::start(serve_sandbox(&db)).await;
    // The configuration an operator would have written: the ops port, bound on every address
    // (probed on 127.0.0.1).
    let ops = format!("0.0.0.0:{}", server.ops.port());
    let healthcheck = || {
        let mut cmd = gumgate();
        cmd.arg("healthcheck")
            .env("GUMGATE__SERVER__METRICS_LISTEN", &ops)
            .env("GUMGATE__STORAGE__DATABASE_URL", &db);
        cmd
    };
    let status = healthcheck().status().await.unwrap();
    assert!(status.success(), "{status:?}");
    let (status, all) = server.stop().await;
    assert!(status.success(), "{all}");
    let status = healthcheck().status().await.unwrap();
    assert!(!status.success());
}

#[tokio::test]
async fn db_backup_copies_a_live_database_without_its_lock() {
    use sqlx::Connection;
    gumgate::tls::install_crypto_provider();
    let dir = tempfile::TempDir::new().unwrap();
    let db = db_in(&dir);
    let server = Running::start(serve_sandbox(&db)).await;
    let res = reqwest::Client::new()
        .post(format!("http://{}/v1/licenses/activate", server.api))
        .json(&serde_json::json!({
            "product_id": seed::PRODUCT_ONE_TIME,
            "license_key": seed::LICENSE_VALID,
            "fingerprint": "machine-1",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    let backup = |out: &str| {
        let mut cmd = gumgate();
        cmd.args(["db", "backup", "--out", out])
            .env("GUMGATE__STORAGE__DATABASE_URL", &db);
        cmd
    };
    let copy = dir.path().join("copy.db");
    let copy_arg = copy.display().to_string();
    let out = backup(&copy_arg).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // An existing file is never overwritten.
    let again = backup(&copy_arg).output().await.unwrap();
    assert_eq!(again.status.code(), Some(2));
    // To stdout: the same database.
    let piped = backup("-").output().await.unwrap();
    assert!(piped.status.success());
    assert!(piped.stdout.starts_with(b"SQLite format 3\0"));

    let (status, all) = server.stop().await;
    assert!(status.success(), "{all}");
    // And with no server running (no write-ahead log left beside the file).
    let stopped = dir.path().join("stopped.db").display().to_string();
    let out = backup(&stopped).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = format!("sqlite://{}?mode=ro", copy.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM activations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

/// What is running is said once, in one record, at start: version, config file, listeners,
/// upstream and database (credentials masked), migrations, signing keys, webhook receiver,
/// allow-list; and the JSON access line carries `latency_ms` as a number (issue 10).
#[tokio::test]
async fn startup_says_in_one_record_what_is_running() {
    gumgate::tls::install_crypto_provider();
    let dir = tempfile::TempDir::new().unwrap();
    let config = dir.path().join("gumgate.toml");
    let allowed = seed::PRODUCT_ONE_TIME;
    std::fs::write(
        &config,
        format!("[licenses]\nallowed_products = [\"{allowed}\"]\n"),
    )
    .unwrap();
    let mut cmd = serve_sandbox(&db_in(&dir));
    cmd.arg("--config")
        .arg(&config)
        .env("GUMGATE__SERVER__SHUTDOWN_DELAY", "0s");
    let server = Running::start(cmd).await;
    let res = reqwest::Client::new()
        .post(format!("http://{}/v2/licenses/verify", server.api))
        .form(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, all) = server.stop().await;
    assert!(status.success(), "{all}");

    let records: Vec<serde_json::Value> = all
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let started: Vec<_> = records
        .iter()
        .filter(|r| r["message"] == "gumgate listening")
        .collect();
    assert_eq!(started.len(), 1, "{all}");
    let s = started[0];
    assert_eq!(s["version"], env!("CARGO_PKG_VERSION"), "{s}");
    assert_eq!(s["config_file"], config.display().to_string(), "{s}");
    assert!(
        s["upstream"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{s}"
    );
    assert!(
        s["database"].as_str().unwrap().starts_with("sqlite://"),
        "{s}"
    );
    assert!(s["migrations"].as_u64().unwrap() > 0, "{s}");
    assert!(!s["signing_keys"].as_str().unwrap().is_empty(), "{s}");
    assert!(s["webhook_receiver"].is_boolean(), "{s}");
    assert_eq!(s["allowed_products"], allowed, "{s}");
    assert!(!all.contains(gumgate_sandbox::DEFAULT_API_KEY), "{all}");

    let access = records
        .iter()
        .find(|r| r["message"] == "finished processing request")
        .unwrap_or_else(|| panic!("no access line: {all}"));
    assert!(access["latency_ms"].is_u64(), "{access}");
}

/// `webhooks register` beside another user of the same Maton budget: a 429 is waited out and
/// retried (up to 3 times), and when Maton keeps refusing it says it gave up. An empty `list`
/// says so; a public URL Gumroad cannot use gets a warning.
#[tokio::test]
async fn webhooks_register_waits_out_maton_429s_and_says_when_it_gives_up() {
    let sandbox = unlimited_sandbox().await;
    let run = |args: &'static [&'static str]| {
        webhooks_cli(&sandbox, "cli-webhook-secret-0123456789", args)
    };
    let (ok, text) = run(&["list"]).await;
    assert!(ok && text.contains("no resource subscriptions"), "{text}");

    // Two 429s (Retry-After: 1) in the way: waited out, then every resource is created.
    sandbox.set_faults(gumgate_sandbox::Faults {
        fail_next: 2,
        fail_status: 429,
        retry_after: Some("1".into()),
        ..Default::default()
    });
    let (ok, text) = run(&["register", "--public-url", "https://licenses.example.com"]).await;
    assert!(ok, "{text}");
    assert_eq!(text.matches("created").count(), 8, "{text}");
    assert!(text.contains("Maton throttled"), "{text}");

    // Maton never lets up: it gives up after 3 retries and says so.
    sandbox.set_faults(gumgate_sandbox::Faults {
        fail_next: 100,
        fail_status: 429,
        retry_after: Some("1".into()),
        ..Default::default()
    });
    let (ok, text) = run(&["unregister", "--public-url", "https://licenses.example.com"]).await;
    assert!(!ok, "{text}");
    assert!(text.contains("after 3 retries"), "{text}");
    sandbox.set_faults(gumgate_sandbox::Faults::default());

    // A URL Gumroad cannot reach, or plain http: registered, with a warning.
    let (ok, text) = run(&["register", "--public-url", "http://localhost:8080"]).await;
    assert!(
        ok && text.contains("warning: localhost is not reachable"),
        "{text}"
    );
    let (ok, text) = run(&["register", "--public-url", "http://licenses.example.com"]).await;
    assert!(
        ok && text.contains("warning: the public URL is http://"),
        "{text}"
    );
    assert!(!text.contains("cli-webhook-secret"), "{text}");
}

/// Rotating the webhook secret loses no pings: with `GUMGATE_WEBHOOK_SECRET="new,old"`,
/// `register` subscribes the receiver under the new secret and only then drops the old
/// subscriptions; the receiver accepts both meanwhile (`AdminTokens` takes the list).
#[tokio::test]
async fn webhooks_register_moves_subscriptions_to_the_new_secret() {
    let sandbox = unlimited_sandbox().await;
    let (old, new) = (
        "old-webhook-secret-0123456789",
        "new-webhook-secret-0123456789",
    );
    let sandbox = &sandbox;
    let run = |args: &'static [&'static str], secrets: String| async move {
        webhooks_cli(sandbox, &secrets, args).await
    };
    let url = &["register", "--public-url", "https://licenses.example.com"];
    let (ok, text) = run(url, old.into()).await;
    assert!(ok && text.matches("created").count() == 8, "{text}");
    let (ok, text) = run(url, format!("{new},{old}")).await;
    assert!(ok, "{text}");
    assert_eq!(text.matches("created").count(), 8, "{text}");
    assert_eq!(text.matches("retired").count(), 8, "{text}");
    // Only the new secret's subscriptions are left at Gumroad.
    let posted: Vec<String> = sandbox
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(posted.len(), 16);
    let (ok, text) = run(&["list"], new.into()).await;
    assert!(
        ok && text.matches("/webhooks/gumroad/***").count() == 8,
        "{text}"
    );
    let (ok, text) = run(url, new.into()).await;
    assert!(
        ok && text.matches("exists").count() == 8 && !text.contains("retired"),
        "{text}"
    );
}

/// A sandbox on a free port, configured by the test.
async fn sandbox(config: gumgate_sandbox::SandboxConfig) -> gumgate_sandbox::SandboxHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    gumgate_sandbox::spawn(listener, config).await
}

/// A sandbox without Maton's rate limit, for the `gumgate webhooks` commands.
async fn unlimited_sandbox() -> gumgate_sandbox::SandboxHandle {
    sandbox(gumgate_sandbox::SandboxConfig {
        rate_limit: 0,
        ..Default::default()
    })
    .await
}

/// Runs `gumgate webhooks ARGS` against `sandbox` with its Maton key and `secrets` as
/// `GUMGATE_WEBHOOK_SECRET`: whether it succeeded, and stdout then stderr. No secret may be in
/// either.
async fn webhooks_cli(
    sandbox: &gumgate_sandbox::SandboxHandle,
    secrets: &str,
    args: &[&str],
) -> (bool, String) {
    let mut cmd = gumgate();
    cmd.arg("webhooks")
        .args(args)
        .env("MATON_API_KEY", gumgate_sandbox::DEFAULT_API_KEY)
        .env("GUMGATE_WEBHOOK_SECRET", secrets)
        .env("GUMGATE__UPSTREAM__BASE_URL", sandbox.base_url());
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("the command finished")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in secrets.split(',') {
        assert!(!text.contains(secret), "a secret was printed: {text}");
    }
    (out.status.success(), text)
}

/// The built binary on PostgreSQL, its URL read from a secret file: seats survive a restart,
/// and a second gateway on the same database is refused while the first runs.
#[tokio::test]
#[ignore = "needs PostgreSQL: run bash scripts/test.sh"]
async fn serve_on_postgres_keeps_seats_across_a_restart_one_gateway_at_a_time() {
    gumgate::tls::install_crypto_provider();
    let dir = tempfile::TempDir::new().unwrap();
    let url_file = dir.path().join("database-url");
    std::fs::write(
        &url_file,
        format!("{}\n", postgres::database("gumgate_process").await),
    )
    .unwrap();
    let serve = || {
        let mut cmd = gumgate();
        cmd.args(["serve", "--sandbox"])
            .env("GUMGATE__SERVER__LISTEN", "127.0.0.1:0")
            .env("GUMGATE__SERVER__METRICS_LISTEN", "127.0.0.1:0")
            .env("GUMGATE_DATABASE_URL_FILE", &url_file);
        cmd
    };
    let activate = |api: std::net::SocketAddr| async move {
        let res = reqwest::Client::new()
            .post(format!("http://{api}/v1/licenses/activate"))
            .json(&serde_json::json!({
                "product_id": seed::PRODUCT_ONE_TIME,
                "license_key": seed::LICENSE_VALID,
                "fingerprint": "machine-1",
            }))
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.text().await.unwrap())
    };

    let first = Running::start(serve()).await;
    let (status, body) = activate(first.api).await;
    assert_eq!(status, 201, "{body}");
    let second = serve().output().await.unwrap();
    assert_eq!(second.status.code(), Some(2));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another gumgate process"), "{err}");
    let (status, _) = first.stop().await;
    assert!(status.success());

    let again = Running::start(serve()).await;
    let (status, body) = activate(again.api).await;
    assert_eq!(status, 200, "the seat taken before the restart: {body}");
}
