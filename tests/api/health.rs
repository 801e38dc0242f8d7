//! Liveness, readiness and graceful shutdown.

use gumgate_sandbox::Faults;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn livez_and_readyz_answer_on_both_listeners() {
    let app = spawn_app().await;
    for base in [&app.api, &app.ops] {
        let res = reqwest::get(format!("{base}/livez")).await.unwrap();
        assert_eq!(res.status(), 200);
        let res = reqwest::get(format!("{base}/readyz")).await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ready");
        assert_eq!(body["upstream"]["reachable"], true);
        assert_eq!(body["database"]["engine"], "sqlite");
        assert_eq!(body["database"]["reachable"], true);
        assert_eq!(body["redis"]["configured"], false);
    }
    // Readiness probes cost no upstream budget.
    assert_eq!(app.sandbox.request_count(), 0);
    // The ops listener serves nothing of the API.
    let res = reqwest::get(format!("{}/v2/user", app.ops)).await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn readyz_reports_an_unreachable_upstream_without_failing() {
    let TestApp {
        sandbox,
        api,
        ops,
        client,
        ..
    } = spawn_app().await;
    sandbox.shutdown().await;
    let res = client.get(format!("{ops}/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["upstream"]["reachable"], false);
    // After a failed call, its outcome is reported too.
    let _ = client
        .post(format!("{api}/v2/licenses/verify"))
        .form(&VALID)
        .send()
        .await
        .unwrap();
    let body: Value = client
        .get(format!("{ops}/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["upstream"]["last_status"], "connect");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let app = spawn_app().await;
    app.sandbox.set_faults(Faults {
        latency_ms: 500,
        ..Faults::default()
    });
    let client = app.client.clone();
    let url = format!("{}/v2/licenses/verify", app.api);
    let in_flight = tokio::spawn(async move { client.post(url).form(&VALID).send().await });
    // Wait until the gateway is serving it, then begin shutdown.
    eventually("the request to be in flight", || async {
        let in_flight = sample(&app.metrics().await, "gumgate_http_requests_in_flight");
        (in_flight >= 1.0).then_some(())
    })
    .await;
    let api = app.api.clone();
    app.shutdown().await.unwrap();
    let res = in_flight.await.unwrap().unwrap();
    assert_eq!(res.status(), 200);
    // And the listener is closed afterwards.
    assert!(reqwest::get(format!("{api}/livez")).await.is_err());
}

/// Every call failing (an expired OAuth grant makes Maton answer 5xx to all of them) shows on
/// `/readyz` and as `gumgate_upstream_failing_seconds`, without failing readiness; one answer
/// ends it (issue 10). The seconds themselves are unit-tested in `upstream/health.rs`.
#[tokio::test]
async fn readyz_and_a_gauge_say_when_every_upstream_call_fails() {
    let app = spawn_app().await;
    let readyz = || async {
        let res = reqwest::get(format!("{}/readyz", app.ops)).await.unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()
    };
    assert_eq!(readyz().await["upstream"]["failing"], false);
    assert_eq!(
        sample(&app.metrics().await, "gumgate_upstream_failing_seconds"),
        0.0
    );

    app.fail_next(1, 500, None);
    let res = app
        .admin(reqwest::Method::GET, "/v2/user")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    let body = readyz().await;
    assert_eq!(body["status"], "ready");
    assert_eq!(body["upstream"]["failing"], true);
    assert!(body["upstream"]["failing_seconds"].is_u64());

    let res = app
        .admin(reqwest::Method::GET, "/v2/user")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body = readyz().await;
    assert_eq!(body["upstream"]["failing"], false);
    assert_eq!(body["upstream"]["failing_seconds"], 0);
}

#[tokio::test]
async fn readyz_reports_an_unreachable_database_without_failing() {
    let app = spawn_app().await;
    app.state.store.close().await;
    let res = reqwest::get(format!("{}/readyz", app.ops)).await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"]["reachable"], false, "{body}");
    assert_eq!(body["status"], "ready");
}
