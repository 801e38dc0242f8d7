//! The public verify: no token needed, upstream's answer passed back exactly, credentials and
//! account choice never forwarded.

use gumgate_sandbox::seed;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn verify_needs_no_token_and_passes_upstream_answer_through() {
    let app = spawn_app().await;
    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["uses"], 1);
    assert_eq!(body["purchase"]["license_key"], seed::LICENSE_VALID);

    // The same call made directly sees the count our call left behind: it really went upstream.
    let direct: Value = app
        .direct(reqwest::Method::POST, "/v2/licenses/verify")
        .form(&VALID)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(direct["uses"], 2);
    assert_eq!(direct["purchase"], body["purchase"]);
    assert_eq!(app.sandbox.request_count(), 2);
}

#[tokio::test]
async fn json_and_query_params_are_accepted() {
    let app = spawn_app().await;
    let res = app
        .verify_json(json!({
            "product_id": seed::PRODUCT_ONE_TIME,
            "license_key": seed::LICENSE_VALID.to_lowercase(),
            "increment_uses_count": false
        }))
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["uses"], 0);

    let res = app
        .client
        .post(format!(
            "{}/v2/licenses/verify?product_id={}&license_key={}",
            app.api,
            urlencode(seed::PRODUCT_ONE_TIME),
            seed::LICENSE_VALID
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["uses"], 1);
}

#[tokio::test]
async fn gumroad_404_and_400_answers_pass_through_unchanged() {
    let app = spawn_app().await;
    let res = app
        .verify(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", "00000000-00000000-00000000-00000000"),
        ])
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"success": false, "message": "That license does not exist for the provided product."})
    );
    let res = app
        .verify(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_DISABLED),
        ])
        .await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "This license key has been disabled."
    );

    let res = app
        .verify_json(json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": 42}))
        .await;
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "The 'license_key' parameter must be a string."
    );
}

#[tokio::test]
async fn caller_credentials_and_connection_choice_are_not_forwarded() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!(
            "{}/v2/licenses/verify?access_token=query-secret",
            app.api
        ))
        .bearer_auth("caller-secret-token")
        .header("cookie", "session=cookie-secret")
        .header("maton-connection", seed::CONNECTION_B)
        .form(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
            ("access_token", "form-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = app.sandbox.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    let auth: Vec<_> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "authorization")
        .collect();
    assert_eq!(auth.len(), 1);
    assert_eq!(auth[0].1, format!("Bearer {MATON_KEY}"));
    assert!(
        !r.headers
            .iter()
            .any(|(k, _)| k == "cookie" || k == "maton-connection")
    );
    let everything = format!("{:?} {:?} {}", r.headers, r.query, r.body);
    for secret in [
        "query-secret",
        "caller-secret-token",
        "form-secret",
        "cookie-secret",
        "access_token",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} reached upstream: {everything}"
        );
    }
    assert!(r.body.contains("license_key="));
    let ua = r.headers.iter().find(|(k, _)| k == "user-agent").unwrap();
    assert!(ua.1.starts_with("gumgate/"));
}

#[tokio::test]
async fn malformed_or_unsupported_bodies_never_reach_upstream() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(format!("{}/v2/licenses/verify", app.api))
        .header("content-type", "application/json")
        .body("{\"license_key\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["success"], false);

    let res = app
        .client
        .post(format!("{}/v2/licenses/verify", app.api))
        .header("content-type", "text/plain")
        .body("license_key=x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(app.sandbox.request_count(), 0);
}

pub fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// JSON is UTF-8 (RFC 8259): a JSON body that declares another charset is 415, never read one
/// way here and another way upstream. UTF-8, however spelled, and no charset are fine; a form
/// body's charset is ignored, as Rails ignores it.
#[tokio::test]
async fn json_in_another_charset_is_415_and_never_reaches_upstream() {
    let app = spawn_app().await;
    let body = serde_json::json!({
        "product_id": gumgate_sandbox::seed::PRODUCT_ONE_TIME,
        "license_key": gumgate_sandbox::seed::LICENSE_VALID,
    })
    .to_string();
    let url = format!("{}/v2/licenses/verify", app.api);
    for ct in [
        "application/json; charset=utf-16",
        "application/json; charset=\"UTF-16LE\"",
        "application/json;charset=iso-8859-1",
        "application/vnd.api+json; charset=utf-32",
    ] {
        let res = app
            .client
            .post(&url)
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 415, "{ct}");
        assert_eq!(res.json::<Value>().await.unwrap()["success"], false);
    }
    let res = app
        .admin(
            reqwest::Method::PUT,
            &format!("/v2/products/{}", gumgate_sandbox::seed::PRODUCT_ONE_TIME),
        )
        .header("content-type", "application/json; charset=utf-16")
        .body(r#"{"name":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 415);
    assert_eq!(app.sandbox.request_count(), 0);

    for ct in [
        "application/json",
        "application/json; charset=utf-8",
        "application/json;charset=\"UTF-8\"",
    ] {
        let res = app
            .client
            .post(&url)
            .header("content-type", ct)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{ct}");
    }
    let res = app
        .client
        .post(&url)
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=ISO-8859-1",
        )
        .body(format!(
            "product_id={}&license_key={}",
            gumgate_sandbox::seed::PRODUCT_ONE_TIME,
            gumgate_sandbox::seed::LICENSE_VALID
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
