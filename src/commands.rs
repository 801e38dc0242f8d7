//! What each subcommand does, kept out of `main.rs` so it can be tested and reused.

#[cfg(feature = "sandbox")]
use crate::redact::redact_url;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

#[cfg(feature = "sandbox")]
use gumgate_sandbox::{SandboxConfig, SandboxHandle};

use crate::app::{Application, StartError, StartOptions, build_state, shutdown_signal};
use crate::config::{ConfigError, Secrets, Settings};
use crate::telemetry;
use crate::webhooks::register::{self, RegisterError};

/// The admin token `serve --sandbox` uses when `GUMGATE_ADMIN_TOKEN` is not set. It only ever
/// opens a gateway in front of the in-process sandbox, and the README documents it.
pub const SANDBOX_ADMIN_TOKEN: &str = "sandbox-admin-token";

/// `gumgate serve`: loads configuration, then serves until SIGTERM or ctrl-c. With `sandbox`,
/// an in-process sandbox is the upstream and no secret is required.
pub async fn serve(config: Option<&Path>, with_sandbox: bool) -> Result<(), StartError> {
    let mut settings = Settings::load(config)?;
    let _logs = telemetry::init(settings.log.format, &settings.log.level);
    let mut secrets = Secrets::from_env()?;
    let mut sandbox_handle = None;
    if with_sandbox {
        demo_defaults(&mut settings, |key| std::env::var_os(key).is_some());
        sandbox_handle = Some(start_sandbox(&mut settings, &mut secrets).await?);
    } else {
        secrets.require_for_serve()?;
    }
    let options = StartOptions {
        // A demo must show tokens; a key that dies with the process is right for it.
        ephemeral_signing_key: with_sandbox,
        ..StartOptions::default()
    };
    let state = build_state(settings, secrets, options).await?;
    let app = Application::bind(state).await?;
    let result = app.run(shutdown_signal()).await;
    if let Some(handle) = sandbox_handle {
        handle.shutdown().await;
    }
    result.map_err(StartError::Serve)
}

/// The built-in defaults `serve --sandbox` changes: a demo with a public demo token listens on
/// loopback only, and keeps its activations in a database of its own, never mixed with real
/// ones. A value set in the environment (`GUMGATE__...`) or changed from the built-in default
/// is kept, so the compose files' explicit `0.0.0.0` still applies.
fn demo_defaults(settings: &mut Settings, env_sets: impl Fn(&str) -> bool) {
    let built_in =
        Settings::load_from(None, std::iter::empty()).expect("the built-in defaults load");
    let s = &mut settings.server;
    let loopback = |addr: &mut std::net::SocketAddr, default, key| {
        if *addr == default && !env_sets(key) {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
    };
    loopback(
        &mut s.listen,
        built_in.server.listen,
        "GUMGATE__SERVER__LISTEN",
    );
    loopback(
        &mut s.metrics_listen,
        built_in.server.metrics_listen,
        "GUMGATE__SERVER__METRICS_LISTEN",
    );
    let db = &mut settings.storage.database_url;
    if *db == built_in.storage.database_url && !env_sets("GUMGATE__STORAGE__DATABASE_URL") {
        *db = "sqlite://data/gumgate-sandbox.db".to_owned();
    }
}

/// `serve --sandbox`'s upstream: an in-process sandbox, with its Maton key and, unless one is
/// set, the documented demo admin token.
#[cfg(feature = "sandbox")]
async fn start_sandbox(
    settings: &mut Settings,
    secrets: &mut Secrets,
) -> Result<SandboxHandle, StartError> {
    use crate::config::Secret;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|source| StartError::Bind {
            key: "sandbox",
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            source,
        })?;
    let config = SandboxConfig::default();
    secrets.maton_api_key = Some(Secret::new(config.api_key.clone()));
    if secrets.admin_tokens.is_empty() {
        secrets.admin_tokens = vec![Secret::new(SANDBOX_ADMIN_TOKEN)];
        tracing::warn!("GUMGATE_ADMIN_TOKEN is not set: using the sandbox's documented demo token");
    }
    let handle = gumgate_sandbox::spawn(listener, config).await;
    settings.upstream.base_url = handle
        .base_url()
        .parse()
        .expect("the sandbox's own URL parses");
    tracing::info!(upstream = %settings.upstream.base_url, "sandbox upstream started");
    Ok(handle)
}

/// A build without the `sandbox` feature has no sandbox: `serve --sandbox` fails to start.
#[cfg(not(feature = "sandbox"))]
async fn start_sandbox(_: &mut Settings, _: &mut Secrets) -> Result<NoSandbox, StartError> {
    Err(ConfigError::Invalid {
        key: "--sandbox",
        reason: "this gumgate was built without the `sandbox` feature".into(),
    }
    .into())
}

