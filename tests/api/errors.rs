//! Gumgate's own errors: Gumroad's shape, the right status, never a hang or an internal detail.

use std::time::Duration;

use gumgate_sandbox::Faults;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

async fn assert_gumroad_error(res: reqwest::Response, status: u16) -> String {
    assert_eq!(res.status(), status);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], false);
    body["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/nope", app.api))
        .send()
        .await
        .unwrap();
    assert_gumroad_error(res, 404).await;
    let res = app
        .client
        .get(format!("{}/v2/licenses/verify", app.api))
        .send()
        .await
        .unwrap();
    assert_gumroad_error(res, 405).await;
    let res = app
        .client
        .delete(format!("{}/livez", app.api))
        .send()
        .await
        .unwrap();
    assert_gumroad_error(res, 405).await;
    assert_eq!(app.sandbox.request_count(), 0);
}

#[tokio::test]
async fn oversized_bodies_get_413_before_upstream() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 1024).await;
    let big = "x".repeat(2048);
    let res = app
        .client
        .post(format!("{}/v2/licenses/verify", app.api))
        .form(&[("license_key", big.as_str())])
        .send()
        .await
        .unwrap();
    assert!(assert_gumroad_error(res, 413).await.contains("1024"));
    // Without Content-Length (chunked), the limit still holds while reading.
    let chunk = "a".repeat(800);
    let (status, text) = app
        .raw(&format!(
            "PUT /v2/products/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\
             Connection: close\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
        ))
        .await;
    assert_eq!(status, 413, "{text}");
    assert_eq!(app.sandbox.request_count(), 0);
}

#[tokio::test]
async fn upstream_down_is_a_clear_502_for_admins_and_503_for_apps() {
    let app = spawn_app().await;
    app.sandbox.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    let msg = assert_gumroad_error(res, 502).await;
    assert!(msg.contains("could not be reached"), "{msg}");
    // An app's verify with nothing cached: 503 with Retry-After (issue 3's facade).
    let res = app.verify(&VALID).await;
    assert!(res.headers().contains_key("retry-after"));
    let msg = assert_gumroad_error(res, 503).await;
    assert!(msg.contains("unavailable"), "{msg}");
}

#[tokio::test]
async fn upstream_gone_entirely_is_a_502_too() {
    let TestApp {
        sandbox,
        client,
        api,
        ..
    } = spawn_app().await;
    sandbox.shutdown().await;
    let res = client
        .post(format!("{api}/v2/licenses/verify"))
        .form(&VALID)
        .send()
        .await
        .unwrap();
    assert_gumroad_error(res, 503).await;
}

