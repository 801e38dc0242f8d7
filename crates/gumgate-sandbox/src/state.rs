//! The sandbox's shared state: the Gumroad/Maton store, faults, the request recorder and the
//! rate-limit windows, each behind its own std `Mutex` that is never held across an `.await`.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::time::Instant;

use super::{Faults, RecordedRequest, SandboxConfig, seed_data, store::Store};

/// Cheap handle to everything the sandbox knows.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    config: SandboxConfig,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    refuse: Arc<AtomicBool>,
    recorded: Mutex<Vec<RecordedRequest>>,
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// The seed data plus the configured number of (computed) extra licenses.
fn seeded(config: &SandboxConfig) -> Store {
    Store {
        extra_licenses: config.extra_licenses,
        ..seed_data::store()
    }
}

/// A poisoned lock only means a handler panicked mid-request; the data is still usable for a
/// test double, so recover it rather than cascade the panic into every later request.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AppState {
    /// Fresh state holding the seed data.
    pub fn new(config: SandboxConfig) -> Self {
        let store = Mutex::new(seeded(&config));
        Self(Arc::new(Inner {
            config,
            store,
            faults: Mutex::new(Faults::default()),
            refuse: Arc::new(AtomicBool::new(false)),
            recorded: Mutex::new(Vec::new()),
            windows: Mutex::new(HashMap::new()),
        }))
    }

    /// The configuration the sandbox was started with.
    pub fn config(&self) -> &SandboxConfig {
        &self.0.config
    }

    /// Runs `f` with the store locked; `f` is synchronous so the lock cannot span an await.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(&mut lock(&self.0.store))
    }

    /// Puts the seed data back.
    pub fn reset_store(&self) {
        *lock(&self.0.store) = seeded(&self.0.config);
    }

    /// The flag the listener reads to drop connections.
    pub fn refuse_flag(&self) -> Arc<AtomicBool> {
        self.0.refuse.clone()
    }

    /// Current faults.
    pub fn faults(&self) -> Faults {
        lock(&self.0.faults).clone()
    }

    /// Replaces the faults (and the listener's refuse flag with them).
    pub fn set_faults(&self, faults: Faults) {
        self.0
            .refuse
            .store(faults.refuse_connections, Ordering::SeqCst);
        *lock(&self.0.faults) = faults;
    }

    /// Runs `f` on the faults under the lock (used to consume `fail_next` atomically).
    pub fn with_faults<R>(&self, f: impl FnOnce(&mut Faults) -> R) -> R {
        f(&mut lock(&self.0.faults))
    }

    /// Appends a recorded request.
    pub fn record(&self, request: RecordedRequest) {
        lock(&self.0.recorded).push(request);
    }

    /// A copy of every recorded request.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.0.recorded).clone()
    }

    /// How many requests were recorded.
    pub fn request_count(&self) -> usize {
        lock(&self.0.recorded).len()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.0.recorded).clear();
    }

    /// Takes one slot in `key`'s rolling one-second window; false when the window is full.
    /// Refused requests take no slot, like a token bucket that does not punish retries.
    pub fn take_rate_slot(&self, key: &str) -> bool {
        let limit = self.0.config.rate_limit as usize;
        if limit == 0 {
            return true;
        }
        let now = Instant::now();
        let mut windows = lock(&self.0.windows);
        let window = windows.entry(key.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if window.len() >= limit {
            return false;
        }
        window.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No sockets here, so a paused clock is safe: it moves only when the test advances it.
    #[tokio::test(start_paused = true)]
    async fn the_rate_window_rolls_after_one_second() {
        let state = AppState::new(SandboxConfig {
            rate_limit: 2,
            ..SandboxConfig::default()
        });
        assert!(state.take_rate_slot("k") && state.take_rate_slot("k"));
        assert!(!state.take_rate_slot("k"), "third in the same second");
        assert!(state.take_rate_slot("other"), "limits are per key");
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(!state.take_rate_slot("k"));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(state.take_rate_slot("k"));
    }
}