/// The handle [`start_sandbox`] never returns in a build without the sandbox.
#[cfg(not(feature = "sandbox"))]
enum NoSandbox {}

#[cfg(not(feature = "sandbox"))]
impl NoSandbox {
    async fn shutdown(self) {
        match self {}
    }
}

/// `gumgate sandbox`: the stand-in for Maton and Gumroad on its own.
#[cfg(feature = "sandbox")]
pub async fn run_sandbox(listen: SocketAddr, config: SandboxConfig) -> std::io::Result<()> {
    let _logs = telemetry::init(crate::config::LogFormat::Pretty, "info");
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(addr = %listener.local_addr()?, "sandbox listening");
    gumgate_sandbox::serve(listener, config, shutdown_signal()).await
}

/// `gumgate check-config`: every check `serve` makes before listening (settings, secrets,
/// signing keys, the upstream client, the database URL and that it can be written), without
/// listening and without opening, locking or migrating the database. Returns a summary that
/// names no secret.
pub fn check_config(config: Option<&Path>, with_sandbox: bool) -> Result<String, StartError> {
    let settings = Settings::load(config)?;
    let secrets = Secrets::from_env()?;
    if !with_sandbox {
        secrets.require_for_serve()?;
    }
    secrets.require_for_cluster(settings.redis.url())?;
    let signer = crate::tokens::Signer::configured(&settings.tokens, &secrets)?;
    if let Some(key) = secrets.maton_api_key.clone() {
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
        crate::upstream::Upstream::new(&settings, key, metrics)?;
    }
    crate::store::Store::check(&settings.storage.database_url)?;
    let signing = if signer.can_issue() {
        "tokens signed"
    } else if with_sandbox {
        "tokens signed with an ephemeral key"
    } else {
        "NO token signing key (activations carry no token)"
    };
    Ok(format!(
        "configuration OK: listen {}, metrics {}, upstream {}, storage {}, {} admin token(s), {signing}, log {:?}",
        settings.server.listen,
        settings.server.metrics_listen,
        redact_url(settings.upstream.base_url.as_str()),
        redact_url(&settings.storage.database_url),
        secrets.admin_tokens.len(),
        settings.log.format,
    ))
}

/// `gumgate keys generate --out PATH`: a new Ed25519 signing key, and the config lines that use
/// it. The public JWK is printed so it can be checked against `/.well-known/jwks.json`.
pub fn generate_key(out: &Path, kid: &str) -> Result<String, crate::tokens::TokenError> {
    let jwk = crate::tokens::write_new_key(out)?;
    Ok(format!(
        "wrote {path} (mode 0600)\npublic key: {jwk}\n\nadd to your config file:\n\n[tokens]\nactive_kid = \"{kid}\"\n\n[[tokens.keys]]\nkid = \"{kid}\"\npath = \"{path}\"\n",
        path = out.display(),
    ))
}

/// `gumgate db backup --out PATH|-`: an online copy of the configured database (see
/// [`crate::store::backup`]); `-` writes it to standard output. Returns the report line.
pub async fn db_backup(config: Option<&Path>, out: &Path) -> Result<String, StartError> {
    let settings = Settings::load(config)?;
    let url = &settings.storage.database_url;
    if out == Path::new("-") {
        crate::store::backup(url, crate::store::BackupTarget::Stdout).await?;
        return Ok(String::new());
    }
    let size = crate::store::backup(url, crate::store::BackupTarget::File(out)).await?;
    Ok(format!(
        "wrote {} ({size} bytes, mode 0600)\n",
        out.display()
    ))
}

/// What `gumgate webhooks` should do.
pub enum WebhooksAction {
    Register(url::Url),
    List,
    Unregister(url::Url),
}

/// Why `gumgate webhooks` failed.
#[derive(Debug, thiserror::Error)]
pub enum WebhooksError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the upstream HTTP client could not be built: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Register(#[from] RegisterError),
}

