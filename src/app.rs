//! Assembling and running the application: the state built once ([`build_state`], every
//! start-up decision made there), the API router, the operations router, both listeners, the
//! background tasks, and a graceful shutdown that first turns readiness off, lets in-flight
//! requests finish, waits for the background tasks and closes the store.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::AdminTokens;
use crate::cache::Keyer;
use crate::clock::Clock;
use crate::cluster::{Invalidations, RedisLink, SharedAnswers, SharedBudget, Streams};
use crate::config::{Secrets, Settings};
use crate::error::{method_not_allowed, not_found};
use crate::licenses::known::KnownLicenses;
use crate::limits::InboundLimits;
use crate::metrics::Metrics;
use crate::state::{AppState, Caches, Lifecycle, Shared};
use crate::store::{Engine, Store};
use crate::tokens::Signer;
use crate::upstream::Upstream;
use crate::{activation, admin, health, licenses, middleware, sales, serve, webhooks};

/// How long shutdown waits for background work (the inbox processor's current ping, a
/// reconciliation round, a uses mirror in flight) once serving has stopped: about one upstream
/// call. Whatever is cut short is safe to redo: unfinished pings stay in the inbox.
const BACKGROUND_DEADLINE: Duration = Duration::from_secs(10);

/// Why the application could not start (or stopped with an error).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not listen on {addr} ({key}): {source}")]
    Bind {
        key: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the upstream HTTP client could not be built: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("token signing keys: {0}")]
    Tokens(#[from] crate::tokens::TokenError),
    #[error("storage.database_url: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("serving failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// What start-up decides beyond the settings and secrets.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The clock freshness, grace and daily limits are judged by (tests pass a manual one).
    pub clock: Clock,
    /// With no signing key configured, sign with a key that dies with the process (the
    /// sandbox demo, tests) rather than answer activations with `"token": null`.
    pub ephemeral_signing_key: bool,
}

/// Builds the shared state from settings and secrets (opening and migrating the database),
/// making every start-up decision once. `MATON_API_KEY` must be present.
pub async fn build_state(
    settings: Settings,
    mut secrets: Secrets,
    options: StartOptions,
) -> Result<AppState, StartError> {
    let api_key = secrets
        .maton_api_key
        .take()
        .ok_or(crate::config::ConfigError::MissingSecret("MATON_API_KEY"))?;
    // First: a second process on this database is refused before it says anything else.
    let store = if settings.redis.url().is_some() {
        if Engine::of(&settings.storage.database_url) == Some(Engine::Sqlite) {
            tracing::warn!(
                "redis.url is set but the database is a SQLite file: this replica's seats, \
                 audit trail and webhook inbox are its own; a cluster needs PostgreSQL"
            );
        }
        Store::connect_cluster(&settings.storage.database_url).await?
    } else {
        Store::connect(&settings.storage.database_url).await?
    };
    let metrics = Arc::new(Metrics::new());
    let store = store.with_metrics(metrics.database_duration.clone());
    let cluster = cluster(&settings, &secrets, &api_key, &metrics)?;
    let keyer = match &secrets.cache_key_secret {
        Some(secret) => Keyer::from_secret(secret.expose()),
        None => Keyer::random(),
    };
    let (shared, first_time, answers, invalidations, streams) = match cluster {
        Some(c) => (
            Some(c.budget),
            Some(c.first_time),
            Some(c.answers),
            Some(c.invalidations),
            Some(c.streams),
        ),
        None => (None, None, None, None, None),
    };
    let upstream = Upstream::with_shared_budget(&settings, api_key, metrics.clone(), shared)?;
    let limits = InboundLimits::new(
        &settings.limits,
        settings.server.trusted_proxies.clone(),
        metrics.clone(),
    );
    if settings.licenses.allowed_products.is_empty() {
        tracing::warn!(
            "licenses.allowed_products is empty: the public verify answers for any product id"
        );
    }
    let signer = signer(&settings, &secrets, options.ephemeral_signing_key)?;
    let webhook_secret = AdminTokens::new(secrets.webhook_secrets.clone());
    let known = KnownLicenses::new(
        store.known_licenses().await?,
        &settings.upstream,
        metrics.clone(),
        first_time,
    );
    let clock = options.clock;
    Ok(AppState::new(Shared {
        signer,
        store,
        webhook_secret,
        inbox: Arc::new(tokio::sync::Notify::new()),
        known: Arc::new(known),
        pings_refused: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        tasks: TaskTracker::new(),
        invalidations,
        streams: std::sync::Mutex::new(streams),
        caches: Caches::new(&settings, keyer, &clock, &metrics).sharing(answers),
        clock,
        settings: Arc::new(settings),
        upstream,
        admin: AdminTokens::new(secrets.admin_tokens),
        metrics,
        lifecycle: Arc::new(Lifecycle::default()),
        limits,
    }))
}

