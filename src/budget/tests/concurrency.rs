//! Many callers at once: every grant in arrival order within its wait, the rest refused,
//! and never two grants closer than T.

use std::time::Duration;

use super::*;
use crate::budget::{DenyReason, Outcome};

#[tokio::test(start_paused = true)]
async fn two_hundred_tasks_at_once() {
    let (budget, metrics) = budget();
    let t0 = Instant::now();
    let max_wait = Duration::from_secs(3);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let budget = budget.clone();
            tokio::spawn(async move {
                let result = budget.acquire(Priority::Public, max_wait).await;
                let at = Instant::now();
                if let Ok(permit) = &result {
                    assert!(!permit.is_probe());
                }
                result
                    .map(|permit| budget.complete(permit, Outcome::Success))
                    .map(|()| (i, at))
                    .map_err(|denied| (denied, at))
            })
        })
        .collect();
    let mut granted = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(grant) => granted.push(grant),
            Err((denied, at)) => {
                assert_eq!(denied.reason, DenyReason::Budget);
                assert!(denied.retry_after > max_wait, "{denied:?}");
                // Hopeless calls are told at once rather than after waiting in vain.
                assert_eq!(at, t0);
            }
        }
    }
    // Slots at 0, T, 2T ... up to 3s: 28 of them.
    assert_eq!(granted.len(), 28);
    for (n, (i, at)) in granted.iter().enumerate() {
        assert_eq!(*i, n, "granted in arrival order");
        assert!(*at - t0 <= max_wait);
    }
    for pair in granted.windows(2) {
        assert!(pair[1].1 - pair[0].1 >= T);
    }
    assert_eq!(denials(&metrics, "public", "budget"), 172);
}
