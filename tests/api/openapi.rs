//! The OpenAPI document matches the routes: every documented path and method is served (not the
//! router's 404 or 405), every public route is documented, and every status an operation
//! answers (Gumroad's own errors, Gumgate's, upstream faults) is documented for it.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let app = spawn_app().await;
    let doc: Value = reqwest::get(format!("{}/openapi.json", app.api))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for (path, ops) in paths {
        let concrete = path
            .replace("{id}", "some-id")
            .replace("{action}", "disable")
            // A wrong secret must look like an unknown route: use the right one.
            .replace("{secret}", WEBHOOK_SECRET);
        for method in ops.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(method.clone(), format!("{}{concrete}", app.api))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body = res.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path}");
            assert!(
                !(status == 404 && body.contains("\"Not found.\"")),
                "{method} {path} is not routed"
            );
        }
    }
    for documented in [
        "/v2/licenses/verify",
        "/v1/licenses/activate",
        "/v1/licenses/validate",
        "/v1/licenses/deactivate",
        "/v1/licenses/heartbeat",
        "/v1/licenses/machines",
        "/.well-known/jwks.json",
        "/livez",
        "/readyz",
        "/openapi.json",
        "/admin/connections",
        "/admin/cache",
        "/admin/upstream/pause",
        "/admin/licenses/activations",
        "/admin/activations/{id}",
        "/admin/licenses/release",
        "/admin/licenses/audit",
        "/v2/sales",
        "/v2/sales/{id}",
        "/v2/licenses/{action}",
        "/webhooks/gumroad/{secret}",
    ] {
        assert!(
            paths.contains_key(documented),
            "{documented} is not documented"
        );
    }
}

async fn document(app: &TestApp) -> Value {
    let res = reqwest::get(format!("{}/openapi.json", app.api))
        .await
        .unwrap();
    res.json().await.unwrap()
}

/// Every `$ref` in `node` resolves within the document.
fn check_refs(doc: &Value, node: &Value, at: &str) {
    match node {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                let pointer = target.strip_prefix('#').expect("local $ref");
                assert!(
                    doc.pointer(pointer).is_some(),
                    "{at}: {target} does not resolve"
                );
            }
            for (k, v) in map {
                check_refs(doc, v, &format!("{at}/{k}"));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| check_refs(doc, v, at)),
        _ => {}
    }
}

/// A light structural check of the OpenAPI 3.1 rules the document relies on: `$ref`s resolve,
/// response keys are status codes or `default`, and every response has a description.
fn check_structure(doc: &Value) {
    check_refs(doc, doc, "#");
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for key in responses.keys() {
                let code = key.parse::<u16>().is_ok_and(|c| (100..600).contains(&c));
                assert!(code || key == "default", "{method} {path}: {key}");
                let status = key.parse().unwrap_or(0);
                let response = documented(doc, path, method, status)
                    .or_else(|| responses.get("default"))
                    .unwrap();
                let response = match response["$ref"].as_str() {
                    Some(target) => doc.pointer(&target[1..]).unwrap(),
                    None => response,
                };
                assert!(response["description"].is_string(), "{method} {path} {key}");
            }
        }
    }
}

/// The response an operation documents for `status`, `$ref` resolved.
fn documented<'d>(doc: &'d Value, path: &str, method: &str, status: u16) -> Option<&'d Value> {
    let response = doc["paths"][path][method]["responses"].get(status.to_string())?;
    match response.get("$ref").and_then(Value::as_str) {
        Some(target) => doc.pointer(target.strip_prefix('#')?),
        None => Some(response),
    }
}

/// Asserts the answer's status is documented for the operation, as Gumroad's error shape when
/// the answer is one.
async fn assert_documented(doc: &Value, path: &str, method: &str, res: reqwest::Response) -> u16 {
    let status = res.status().as_u16();
    let retry_after = res.headers().contains_key("retry-after");
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let Some(response) = documented(doc, path, method, status) else {
        panic!("{method} {path} answered {status}, which it does not document: {body}");
    };
    assert!(
        response["description"].is_string(),
        "{method} {path} {status}"
    );
    // Gumroad's verify 404 has its own schema (`VerifyAnswer`); every other error body in
    // Gumroad's shape is the shared `Error`, or on the passthrough `UpstreamError` (`Error` or
    // Maton's `{error}` relayed unchanged).
    if body["success"] == false && body["message"].is_string() && status != 404 {
        let schema = &response["content"]["application/json"]["schema"]["$ref"];
        assert!(
            schema == "#/components/schemas/Error"
                || schema == "#/components/schemas/UpstreamError",
            "{method} {path} {status}: {schema}"
        );
    }
    if retry_after {
        let headers = response["headers"].as_object();
        let named = headers.is_some_and(|h| h.contains_key("Retry-After"));
        assert!(
            named,
            "{method} {path} {status} sends Retry-After undocumented"
        );
    }
    status
}

