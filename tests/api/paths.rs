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
