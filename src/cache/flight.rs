//! Single-flight for cache fills: concurrent identical misses share one upstream call.
//!
//! Kept rather than moka's loader, because moka's cannot give "the fill survives its first
//! caller". `get_with` / `try_get_with` run the init future inside the calling future: when
//! that caller disconnects or times out, the init is dropped, its waiters see
//! `WaiterValue::EnclosingFutureAborted` and "retry from the beginning"
//! (moka 0.12.16, `src/future/value_initializer.rs`), so the next waiter makes a second
//! upstream call. Under Maton's 10 requests/s that is budget we cannot spend twice. Here the
//! fill runs in its own task, completes whoever is still waiting, and every waiter (and any
//! late-comer) shares its one result. Also, moka's loader always inserts what it loaded,
//! while a fill here decides whether to store at all (not a 5xx, not after an invalidation:
//! `AnswerCache::store`). The test below aborts the starter and counts one call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};

/// Fills in progress, by cache key.
pub struct Flights<T: Clone> {
    inflight: Mutex<HashMap<u128, Shared<BoxFuture<'static, T>>>>,
}

impl<T: Clone + Send + Sync + 'static> Flights<T> {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            inflight: Mutex::new(HashMap::new()),
        })
    }

    /// Joins the fill for `key`, starting `fetch` in its own task when none runs. Returns the
    /// fill's result and whether this caller joined a fill someone else started. `on_panic` is
    /// the result every waiter gets should the fill task panic.
    pub async fn join<F>(self: &Arc<Self>, key: u128, fetch: F, on_panic: T) -> (T, bool)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let (fill, collapsed) = {
            let mut inflight = self.lock();
            match inflight.get(&key) {
                Some(fill) => (fill.clone(), true),
                None => {
                    let this = Arc::clone(self);
                    // Spawned while the map is locked: the task's own removal below waits for
                    // the insert, so a fill that ends at once can never leave a stale entry.
                    let task = tokio::spawn(async move {
                        let out = fetch.await;
                        this.lock().remove(&key);
                        out
                    });
                    let fill = async move { task.await.unwrap_or(on_panic) }
                        .boxed()
                        .shared();
                    inflight.insert(key, fill.clone());
                    (fill, false)
                }
            }
        };
        (fill.await, collapsed)
    }

    /// Fills running right now.
    pub fn in_flight(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u128, Shared<BoxFuture<'static, T>>>> {
        // Poisoning would only mean a panic between two plain map operations.
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    // Paused time: the sleeps below advance a virtual clock, they never wait.
    #[tokio::test(start_paused = true)]
    async fn concurrent_joins_share_one_fill_even_if_the_starter_leaves() {
        let flights = Flights::<u32>::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let fetch = |calls: Arc<AtomicUsize>| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            7
        };
        // The starter gives up almost at once.
        let starter = {
            let (f, c) = (flights.clone(), calls.clone());
            tokio::spawn(async move { f.join(1, fetch(c), 0).await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        starter.abort();
        let waiters: Vec<_> = (0..50)
            .map(|_| {
                let (f, c) = (flights.clone(), calls.clone());
                tokio::spawn(async move { f.join(1, fetch(c), 0).await })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.await.unwrap(), (7, true));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0);
        // A later miss starts a new fill.
        assert_eq!(flights.join(1, fetch(calls.clone()), 0).await, (7, false));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
