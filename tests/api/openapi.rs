//! The OpenAPI document matches the routes: every documented path and method is served (not the
//! router's 404 or 405), and every public route is documented.

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
