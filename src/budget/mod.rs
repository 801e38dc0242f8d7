//! The upstream budget: one shared GCRA spacing of every call to Maton, with priorities, the
//! 429 pause (capped at `upstream.max_pause`) and a circuit breaker, both of which an operator
//! can clear ([`Budget::resume`]). State is in-process behind a small API so that a Redis
//! backing can later share one budget between replicas without changing callers.

mod breaker;
mod gcra;
mod pause;
mod retry_after;
mod scheduler;
mod types;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::Metrics;
use scheduler::{State, Turn};

pub use retry_after::parse_retry_after;
pub use types::{BudgetSettings, CircuitState, Denied, DenyReason, Outcome, Priority, Resumed};

/// Stand-in for a wait too large to add to an `Instant`.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The shared upstream budget; clones share one state.
#[derive(Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before it can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Budget {
    /// Builds the budget. Needs no runtime: nothing is spawned and no clock is read.
    pub fn new(settings: BudgetSettings, metrics: Arc<Metrics>) -> Self {
        metrics
            .upstream_budget_rate
            .set(i64::from(settings.rate_limit));
        let state = State::new(
            gcra::Gcra::new(settings.rate_limit, settings.burst, settings.spacing_margin),
            pause::Pause::new(
                settings.backoff_max,
                settings.max_pause,
                metrics.upstream_throttled.clone(),
                metrics.upstream_blocked_seconds.clone(),
            ),
            breaker::Breaker::new(
                settings.breaker_failures,
                settings.breaker_cooldown,
                metrics.circuit_state.clone(),
            ),
        );
        let inner = Inner {
            state: Mutex::new(state),
            metrics,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Waits for permission to make one upstream call, at most `max_wait`.
    pub async fn acquire(&self, priority: Priority, max_wait: Duration) -> Result<Permit, Denied> {
        let start = Instant::now();
        let deadline = start
            .checked_add(max_wait)
            .unwrap_or_else(|| start + FOREVER);
        let turn = self.inner.lock().arrive(start, priority, deadline);
        let (id, notify) = match turn {
            Turn::Queued(id, notify) => (id, notify),
            other => return self.settle(other, priority, start),
        };
        // Leaves the queue however this future ends, so a dropped waiter takes no slot.
        let _queued = Queued {
            inner: &self.inner,
            priority,
            id,
        };
        loop {
            let turn = self
                .inner
                .lock()
                .poll(Instant::now(), priority, id, deadline);
            let Turn::Wait(until) = turn else {
                return self.settle(turn, priority, start);
            };
            wait(&notify, until).await;
        }
    }

    /// Reports how the call made under `permit` ended.
    pub fn complete(&self, mut permit: Permit, outcome: Outcome) {
        permit.finished = true;
        let now = Instant::now();
        let mut state = self.inner.lock();
        match outcome {
            Outcome::Success => state.pause.succeeded(),
            Outcome::Throttled { retry_after } => state.pause.throttled(now, retry_after),
            Outcome::Failure => {}
        }
        state.breaker.record(now, permit.probe, outcome);
        if outcome != Outcome::Success {
            // A longer pause or an open circuit may doom waiters: tell them now.
            state.notify_all();
        }
    }

    /// Time left of a 429-ordered pause, if any.
    pub fn paused_for(&self) -> Option<Duration> {
        self.inner.lock().pause.left(Instant::now())
    }

    /// How many acquires of `priority` wait in the queue now (for tests and diagnostics).
    pub fn queued(&self, priority: Priority) -> usize {
        self.inner.lock().queued(priority)
    }

    /// Ends a 429 pause and closes the circuit breaker at once: an operator's call, when they
    /// know upstream is back (or a `Retry-After` was wrong). Queued calls are woken to go now,
    /// still spaced by the rate limit. Returns what was cleared.
    pub fn resume(&self) -> Resumed {
        let now = Instant::now();
        let mut state = self.inner.lock();
        let resumed = Resumed {
            pause_left: state.pause.clear(now),
            circuit: state.breaker.close(now),
        };
        state.notify_all();
        resumed
    }

    /// The circuit breaker's state now.
    pub fn circuit(&self) -> CircuitState {
        self.inner.lock().breaker.state(Instant::now())
    }

    /// Turns a final `Turn` into the caller's answer, counting it in the metrics.
    fn settle(&self, turn: Turn, priority: Priority, start: Instant) -> Result<Permit, Denied> {
        let metrics = &self.inner.metrics;
        match turn {
            Turn::Granted { probe } => {
                let waited = Instant::now() - start;
                metrics
                    .budget_wait
                    .with_label_values(&[priority.label()])
                    .observe(waited.as_secs_f64());
                Ok(Permit {
                    inner: self.inner.clone(),
                    probe,
                    finished: false,
                })
            }
            Turn::Denied(reason, retry_after) => {
                metrics
                    .budget_denials
                    .with_label_values(&[priority.label(), reason.label()])
                    .inc();
                tracing::debug!(
                    priority = priority.label(),
                    reason = reason.label(),
                    ?retry_after,
                    "upstream budget denied"
                );
                Err(Denied {
                    reason,
                    retry_after,
                })
            }
            Turn::Queued(..) | Turn::Wait(_) => unreachable!("settle is only given final turns"),
        }
    }
}

/// Sleeps until `until` or until the scheduler says the turn may have come.
async fn wait(notify: &Notify, until: Instant) {
    tokio::select! {
        _ = notify.notified() => {}
        _ = tokio::time::sleep_until(until) => {}
    }
}

/// Removes a queued acquire from the queue when its future ends, by any route.
struct Queued<'a> {
    inner: &'a Inner,
    priority: Priority,
    id: u64,
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.inner.lock().leave(self.priority, self.id);
    }
}

/// Permission for one upstream call. Hand it back with [`Budget::complete`]; dropping it
/// instead means the call was abandoned, which frees the half-open probe slot if it was one.
pub struct Permit {
    inner: Arc<Inner>,
    probe: bool,
    finished: bool,
}

impl Permit {
    /// Whether this is the single call the half-open circuit lets through.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

impl std::fmt::Debug for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Permit")
            .field("probe", &self.probe)
            .finish()
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // Only a probe's fate matters to the breaker; other abandoned calls cost nothing.
        if self.probe && !self.finished {
            self.inner.lock().breaker.abandon_probe();
        }
    }
}