#[tokio::test]
async fn every_status_answered_is_documented_for_its_operation() {
    let app = spawn_app_with(|s| {
        s.upstream.timeout = std::time::Duration::from_millis(300);
        // The faults below would open the breaker, which would then answer 503 for everything.
        s.upstream.breaker_failures = 1_000;
    })
    .await;
    let doc = document(&app).await;
    check_structure(&doc);
    let verify = "/v2/licenses/verify";
    let post_verify = |body: &str, content_type: &str| {
        app.client
            .post(format!("{}{verify}", app.api))
            .header("content-type", content_type)
            .body(body.to_owned())
    };
    let form = "application/x-www-form-urlencoded";
    let incrementing = format!(
        "product_id={}&license_key={}",
        gumgate_sandbox::seed::PRODUCT_ONE_TIME,
        gumgate_sandbox::seed::LICENSE_VALID
    );
    let cached = format!("{incrementing}&increment_uses_count=false");
    let mut seen = std::collections::BTreeSet::new();
    let mut check = async |path: &str, method: &str, req: reqwest::RequestBuilder| {
        let status = assert_documented(&doc, path, method, req.send().await.unwrap()).await;
        seen.insert(status);
        status
    };

    // Gumroad's own 500: a verify without product_id of a product that needs one.
    let no_product = format!("license_key={}", gumgate_sandbox::seed::LICENSE_VALID);
    assert_eq!(
        check(verify, "post", post_verify(&no_product, form)).await,
        500
    );
    // Gumroad's 404, our 413 and 415.
    let unknown = "product_id=x&license_key=00000000-00000000-00000000-00000000";
    assert_eq!(check(verify, "post", post_verify(unknown, form)).await, 404);
    let big = format!("{cached}&pad={}", "x".repeat(70_000));
    assert_eq!(check(verify, "post", post_verify(&big, form)).await, 413);
    assert_eq!(
        check(verify, "post", post_verify("hi", "text/plain")).await,
        415
    );
    assert_eq!(
        check(verify, "post", post_verify("{", "application/json")).await,
        400
    );
    // Upstream faults. A verify the cache cannot key (an extra param) is relayed as it came:
    // Maton refusing our key is 502 (the gateway's credentials, issue 10), a dropped connection
    // 502, a timeout 504; a cacheable one with nothing stale to stand in is 503.
    let relayed = format!("{incrementing}&product_permalink=x");
    app.fail_next(1, 401, None);
    assert_eq!(
        check(verify, "post", post_verify(&relayed, form)).await,
        502
    );
    app.sandbox.set_faults(gumgate_sandbox::Faults {
        refuse_connections: true,
        ..Default::default()
    });
    assert_eq!(
        check(verify, "post", post_verify(&relayed, form)).await,
        502
    );
    for body in [&cached, &incrementing] {
        assert_eq!(check(verify, "post", post_verify(body, form)).await, 503);
    }
    let activate = "/v1/licenses/activate";
    let activation = [
        ("product_id", gumgate_sandbox::seed::PRODUCT_ONE_TIME),
        ("license_key", gumgate_sandbox::seed::LICENSE_VALID),
        ("fingerprint", "machine-1"),
    ];
    let req = app
        .client
        .post(format!("{}{activate}", app.api))
        .form(&activation);
    assert_eq!(check(activate, "post", req).await, 503);
    app.sandbox.set_faults(gumgate_sandbox::Faults {
        latency_ms: 1_000,
        ..Default::default()
    });
    assert_eq!(
        check(verify, "post", post_verify(&relayed, form)).await,
        504
    );
    app.sandbox.set_faults(gumgate_sandbox::Faults::default());

    // Admin: no token, an unsafe path, a wrong method, Gumroad's 429 passed through.
    let sales = format!("{}/v2/sales", app.api);
    assert_eq!(check("/v2/sales", "get", app.client.get(&sales)).await, 401);
    let unsafe_path = app.admin(reqwest::Method::GET, "/v2/sales/%2e%2e");
    assert_eq!(check("/v2/sales/{id}", "get", unsafe_path).await, 400);
    app.fail_next(1, 429, Some("1"));
    let user = app.admin(reqwest::Method::GET, "/v2/user");
    assert_eq!(check("/v2/user", "get", user).await, 429);
    let res = app
        .client
        .get(format!("{}{activate}", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert!(
        documented(&doc, activate, "post", 405).is_some(),
        "405 on {activate}"
    );
    let missing = app
        .admin(reqwest::Method::DELETE, "/admin/activations/act_nope")
        .query(&[
            ("product_id", gumgate_sandbox::seed::PRODUCT_ONE_TIME),
            ("license_key", gumgate_sandbox::seed::LICENSE_VALID),
        ]);
    assert_eq!(
        check("/admin/activations/{id}", "delete", missing).await,
        404
    );

    // Gumgate's own failure: the store gone, a 500 in Gumroad's shape.
    app.state.store.close().await;
    let list = app
        .admin(reqwest::Method::GET, "/admin/licenses/activations")
        .query(&[
            ("product_id", gumgate_sandbox::seed::PRODUCT_ONE_TIME),
            ("license_key", gumgate_sandbox::seed::LICENSE_VALID),
        ]);
    assert_eq!(check("/admin/licenses/activations", "get", list).await, 500);
    let expected = [400, 401, 404, 413, 415, 429, 500, 502, 503, 504];
    assert!(expected.iter().all(|s| seen.contains(s)), "{seen:?}");
}

#[tokio::test]
async fn per_ip_limits_are_documented() {
    let app = spawn_app_with(|s| s.limits.verify_per_ip = "1/min".parse().unwrap()).await;
    let doc = document(&app).await;
    for (path, body) in [
        ("/v2/licenses/verify", VALID.to_vec()),
        ("/v1/licenses/activate", VALID.to_vec()),
    ] {
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let req = app.client.post(format!("{}{path}", app.api)).form(&body);
            let res = req.send().await.unwrap();
            statuses.push(assert_documented(&doc, path, "post", res).await);
        }
        assert!(statuses.contains(&429), "{path}: {statuses:?}");
    }
}
