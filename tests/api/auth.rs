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

/// The one client of `guessing_admin_tokens_*` whose guesses run out, and another one.
const GUESSER: &str = "203.0.113.66";
const NEIGHBOUR: &str = "203.0.113.67";

#[tokio::test]
async fn guessing_admin_tokens_gets_an_ip_refused_even_with_the_right_token() {
    let app = spawn_app_with(|s| {
        s.limits.failed_admin_auth_per_ip = "3/min".parse().unwrap();
        // We are 127.0.0.1: a trusted proxy naming its clients in X-Forwarded-For.
        s.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let user = format!("{}/v2/user", app.api);
    let from = |client: &str| {
        app.client
            .get(&user)
            .header("x-forwarded-for", format!("{client}, 127.0.0.1"))
    };
    // The right token spends nothing.
    let res = from(GUESSER).bearer_auth(ADMIN_TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let guesses = [
        from(GUESSER).bearer_auth("wrong-token-wrong-token-1"),
        from(GUESSER).query(&[("access_token", "wrong-token-wrong-token-2")]),
        from(GUESSER),
    ];
    for guess in guesses {
        assert_eq!(guess.send().await.unwrap().status(), 401);
    }
    let before = app.sandbox.request_count();
    // Spent: every admin call from that client is refused before a token is compared, the
    // right one too, wherever it is put.
    let refused = [
        from(GUESSER).bearer_auth("wrong-token-wrong-token-3"),
        from(GUESSER).bearer_auth(ADMIN_TOKEN),
        from(GUESSER).query(&[("access_token", ADMIN_TOKEN)]),
        from(GUESSER).json(&json!({ "access_token": ADMIN_TOKEN })),
    ];
    for req in refused {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 429);
        assert_eq!(
            res.headers()["ratelimit-policy"],
            r#""admin_auth";q=3;w=60"#
        );
        let retry: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=20).contains(&retry), "{retry}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["success"], false);
        assert!(body["message"].as_str().unwrap().contains("Too many"));
    }
    assert_eq!(app.sandbox.request_count(), before, "nothing went upstream");

    // Another client behind the same proxy, and the public surface, are not affected.
    let res = from(NEIGHBOUR)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .client
        .post(format!("{}/v2/licenses/verify", app.api))
        .header("x-forwarded-for", GUESSER)
        .form(&VALID)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let m = app.metrics().await;
    assert_eq!(
        sample(&m, r#"gumgate_inbound_limited_total{limit="admin_auth"}"#),
        4.0
    );
}

/// Without a trusted proxy the socket is the client: a forged X-Forwarded-For does not give a
/// guesser fresh attempts.
#[tokio::test]
async fn a_forged_forwarded_for_does_not_reset_admin_guessing() {
    let app =
        spawn_app_with(|s| s.limits.failed_admin_auth_per_ip = "2/min".parse().unwrap()).await;
    let user = format!("{}/v2/user", app.api);
    for (i, expected) in [(1, 401), (2, 401), (3, 429)] {
        let res = app
            .client
            .get(&user)
            .bearer_auth("wrong-token-wrong-token")
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    assert_eq!(app.sandbox.request_count(), 0);
}

/// A token in the body is compared once the body has arrived; a lockout that began meanwhile
/// refuses it then. Otherwise a guesser could open many slow requests while it still had
/// attempts left and have every one of them compared later.
#[tokio::test]
async fn a_lockout_that_begins_while_a_body_arrives_refuses_its_token() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app =
        spawn_app_with(|s| s.limits.failed_admin_auth_per_ip = "2/min".parse().unwrap()).await;
    let body = format!("access_token={ADMIN_TOKEN}");
    let mut slow = tokio::net::TcpStream::connect(app.api_addr).await.unwrap();
    let head = format!(
        "GET /v2/user HTTP/1.1\r\nHost: gumgate\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&body.as_bytes()[..5]).await.unwrap();
    // The slow request is being served (its body awaited) before the guessing starts.
    while sample(&app.metrics().await, "gumgate_http_requests_in_flight") < 1.0 {
        tokio::task::yield_now().await;
    }
    let user = format!("{}/v2/user", app.api);
    for expected in [401, 401, 429] {
        let res = app
            .client
            .get(&user)
            .bearer_auth("wrong-token-wrong-token")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), expected);
    }
    slow.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 429"), "{answer}");
    assert_eq!(app.sandbox.request_count(), 0);
}

/// Admin actions say which admin token made them, by its name (`name:token`; an unnamed token
/// is `admin-<n>`), never the token; global ones (the cache purge) get an audit row too.
#[tokio::test]
async fn admin_actions_are_audited_under_the_tokens_name() {
    let app = spawn_app().await;
    let res = app
        .admin(Method::DELETE, "/admin/cache")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let trail = app.state.store.audit_trail("-", 10).await.unwrap();
    let purge = trail
        .iter()
        .find(|e| e.action == "cache_purge")
        .expect("audited");
    assert_eq!(purge.detail.as_deref(), Some("by admin-1"));
    assert!(!format!("{trail:?}").contains(ADMIN_TOKEN));
}