/// What replicas share in cluster mode, all over one link to Redis.
struct ClusterParts {
    /// The whole upstream budget.
    budget: Arc<SharedBudget>,
    /// The share first-time license keys pass first.
    first_time: Arc<SharedBudget>,
    answers: Arc<SharedAnswers>,
    invalidations: Invalidations,
    streams: Streams,
}

/// Cluster mode's shared parts when `redis.url` is set, which needs the cache key secret every
/// replica shares (the keys of answers and of the invalidation stream derive from it). Nothing
/// is sent to Redis yet: a replica starts while Redis is down.
fn cluster(
    settings: &Settings,
    secrets: &Secrets,
    api_key: &crate::config::Secret,
    metrics: &Arc<Metrics>,
) -> Result<Option<ClusterParts>, crate::config::ConfigError> {
    let Some(url) = settings.redis.url() else {
        metrics.redis_up.set(1);
        return Ok(None);
    };
    secrets.require_for_cluster(Some(url))?;
    let secret = secrets
        .cache_key_secret
        .as_ref()
        .expect("required for cluster mode just above");
    // redis-rs's errors name the problem, never the URL (which may hold a password).
    let invalid = |e: redis::RedisError| crate::config::ConfigError::Invalid {
        key: "redis.url",
        reason: e.to_string(),
    };
    // Read (and checked) when the settings loaded; read again here, where it is used.
    let ca = match settings.redis.ca_file.as_str() {
        "" => None,
        path => Some(
            std::fs::read(path).map_err(|e| crate::config::ConfigError::Invalid {
                key: "redis.ca_file",
                reason: format!("{path}: {e}"),
            })?,
        ),
    };
    // A CA file redis-rs cannot use is the CA file's fault, not the URL's.
    let client = || {
        crate::cluster::redis_conn::client(url, ca.as_deref()).map_err(|e| match ca {
            Some(_) => crate::config::ConfigError::Invalid {
                key: "redis.ca_file",
                reason: e.to_string(),
            },
            None => invalid(e),
        })
    };
    let link = RedisLink::new(client()?, metrics.clone()).map_err(invalid)?;
    let (up, share) = (&settings.upstream, settings.redis.fallback_share);
    let budget = SharedBudget::new(link.clone(), up, share, api_key, metrics.clone());
    let first_time = SharedBudget::first_time(link.clone(), up, share, api_key, metrics.clone());
    let id = blake3::derive_key("gumgate 2026 shared answers", secret.expose().as_bytes());
    let id = hex::encode(&id[..8]);
    // A fill's longest: its wait for budget, then its call with every retry.
    let lease = up.max_wait + up.timeout * (1 + up.max_retries);
    let answers = Arc::new(SharedAnswers::new(
        link.clone(),
        &id,
        lease,
        up.max_wait,
        settings.cache.stale_if_error,
    ));
    let (invalidations, streams) =
        Invalidations::new(link, client()?, &id, Some(answers.clone())).map_err(invalid)?;
    Ok(Some(ClusterParts {
        budget: Arc::new(budget),
        first_time: Arc::new(first_time),
        answers,
        invalidations,
        streams,
    }))
}

