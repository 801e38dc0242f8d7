//! Metrics: counters move with traffic, labels stay bounded, nothing secret appears.

use gumgate_sandbox::seed;
use reqwest::Method;

use crate::helpers::*;

#[tokio::test]
async fn request_and_upstream_counters_move_with_traffic() {
    let app = spawn_app().await;
    let before = app.metrics().await;
    let verify =
        r#"gumgate_http_requests_total{method="POST",route="/v2/licenses/verify",status="200"}"#;
    let upstream = r#"gumgate_upstream_requests_total{endpoint="/v2/licenses/verify",method="POST",status="200"}"#;
    assert_eq!(sample(&before, verify), 0.0);

    for _ in 0..3 {
        let res = app.verify(&VALID).await;
        assert_eq!(res.status(), 200);
    }
    let _ = app
        .admin(Method::GET, &format!("/v2/sales/{}", seed::SALE_VALID))
        .send()
        .await
        .unwrap();
    let _ = app
        .client
        .get(format!("{}/no/such/route", app.api))
        .send()
        .await
        .unwrap();

    let after = app.metrics().await;
    assert_eq!(sample(&after, verify), 3.0);
    assert_eq!(sample(&after, upstream), 3.0);
    assert_eq!(
        sample(
            &after,
            r#"gumgate_upstream_requests_total{endpoint="/v2/sales/{id}",method="GET",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            r#"gumgate_http_requests_total{method="GET",route="/v2/sales/{id}",status="200"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            r#"gumgate_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        1.0
    );
    assert!(
        sample(
            &after,
            r#"gumgate_http_request_duration_seconds_count{method="POST",route="/v2/licenses/verify",status="200"}"#
        ) >= 3.0
    );
    assert!(after.contains(&format!(
        "gumgate_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    assert!(after.contains("process_resident_memory_bytes"));
    assert_eq!(sample(&after, "gumgate_http_requests_in_flight"), 0.0);
}

#[tokio::test]
async fn labels_never_hold_keys_tokens_ids_or_raw_paths() {
    let app = spawn_app().await;
    let _ = app.verify(&VALID).await;
    let _ = app
        .admin(Method::GET, &format!("/v2/sales/{}", seed::SALE_VALID))
        .send()
        .await
        .unwrap();
    let _ = app
        .admin(Method::GET, "/v2/some-invented/path/with-secret-ish-words")
        .send()
        .await
        .unwrap();
    let _ = app
        .client
        .request(
            Method::from_bytes(b"BREW").unwrap(),
            format!("{}/v2/user", app.api),
        )
        .send()
        .await
        .unwrap();
    let text = app.metrics().await;
    for forbidden in [
        seed::LICENSE_VALID,
        seed::SALE_VALID,
        ADMIN_TOKEN,
        MATON_KEY,
        "some-invented",
        "BREW",
    ] {
        assert!(!text.contains(forbidden), "{forbidden} in metrics");
    }
    assert!(text.contains(r#"endpoint="other""#));
    assert!(text.contains(r#"method="other""#));
}
