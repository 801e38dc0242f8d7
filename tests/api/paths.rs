//! Path safety: no spelling of a path reaches anything upstream but `/gumroad/v2/...`, and
//! Maton's `/connections` only through the admin routes.

use crate::helpers::*;

#[tokio::test]
async fn every_escape_spelling_gets_400_and_nothing_reaches_upstream() {
    let app = spawn_app().await;
    let spellings = [
        "/v2/../connections",
        "/v2/..%2fconnections",
        "/v2/%2e%2e/connections",
        "/v2/%2E%2E/connections",
        "/v2/.%2e/connections",
        "/v2/%2e./connections",
        "/v2/./user",
        "/v2//user",
        "/v2/sales%2f..%2f..%2fconnections",
        "/v2/sales%5c..%5cconnections",
        "/v2/%252e%252e/connections",
        "/v2/user/",
        "/v2/user%00",
        "/v2/licenses/../../connections",
        "/admin/connections/..",
        "/admin/connections/%2e%2e",
        "/admin/connections/x%2fy",
    ];
    for path in spellings {
        let (status, text) = app
            .raw(&format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains(r#""success":false"#), "{path}: {text}");
    }
    assert_eq!(app.sandbox.request_count(), 0);
}

#[tokio::test]
async fn nothing_but_v2_and_admin_routes_is_forwarded() {
    let app = spawn_app().await;
    for path in [
        "/connections",
        "/gumroad/v2/user",
        "/v1/user",
        "/connections/x",
        "/v2",
    ] {
        let (status, text) = app
            .raw(&format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(status, 404, "{path}: {text}");
    }
    // An absolute-form request target cannot smuggle another host or path either.
    let (status, _) = app
        .raw(&format!(
            "GET http://evil.example/connections HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n"
        ))
        .await;
    assert_eq!(status, 404);
    assert_eq!(app.sandbox.request_count(), 0);
}

/// Spellings that survive the plain dot-segment checks but that some server, proxy or file
/// system on the way could read as a step up or a separator: `;` path params (`..;` is `..`
/// to Tomcat and friends), segments starting with `..`, and Unicode dot and slash look-alikes.
#[tokio::test]
async fn semicolons_dot_prefixes_and_lookalikes_get_400_and_nothing_reaches_upstream() {
    let app = spawn_app().await;
    let spellings = [
        "/v2/sales/..;/..;/connections",
        "/v2/sales/..%3B/connections",
        "/v2/user;jsessionid=x",
        "/v2/sales/x%3By",
        "/v2/sales/..x",
        "/v2/sales/...",
        // U+2024 ONE DOT LEADER, U+FF0E FULLWIDTH FULL STOP, U+FE52 SMALL FULL STOP
        "/v2/%E2%80%A4%E2%80%A4/connections",
        "/v2/%EF%BC%8E%EF%BC%8E/connections",
        "/v2/%EF%B9%92%EF%B9%92/connections",
        // U+2025 TWO DOT LEADER, U+2026 HORIZONTAL ELLIPSIS, U+3002, U+FF61
        "/v2/%E2%80%A5/connections",
        "/v2/sales/%E2%80%A6",
        "/v2/sales/%E3%80%82%E3%80%82",
        "/v2/sales/%EF%BD%A1%EF%BD%A1",
        // U+FF0F FULLWIDTH SOLIDUS, U+2215 DIVISION SLASH, U+2044 FRACTION SLASH,
        // U+29F8 BIG SOLIDUS, U+FF3C FULLWIDTH REVERSE SOLIDUS
        "/v2/sales%EF%BC%8F..%EF%BC%8Fconnections",
        "/v2/sales%E2%88%95x",
        "/v2/sales%E2%81%84x",
        "/v2/sales%E2%A7%B8x",
        "/v2/sales%EF%BC%BCx",
        // Control characters: DEL and a C1 one.
        "/v2/sales/x%7Fy",
        "/v2/sales/x%C2%85y",
    ];
    for path in spellings {
        let (status, text) = app
            .raw(&format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains(r#""success":false"#), "{path}: {text}");
    }
    assert_eq!(
        app.sandbox.request_count(),
        0,
        "{:?}",
        app.sandbox.requests()
    );
}

/// Every segment that is allowed goes upstream percent-encoded: a custom field's name carries
/// spaces (and may carry `?` or `#`), and must name the same field upstream.
#[tokio::test]
async fn custom_field_names_with_spaces_reach_upstream_encoded() {
    let app = spawn_app().await;
    let product = gumgate_sandbox::seed::PRODUCT_ONE_TIME;
    let fields = format!("/v2/products/{product}/custom_fields");
    for name in ["Company Name", "Why? #1"] {
        let res = app
            .admin(reqwest::Method::POST, &fields)
            .form(&[("name", name)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let encoded: String = name
            .replace(' ', "%20")
            .replace('?', "%3F")
            .replace('#', "%23");
        let one = format!("{fields}/{encoded}");
        let res = app
            .admin(reqwest::Method::PUT, &one)
            .form(&[("required", "true")])
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["success"], true, "{name}: {body}");
        assert_eq!(body["custom_field"]["name"], name);
        assert_eq!(body["custom_field"]["required"], true);
        let last = app.sandbox.requests().pop().unwrap();
        assert_eq!(last.path, format!("/gumroad{one}"));
        let res = app
            .admin(reqwest::Method::DELETE, &one)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["success"], true, "{name}: {body}");
    }
}

/// The passthrough forwards GET, POST, PUT and DELETE (and HEAD, which axum answers on GET
/// routes); any other method is 405 in Gumroad's shape and never sent: `TRACE` against an
/// upstream that echoes would hand back our Maton key, `CONNECT` asks a proxy for a tunnel.
#[tokio::test]
async fn only_get_post_put_delete_pass_through() {
    let app = spawn_app().await;
    for method in ["CONNECT", "TRACE", "PATCH", "OPTIONS", "PROPFIND", "FOO"] {
        let (status, text) = app
            .raw(&format!(
                "{method} /v2/user HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ))
            .await;
        assert_eq!(status, 405, "{method}: {text}");
        assert!(text.contains(r#""success":false"#), "{method}: {text}");
        assert!(!text.contains(MATON_KEY), "{method}: {text}");
    }
    assert_eq!(
        app.sandbox.request_count(),
        0,
        "{:?}",
        app.sandbox.requests()
    );

    let res = app
        .admin(reqwest::Method::HEAD, "/v2/user")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .admin(reqwest::Method::GET, "/v2/user")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let methods: Vec<String> = app
        .sandbox
        .requests()
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert_eq!(methods, ["HEAD", "GET"]);
}