/// The one start-up record: what is running, where, against what. Its message stays "gumgate
/// listening" (scripts and the process tests read the addresses from it). URLs are shown with
/// their credentials masked by [`crate::redact::redact_url`].
fn started(state: &AppState, api: SocketAddr, ops: SocketAddr) {
    let settings = &state.settings;
    let config_file = settings.source.as_ref().map_or_else(
        || "(built-in defaults)".to_owned(),
        |p| p.display().to_string(),
    );
    let jwks = state.signer.jwks();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    let allowed = &settings.licenses.allowed_products;
    let migrations = match state.store.engine() {
        crate::store::Engine::Sqlite => crate::store::MIGRATOR.iter().count(),
        crate::store::Engine::Postgres => crate::store::PG_MIGRATOR.iter().count(),
    } as u64;
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        config_file,
        %api,
        %ops,
        upstream = %crate::redact::redact_url(settings.upstream.base_url.as_str()),
        database = %crate::redact::redact_url(&settings.storage.database_url),
        migrations,
        signing_keys = %if kids.is_empty() { "none".to_owned() } else { kids.join(",") },
        webhook_receiver = !state.webhook_secret.is_empty(),
        allowed_products = %if allowed.is_empty() { "any".to_owned() } else { allowed.join(",") },
        "gumgate listening"
    );
}

/// The token signer: the configured keys; else, when asked, an ephemeral key; else none, said
/// once here.
fn signer(settings: &Settings, secrets: &Secrets, ephemeral: bool) -> Result<Signer, StartError> {
    let configured = Signer::configured(&settings.tokens, secrets)?;
    if configured.can_issue() {
        Ok(configured)
    } else if ephemeral {
        tracing::info!("no token signing key configured: signing with an ephemeral key");
        Ok(Signer::ephemeral(&settings.tokens.issuer))
    } else {
        tracing::warn!("no token signing key configured: activations will carry no token");
        Ok(configured)
    }
}

/// The API router: public license routes, the admin surface, health.
pub fn api_router(state: AppState) -> Router {
    // The origins were checked when the settings loaded.
    let cors = crate::cors::layer(&state.settings.server.cors_origins).unwrap_or_default();
    let routes = Router::new()
        .merge(licenses::router(state.limits.clone(), cors.clone()))
        .merge(activation::router(state.limits.clone(), cors))
        .merge(webhooks::router())
        .route("/openapi.json", get(openapi))
        .merge(sales::router())
        .merge(admin::router())
        .merge(health::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    middleware::apply(
        routes,
        state.metrics.clone(),
        state.settings.server.request_timeout,
        state.settings.log.access_sample,
    )
    .with_state(state)
}

/// The operations router: `/metrics` and health, on their own listener so that metrics are
/// never exposed on the public port.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .merge(health::router())
        .fallback(not_found)
        .with_state(state)
}

/// Gumgate's own API, described in OpenAPI 3.1 (checked against the routes by a test).
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> impl axum::response::IntoResponse {
    ([(http::header::CONTENT_TYPE, "application/json")], OPENAPI)
}

async fn render_metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    state.caches.report();
    state.upstream.report();
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// A built application with its listeners bound, ready to run.
pub struct Application {
    api: TcpListener,
    ops: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds both listeners from `server.listen` and `server.metrics_listen`.
    pub async fn bind(state: AppState) -> Result<Self, StartError> {
        let s = &state.settings.server;
        let api = bind("server.listen", s.listen).await?;
        let ops = bind("server.metrics_listen", s.metrics_listen).await?;
        Ok(Self::from_listeners(api, ops, state))
    }

    /// Uses listeners bound by the caller (tests bind port 0).
    pub fn from_listeners(api: TcpListener, ops: TcpListener, state: AppState) -> Self {
        Self { api, ops, state }
    }

