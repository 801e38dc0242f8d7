//! The upstream budget end to end: Maton's limit is never exceeded under a flood, a 429 stops
//! all upstream traffic for its Retry-After, and the breaker stops hammering a failing upstream.

use std::time::{Duration, Instant};

use gumgate_sandbox::{SandboxConfig, seed};
use reqwest::Method;

use crate::helpers::*;

#[tokio::test]
async fn a_flood_of_distinct_verifies_never_draws_a_429_from_maton() {
    // The sandbox enforces Maton's real limit: 10 requests per rolling second. These keys are
    // all first-time ones; with no share reserved for known licenses, all of the budget is
    // theirs to flood (the reserve has its own test, `first_time_keys_cannot_starve_known_ones`).
    let app = spawn_app_on(SandboxConfig::default(), |s| s.upstream.known_share = 0.0).await;
    let started = Instant::now();
    let calls = (0..500).map(|i| {
        let (client, url) = (
            app.client.clone(),
            format!("{}/v2/licenses/verify", app.api),
        );
        let key = format!("{i:08X}-00000000-00000000-00000000");
        tokio::spawn(async move {
            let form = [
                ("product_id", seed::PRODUCT_ONE_TIME),
                ("license_key", key.as_str()),
                ("increment_uses_count", "false"),
            ];
            client.post(url).form(&form).send().await.unwrap()
        })
    });
    let mut answered = 0;
    for call in futures_util::future::join_all(calls).await {
        let res = call.unwrap();
        match res.status().as_u16() {
            404 => answered += 1,
            503 => assert!(res.headers().contains_key("retry-after")),
            other => panic!("unexpected {other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let seen = app.sandbox.requests();
    assert!(seen.iter().all(|r| r.status != 429), "Maton said 429");
    assert_eq!(seen.len(), answered);
    // Evenly spaced at 1/10 s (+ margin): never more than the budget allows in the time taken.
    assert!(
        seen.len() as f64 <= elapsed * 10.0 + 1.0,
        "{} calls in {elapsed:.2}s",
        seen.len()
    );
    assert!(answered >= 5, "the budget was used: {answered}");
    let m = app.metrics().await;
    assert!(
        sample(
            &m,
            r#"gumgate_budget_denials_total{priority="public",reason="budget"}"#
        ) > 0.0
    );
}

#[tokio::test]
async fn a_429_with_retry_after_stops_upstream_traffic_for_that_long() {
    let app = spawn_app().await;
    // Warm one license so a stale answer exists for it.
    let warm = [
        ("product_id", seed::PRODUCT_ONE_TIME),
        ("license_key", seed::LICENSE_MULTISEAT),
        ("increment_uses_count", "false"),
    ];
    assert_eq!(app.verify(&warm).await.status(), 200);
    app.clock.advance(std::time::Duration::from_secs(600));
    app.fail_next(1, 429, Some("2"));
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    assert_eq!(res.status(), 429);
    let before = app.sandbox.request_count();

    // For the next 2 s nothing goes upstream: an app gets 503 + Retry-After, or the stale
    // answer where one exists; an admin gets 429.
    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "2");
    let res = app.verify(&warm).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["cache-status"]
            .to_str()
            .unwrap()
            .contains("stale-if-error")
    );
    let res = app.admin(Method::GET, "/v2/products").send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(app.sandbox.request_count(), before);
    let m = app.metrics().await;
    assert_eq!(sample(&m, "gumgate_upstream_throttled_total"), 1.0);
    assert!(sample(&m, "gumgate_upstream_blocked_seconds_total") >= 1.9);
}

#[tokio::test]
async fn the_breaker_stops_calls_to_a_failing_upstream() {
    let app = spawn_app().await;
    app.fail_next(1_000, 502, None);
    // Each GET is retried twice on 502, so two calls make six failures: the breaker opens.
    for _ in 0..2 {
        let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
        assert_eq!(res.status(), 502);
    }
    let reached = app.sandbox.request_count();
    assert!((5..=6).contains(&reached), "{reached}");
    for _ in 0..3 {
        let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
        assert_eq!(res.status(), 503);
        assert!(res.headers().contains_key("retry-after"));
    }
    assert_eq!(
        app.sandbox.request_count(),
        reached,
        "an open circuit sends nothing"
    );
    let m = app.metrics().await;
    assert_eq!(sample(&m, "gumgate_circuit_state"), 2.0);
    let ready: serde_json::Value = reqwest::get(format!("{}/readyz", app.ops))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready["status"], "ready",
        "an upstream outage never fails readiness"
    );
}

