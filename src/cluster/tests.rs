//! The shared budget against real Redis servers, each test starting its own (`redis-server`
//! from the OS packages, on a free port, no persistence) so one can be stopped and started
//! again. `bash scripts/test.sh` installs it; a bare `cargo test` lists these as ignored.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::budget::{DenyReason, Priority};
use crate::config::{Secret, Settings, UpstreamSettings};
use crate::metrics::Metrics;
use crate::state::Caches;

/// A private `redis-server`, killed when dropped.
struct TestRedis {
    port: u16,
    child: Option<Child>,
}

impl TestRedis {
    async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server: run bash scripts/test.sh, which installs it");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not listen on {}", self.port);
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn upstream(rate: u32, max_wait: Duration) -> UpstreamSettings {
    let mut upstream = Settings::load_from(None, std::iter::empty())
        .unwrap()
        .upstream;
    upstream.rate_limit = rate;
    upstream.burst = 1;
    upstream.spacing_margin = Duration::from_millis(10);
    upstream.max_wait = max_wait;
    upstream
}

/// A replica's view of the budget of `key` on the Redis at `url`.
fn replica(url: &str, key: &str, upstream: &UpstreamSettings) -> (Arc<SharedBudget>, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let link = RedisLink::new(redis_conn::client(url, None).unwrap(), metrics.clone()).unwrap();
    let budget = SharedBudget::new(link, upstream, 0.3, &Secret::new(key), metrics.clone());
    (Arc::new(budget), metrics)
}

fn fresh_key() -> String {
    format!("maton-key-{}", uuid::Uuid::new_v4().simple())
}