    pub fn api_addr(&self) -> SocketAddr {
        self.api
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn ops_addr(&self) -> SocketAddr {
        self.ops
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves; then readiness turns off, `server.shutdown_delay`
    /// passes, the listeners stop accepting, in-flight requests finish, the background tasks
    /// stop (within a bounded deadline) and the store is closed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self { api, ops, state } = self;
        let stop = CancellationToken::new();
        let lifecycle = state.lifecycle.clone();
        let delay = state.settings.server.shutdown_delay;
        let trigger = stop.clone();
        // Every long-running task, on the state's tracker with the stop token.
        let tasks = state.tasks.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = shutdown => {}
                // Serving ended on its own (an error): nothing left to trigger.
                () = trigger.cancelled() => return,
            }
            lifecycle.set_ready(false);
            tracing::info!(
                delay_ms = delay.as_millis() as u64,
                "shutting down: readiness off"
            );
            tokio::time::sleep(delay).await;
            trigger.cancel();
        });
        // Pings stored before a crash or restart are processed now, new ones as they come.
        tasks.spawn(webhooks::process::run(state.clone(), stop.clone()));
        tasks.spawn(activation::reconcile::run(state.clone(), stop.clone()));
        tasks.spawn(activation::retention::run(state.clone(), stop.clone()));
        tasks.spawn(state.limits.clone().prune_until(stop.clone()));
        tasks.spawn(licenses::known::write_known(state.clone(), stop.clone()));
        let streams = state
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(streams) = streams {
            tasks.spawn(streams.run(state.caches.clone(), stop.clone()));
        }
        let (api_limits, ops_limits) = connection_limits(&state.settings);
        state.lifecycle.set_ready(true);
        started(&state, api.local_addr()?, ops.local_addr()?);
        tokio::join!(
            serve::serve(api, api_router(state.clone()), api_limits, stop.clone()),
            serve::serve(ops, ops_router(state.clone()), ops_limits, stop.clone()),
        );
        // Serving ended: the background tasks end too.
        stop.cancel();
        tasks.close();
        if tokio::time::timeout(BACKGROUND_DEADLINE, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                pending = tasks.len(),
                "background tasks still running at shutdown"
            );
        }
        state.store.close().await;
        tracing::info!("gumgate stopped");
        Ok(())
    }
}

/// Each listener's connection limits, the caps fitted under half the open-file limit.
fn connection_limits(settings: &Settings) -> (serve::ConnLimits, serve::ConnLimits) {
    let s = &settings.server;
    let (mut api, mut ops) = (s.max_connections, s.metrics_max_connections);
    if let Some(limit) = serve::fd_limit() {
        let (fitted_api, fitted_ops, lowered) = serve::fit_to_fd_limit(api, ops, limit);
        if lowered {
            tracing::warn!(
                fd_limit = limit,
                max_connections = fitted_api,
                metrics_max_connections = fitted_ops,
                "connection caps lowered to half the open-file limit (raise ulimit -n to keep them)"
            );
        }
        (api, ops) = (fitted_api, fitted_ops);
    }
    let limits = |max_connections| serve::ConnLimits {
        max_connections,
        header_read_timeout: s.header_read_timeout,
        max_header_bytes: s.max_header_bytes,
        shutdown_deadline: s.shutdown_deadline,
    };
    (limits(api), limits(ops))
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { key, addr, source })
}

/// Resolves on SIGTERM (how orchestrators stop a container) or ctrl-c. The handlers are
/// installed when this is called, not when the future is first polled: a SIGTERM that arrives
/// right after start-up must begin a graceful stop, not kill the process (the default action).
/// Must be called inside a Tokio runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (terminate, interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let (mut terminate, mut interrupt) = (terminate, interrupt);
            tokio::select! {
                Some(()) = async { terminate.as_mut()?.recv().await } => {}
                Some(()) = async { interrupt.as_mut()?.recv().await } => {}
                else => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
