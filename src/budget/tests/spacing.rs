//! Even spacing, burst, the fast path and `max_wait`.

use futures_util::FutureExt;

use super::*;
use crate::budget::{DenyReason, Outcome};

#[tokio::test(start_paused = true)]
async fn fifty_back_to_back_calls_are_spaced_and_never_exceed_the_rate() {
    let (budget, _) = budget();
    let mut grants = Vec::new();
    for _ in 0..50 {
        let permit = take(&budget, Priority::Public).await;
        grants.push(Instant::now());
        budget.complete(permit, Outcome::Success);
    }
    for pair in grants.windows(2) {
        assert!(pair[1] - pair[0] >= T, "{:?}", pair[1] - pair[0]);
    }
    for (i, start) in grants.iter().enumerate() {
        let in_window = grants[i..]
            .iter()
            .take_while(|g| **g - *start < Duration::from_secs(1))
            .count();
        assert!(in_window <= 10, "{in_window} calls in one second");
    }
}

#[tokio::test(start_paused = true)]
async fn burst_three_allows_three_at_once_after_idle() {
    let (budget, _) = budget_with(BudgetSettings {
        burst: 3,
        ..settings()
    });
    let t0 = Instant::now();
    for _ in 0..3 {
        drop(take(&budget, Priority::Public).await);
    }
    assert_eq!(since(t0), Duration::ZERO);
    drop(take(&budget, Priority::Public).await);
    assert_eq!(since(t0), T);
}

#[tokio::test(start_paused = true)]
async fn an_uncontended_acquire_is_immediate() {
    let (budget, metrics) = budget();
    let first = budget.acquire(Priority::Background, Duration::ZERO);
    let permit = first
        .now_or_never()
        .expect("no suspension")
        .expect("granted");
    assert!(!permit.is_probe());
    let waits = metrics.budget_wait.with_label_values(&["background"]);
    assert_eq!(waits.get_sample_count(), 1);
    assert_eq!(waits.get_sample_sum(), 0.0);
}

#[tokio::test(start_paused = true)]
async fn a_hopeless_call_is_denied_at_once() {
    let (budget, metrics) = budget();
    let t0 = Instant::now();
    let _held = take(&budget, Priority::Public).await;
    let denied = budget
        .acquire(Priority::Public, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(since(t0), Duration::ZERO);
    assert_eq!(denied.reason, DenyReason::Budget);
    assert_eq!(denied.retry_after, T);
    assert_eq!(denials(&metrics, "public", "budget"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_overtaken_past_its_deadline_is_denied_in_time() {
    let (budget, metrics) = budget();
    let t0 = Instant::now();
    let _held = take(&budget, Priority::Public).await;
    let b = budget.clone();
    // Slot T is within 150ms when it queues; a public call then takes that slot.
    let background = tokio::spawn(async move {
        b.acquire(Priority::Background, Duration::from_millis(150))
            .await
    });
    tokio::task::yield_now().await;
    let public = take(&budget, Priority::Public).await;
    assert_eq!(since(t0), T);
    let denied = background.await.unwrap().unwrap_err();
    assert!(since(t0) <= Duration::from_millis(150), "{:?}", since(t0));
    assert_eq!(denied.reason, DenyReason::Budget);
    assert_eq!(Instant::now() + denied.retry_after, t0 + 2 * T);
    assert_eq!(denials(&metrics, "background", "budget"), 1);
    drop(public);
}

#[test]
fn new_needs_no_runtime() {
    let (budget, _) = budget();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async { drop(take(&budget, Priority::Admin).await) });
}
