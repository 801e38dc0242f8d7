//! Who goes first, and what a dropped waiter costs.

use std::sync::Mutex;

use super::*;

/// Spawns an acquire that records its priority and grant instant into `log` when granted.
fn queue(
    budget: &Budget,
    priority: Priority,
    log: &Arc<Mutex<Vec<(Priority, Instant)>>>,
) -> tokio::task::JoinHandle<()> {
    let (budget, log) = (budget.clone(), log.clone());
    tokio::spawn(async move {
        let _permit = take(&budget, priority).await;
        log.lock().unwrap().push((priority, Instant::now()));
    })
}

#[tokio::test(start_paused = true)]
async fn public_beats_admin_beats_background() {
    let (budget, _) = budget();
    let t0 = Instant::now();
    let _held = take(&budget, Priority::Public).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks =
        [Priority::Background, Priority::Admin, Priority::Public].map(|p| queue(&budget, p, &log));
    for task in tasks {
        task.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    let expected = [
        (Priority::Public, t0 + T),
        (Priority::Admin, t0 + 2 * T),
        (Priority::Background, t0 + 3 * T),
    ];
    assert_eq!(log, expected);
}

#[tokio::test(start_paused = true)]
async fn background_waits_while_others_wait() {
    let (budget, _) = budget();
    let _held = take(&budget, Priority::Public).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let background = queue(&budget, Priority::Background, &log);
    tokio::task::yield_now().await;
    assert_eq!(budget.queued(Priority::Background), 1);
    let others: Vec<_> = [Priority::Admin, Priority::Public, Priority::Admin]
        .into_iter()
        .map(|p| queue(&budget, p, &log))
        .collect();
    background.await.unwrap();
    for task in others {
        task.await.unwrap();
    }
    assert_eq!(budget.queued(Priority::Background), 0);
    let order: Vec<_> = log.lock().unwrap().iter().map(|(p, _)| *p).collect();
    let expected = [
        Priority::Public,
        Priority::Admin,
        Priority::Admin,
        Priority::Background,
    ];
    assert_eq!(order, expected);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_head_waiter_consumes_no_slot() {
    let (budget, _) = budget();
    let t0 = Instant::now();
    let _held = take(&budget, Priority::Public).await;
    let gone = tokio::time::timeout(T / 2, budget.acquire(Priority::Public, PATIENT)).await;
    assert!(gone.is_err(), "the waiter timed out and was dropped");
    let _next = take(&budget, Priority::Admin).await;
    assert_eq!(since(t0), T);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_in_the_middle_consumes_no_slot() {
    let (budget, _) = budget();
    let t0 = Instant::now();
    let _held = take(&budget, Priority::Public).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let first = queue(&budget, Priority::Public, &log);
    let middle = queue(&budget, Priority::Public, &log);
    let last = queue(&budget, Priority::Admin, &log);
    tokio::task::yield_now().await;
    middle.abort();
    first.await.unwrap();
    last.await.unwrap();
    let times: Vec<_> = log.lock().unwrap().iter().map(|(_, t)| *t - t0).collect();
    assert_eq!(times, [T, 2 * T]);
}
