//! The circuit breaker: opening, refusing, one probe, closing and reopening.

use super::*;
use crate::budget::{CircuitState, DenyReason, Outcome};

const COOLDOWN: Duration = Duration::from_secs(5);

/// Three calls that fail: the default test threshold.
async fn open(budget: &Budget) {
    for _ in 0..3 {
        budget.complete(take(budget, Priority::Public).await, Outcome::Failure);
    }
}

async fn refused(budget: &Budget) -> Duration {
    let denied = budget.acquire(Priority::Public, PATIENT).await.unwrap_err();
    assert_eq!(denied.reason, DenyReason::CircuitOpen);
    denied.retry_after
}

#[tokio::test(start_paused = true)]
async fn opens_after_n_failures_and_denies_at_once() {
    let (budget, metrics) = budget();
    open(&budget).await;
    assert_eq!(budget.circuit(), CircuitState::Open);
    assert_eq!(metrics.circuit_state.get(), 2);
    let t = Instant::now();
    assert_eq!(refused(&budget).await, COOLDOWN);
    assert_eq!(since(t), Duration::ZERO);
    assert_eq!(denials(&metrics, "public", "circuit_open"), 1);
}

#[tokio::test(start_paused = true)]
async fn success_resets_the_count_and_throttled_neither_counts_nor_resets() {
    let (budget, _) = budget();
    let ends = [
        Outcome::Failure,
        Outcome::Failure,
        Outcome::Success,
        Outcome::Failure,
        Outcome::Failure,
        Outcome::Throttled { retry_after: None },
    ];
    for outcome in ends {
        budget.complete(take(&budget, Priority::Public).await, outcome);
    }
    assert_eq!(budget.circuit(), CircuitState::Closed);
    budget.complete(take(&budget, Priority::Public).await, Outcome::Failure);
    assert_eq!(budget.circuit(), CircuitState::Open);
}

#[tokio::test(start_paused = true)]
async fn half_opens_after_cooldown_with_exactly_one_probe_and_closes_on_success() {
    let (budget, metrics) = budget();
    open(&budget).await;
    tokio::time::advance(COOLDOWN).await;
    assert_eq!(budget.circuit(), CircuitState::HalfOpen);
    assert_eq!(metrics.circuit_state.get(), 1);
    let probe = take(&budget, Priority::Background).await;
    assert!(probe.is_probe());
    refused(&budget).await;
    budget.complete(probe, Outcome::Success);
    assert_eq!(budget.circuit(), CircuitState::Closed);
    assert_eq!(metrics.circuit_state.get(), 0);
    assert!(!take(&budget, Priority::Public).await.is_probe());
}

#[tokio::test(start_paused = true)]
async fn a_failed_probe_reopens_for_another_cooldown() {
    let (budget, metrics) = budget();
    open(&budget).await;
    tokio::time::advance(COOLDOWN).await;
    let probe = take(&budget, Priority::Public).await;
    budget.complete(probe, Outcome::Failure);
    assert_eq!(budget.circuit(), CircuitState::Open);
    assert_eq!(metrics.circuit_state.get(), 2);
    assert_eq!(refused(&budget).await, COOLDOWN);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_probe_frees_the_probe_slot() {
    let (budget, _) = budget();
    open(&budget).await;
    tokio::time::advance(COOLDOWN).await;
    drop(take(&budget, Priority::Public).await);
    assert_eq!(budget.circuit(), CircuitState::HalfOpen);
    assert!(take(&budget, Priority::Public).await.is_probe());
}

#[tokio::test(start_paused = true)]
async fn waiters_queued_behind_the_probe_are_refused_when_it_goes() {
    let (budget, _) = budget();
    let early = take(&budget, Priority::Public).await;
    open(&budget).await;
    tokio::time::advance(COOLDOWN).await;
    // A late 429 pauses everything, so both callers below queue rather than go at once.
    let pause = Duration::from_secs(1);
    let t = Instant::now();
    budget.complete(
        early,
        Outcome::Throttled {
            retry_after: Some(pause),
        },
    );
    let first = tokio::spawn({
        let b = budget.clone();
        async move { take(&b, Priority::Public).await }
    });
    let second = tokio::spawn({
        let b = budget.clone();
        async move { b.acquire(Priority::Admin, PATIENT).await }
    });
    let denied = second.await.unwrap().unwrap_err();
    assert_eq!(denied.reason, DenyReason::CircuitOpen);
    assert_eq!(since(t), pause);
    assert!(first.await.unwrap().is_probe());
}

#[tokio::test(start_paused = true)]
async fn outcomes_of_calls_granted_before_opening_do_not_close_it() {
    let (budget, _) = budget();
    let early = take(&budget, Priority::Public).await;
    open(&budget).await;
    tokio::time::advance(COOLDOWN).await;
    budget.complete(early, Outcome::Success);
    assert_eq!(budget.circuit(), CircuitState::HalfOpen);
}

#[tokio::test(start_paused = true)]
async fn resume_closes_an_open_circuit_at_once() {
    let (budget, metrics) = budget();
    open(&budget).await;
    let resumed = budget.resume();
    assert_eq!(resumed.circuit, CircuitState::Open);
    assert_eq!(resumed.pause_left, None);
    assert_eq!(budget.circuit(), CircuitState::Closed);
    assert_eq!(metrics.circuit_state.get(), 0);
    let permit = take(&budget, Priority::Public).await;
    assert!(!permit.is_probe());
    // The failure count starts over: one more failure does not reopen it.
    budget.complete(permit, Outcome::Failure);
    assert_eq!(budget.circuit(), CircuitState::Closed);
}