#[tokio::test]
async fn slow_upstream_is_a_504_at_the_configured_timeout() {
    let app = spawn_app_with(|s| s.upstream.timeout = Duration::from_millis(200)).await;
    app.sandbox.set_faults(Faults {
        latency_ms: 2_000,
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    let msg = assert_gumroad_error(res, 504).await;
    assert!(msg.contains("in time"), "{msg}");
    assert!(started.elapsed() < Duration::from_millis(1_900));
}

#[tokio::test]
async fn request_ids_are_generated_propagated_and_sanitised() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(format!("{}/livez", app.api))
        .send()
        .await
        .unwrap();
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");

    let res = app
        .client
        .get(format!("{}/livez", app.api))
        .header("x-request-id", "client-id-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "client-id-123");

    let res = app
        .client
        .get(format!("{}/livez", app.api))
        .header("x-request-id", "bad id with spaces\"{}")
        .send()
        .await
        .unwrap();
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces\"{}");

    // And it travels upstream, so a call can be followed across both logs.
    let _ = app
        .client
        .post(format!("{}/v2/licenses/verify", app.api))
        .header("x-request-id", "trace-me-1")
        .form(&VALID)
        .send()
        .await
        .unwrap();
    let last = app.sandbox.requests().pop().unwrap();
    assert!(
        last.headers
            .iter()
            .any(|(k, v)| k == "x-request-id" && v == "trace-me-1")
    );
}

/// Only the first `X-Request-Id`, when sane, is used: a second one is dropped, so upstream and
/// the caller see at most one id, and a bad first id is replaced rather than a later one used.
#[tokio::test]
async fn a_second_request_id_is_dropped() {
    let app = spawn_app().await;
    let mut two = reqwest::header::HeaderMap::new();
    two.append("x-request-id", "first-id".parse().unwrap());
    two.append("x-request-id", "second-id".parse().unwrap());
    let mut bad_first = reqwest::header::HeaderMap::new();
    bad_first.append("x-request-id", "bad id".parse().unwrap());
    bad_first.append("x-request-id", "second-id".parse().unwrap());

    for (headers, first_kept) in [(two, true), (bad_first, false)] {
        for req in [
            app.admin(Method::GET, "/v2/user"),
            app.client
                .post(format!("{}/v2/licenses/verify", app.api))
                .form(&VALID),
        ] {
            let res = req.headers(headers.clone()).send().await.unwrap();
            assert_eq!(res.status(), 200);
            let echoed: Vec<_> = res.headers().get_all("x-request-id").iter().collect();
            assert_eq!(echoed.len(), 1, "{echoed:?}");
            let upstream = app.sandbox.requests().pop().unwrap();
            let sent: Vec<&String> = upstream
                .headers
                .iter()
                .filter(|(k, _)| k == "x-request-id")
                .map(|(_, v)| v)
                .collect();
            assert_eq!(sent.len(), 1, "{sent:?}");
            assert_eq!(echoed[0].to_str().unwrap(), sent[0]);
            if first_kept {
                assert_eq!(sent[0], "first-id");
            } else {
                assert_eq!(sent[0].len(), 36, "a fresh UUID: {}", sent[0]);
            }
        }
    }
}

/// Maton refusing Gumgate's own key is the operator's problem: admin callers get a 502 in
/// Gumroad's shape naming the gateway's credentials (never the key), the public an outage
/// (503, not "not found"), and the refusal is counted and shown on `/readyz` (issue 10).
#[tokio::test]
async fn maton_refusing_the_gateways_key_is_a_502_not_the_callers_401() {
    let sandbox = gumgate_sandbox::SandboxConfig {
        api_key: "a-key-gumgate-does-not-have".into(),
        rate_limit: 0,
        ..gumgate_sandbox::SandboxConfig::default()
    };
    let app = spawn_app_on(sandbox, |_| {}).await;

    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    let message = assert_gumroad_error(res, 502).await;
    assert!(message.contains("upstream credentials"), "{message}");
    assert!(!message.contains(MATON_KEY), "{message}");
    assert_eq!(app.sandbox.requests()[0].status, 401);
    // Not an outage for the breaker: past `upstream.breaker_failures` (5) it still says why.
    for _ in 0..6 {
        let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
        assert_eq!(res.status(), 502);
    }

    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));

    let metrics = app.metrics().await;
    assert_eq!(
        sample(&metrics, "gumgate_upstream_credentials_refused_total"),
        8.0
    );
    let ready: Value = reqwest::get(format!("{}/readyz", app.ops))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["upstream"]["credentials_refused"], true);
}

/// Gumroad's own 403 (a token without `edit_products`) is not Maton's refusal: it passes
/// through unchanged and is not counted as one.
#[tokio::test]
async fn gumroads_scope_403_is_not_taken_for_a_refused_key() {
    let app = spawn_app().await;
    let res = app
        .admin(Method::PUT, "/v2/licenses/disable")
        .header("maton-connection", gumgate_sandbox::seed::CONNECTION_B)
        .form(&[
            ("product_id", gumgate_sandbox::seed::PRODUCT_SELLER_B),
            ("license_key", gumgate_sandbox::seed::LICENSE_SELLER_B),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers().contains_key("www-authenticate"));
    assert!(res.bytes().await.unwrap().is_empty());
    let metrics = app.metrics().await;
    assert_eq!(
        sample(&metrics, "gumgate_upstream_credentials_refused_total"),
        0.0
    );
}

/// A cached verify answer stands in when Maton refuses the gateway's key, as in any outage:
/// the refusal is never passed off as the license's answer (issue 10).
#[tokio::test]
async fn a_stale_verify_stands_in_while_maton_refuses_the_key() {
    let app = spawn_app().await;
    let cached = [VALID[0], VALID[1], ("increment_uses_count", "false")];
    assert_eq!(app.verify(&cached).await.status(), 200);
    app.clock.advance(Duration::from_secs(3600));
    app.answer_next(
        1,
        401,
        Some("application/json"),
        r#"{"error":"Invalid API key"}"#,
    );
    let res = app.verify(&cached).await;
    assert_eq!(res.status(), 200);
    assert!(
        cache_status(&res).contains("stale-if-error"),
        "{}",
        cache_status(&res)
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(app.sandbox.requests().last().unwrap().status, 401);
}