#[tokio::test]
async fn writes_are_never_retried_but_reads_are() {
    let app = spawn_app().await;
    app.fail_next(1, 503, None);
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    assert_eq!(res.status(), 200, "the retry succeeded");
    assert_eq!(app.sandbox.request_count(), 2);
    app.fail_next(1, 503, None);
    let res = app
        .admin(
            Method::PUT,
            &format!("/v2/products/{}", seed::PRODUCT_ONE_TIME),
        )
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert_eq!(app.sandbox.request_count(), 3);
    // Nor is an incrementing verify.
    app.fail_next(1, 503, None);
    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 503);
    assert_eq!(app.sandbox.request_count(), 4);
}

#[tokio::test]
async fn a_retry_after_of_years_pauses_upstream_traffic_at_most_max_pause() {
    let cap = Duration::from_secs(2);
    // Delta-seconds (31.7 years) and an HTTP-date far ahead: both capped.
    for retry_after in ["999999999", "Fri, 31 Dec 9999 23:59:59 GMT"] {
        let app = spawn_app_with(|s| s.upstream.max_pause = cap).await;
        app.fail_next(1, 429, Some(retry_after));
        let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
        assert_eq!(res.status(), 429, "{retry_after}");
        let paused = app.state.upstream.budget().paused_for().expect("paused");
        assert!(paused <= cap, "{retry_after}: {paused:?}");
        let ready: serde_json::Value = reqwest::get(format!("{}/readyz", app.ops))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let reported = ready["budget"]["paused_seconds"].as_f64().unwrap();
        assert!(
            reported > 0.0 && reported <= cap.as_secs_f64(),
            "{retry_after}: {ready}"
        );
        // What callers are told to wait is the capped pause, not upstream's years.
        let res = app.admin(Method::GET, "/v2/products").send().await.unwrap();
        assert_eq!(res.status(), 429);
        assert_eq!(res.headers()["retry-after"], "2", "{retry_after}");
        let m = app.metrics().await;
        assert!(sample(&m, "gumgate_upstream_blocked_seconds_total") <= cap.as_secs_f64());
    }
}

#[tokio::test]
async fn an_admin_can_end_a_pause_and_close_the_breaker_at_once() {
    let app = spawn_app().await;
    app.fail_next(1, 429, Some("120"));
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    assert_eq!(res.status(), 429);
    let budget = app.state.upstream.budget();
    assert!(budget.paused_for().is_some());

    // Without the admin token nothing is cleared.
    let res = app
        .client
        .delete(format!("{}/admin/upstream/pause", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(budget.paused_for().is_some());

    let res = app
        .admin(Method::DELETE, "/admin/upstream/pause")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["success"], true, "{body}");
    let cleared = body["cleared"]["pause_seconds"].as_u64().unwrap();
    assert!((119..=120).contains(&cleared), "{body}");
    assert_eq!(body["cleared"]["circuit"], "closed", "{body}");
    assert_eq!(budget.paused_for(), None);
    let before = app.sandbox.request_count();
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.sandbox.request_count(),
        before + 1,
        "it reached upstream"
    );

    // An open circuit is closed the same way.
    app.fail_next(1_000, 502, None);
    for _ in 0..2 {
        let _ = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    }
    assert_eq!(budget.circuit(), gumgate::budget::CircuitState::Open);
    app.sandbox.set_faults(Default::default());
    let res = app
        .admin(Method::DELETE, "/admin/upstream/pause")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["cleared"]["circuit"], "open", "{body}");
    assert_eq!(body["cleared"]["pause_seconds"], 0, "{body}");
    assert_eq!(budget.circuit(), gumgate::budget::CircuitState::Closed);
    let before = app.sandbox.request_count();
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        app.sandbox.request_count(),
        before + 1,
        "it reached upstream"
    );

    // Both resumes are in the audit trail, under the "-" marker (they concern no license).
    let trail = app.state.store.audit_trail("-", 10).await.unwrap();
    let resumes: Vec<_> = trail
        .iter()
        .filter(|e| e.action == "upstream_resume")
        .collect();
    assert_eq!(resumes.len(), 2, "{trail:?}");
}

