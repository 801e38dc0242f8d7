//! The admin token: accepted where a Gumroad client puts its OAuth token, refused otherwise,
//! and never forwarded.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn missing_or_wrong_token_gets_401_in_gumroad_shape_and_nothing_upstream() {
    let app = spawn_app().await;
    let url = format!("{}/v2/user", app.api);
    let attempts = [
        app.client.get(&url),
        app.client.get(&url).bearer_auth("wrong-token-wrong-token"),
        app.client
            .get(format!("{url}?access_token=wrong-token-wrong-token")),
        app.client.get(&url).basic_auth("admin", Some(ADMIN_TOKEN)),
        // A wrong header is not rescued by a right param: the header wins, as in Doorkeeper.
        app.client
            .get(format!("{url}?access_token={ADMIN_TOKEN}"))
            .bearer_auth("wrong-token-wrong-token"),
        app.client.get(format!("{}/admin/connections", app.api)),
    ];
    for req in attempts {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().contains_key("www-authenticate"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert!(body["message"].as_str().unwrap().contains("access token"));
    }
    assert_eq!(app.sandbox.request_count(), 0);
}

#[tokio::test]
async fn token_is_accepted_wherever_gumroad_clients_put_it_and_never_forwarded() {
    let app = spawn_app().await;
    let url = format!("{}/v2/user", app.api);
    let ways = [
        app.client.get(&url).bearer_auth(ADMIN_TOKEN),
        app.client.get(format!("{url}?access_token={ADMIN_TOKEN}")),
        // pygumroad: a form body on a GET.
        app.client
            .get(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("access_token={ADMIN_TOKEN}")),
        app.client
            .get(&url)
            .json(&json!({ "access_token": ADMIN_TOKEN })),
    ];
    for req in ways {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.json::<Value>().await.unwrap()["success"], true);
    }
    let res = app
        .client
        .put(format!(
            "{}/v2/products/{}",
            app.api,
            gumgate_sandbox::seed::PRODUCT_ONE_TIME
        ))
        .form(&[("access_token", ADMIN_TOKEN), ("name", "Renamed")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let seen = app.sandbox.requests();
    assert_eq!(seen.len(), 5);
    for r in &seen {
        let everything = format!("{:?} {:?} {}", r.headers, r.query, r.body);
        assert!(
            !everything.contains(ADMIN_TOKEN),
            "admin token reached upstream: {everything}"
        );
        assert!(
            !everything.contains("access_token"),
            "access_token reached upstream: {everything}"
        );
        let auth = r
            .headers
            .iter()
            .find(|(k, _)| k == "authorization")
            .unwrap();
        assert_eq!(auth.1, format!("Bearer {MATON_KEY}"));
    }
    assert_eq!(seen[4].body, "name=Renamed");
}

#[tokio::test]
async fn bad_token_on_a_mutation_changes_nothing() {
    let app = spawn_app().await;
    let res = app
        .client
        .request(
            Method::DELETE,
            format!(
                "{}/v2/products/{}",
                app.api,
                gumgate_sandbox::seed::PRODUCT_ONE_TIME
            ),
        )
        .bearer_auth("not-the-admin-token-000")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(app.sandbox.request_count(), 0);
}

#[tokio::test]
async fn bracketed_access_token_spellings_never_reach_upstream() {
    let app = spawn_app().await;
    let res = app
        .admin(
            Method::GET,
            "/v2/user?access_token%5B%5D=leak-one&access_token[x]=leak-two",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(format!(
            "{}/v2/licenses/verify?access_token[]=leak-three",
            app.api
        ))
        .form(&VALID)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for r in app.sandbox.requests() {
        let all = format!("{:?} {:?} {}", r.headers, r.query, r.body);
        assert!(
            !all.contains("leak-") && !all.contains("access_token"),
            "{all}"
        );
    }
}

/// A wrong `Authorization` header is refused before a byte of the body is read: a body over the
/// limit gets 401, not 413. Without a header the token may sit in the body, so it is read (and
/// then refused as too large).
#[tokio::test]
async fn a_bad_header_token_is_refused_before_the_body_is_read() {
    let app = spawn_app().await;
    let url = format!("{}/v2/products", app.api);
    let big = "x".repeat(app.state.settings.server.max_body_bytes + 1);
    let with_header = app
        .client
        .post(&url)
        .bearer_auth("wrong-token-wrong-token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("name={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), 401);
    let without = app
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token=wrong-token-wrong-token&name={big}"))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 413);
    assert_eq!(app.sandbox.request_count(), 0);
}

/// Spellings of `access_token` in another case or with padding are taken out of the query, the
/// form body and the JSON body like the exact name, so no spelling carries a token upstream;
/// but only the exact name authenticates, as at Gumroad (Doorkeeper reads `access_token`).
#[tokio::test]
async fn access_token_in_other_cases_or_padded_is_stripped_and_never_authenticates() {
    let app = spawn_app().await;
    let product = gumgate_sandbox::seed::PRODUCT_ONE_TIME;
    let res = app
        .admin(
            Method::GET,
            "/v2/user?ACCESS_TOKEN=leak-a&Access_Token=leak-b&access_token%20=leak-c&%20access_token=leak-d&access_token%5D=leak-e&%5Baccess_token%5D=leak-f",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .admin(Method::GET, "/v2/user")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("ACCESS_TOKEN=leak-g&Access_Token%5B%5D=leak-h")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .admin(Method::PUT, &format!("/v2/products/{product}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Access_Token=leak-i&name=Renamed&%09access_token%09=leak-j")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .admin(Method::PUT, &format!("/v2/products/{product}"))
        .json(&json!({ "ACCESS_TOKEN": "leak-k", " access_token": "leak-l", "name": "Again" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(format!(
            "{}/v2/licenses/verify?Access_Token=leak-m",
            app.api
        ))
        .form(&VALID)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = app.sandbox.requests();
    assert_eq!(seen.len(), 5);
    for r in &seen {
        let all = format!("{:?} {:?} {}", r.headers, r.query, r.body);
        assert!(
            !all.contains("leak-") && !all.to_ascii_lowercase().contains("access_token"),
            "{all}"
        );
    }
    assert_eq!(seen[2].body, "name=Renamed");
    assert_eq!(seen[3].body, r#"{"name":"Again"}"#);

    // None of those spellings is the token, even when it holds the right one.
    let url = format!("{}/v2/user", app.api);
    let attempts = [
        app.client.get(format!("{url}?ACCESS_TOKEN={ADMIN_TOKEN}")),
        app.client
            .get(format!("{url}?access_token%20={ADMIN_TOKEN}")),
        app.client
            .get(format!("{url}?%20access_token={ADMIN_TOKEN}")),
        app.client
            .get(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("Access_Token={ADMIN_TOKEN}")),
        app.client
            .post(&url)
            .json(&json!({ " access_token": ADMIN_TOKEN })),
    ];
    for req in attempts {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
    }
    assert_eq!(app.sandbox.request_count(), 5);
}
