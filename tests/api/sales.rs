//! Admin sales reads: cached briefly per connection and query, refreshed on `no-cache`,
//! stale-if-error, paging intact.

use std::time::Duration;

use gumgate_sandbox::{Faults, seed};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn sales_are_cached_per_query_and_connection() {
    let app = spawn_app().await;
    let first = app
        .admin(Method::GET, "/v2/sales?after=2020-01-01&before=2030-01-01")
        .send()
        .await
        .unwrap();
    assert!(cache_status(&first).contains("fwd=miss"));
    let body = first.bytes().await.unwrap();
    // The same query in another order is the same entry.
    let again = app
        .admin(Method::GET, "/v2/sales?before=2030-01-01&after=2020-01-01")
        .send()
        .await
        .unwrap();
    assert!(cache_status(&again).starts_with("gumgate; hit"));
    assert_eq!(again.bytes().await.unwrap(), body);
    assert_eq!(app.sandbox.request_count(), 1);
    // Another account is another entry.
    let b: Value = app
        .admin(Method::GET, "/v2/sales?before=2030-01-01&after=2020-01-01")
        .header("maton-connection", seed::CONNECTION_B)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(
        b["sales"],
        serde_json::from_slice::<Value>(&body).unwrap()["sales"]
    );
    assert_eq!(app.sandbox.request_count(), 2);
    // One sale, and Gumroad's 200 not-found, are cached too.
    for path in [
        format!("/v2/sales/{}", seed::SALE_VALID),
        "/v2/sales/nope".to_owned(),
    ] {
        let _ = app.admin(Method::GET, &path).send().await.unwrap();
        let res = app.admin(Method::GET, &path).send().await.unwrap();
        assert!(cache_status(&res).contains("hit"), "{path}");
    }
    assert_eq!(app.sandbox.request_count(), 4);
}

