//! Tests of the budget as a whole, on a paused tokio clock: no real sleeps anywhere.

mod breaker;
mod concurrency;
mod pause;
mod priority;
mod spacing;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{Budget, BudgetSettings, Permit, Priority};
use crate::metrics::Metrics;

/// The default emission interval: 1s / 10 + 10ms.
const T: Duration = Duration::from_millis(110);

/// Long enough never to be the reason for a refusal.
const PATIENT: Duration = Duration::from_secs(600);

fn settings() -> BudgetSettings {
    BudgetSettings {
        rate_limit: 10,
        burst: 1,
        spacing_margin: Duration::from_millis(10),
        breaker_failures: 3,
        breaker_cooldown: Duration::from_secs(5),
        backoff_max: Duration::from_secs(8),
        max_pause: Duration::from_secs(60),
    }
}

fn budget_with(settings: BudgetSettings) -> (Budget, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    (Budget::new(settings, metrics.clone()), metrics)
}

fn budget() -> (Budget, Arc<Metrics>) {
    budget_with(settings())
}

/// Acquires with a long wait; panics if refused.
async fn take(budget: &Budget, priority: Priority) -> Permit {
    budget.acquire(priority, PATIENT).await.expect("granted")
}

fn denials(metrics: &Metrics, priority: &str, reason: &str) -> u64 {
    metrics
        .budget_denials
        .with_label_values(&[priority, reason])
        .get()
}

#[test]
fn the_allowed_rate_is_exported() {
    let (_budget, metrics) = budget();
    assert_eq!(metrics.upstream_budget_rate.get(), 10);
}

/// Time since `t0`, for readable assertions.
fn since(t0: Instant) -> Duration {
    Instant::now() - t0
}
