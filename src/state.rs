//! The state every handler shares: cheap handles, cloned per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::auth::AdminTokens;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::upstream::Upstream;

/// Shared application state.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub upstream: Upstream,
    pub admin: AdminTokens,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Arc<Lifecycle>,
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
