//! The state every handler shares: cheap handles, cloned per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::task::TaskTracker;

use crate::auth::AdminTokens;
use crate::cache::{AnswerCache, Keyer};
use crate::clock::Clock;
use crate::config::Settings;
use crate::limits::InboundLimits;
use crate::metrics::Metrics;
use crate::read_through::ReadThrough;
use crate::store::Store;
use crate::tokens::Signer;
use crate::upstream::Upstream;

/// Shared application state: one `Arc`, so the per-request clones axum makes (one per `State`
/// extractor and layer) bump a single reference count, not one per handle. Read it through
/// `Deref`.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Wraps what `crate::app::build_state` built.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

/// Everything the handlers share.
pub struct Shared {
    pub settings: Arc<Settings>,
    /// The time every freshness, grace and daily limit is judged by (tests move it by hand).
    pub clock: Clock,
    pub upstream: Upstream,
    pub admin: AdminTokens,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Arc<Lifecycle>,
    pub caches: Caches,
    pub limits: InboundLimits,
    /// Signs activation tokens (or refuses to, when no key is configured).
    pub signer: Signer,
    /// Activations, seats and the audit trail.
    pub store: Store,
    /// The webhook receiver's path secret (none configured: nothing matches).
    pub webhook_secret: AdminTokens,
    /// Licenses Gumroad vouched for, and the gate first-time keys pass.
    pub known: Arc<crate::licenses::known::KnownLicenses>,
    /// Wakes the inbox processor when a ping arrives.
    pub inbox: Arc<tokio::sync::Notify>,
    /// Set when the receiver refused a ping (the inbox was full): Gumroad may never send it
    /// again, so the reconciler owes every license a re-check once the inbox drains.
    pub pings_refused: Arc<AtomicBool>,
    /// Every background task (the inbox processor, the reconciler, limiter pruning, uses
    /// mirroring): `Application::run` waits for them at shutdown.
    pub tasks: TaskTracker,
    /// Cluster mode: invalidations for the other replicas (`None` without Redis).
    pub invalidations: Option<crate::cluster::Invalidations>,
    /// Cluster mode: the stream's reader and publisher, which `Application::run` starts once.
    pub streams: std::sync::Mutex<Option<crate::cluster::Streams>>,
}

/// The read-through caches and the key derivation.
#[derive(Clone)]
pub struct Caches {
    pub keyer: Keyer,
    pub verify: ReadThrough,
    pub sales: ReadThrough,
}

impl Caches {
    /// Verify answers get seven eighths of `cache.max_bytes`, sales pages the rest: verifies
    /// are the hot path, sales pages are large but few and short-lived.
    pub fn new(settings: &Settings, keyer: Keyer, clock: &Clock, metrics: &Arc<Metrics>) -> Self {
        let c = &settings.cache;
        let sales_bytes = c.max_bytes / 8;
        let cache = |name, bytes| {
            let answers = AnswerCache::new(
                name,
                bytes,
                c.stale_if_error,
                clock.clone(),
                metrics.clone(),
            );
            ReadThrough::new(answers)
        };
        Self {
            verify: cache("verify", c.max_bytes - sales_bytes),
            sales: cache("sales", sales_bytes.max(1)),
            keyer,
        }
    }

    /// Shares verify answers with the other replicas (cluster mode) when `answers` is given.
    pub fn sharing(mut self, answers: Option<Arc<crate::cluster::SharedAnswers>>) -> Self {
        if let Some(answers) = answers {
            self.verify = self.verify.with_shared(answers);
        }
        self
    }

    /// Publishes entry counts and sizes (called at scrape time).
    pub fn report(&self) {
        self.verify.cache().report();
        self.sales.cache().report();
    }

    /// Empties every cache (an operator's purge).
    pub fn clear(&self) {
        self.verify.cache().clear();
        self.sales.cache().clear();
    }

    /// Makes every cached answer stale (cluster mode, after invalidations may have been missed).
    pub fn mark_stale(&self) {
        self.verify.cache().mark_stale();
        self.sales.cache().mark_stale();
    }
}

/// Whether this process should receive new traffic.
#[derive(Debug, Default)]
pub struct Lifecycle {
    ready: AtomicBool,
}

impl Lifecycle {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}