/// Random first-time keys from many clients once spent the whole 10/s budget, so paying users
/// whose cached answer had expired got 503. With `upstream.known_share`, first-time keys wait
/// for their half of the budget, and a license Gumroad answered 200 for before keeps getting
/// fresh answers through the flood.
#[tokio::test]
async fn first_time_keys_cannot_starve_known_ones() {
    let app = spawn_app_on(SandboxConfig::default(), |_| {}).await;
    let known = [
        (seed::PRODUCT_ONE_TIME, seed::LICENSE_VALID),
        (seed::PRODUCT_MEMBERSHIP, seed::LICENSE_MEMBERSHIP_ACTIVE),
        (seed::PRODUCT_ONE_TIME, seed::LICENSE_DISPUTE_WON),
    ];
    let (client, url) = (
        app.client.clone(),
        format!("{}/v2/licenses/verify", app.api),
    );
    // Cloned into the flood's tasks.
    let verify = move |product: &'static str, key: String| {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let form = [
                ("product_id", product),
                ("license_key", key.as_str()),
                ("increment_uses_count", "false"),
            ];
            client.post(url).form(&form).send().await.unwrap()
        }
    };
    for (product, key) in known {
        let res = verify(product, key.to_owned()).await;
        assert_eq!(res.status(), 200, "{key}");
    }
    // Every cached answer expires: the known licenses need upstream again.
    app.clock.advance(Duration::from_secs(3600));
    // A sustained flood: 16 clients each sending distinct first-time keys back to back, for
    // as long as the known licenses are being verified (bounded in count and time).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood: Vec<_> = (0..16)
        .map(|worker| {
            let (stop, verify) = (stop.clone(), verify.clone());
            tokio::spawn(async move {
                let mut refused = 0;
                for i in 0..400 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("{worker:04X}{i:04X}-11111111-22222222-33333333");
                    if verify(seed::PRODUCT_ONE_TIME, key).await.status() == 503 {
                        refused += 1;
                    }
                }
                refused
            })
        })
        .collect();
    // Let the flood reach upstream first.
    eventually("the flood to reach upstream", || async {
        (app.sandbox.request_count() >= known.len() + 5).then_some(())
    })
    .await;
    for (product, key) in known {
        let res = verify(product, key.to_owned()).await;
        let status = cache_status(&res);
        assert!(
            status.contains("fwd=stale") || status.contains("fwd=miss"),
            "{key}: not a fresh answer through the flood: {status}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for worker in flood {
        refused += worker.await.unwrap();
    }
    assert!(refused > 0, "the flood was held back");
    assert!(
        app.sandbox.requests().iter().all(|r| r.status != 429),
        "Maton said 429"
    );
}

/// A license Gumroad answers 200 for is remembered in the store (written in batches by one
/// background writer, not one spawned write each), so the reserve survives a restart.
#[tokio::test]
async fn licenses_gumroad_vouched_for_are_written_to_the_store() {
    let app = spawn_app().await;
    assert_eq!(app.verify(&VALID).await.status(), 200);
    let hash = gumgate::hashes::license_hash(seed::LICENSE_VALID);
    let store = app.state.store.clone();
    eventually("the known license written", || {
        let (store, hash) = (store.clone(), hash.clone());
        async move {
            let known = store.known_licenses().await.ok()?;
            known.contains(&hash).then_some(())
        }
    })
    .await;
}
