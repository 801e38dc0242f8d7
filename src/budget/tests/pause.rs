//! The 429 pause: `Retry-After` obeyed exactly up to `max_pause`, backoff growing and capped,
//! metrics.

use std::time::SystemTime;

use super::*;
use crate::budget::{DenyReason, Outcome, parse_retry_after};

fn throttled(secs: Option<u64>) -> Outcome {
    Outcome::Throttled {
        retry_after: secs.map(Duration::from_secs),
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_blocks_grants_for_exactly_that_long() {
    let (budget, metrics) = budget();
    let t0 = Instant::now();
    budget.complete(take(&budget, Priority::Public).await, throttled(Some(2)));
    assert_eq!(budget.paused_for(), Some(Duration::from_secs(2)));
    drop(take(&budget, Priority::Background).await);
    assert_eq!(since(t0), Duration::from_secs(2));
    assert_eq!(budget.paused_for(), None);
    assert_eq!(metrics.upstream_throttled.get(), 1);
    assert_eq!(metrics.upstream_blocked_seconds.get(), 2.0);
    let waited = metrics.budget_wait.with_label_values(&["background"]);
    assert_eq!(waited.get_sample_sum(), 2.0);
}

#[tokio::test(start_paused = true)]
async fn a_pause_longer_than_max_wait_is_denied_at_once() {
    let (budget, metrics) = budget();
    let t0 = Instant::now();
    budget.complete(take(&budget, Priority::Public).await, throttled(Some(3)));
    let denied = budget
        .acquire(Priority::Admin, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(since(t0), Duration::ZERO);
    assert_eq!(denied.reason, DenyReason::Paused);
    assert_eq!(denied.retry_after, Duration::from_secs(3));
    assert_eq!(denials(&metrics, "admin", "paused"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_pause_denies_queued_waiters_it_dooms() {
    let (budget, _) = budget();
    let held = take(&budget, Priority::Public).await;
    let b = budget.clone();
    let waiter =
        tokio::spawn(async move { b.acquire(Priority::Admin, Duration::from_secs(1)).await });
    tokio::task::yield_now().await;
    budget.complete(held, throttled(Some(30)));
    let denied = waiter.await.unwrap().unwrap_err();
    assert_eq!(denied.reason, DenyReason::Paused);
    assert_eq!(denied.retry_after, Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn only_the_extension_of_a_pause_is_counted() {
    let (budget, metrics) = budget();
    // Permits are all taken before any pause, so that the 429s land at one instant.
    let permits = [
        take(&budget, Priority::Public).await,
        take(&budget, Priority::Public).await,
        take(&budget, Priority::Public).await,
    ];
    let t = Instant::now();
    for (permit, secs) in permits.into_iter().zip([2, 1, 3]) {
        budget.complete(permit, throttled(Some(secs)));
    }
    assert_eq!(metrics.upstream_throttled.get(), 3);
    assert_eq!(metrics.upstream_blocked_seconds.get(), 3.0);
    assert_eq!(
        budget.paused_for(),
        Some(t + Duration::from_secs(3) - Instant::now())
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_without_retry_after_grows_caps_and_resets() {
    let (budget, _) = budget();
    let mut pauses = Vec::new();
    for _ in 0..6 {
        budget.complete(take(&budget, Priority::Public).await, throttled(None));
        let pause = budget.paused_for().expect("paused");
        pauses.push(pause.as_secs_f64());
        tokio::time::advance(pause).await;
    }
    // Nominal 1, 2, 4, 8, 8, 8 seconds (cap 8) with ±20% jitter, never past the cap.
    for (pause, nominal) in pauses.iter().zip([1.0, 2.0, 4.0, 8.0, 8.0, 8.0]) {
        assert!(*pause >= nominal * 0.8 - 1e-9, "{pauses:?}");
        assert!(*pause <= f64::min(nominal * 1.2, 8.0) + 1e-9, "{pauses:?}");
    }
    budget.complete(take(&budget, Priority::Public).await, Outcome::Success);
    budget.complete(take(&budget, Priority::Public).await, throttled(None));
    let reset = budget.paused_for().unwrap().as_secs_f64();
    assert!((0.8..=1.2).contains(&reset), "{reset}");
}

#[tokio::test(start_paused = true)]
async fn an_absurd_retry_after_pauses_without_panicking() {
    // Uncapped (an operator may set a huge upstream.max_pause): the overflow guard still holds.
    let (budget, _) = budget_with(BudgetSettings {
        max_pause: Duration::MAX,
        ..settings()
    });
    let forever = Some(Duration::MAX);
    budget.complete(
        take(&budget, Priority::Public).await,
        Outcome::Throttled {
            retry_after: forever,
        },
    );
    assert!(budget.paused_for().unwrap() > Duration::from_secs(365 * 24 * 3600));
    let denied = budget.acquire(Priority::Public, PATIENT).await.unwrap_err();
    assert_eq!(denied.reason, DenyReason::Paused);
}

#[tokio::test(start_paused = true)]
async fn no_retry_after_pauses_longer_than_max_pause() {
    let (budget, metrics) = budget(); // max_pause: 60 s
    let now = SystemTime::now();
    let in_ten_years = httpdate::fmt_http_date(now + Duration::from_secs(10 * 365 * 24 * 3600));
    // Both forms of the header: delta-seconds (31.7 years) and an HTTP-date.
    for value in ["999999999", in_ten_years.as_str()] {
        let retry_after = parse_retry_after(value, now);
        assert!(retry_after > Some(Duration::from_secs(60)), "{value}");
        let permit = take(&budget, Priority::Public).await;
        let t0 = Instant::now();
        budget.complete(permit, Outcome::Throttled { retry_after });
        assert_eq!(
            budget.paused_for(),
            Some(Duration::from_secs(60)),
            "{value}"
        );
        drop(take(&budget, Priority::Background).await);
        assert_eq!(since(t0), Duration::from_secs(60), "{value}");
    }
    assert_eq!(metrics.upstream_throttled.get(), 2);
    assert_eq!(metrics.upstream_blocked_seconds.get(), 120.0);
    // A Retry-After within the cap is obeyed exactly, as before.
    budget.complete(take(&budget, Priority::Public).await, throttled(Some(59)));
    assert_eq!(budget.paused_for(), Some(Duration::from_secs(59)));
}

#[tokio::test(start_paused = true)]
async fn the_backoff_never_outlasts_max_pause_either() {
    let (budget, _) = budget_with(BudgetSettings {
        max_pause: Duration::from_secs(3),
        ..settings() // backoff_max: 8 s
    });
    for _ in 0..6 {
        budget.complete(take(&budget, Priority::Public).await, throttled(None));
        let pause = budget.paused_for().expect("paused");
        assert!(pause <= Duration::from_secs(3), "{pause:?}");
        tokio::time::advance(pause).await;
    }
}

#[tokio::test(start_paused = true)]
async fn resume_ends_the_pause_and_wakes_waiters_at_once() {
    let (budget, _) = budget();
    budget.complete(take(&budget, Priority::Public).await, throttled(Some(30)));
    let b = budget.clone();
    let waiter = tokio::spawn(async move { b.acquire(Priority::Admin, PATIENT).await });
    tokio::task::yield_now().await;
    let t0 = Instant::now();
    let resumed = budget.resume();
    assert_eq!(resumed.pause_left, Some(Duration::from_secs(30)));
    assert_eq!(resumed.circuit, crate::budget::CircuitState::Closed);
    assert_eq!(budget.paused_for(), None);
    waiter.await.unwrap().expect("granted");
    // Still spaced by the rate limit, but not by the pause.
    assert!(since(t0) <= T, "{:?}", since(t0));
    // Nothing left to clear.
    assert_eq!(budget.resume().pause_left, None);
}