/// Books `n` public calls on each replica at once; returns when each one was let go.
async fn grants(replicas: &[Arc<SharedBudget>], n: usize) -> Vec<Instant> {
    let tasks: Vec<_> = replicas
        .iter()
        .flat_map(|r| (0..n).map(move |_| r.clone()))
        .map(|r| {
            tokio::spawn(async move {
                r.book(Priority::Public, Duration::from_secs(10))
                    .await
                    .unwrap();
                Instant::now()
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.push(task.await.unwrap());
    }
    times.sort();
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: run bash scripts/test.sh"]
async fn three_replicas_share_one_spacing_of_calls() {
    let redis = TestRedis::start().await;
    let (key, up) = (fresh_key(), upstream(10, Duration::from_secs(10)));
    let replicas: Vec<_> = (0..3).map(|_| replica(&redis.url(), &key, &up).0).collect();
    let times = grants(&replicas, 8).await;
    assert_eq!(times.len(), 24);
    // 110 ms apart on Redis's clock: never 11 in a rolling second, whoever booked them (a
    // sleep may end late, so a pair of grants may come a little closer than booked).
    for pair in times.windows(11) {
        let span = pair[10] - pair[0];
        assert!(
            span >= Duration::from_millis(1_000),
            "11 calls within {span:?}"
        );
    }
    let whole = times[23] - times[0];
    assert!(whole >= Duration::from_millis(23 * 110 - 50), "{whole:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: run bash scripts/test.sh"]
async fn a_pause_seen_by_one_replica_holds_every_replica() {
    let redis = TestRedis::start().await;
    let (key, up) = (fresh_key(), upstream(10, Duration::from_secs(5)));
    let (a, _) = replica(&redis.url(), &key, &up);
    let (b, _) = replica(&redis.url(), &key, &up);
    a.pause(Duration::from_millis(1_500)).await;
    let left = b.pause_left().await.expect("paused");
    assert!(left > Duration::from_millis(1_200), "{left:?}");

    // Not worth waiting for within one second: refused at once, saying why and for how long.
    let denied = b
        .book(Priority::Public, Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(denied.reason, DenyReason::Paused);
    assert!(
        denied.retry_after > Duration::from_millis(1_000),
        "{denied:?}"
    );
    // Worth waiting for within three: let go only once the pause is over.
    let start = Instant::now();
    assert_eq!(
        b.book(Priority::Public, Duration::from_secs(3)).await,
        Ok(Booked::Shared)
    );
    assert!(
        start.elapsed() >= Duration::from_millis(1_100),
        "{:?}",
        start.elapsed()
    );

    // An operator's clear ends it for everyone; a shorter pause never shortens a longer one.
    a.pause(Duration::from_secs(30)).await;
    a.pause(Duration::from_secs(1)).await;
    assert!(b.pause_left().await.unwrap() > Duration::from_secs(20));
    b.clear_pause().await;
    assert_eq!(a.pause_left().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: run bash scripts/test.sh"]
async fn classes_book_only_as_far_ahead_as_their_priority_allows() {
    let redis = TestRedis::start().await;
    let (key, up) = (fresh_key(), upstream(2, Duration::from_secs(2)));
    let (a, _) = replica(&redis.url(), &key, &up);
    let (b, _) = replica(&redis.url(), &key, &up);
    // 510 ms apart. The first slot is free: background may take it.
    assert!(
        a.book(Priority::Background, Duration::from_secs(2))
            .await
            .is_ok()
    );
    // The next is 510 ms away: not for background, which only takes a free slot.
    let denied = b
        .book(Priority::Background, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(denied.reason, DenyReason::Budget);
    // Admin books up to half of max_wait (1 s) ahead: the slot 510 ms away is within it.
    assert!(
        b.book(Priority::Admin, Duration::from_secs(2))
            .await
            .is_ok()
    );
    // Public books up to max_wait (2 s) ahead: two more, 510 and 1,020 ms out.
    let publics: Vec<_> = (0..2)
        .map(|_| {
            let a = a.clone();
            tokio::spawn(async move { a.book(Priority::Public, Duration::from_secs(2)).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The next free slot is now ~1.4 s out: past admin's horizon.
    let denied = b
        .book(Priority::Admin, Duration::from_secs(2))
        .await
        .unwrap_err();
    assert_eq!(denied.reason, DenyReason::Budget);
    assert!(denied.retry_after > Duration::from_secs(1), "{denied:?}");
    for public in publics {
        assert_eq!(public.await.unwrap(), Ok(Booked::Shared));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: run bash scripts/test.sh"]
async fn with_redis_down_a_replica_keeps_to_its_share_and_shares_again_when_it_is_back() {
    let mut redis = TestRedis::start().await;
    let (key, up) = (fresh_key(), upstream(10, Duration::from_secs(5)));
    let (a, metrics) = replica(&redis.url(), &key, &up);
    assert_eq!(
        a.book(Priority::Public, Duration::from_secs(5)).await,
        Ok(Booked::Shared)
    );
    assert_eq!(metrics.redis_up.get(), 1);

    redis.stop();
    // 0.3 of 10/s: 3 calls a second, 343 ms apart, on this replica alone.
    let start = Instant::now();
    for _ in 0..4 {
        assert_eq!(
            a.book(Priority::Public, Duration::from_secs(5)).await,
            Ok(Booked::Fallback)
        );
    }
    assert!(
        start.elapsed() >= Duration::from_millis(3 * 343 - 20),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(metrics.redis_up.get(), 0);
    assert_eq!(metrics.redis_fallback_bookings.get(), 4);
    assert!(!a.is_shared());

    redis.restart().await;
    // Tried again a second after it was last found down; shared from then on.
    tokio::time::sleep(super::redis_conn::RETRY_AFTER).await;
    let mut shared = false;
    for _ in 0..20 {
        if a.book(Priority::Public, Duration::from_secs(5)).await == Ok(Booked::Shared) {
            shared = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(shared, "shared mode came back without a restart");
    assert_eq!(metrics.redis_up.get(), 1);
}

/// A replica's caches and its end of the invalidation stream, running until `stop`.
fn stream_replica(
    url: &str,
    stop: &tokio_util::sync::CancellationToken,
) -> (Caches, Invalidations) {
    let settings = Settings::load_from(None, std::iter::empty()).unwrap();
    let metrics = Arc::new(Metrics::new());
    let caches = Caches::new(
        &settings,
        crate::cache::Keyer::random(),
        &crate::clock::Clock::system(),
        &metrics,
    );
    let link = RedisLink::new(redis_conn::client(url, None).unwrap(), metrics).unwrap();
    let reader = redis_conn::client(url, None).unwrap();
    let (invalidations, streams) = Invalidations::new(link, reader, "test", None).unwrap();
    tokio::spawn(streams.run(caches.clone(), stop.clone()));
    (caches, invalidations)
}

fn fill(caches: &Caches, key: u128) {
    let answer = crate::cache::Answer {
        status: http::StatusCode::OK,
        content_type: None,
        body: bytes::Bytes::from_static(b"{}"),
    };
    let cache = caches.verify.cache();
    cache.store(key, &answer, Duration::from_secs(300), cache.asked());
}

fn looked_up(caches: &Caches, key: u128) -> &'static str {
    match caches.verify.cache().lookup(key) {
        crate::cache::Lookup::Fresh(..) => "fresh",
        crate::cache::Lookup::Stale(..) => "stale",
        crate::cache::Lookup::Miss => "miss",
    }
}

/// Polls until `key` looks up as `want` in `caches`, for at most `within`.
async fn until(caches: &Caches, key: u128, want: &str, within: Duration) {
    let start = Instant::now();
    while looked_up(caches, key) != want {
        assert!(
            start.elapsed() < within,
            "key {key} never {want}: {}",
            looked_up(caches, key)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs redis-server: run bash scripts/test.sh"]
async fn invalidations_reach_the_others_and_a_gap_makes_everything_stale() {
    let mut redis = TestRedis::start().await;
    let stop = tokio_util::sync::CancellationToken::new();
    let (a, from_a) = stream_replica(&redis.url(), &stop);
    let (b, _) = stream_replica(&redis.url(), &stop);
    tokio::time::sleep(Duration::from_millis(300)).await; // both readers are reading
    fill(&a, 1);
    fill(&b, 1);
    fill(&b, 2);
    from_a.publish(Invalidation::Verify(1));
    until(&b, 1, "miss", Duration::from_secs(2)).await;
    assert_eq!(
        looked_up(&a, 1),
        "fresh",
        "the publisher applies its own itself"
    );
    assert_eq!(looked_up(&b, 2), "fresh", "only what was named");

    // Redis goes away: what the others invalidate meanwhile cannot arrive, so B takes
    // everything it holds as stale (served only while upstream fails).
    redis.stop();
    until(&b, 2, "stale", Duration::from_secs(10)).await;
    redis.restart().await;
    // Back: B reads again (marking stale once more what it holds, since others' appends
    // failed too), and A's publisher appends what it queues.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    fill(&b, 3);
    assert_eq!(looked_up(&b, 3), "fresh");
    from_a.publish(Invalidation::Verify(3));
    until(&b, 3, "miss", Duration::from_secs(10)).await;
    stop.cancel();
}