#[tokio::test]
async fn a_head_request_never_fills_the_cache() {
    let app = spawn_app().await;
    let res = app.admin(Method::HEAD, "/v2/sales").send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = app.admin(Method::GET, "/v2/sales").send().await.unwrap();
    assert!(cache_status(&res).contains("fwd=miss"));
    let page: Value = res.json().await.unwrap();
    assert_eq!(page["sales"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn no_cache_refreshes_and_the_ttl_expires() {
    let app = spawn_app().await;
    let _ = app.admin(Method::GET, "/v2/sales").send().await.unwrap();
    let res = app
        .admin(Method::GET, "/v2/sales")
        .header("cache-control", "no-cache")
        .send()
        .await
        .unwrap();
    assert!(
        cache_status(&res).contains("fwd=stale"),
        "{}",
        cache_status(&res)
    );
    assert_eq!(app.sandbox.request_count(), 2);
    app.clock.advance(Duration::from_secs(31));
    let res = app.admin(Method::GET, "/v2/sales").send().await.unwrap();
    assert!(cache_status(&res).contains("fwd=stale"));
    assert_eq!(app.sandbox.request_count(), 3);
}

#[tokio::test]
async fn stale_sales_stand_in_during_an_outage() {
    let app = spawn_app().await;
    let fresh = app
        .admin(Method::GET, "/v2/sales")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(120));
    app.sandbox.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let res = app.admin(Method::GET, "/v2/sales").send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(cache_status(&res).contains("stale-if-error"));
    assert_eq!(res.bytes().await.unwrap(), fresh);
    // Nothing cached for this query: the passthrough's own 502.
    let res = app
        .admin(Method::GET, "/v2/sales?email=x%40y.z")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
}

#[tokio::test]
async fn paging_passes_through_the_cache_intact() {
    let app = spawn_app().await;
    let mut path = "/v2/sales".to_owned();
    let mut total = 0;
    while let Some(next) = {
        let page: Value = app
            .admin(Method::GET, &path)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        total += page["sales"].as_array().unwrap().len();
        page["next_page_url"].as_str().map(str::to_owned)
    } {
        path = next;
    }
    assert_eq!(total, seed::SELLER_A_SALE_COUNT);
    let res = app
        .admin(Method::GET, "/v2/sales?page_key=garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = app
        .admin(Method::GET, "/v2/sales?page_key=garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(
        cache_status(&res).contains("fwd=miss"),
        "errors are not cached"
    );
}

#[tokio::test]
async fn repeated_params_keep_their_order_in_the_key() {
    let app = spawn_app().await;
    let (a, b) = (
        seed::PRODUCT_ONE_TIME.replace('=', "%3D"),
        seed::PRODUCT_MEMBERSHIP.replace('=', "%3D"),
    );
    let first: Value = app
        .admin(
            Method::GET,
            &format!("/v2/sales?product_id={a}&product_id={b}"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = app
        .admin(
            Method::GET,
            &format!("/v2/sales?product_id={b}&product_id={a}"),
        )
        .send()
        .await
        .unwrap();
    assert!(
        cache_status(&res).contains("fwd=miss"),
        "another query, another entry"
    );
    let second: Value = res.json().await.unwrap();
    assert_ne!(first["sales"], second["sales"]);
}

#[tokio::test]
async fn a_throttled_sales_read_says_when_to_retry() {
    let app = spawn_app().await;
    app.fail_next(1, 429, Some("7"));
    let res = app.admin(Method::GET, "/v2/sales").send().await.unwrap();
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((6..=7).contains(&retry), "{retry}");
}

#[tokio::test]
async fn a_200_that_is_not_gumroads_answer_never_replaces_a_sales_page() {
    let app = spawn_app().await;
    let good = app
        .admin(Method::GET, "/v2/sales")
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let junk = [
        (
            Some("text/html; charset=utf-8"),
            "<html>Down for maintenance</html>",
        ),
        (
            Some("application/json"),
            r#"{"success":true,"sales":[{"id":"#,
        ),
        (Some("application/json"), r#"{"success":false}"#),
        (Some("application/json"), r#"{"success":true}"#),
    ];
    for (content_type, body) in junk {
        // A refresh asked for while the entry is fresh, then a miss past the TTL: both meet the
        // junk, and the good page stands in.
        for expired in [false, true] {
            let mut request = app.admin(Method::GET, "/v2/sales");
            if expired {
                app.clock.advance(Duration::from_secs(31));
            } else {
                request = request.header("cache-control", "no-cache");
            }
            app.answer_next(1, 200, content_type, body);
            let res = request.send().await.unwrap();
            assert_eq!(res.status(), 200, "{body}");
            assert!(
                cache_status(&res).ends_with("detail=stale-if-error"),
                "{body}: {}",
                cache_status(&res)
            );
            assert_eq!(res.bytes().await.unwrap(), good, "{body}");
        }
        // Nothing was stored: the next read asks upstream again and keeps Gumroad's answer.
        let res = app.admin(Method::GET, "/v2/sales").send().await.unwrap();
        assert_eq!(
            cache_status(&res),
            "gumgate; fwd=stale; fwd-status=200; stored",
            "{body}"
        );
        assert_eq!(res.bytes().await.unwrap(), good, "{body}");
    }
}

#[tokio::test]
async fn one_sale_is_kept_only_in_gumroads_shapes() {
    let app = spawn_app().await;
    let path = format!("/v2/sales/{}", seed::SALE_VALID);
    // A miss that meets junk has nothing to stand in: the admin sees upstream's answer, and
    // nothing is kept.
    app.answer_next(
        1,
        200,
        Some("text/html"),
        "<html>Down for maintenance</html>",
    );
    let res = app.admin(Method::GET, &path).send().await.unwrap();
    assert!(
        cache_status(&res).contains("upstream-unavailable"),
        "{}",
        cache_status(&res)
    );
    let res = app.admin(Method::GET, &path).send().await.unwrap();
    assert_eq!(
        cache_status(&res),
        "gumgate; fwd=miss; fwd-status=200; stored"
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["sale"]["id"],
        seed::SALE_VALID
    );
    // Gumroad's own 200 not-found is an answer, kept like a sale; another success:false is not.
    let res = app
        .admin(Method::GET, "/v2/sales/nope")
        .send()
        .await
        .unwrap();
    assert!(
        cache_status(&res).contains("stored"),
        "{}",
        cache_status(&res)
    );
    app.answer_next(
        1,
        200,
        Some("application/json"),
        r#"{"success":false,"message":"Something went wrong."}"#,
    );
    let res = app
        .admin(Method::GET, "/v2/sales/other")
        .send()
        .await
        .unwrap();
    assert!(
        cache_status(&res).contains("upstream-unavailable"),
        "{}",
        cache_status(&res)
    );
    let res = app
        .admin(Method::GET, "/v2/sales/other")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "The sale was not found."
    );
}