/// `gumgate webhooks register | list | unregister`, against the configured upstream with
/// `MATON_API_KEY` (and `GUMGATE_WEBHOOK_SECRET` for the receiver's URL). Returns the report.
pub async fn webhooks(
    config: Option<&Path>,
    action: WebhooksAction,
) -> Result<String, WebhooksError> {
    let settings = Settings::load(config)?;
    // Warnings (a throttled call being retried, a public URL Gumroad cannot use) on stderr.
    let _logs = telemetry::init(settings.log.format, &settings.log.level);
    let secrets = Secrets::from_env()?;
    let key = secrets
        .maton_api_key
        .ok_or(ConfigError::MissingSecret("MATON_API_KEY"))?;
    let metrics = std::sync::Arc::new(crate::metrics::Metrics::new());
    let upstream = crate::upstream::Upstream::new(&settings, key, metrics)?;
    // The receiver's URL under each configured secret, the current one first.
    let receivers = |public: &url::Url| -> Result<Vec<url::Url>, WebhooksError> {
        if secrets.webhook_secrets.is_empty() {
            return Err(ConfigError::MissingSecret("GUMGATE_WEBHOOK_SECRET").into());
        }
        let urls = secrets.webhook_secrets.iter();
        Ok(urls
            .map(|secret| register::receiver_url(public, secret))
            .collect::<Result<_, _>>()?)
    };
    let lines = match action {
        WebhooksAction::Register(public) => {
            let warning = public_url_warning(&public);
            if let Some(warning) = &warning {
                tracing::warn!("{warning}");
            }
            let urls = receivers(&public)?;
            let lines = register::register(&upstream, &urls[0], &urls[1..]).await?;
            let mut report = warning
                .map(|w| format!("warning: {w}\n"))
                .unwrap_or_default();
            report.extend(lines.iter().map(report_line));
            return Ok(report);
        }
        WebhooksAction::Unregister(public) => {
            register::unregister(&upstream, &receivers(&public)?).await?
        }
        WebhooksAction::List => {
            let all = register::list(&upstream).await?;
            if all.is_empty() {
                return Ok(
                    "no resource subscriptions: Gumroad sends this account no pings\n".into(),
                );
            }
            return Ok(all
                .iter()
                .map(|(resource, id, url)| format!("{resource:<24} {id:<28} {url}\n"))
                .collect());
        }
    };
    Ok(lines.iter().map(report_line).collect())
}

fn report_line(l: &register::Line) -> String {
    format!("{:<24} {:<28} {}\n", l.resource, l.id, l.outcome)
}

/// Why a receiver URL will not do for Gumroad: it must be reached from the internet, and over
/// TLS, since the secret is part of the URL.
fn public_url_warning(public: &url::Url) -> Option<String> {
    let local = match public.host() {
        Some(url::Host::Domain(d)) => d == "localhost" || d.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if local {
        Some(format!(
            "{} is not reachable from the internet: Gumroad cannot deliver pings to it",
            public.host_str().unwrap_or_default()
        ))
    } else if public.scheme() == "http" {
        Some("the public URL is http://: the receiver's secret would cross the internet in clear; use https://".into())
    } else {
        None
    }
}

/// The URL `gumgate healthcheck` probes: `/livez` on the ops listener (`server.metrics_listen`)
/// of the configuration `serve` would load, so a port change in the configuration needs no
/// change to the image's HEALTHCHECK. An address bound on every interface (`0.0.0.0`, `[::]`)
/// is probed on the loopback of its family.
pub fn healthcheck_url(config: Option<&Path>) -> Result<String, ConfigError> {
    let settings = Settings::load(config)?;
    let mut addr = settings.server.metrics_listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    Ok(format!("http://{addr}/livez"))
}

/// `gumgate healthcheck`: true when `url` answers 200 within two seconds. The container's
/// HEALTHCHECK uses it, so the runtime image needs no shell or curl.
pub async fn healthcheck(url: &str) -> bool {
    crate::tls::install_crypto_provider();
    let Ok(client) = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    else {
        return false;
    };
    matches!(client.get(url).send().await, Ok(r) if r.status() == reqwest::StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::{Settings, demo_defaults};

    #[test]
    fn the_demo_listens_on_loopback_and_keeps_its_own_database_unless_told_otherwise() {
        let mut s = Settings::load(None).unwrap();
        demo_defaults(&mut s, |_| false);
        assert_eq!(s.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.server.metrics_listen.to_string(), "127.0.0.1:9090");
        assert_eq!(s.storage.database_url, "sqlite://data/gumgate-sandbox.db");
        // Set in the environment (the compose files set 0.0.0.0): kept.
        let mut s = Settings::load(None).unwrap();
        demo_defaults(&mut s, |key| key == "GUMGATE__SERVER__LISTEN");
        assert_eq!(s.server.listen.to_string(), "0.0.0.0:8080");
        assert_eq!(s.server.metrics_listen.to_string(), "127.0.0.1:9090");
        // Changed from the default: kept.
        let mut s = Settings::load(None).unwrap();
        s.server.metrics_listen = "0.0.0.0:9999".parse().unwrap();
        s.storage.database_url = "sqlite:///srv/demo.db".into();
        demo_defaults(&mut s, |_| false);
        assert_eq!(s.server.metrics_listen.to_string(), "0.0.0.0:9999");
        assert_eq!(s.storage.database_url, "sqlite:///srv/demo.db");
    }
}
