//! The middleware in front of a stand-in verify handler, on a real socket with ConnectInfo.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::Query;
use axum::routing::post;
use http::StatusCode;
use reqwest::Response;
use serde_json::{Value, json};

use crate::config::LimitsSettings;
use crate::limits::{self, InboundLimits};
use crate::metrics::Metrics;

#[derive(serde::Deserialize)]
struct Params {
    key: String,
}

/// 200 for the key "good", 404 (Gumroad's unknown/disabled/revoked) for anything else.
async fn verify(Query(p): Query<Params>) -> StatusCode {
    if p.key == "good" {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

struct Server {
    url: String,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
}

async fn serve(verify_per_ip: &str, failed_per_ip: &str, trusted: &[&str]) -> Server {
    let settings = LimitsSettings {
        verify_per_ip: verify_per_ip.parse().unwrap(),
        failed_verify_per_ip: failed_per_ip.parse().unwrap(),
        upstream_verify_per_ip: "1000/s".parse().unwrap(),
        failed_admin_auth_per_ip: "1000/s".parse().unwrap(),
    };
    let trusted = trusted.iter().map(|n| n.parse().unwrap()).collect();
    let metrics = Arc::new(Metrics::new());
    let limits = InboundLimits::new(&settings, trusted, metrics.clone());
    let app = Router::new()
        .route("/v2/licenses/verify", post(verify))
        .route_layer(axum::middleware::from_fn_with_state(
            limits,
            limits::enforce,
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v2/licenses/verify",
        listener.local_addr().unwrap()
    );
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    crate::tls::install_crypto_provider();
    let client = reqwest::Client::builder().build().unwrap();
    Server {
        url,
        metrics,
        client,
    }
}

impl Server {
    async fn call(&self, key: &str, forwarded_for: Option<&str>) -> Response {
        let mut req = self.client.post(&self.url).query(&[("key", key)]);
        if let Some(xff) = forwarded_for {
            req = req.header("x-forwarded-for", xff);
        }
        req.send().await.unwrap()
    }

    fn limited(&self, limit: &str) -> u64 {
        self.metrics
            .inbound_limited
            .with_label_values(&[limit])
            .get()
    }
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers().get(name).unwrap().to_str().unwrap()
}

async fn assert_too_many(r: Response, ratelimit: &str, retry_after: &str) {
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "retry-after"), retry_after);
    assert_eq!(header(&r, "ratelimit"), ratelimit);
    assert!(header(&r, "ratelimit-policy").starts_with("\"verify\";q="));
    assert_eq!(header(&r, "content-type"), "application/json");
    let message = "Too many requests from this address. Please retry later.";
    let body: Value = r.json().await.unwrap();
    assert_eq!(body, json!({ "success": false, "message": message }));
}

#[tokio::test]
async fn verify_quota_is_spent_by_every_request_then_429() {
    let s = serve("3/min", "10/min", &[]).await;
    let policy = "\"verify\";q=3;w=60, \"failed_verify\";q=10;w=60, \"upstream_verify\";q=1000;w=1";
    for (key, state) in [
        ("good", "r=2;t=20"),
        ("bad", "r=1;t=40"),
        ("good", "r=0;t=60"),
    ] {
        let r = s.call(key, None).await;
        assert_eq!(header(&r, "ratelimit-policy"), policy);
        assert_eq!(header(&r, "ratelimit"), format!("\"verify\";{state}"));
    }
    assert_too_many(s.call("good", None).await, "\"verify\";r=0;t=20", "20").await;
    // Without trusted proxies a forged X-Forwarded-For changes nothing.
    let spoofed = s.call("good", Some("203.0.113.9")).await;
    assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!((s.limited("verify"), s.limited("failed_verify")), (2, 0));
}

#[tokio::test]
async fn exhausted_failed_quota_refuses_every_verify() {
    let s = serve("100/min", "3/min", &[]).await;
    for _ in 0..5 {
        assert_eq!(s.call("good", None).await.status(), StatusCode::OK);
    }
    for _ in 0..3 {
        let r = s.call("guess", None).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert!(header(&r, "ratelimit").starts_with("\"verify\";r="));
    }
    let penalty = "\"failed_verify\";r=0;t=20";
    assert_too_many(s.call("good", None).await, penalty, "20").await;
    assert_too_many(s.call("guess", None).await, penalty, "20").await;
    assert_eq!((s.limited("verify"), s.limited("failed_verify")), (0, 2));
}

#[tokio::test]
async fn clients_behind_a_trusted_proxy_have_their_own_quotas() {
    let s = serve("2/min", "1/min", &["127.0.0.1/32"]).await;
    // No X-Forwarded-For: the proxy itself is the client.
    s.call("good", None).await;
    s.call("good", None).await;
    assert_eq!(
        s.call("good", None).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let r = s.call("good", Some("203.0.113.7")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "ratelimit"), "\"verify\";r=1;t=30");
    // A guesser behind the same proxy is penalised alone.
    assert_eq!(
        s.call("x", Some("9.9.9.9, 203.0.113.8")).await.status(),
        404
    );
    let r = s.call("good", Some("203.0.113.8")).await;
    assert_eq!(header(&r, "ratelimit"), "\"failed_verify\";r=0;t=60");
    assert_eq!(
        s.call("good", Some("203.0.113.7")).await.status(),
        StatusCode::OK
    );
    assert_eq!((s.limited("verify"), s.limited("failed_verify")), (1, 1));
}

#[tokio::test]
async fn without_connect_info_the_peer_is_localhost() {
    use tower::ServiceExt;
    let settings = LimitsSettings {
        verify_per_ip: "1/min".parse().unwrap(),
        failed_verify_per_ip: "1/min".parse().unwrap(),
        upstream_verify_per_ip: "1000/s".parse().unwrap(),
        failed_admin_auth_per_ip: "1000/s".parse().unwrap(),
    };
    let limits = InboundLimits::new(&settings, vec![], Arc::new(Metrics::new()));
    let app = Router::new()
        .route("/v", post(|| async { "ok" }))
        .route_layer(axum::middleware::from_fn_with_state(
            limits,
            limits::enforce,
        ));
    let request = || {
        http::Request::post("/v")
            .body(axum::body::Body::empty())
            .unwrap()
    };
    assert_eq!(app.clone().oneshot(request()).await.unwrap().status(), 200);
    assert_eq!(app.oneshot(request()).await.unwrap().status(), 429);
}
