//! Inbound per-client-IP limits on the public verify, the stricter failed-verify limit, and
//! X-Forwarded-For believed only from trusted proxies.

use gumgate_sandbox::seed;
use serde_json::Value;

use crate::helpers::*;

const UNKNOWN: [(&str, &str); 2] = [
    ("product_id", seed::PRODUCT_ONE_TIME),
    ("license_key", "00000000-00000000-00000000-00000000"),
];

#[tokio::test]
async fn over_the_verify_limit_gets_429_with_retry_after_and_ratelimit_headers() {
    let app = spawn_app_with(|s| s.limits.verify_per_ip = "3/min".parse().unwrap()).await;
    for remaining in [2, 1, 0] {
        let res = app.verify(&VALID).await;
        assert_eq!(res.status(), 200);
        assert!(
            res.headers()["ratelimit-policy"]
                .to_str()
                .unwrap()
                .contains(r#""verify";q=3;w=60"#)
        );
        let rl = res.headers()["ratelimit"].to_str().unwrap().to_owned();
        assert!(rl.contains(&format!(";r={remaining};")), "{rl}");
    }
    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert!(res.headers().contains_key("ratelimit"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(app.sandbox.request_count(), 3);
    let m = app.metrics().await;
    assert_eq!(
        sample(&m, r#"gumgate_inbound_limited_total{limit="verify"}"#),
        1.0
    );
}

#[tokio::test]
async fn failed_verifies_lock_out_a_guessing_client() {
    let app = spawn_app_with(|s| s.limits.failed_verify_per_ip = "2/min".parse().unwrap()).await;
    assert_eq!(
        app.verify(&VALID).await.status(),
        200,
        "successes spend nothing"
    );
    assert_eq!(app.verify(&UNKNOWN).await.status(), 404);
    assert_eq!(app.verify(&UNKNOWN).await.status(), 404);
    // The guesser is now refused, even with a valid key, and upstream hears nothing of it.
    let before = app.sandbox.request_count();
    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(app.sandbox.request_count(), before);
}

#[tokio::test]
async fn forwarded_for_counts_only_from_trusted_proxies() {
    // Untrusted: a spoofed X-Forwarded-For changes nothing; all share the socket's quota.
    let app = spawn_app_with(|s| s.limits.verify_per_ip = "2/min".parse().unwrap()).await;
    for (i, expected) in [(1, 200), (2, 200), (3, 429)] {
        let res = app
            .client
            .post(format!("{}/v2/licenses/verify", app.api))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .form(&VALID)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }

    // Trusted (we are 127.0.0.1): each forwarded client has its own quota.
    let app = spawn_app_with(|s| {
        s.limits.verify_per_ip = "2/min".parse().unwrap();
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    for client in ["203.0.113.1", "203.0.113.2"] {
        for expected in [200, 200, 429] {
            let res = app
                .client
                .post(format!("{}/v2/licenses/verify", app.api))
                .header("x-forwarded-for", format!("{client}, 127.0.0.1"))
                .form(&VALID)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), expected, "{client}");
        }
    }
}

#[tokio::test]
async fn admin_calls_are_not_subject_to_the_public_limits() {
    let app = spawn_app_with(|s| s.limits.verify_per_ip = "1/min".parse().unwrap()).await;
    for _ in 0..3 {
        let res = app
            .admin(reqwest::Method::GET, "/v2/user")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn one_client_cannot_drain_the_upstream_budget_with_increments() {
    let app = spawn_app_with(|s| s.limits.upstream_verify_per_ip = "2/min".parse().unwrap()).await;
    assert_eq!(app.verify(&VALID).await.status(), 200);
    assert_eq!(app.verify(&VALID).await.status(), 200);
    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 429, "a third incrementing verify this minute");
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(app.sandbox.request_count(), 2);
    // Cached reads spend no upstream budget and stay available.
    let cached = [
        ("product_id", seed::PRODUCT_ONE_TIME),
        ("license_key", seed::LICENSE_VALID),
        ("increment_uses_count", "false"),
    ];
    assert_eq!(app.verify(&cached).await.status(), 200);
    assert_eq!(app.verify(&cached).await.status(), 200);
    let m = app.metrics().await;
    assert_eq!(
        sample(
            &m,
            r#"gumgate_inbound_limited_total{limit="upstream_verify"}"#
        ),
        1.0
    );
}
