//! Drives the sandbox over a real socket: Maton's auth, routing, rate limit and faults, and
//! Gumroad's license, sales and catalogue semantics as GUMROAD.md describes them.

use std::time::{Duration, Instant};

use gumgate_sandbox::{DEFAULT_API_KEY, Faults, SandboxConfig, SandboxHandle, seed::*, spawn};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

const INSUFFICIENT_SCOPE: &str = "Bearer realm=\"Doorkeeper\", error=\"insufficient_scope\", \
     error_description=\"The request requires higher privileges than provided by the access token.\"";

/// A sandbox plus a client that talks to it as seller A (the default connection).
struct Sb {
    handle: SandboxHandle,
    http: reqwest::Client,
}

impl Sb {
    async fn start(config: SandboxConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let handle = spawn(listener, config).await;
        Self {
            handle,
            http: client(),
        }
    }

    /// Most tests make more than 10 calls a second; the limit has its own test.
    async fn unlimited() -> Self {
        Self::start(SandboxConfig {
            rate_limit: 0,
            ..SandboxConfig::default()
        })
        .await
    }

    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.handle.base_url()))
            .bearer_auth(DEFAULT_API_KEY)
    }

    fn gum(&self, method: Method, path: &str) -> RequestBuilder {
        self.req(method, &format!("/gumroad/v2{path}"))
    }

    async fn verify(&self, params: &[(&str, &str)]) -> (u16, Value) {
        send(self.gum(Method::POST, "/licenses/verify").form(params)).await
    }

    async fn license_put(&self, action: &str, key: &str, conn: &str) -> (u16, Value) {
        let rb = self.gum(Method::PUT, &format!("/licenses/{action}"));
        send(
            rb.header("Maton-Connection", conn)
                .form(&[("product_id", PRODUCT_ONE_TIME), ("license_key", key)]),
        )
        .await
    }
}

/// reqwest is built with `rustls-no-provider`; even a plain-http client needs a provider
/// installed before it can be built. Installing twice is harmless (the second call fails).
fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// Status and JSON body (`Null` for an empty body).
async fn send(rb: RequestBuilder) -> (u16, Value) {
    let response = rb.send().await.expect("sandbox answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn not_found(message: &str) -> Value {
    json!({"success": false, "message": message})
}

const DOES_NOT_EXIST: &str = "That license does not exist for the provided product.";
const DISABLED: &str = "This license key has been disabled.";
const REVOKED: &str = "Access to the purchase associated with this license has expired.";

#[tokio::test]
async fn verify_counts_uses_unless_increment_is_exactly_false() {
    let sb = Sb::unlimited().await;
    let base = [
        ("product_id", PRODUCT_ONE_TIME),
        ("license_key", LICENSE_VALID),
    ];
    let (status, body) = sb.verify(&base).await;
    assert_eq!(
        (status, body["success"].clone(), body["uses"].clone()),
        (200, json!(true), json!(1))
    );
    assert_eq!(sb.verify(&base).await.1["uses"], 2);
    let with = |v| [base[0], base[1], ("increment_uses_count", v)];
    assert_eq!(sb.verify(&with("false")).await.1["uses"], 2);
    let json_false = json!({"product_id": PRODUCT_ONE_TIME, "license_key": LICENSE_VALID, "increment_uses_count": false});
    let (_, body) = send(sb.gum(Method::POST, "/licenses/verify").json(&json_false)).await;
    assert_eq!(body["uses"], 2);
    assert_eq!(sb.verify(&with("0")).await.1["uses"], 3);
    assert_eq!(sb.verify(&with("False")).await.1["uses"], 4);
    // Query-string params on the POST count too.
    let query = format!(
        "/licenses/verify?product_id={PRODUCT_ONE_TIME}&license_key={LICENSE_VALID}&increment_uses_count=false"
    );
    assert_eq!(send(sb.gum(Method::POST, &query)).await.1["uses"], 4);
}

#[tokio::test]
async fn extra_licenses_verify_up_to_but_not_including_n() {
    let sb = Sb::start(SandboxConfig {
        rate_limit: 0,
        extra_licenses: 1_000_000,
        ..SandboxConfig::default()
    })
    .await;
    assert_eq!(extra_license_key(0), "EB000000-00000000-FFFFFFFF-00000000");
    let last = extra_license_key(999_999);
    let (status, body) = sb
        .verify(&[("product_id", PRODUCT_ONE_TIME), ("license_key", &last)])
        .await;
    assert_eq!((status, body["success"].clone()), (200, json!(true)));
    let purchase = &body["purchase"];
    assert_eq!(purchase["license_key"], last.as_str());
    assert_eq!(purchase["product_id"], PRODUCT_ONE_TIME);
    assert_eq!(purchase["email"], "buyer1099999@customer.example");
    assert_eq!(body["uses"], 1);
    let (_, first) = sb
        .verify(&[
            ("product_id", PRODUCT_ONE_TIME),
            ("license_key", &extra_license_key(0)),
            ("increment_uses_count", "false"),
        ])
        .await;
    assert_eq!(first["uses"], 0);
    assert_ne!(first["purchase"]["sale_id"], purchase["sale_id"]);
    assert_ne!(first["purchase"]["order_number"], purchase["order_number"]);

    let (status, body) = sb
        .verify(&[
            ("product_id", PRODUCT_ONE_TIME),
            ("license_key", &extra_license_key(1_000_000)),
        ])
        .await;
    assert_eq!((status, body), (404, not_found(DOES_NOT_EXIST)));
}

#[tokio::test]
async fn keys_match_case_insensitively_and_trimmed() {
    let sb = Sb::unlimited().await;
    let key = format!("  {}  ", LICENSE_VALID.to_lowercase());
    let (status, body) = sb
        .verify(&[("product_id", PRODUCT_ONE_TIME), ("license_key", &key)])
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["purchase"]["license_key"], LICENSE_VALID);
}

#[tokio::test]
async fn the_three_404s_carry_gumroads_messages_and_do_not_count() {
    let sb = Sb::unlimited().await;
    for (product, key, message) in [
        (
            PRODUCT_ONE_TIME,
            "00000000-00000000-00000000-00000000",
            DOES_NOT_EXIST,
        ),
        (PRODUCT_MEMBERSHIP, LICENSE_VALID, DOES_NOT_EXIST),
        ("not-a-product", LICENSE_VALID, DOES_NOT_EXIST),
        (PRODUCT_ONE_TIME, LICENSE_DISABLED, DISABLED),
        (PRODUCT_ONE_TIME, LICENSE_REFUNDED_DISABLED, DISABLED),
        (PRODUCT_ONE_TIME, LICENSE_REVOKED, REVOKED),
    ] {
        let (status, body) = sb
            .verify(&[("product_id", product), ("license_key", key)])
            .await;
        assert_eq!((status, body), (404, not_found(message)), "{key}");
    }
    // Revocation is checked while fetching the license, so the seller's edits hit it too.
    let (status, body) = sb
        .license_put("enable", LICENSE_REVOKED, CONNECTION_A)
        .await;
    assert_eq!((status, body), (404, not_found(REVOKED)));
    // Enabling shows the count: the refused verify did not increment it.
    let (status, body) = sb
        .license_put("enable", LICENSE_DISABLED, CONNECTION_A)
        .await;
    assert_eq!((status, body["uses"].clone()), (200, json!(0)));
}

#[tokio::test]
async fn missing_product_id_is_a_500_for_new_products_only() {
    let sb = Sb::unlimited().await;
    let (status, body) = sb.verify(&[("license_key", LICENSE_VALID)]).await;
    assert_eq!(status, 500);
    let message = format!(
        "The 'product_id' parameter is required to verify the license for this product. \
         Please set 'product_id' to '{PRODUCT_ONE_TIME}' in the request."
    );
    assert_eq!(body, not_found(&message));
    let (status, body) = sb.verify(&[("license_key", LICENSE_LEGACY)]).await;
    assert_eq!(
        (status, body["purchase"]["product_id"].clone()),
        (200, json!(PRODUCT_LEGACY))
    );
    let by_permalink = [
        ("product_permalink", "sbxlg"),
        ("license_key", LICENSE_LEGACY),
    ];
    assert_eq!(sb.verify(&by_permalink).await.0, 200);
    let wrong = [("link_id", "nope"), ("license_key", LICENSE_LEGACY)];
    assert_eq!(sb.verify(&wrong).await, (404, not_found(DOES_NOT_EXIST)));
}

#[tokio::test]
async fn non_string_params_are_a_400_naming_the_param() {
    let sb = Sb::unlimited().await;
    let message = |name: &str| not_found(&format!("The '{name}' parameter must be a string."));
    let rb = sb.gum(Method::POST, "/licenses/verify");
    let (status, body) =
        send(rb.json(&json!({"product_id": PRODUCT_ONE_TIME, "license_key": 5}))).await;
    assert_eq!((status, body), (400, message("license_key")));
    let rb = sb.gum(Method::POST, "/licenses/verify");
    let (status, body) =
        send(rb.json(&json!({"product_id": [PRODUCT_ONE_TIME], "license_key": LICENSE_VALID})))
            .await;
    assert_eq!((status, body), (400, message("product_id")));
    let rb = sb
        .gum(Method::POST, "/licenses/verify")
        .header("content-type", "application/x-www-form-urlencoded");
    let form = format!("product_id={PRODUCT_ONE_TIME}&license_key[]={LICENSE_VALID}");
    let (status, body) = send(rb.body(form)).await;
    assert_eq!((status, body), (400, message("license_key")));
}

#[tokio::test]
async fn one_time_and_membership_purchases_differ_like_gumroads() {
    let sb = Sb::unlimited().await;
    let (_, body) = sb
        .verify(&[
            ("product_id", PRODUCT_ONE_TIME),
            ("license_key", LICENSE_VALID),
        ])
        .await;
    let p = &body["purchase"];
    assert_eq!(
        (p["refunded"].clone(), p["chargebacked"].clone()),
        (json!(false), json!(false))
    );
    assert!(p.get("subscription_id").is_none() && p.get("recurrence").is_none());
    assert_eq!(
        p["custom_fields"],
        json!([format!("{CUSTOM_FIELD_NAME}: Company 1")])
    );
    assert_eq!(p[CUSTOM_FIELD_NAME], "Company 1");
    assert_eq!(p["variants"], "(Premium)");
    assert_eq!(p["created_at"], "2026-01-10T14:15:40Z");
    assert_eq!(
        (p["id"].clone(), p["sale_id"].clone()),
        (json!(SALE_VALID), json!(SALE_VALID))
    );
    assert_eq!(p["test"], false);

    let (_, body) = sb
        .verify(&[
            ("product_id", PRODUCT_MEMBERSHIP),
            ("license_key", LICENSE_MEMBERSHIP_CANCELLED),
        ])
        .await;
    let p = &body["purchase"];
    assert!(p.get("chargebacked").is_none());
    assert_eq!(p["subscription_id"], SUBSCRIBER_CANCELLED);
    assert_eq!(
        (p["recurrence"].clone(), p["is_multiseat_license"].clone()),
        (json!("monthly"), json!(false))
    );
    assert!(p["subscription_cancelled_at"].is_string());
    assert!(p["subscription_ended_at"].is_null() && p["subscription_failed_at"].is_null());

    let (_, body) = sb
        .verify(&[
            ("product_id", PRODUCT_MEMBERSHIP),
            ("license_key", LICENSE_MEMBERSHIP_ENDED),
        ])
        .await;
    assert!(body["purchase"]["subscription_ended_at"].is_string());
    let (_, body) = sb
        .verify(&[
            ("product_id", PRODUCT_MEMBERSHIP),
            ("license_key", LICENSE_MEMBERSHIP_FAILED),
        ])
        .await;
    assert!(body["purchase"]["subscription_failed_at"].is_string());
}

#[tokio::test]
async fn troubled_one_time_purchases_still_verify() {
    let sb = Sb::unlimited().await;
    for (key, field) in [
        (LICENSE_REFUNDED, "refunded"),
        (LICENSE_CHARGEBACKED, "chargebacked"),
        (LICENSE_DISPUTED, "disputed"),
        (LICENSE_DISPUTE_WON, "dispute_won"),
        (LICENSE_TEST_PURCHASE, "test"),
    ] {
        let (status, body) = sb
            .verify(&[("product_id", PRODUCT_ONE_TIME), ("license_key", key)])
            .await;
        assert_eq!(
            (status, body["purchase"][field].clone()),
            (200, json!(true)),
            "{field}"
        );
    }
    let (_, body) = sb
        .verify(&[
            ("product_id", PRODUCT_ONE_TIME),
            ("license_key", LICENSE_MULTISEAT),
        ])
        .await;
    assert_eq!(body["purchase"]["quantity"], 5);
}

#[tokio::test]
async fn seller_edits_disable_enable_decrement_and_rotate() {
    let sb = Sb::unlimited().await;
    let verify = [
        ("product_id", PRODUCT_ONE_TIME),
        ("license_key", LICENSE_VALID),
    ];
    let (status, body) = sb.license_put("disable", LICENSE_VALID, CONNECTION_A).await;
    assert_eq!((status, body["success"].clone()), (200, json!(true)));
    assert_eq!(sb.verify(&verify).await, (404, not_found(DISABLED)));
    assert_eq!(
        sb.license_put("enable", LICENSE_VALID, CONNECTION_A)
            .await
            .0,
        200
    );
    assert_eq!(sb.verify(&verify).await.1["uses"], 1);
    assert_eq!(
        sb.license_put("decrement_uses_count", LICENSE_VALID, CONNECTION_A)
            .await
            .1["uses"],
        0
    );
    assert_eq!(
        sb.license_put("decrement_uses_count", LICENSE_VALID, CONNECTION_A)
            .await
            .1["uses"],
        0
    );

    let (status, body) = sb.license_put("rotate", LICENSE_VALID, CONNECTION_A).await;
    assert_eq!(status, 200);
    let new_key = body["purchase"]["license_key"].as_str().unwrap().to_owned();
    assert_ne!(new_key, LICENSE_VALID);
    let groups: Vec<&str> = new_key.split('-').collect();
    assert!(
        groups.len() == 4
            && groups.iter().all(|g| g.len() == 8
                && g.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()))
    );
    assert_eq!(sb.verify(&verify).await, (404, not_found(DOES_NOT_EXIST)));
    let (status, _) = sb
        .verify(&[("product_id", PRODUCT_ONE_TIME), ("license_key", &new_key)])
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn another_sellers_license_is_not_found_with_error() {
    let sb = Sb::unlimited().await;
    let rb = sb.gum(Method::PUT, "/licenses/disable");
    let (status, body) = send(rb.form(&[
        ("product_id", PRODUCT_SELLER_B),
        ("license_key", LICENSE_SELLER_B),
    ]))
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"success": false, "error": "Not found"}))
    );
    // Verify is not seller-scoped: seller A's connection verifies seller B's license.
    let (status, _) = sb
        .verify(&[
            ("product_id", PRODUCT_SELLER_B),
            ("license_key", LICENSE_SELLER_B),
        ])
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn seller_b_lacks_edit_products_scope() {
    let sb = Sb::unlimited().await;
    for action in ["enable", "disable", "decrement_uses_count", "rotate"] {
        let rb = sb
            .gum(Method::PUT, &format!("/licenses/{action}"))
            .header("Maton-Connection", CONNECTION_B);
        let response = rb
            .form(&[
                ("product_id", PRODUCT_SELLER_B),
                ("license_key", LICENSE_SELLER_B),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["www-authenticate"], INSUFFICIENT_SCOPE);
        assert_eq!(response.text().await.unwrap(), "", "{action}");
    }
    // Product edits need the same scope; reads do not.
    let path = format!("/products/{PRODUCT_SELLER_B}");
    let rb = sb
        .gum(Method::PUT, &path)
        .header("Maton-Connection", CONNECTION_B);
    assert_eq!(send(rb.form(&[("name", "x")])).await, (403, Value::Null));
    let rb = sb
        .gum(Method::GET, &path)
        .header("Maton-Connection", CONNECTION_B);
    assert_eq!(send(rb).await.1["product"]["id"], PRODUCT_SELLER_B);
}

#[tokio::test]
async fn sales_page_with_page_key_until_exhausted() {
    let sb = Sb::unlimited().await;
    let (mut seen, mut pages, mut path) = (Vec::<String>::new(), 0, "/sales".to_owned());
    loop {
        let (status, body) = send(sb.gum(Method::GET, &path)).await;
        assert_eq!(status, 200);
        pages += 1;
        let sales = body["sales"].as_array().unwrap();
        assert!(sales.len() <= 10);
        seen.extend(
            sales
                .iter()
                .map(|s| s["created_at"].as_str().unwrap().to_owned() + s["id"].as_str().unwrap()),
        );
        let Some(key) = body["next_page_key"].as_str() else {
            assert!(body.get("next_page_url").is_none());
            break;
        };
        assert_eq!(body["next_page_url"], format!("/v2/sales?page_key={key}"));
        path = format!("/sales?page_key={key}");
    }
    assert_eq!((seen.len(), pages), (SELLER_A_SALE_COUNT, 3));
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");
    sorted.dedup();
    assert_eq!(sorted.len(), SELLER_A_SALE_COUNT);
}

#[tokio::test]
async fn sales_page_key_in_a_get_form_body_and_json_suffix() {
    let sb = Sb::unlimited().await;
    let (_, first) = send(sb.gum(Method::GET, "/sales.json")).await;
    let key = first["next_page_key"].as_str().unwrap();
    let (_, second) = send(sb.gum(Method::GET, "/sales").form(&[("page_key", key)])).await;
    assert_ne!(first["sales"][0]["id"], second["sales"][0]["id"]);
}

#[tokio::test]
async fn bad_cursor_and_deep_legacy_page_are_400s() {
    let sb = Sb::unlimited().await;
    let (status, body) = send(sb.gum(Method::GET, "/sales?page_key=garbage")).await;
    assert_eq!(
        (status, body),
        (400, json!({"status": 400, "error": "Invalid page_key."}))
    );
    let (status, body) = send(sb.gum(Method::GET, "/sales?page=11")).await;
    let error = "The 'page' parameter is deprecated. Please use 'page_key' instead: https://gumroad.com/api#sales";
    assert_eq!(
        (status, body),
        (400, json!({"status": 400, "error": error}))
    );
    let (status, body) = send(sb.gum(Method::GET, "/sales?page=0")).await;
    let error = "Invalid page number. Page numbers start at 1.";
    assert_eq!(
        (status, body),
        (400, json!({"status": 400, "error": error}))
    );
    let (status, body) = send(sb.gum(Method::GET, "/sales?before=yesterday")).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("field 'before'"));
    let (status, body) = send(sb.gum(Method::GET, "/sales?product_id=nope")).await;
    assert_eq!(
        (status, body),
        (400, json!({"status": 400, "error": "Invalid product ID."}))
    );
    let (status, body) = send(sb.gum(Method::GET, "/sales?page=3")).await;
    assert_eq!((status, body["sales"].as_array().unwrap().len()), (200, 10));
}

#[tokio::test]
async fn sales_filters_and_sale_objects() {
    let sb = Sb::unlimited().await;
    let (_, body) = send(sb.gum(
        Method::GET,
        &format!("/sales?license_key={}", LICENSE_CHARGEBACKED.to_lowercase()),
    ))
    .await;
    let sale = &body["sales"][0];
    assert_eq!(body["sales"].as_array().unwrap().len(), 1);
    assert_eq!(
        (sale["id"].clone(), sale["chargedback"].clone()),
        (json!(SALE_CHARGEBACKED), json!(true))
    );
    assert!(
        sale.get("refunded").is_none(),
        "null/false refunded is dropped"
    );
    assert!(sale["order_id"].is_u64() && sale["custom_fields"].is_object());
    assert_eq!(sale["license_disabled"], false);
    let (_, body) = send(sb.gum(Method::GET, "/sales?after=2026-01-10&before=2026-01-14")).await;
    assert_eq!(
        body["sales"].as_array().unwrap().len(),
        2,
        "SALE_VALID and SALE_MULTISEAT: after inclusive, before exclusive"
    );
    let (_, body) = send(sb.gum(Method::GET, "/sales?after=2025-01-01")).await;
    let url = body["next_page_url"].as_str().unwrap();
    assert!(
        url.starts_with("/v2/sales?after=2025-01-01&page_key="),
        "filters kept: {url}"
    );
    let (_, body) = send(sb.gum(
        Method::GET,
        &format!("/sales?product_id={PRODUCT_MEMBERSHIP}"),
    ))
    .await;
    assert!(
        body["sales"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["subscription_id"].is_string())
    );
}

#[tokio::test]
async fn one_sale_or_a_200_not_found() {
    let sb = Sb::unlimited().await;
    let (status, body) = send(sb.gum(Method::GET, &format!("/sales/{SALE_VALID}"))).await;
    assert_eq!(
        (status, body["sale"]["variants"].clone()),
        (200, json!({"Tier": "Premium"}))
    );
    let (status, body) = send(sb.gum(Method::GET, "/sales/nope==")).await;
    assert_eq!((status, body), (200, not_found("The sale was not found.")));
    // Seller B cannot read seller A's sale.
    let rb = sb
        .gum(Method::GET, &format!("/sales/{SALE_VALID}"))
        .header("Maton-Connection", CONNECTION_B);
    assert_eq!(send(rb).await.1["success"], false);
}

#[tokio::test]
async fn maton_key_is_required() {
    let sb = Sb::unlimited().await;
    let url = format!("{}/gumroad/v2/user", sb.handle.base_url());
    let (status, body) = send(sb.http.get(&url)).await;
    assert_eq!(status, 401);
    assert!(body["error"].is_string());
    assert_eq!(send(sb.http.get(&url).bearer_auth("wrong")).await.0, 401);
    assert_eq!(
        send(sb.http.get(format!("{}/connections", sb.handle.base_url())))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn maton_connection_picks_the_seller() {
    let sb = Sb::unlimited().await;
    let user = |conn: Option<&str>| {
        let rb = sb.gum(Method::GET, "/user");
        send(match conn {
            Some(c) => rb.header("Maton-Connection", c),
            None => rb,
        })
    };
    assert_eq!(user(None).await.1["user"]["user_id"], SELLER_A_ID);
    assert_eq!(
        user(Some(CONNECTION_A)).await.1["user"]["name"],
        SELLER_A_NAME
    );
    assert_eq!(
        user(Some(CONNECTION_B)).await.1["user"]["user_id"],
        SELLER_B_ID
    );
    let (status, body) = user(Some("no-such-connection")).await;
    assert_eq!(status, 400);
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn connections_are_listed_created_and_deleted() {
    let sb = Sb::unlimited().await;
    let (_, body) = send(sb.req(Method::GET, "/connections?app=gumroad&status=ACTIVE")).await;
    let ids: Vec<&str> = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["connection_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [CONNECTION_A, CONNECTION_B]);
    let (status, body) = send(
        sb.req(Method::POST, "/connections")
            .json(&json!({"app": "gumroad"})),
    )
    .await;
    assert_eq!(
        (status, body["connection"]["status"].clone()),
        (200, json!("PENDING"))
    );
    let id = body["connection"]["connection_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, body) = send(sb.req(Method::GET, &format!("/connections/{id}"))).await;
    assert_eq!(body["connection"]["app"], "gumroad");
    // A PENDING connection cannot carry Gumroad calls.
    let rb = sb.gum(Method::GET, "/user").header("Maton-Connection", &id);
    assert_eq!(send(rb).await.0, 400);
    let (status, _) = send(sb.req(Method::DELETE, &format!("/connections/{CONNECTION_A}"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        send(sb.gum(Method::GET, "/user")).await.1["user"]["user_id"],
        SELLER_B_ID,
        "B is now the oldest"
    );
    assert_eq!(
        send(sb.req(Method::GET, &format!("/connections/{CONNECTION_A}")))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn over_the_rate_limit_is_a_429() {
    let sb = Sb::start(SandboxConfig {
        rate_limit: 3,
        ..SandboxConfig::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
    }
    let response = sb.gum(Method::GET, "/user").send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_none());

    let config = SandboxConfig {
        rate_limit: 1,
        rate_limit_retry_after: Some(1),
        ..SandboxConfig::default()
    };
    let sb = Sb::start(config).await;
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
    let response = sb.gum(Method::GET, "/user").send().await.unwrap();
    assert_eq!(
        (
            response.status().as_u16(),
            response.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "1")
    );
}

#[tokio::test]
async fn fail_next_answers_the_fault_then_recovers() {
    let sb = Sb::unlimited().await;
    sb.handle.set_faults(Faults {
        fail_next: 2,
        fail_status: 502,
        ..Faults::default()
    });
    for _ in 0..2 {
        let response = sb.gum(Method::GET, "/user").send().await.unwrap();
        assert_eq!(response.status(), 502);
        assert!(response.headers().get("retry-after").is_none());
    }
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
    sb.handle.set_faults(Faults {
        fail_next: 1,
        fail_status: 429,
        retry_after: Some("2".into()),
        ..Faults::default()
    });
    let response = sb.gum(Method::GET, "/user").send().await.unwrap();
    assert_eq!(
        (
            response.status().as_u16(),
            response.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "2")
    );
    sb.handle.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });
    assert_eq!(
        send(sb.gum(Method::GET, "/user")).await.0,
        503,
        "default error status"
    );
}

#[tokio::test]
async fn a_fault_can_answer_any_body_even_with_a_200() {
    let sb = Sb::unlimited().await;
    let page = "<html><body>Down for maintenance</body></html>";
    sb.handle.set_faults(Faults {
        fail_next: 1,
        fail_status: 200,
        fail_body: Some(page.into()),
        fail_content_type: Some("text/html; charset=utf-8".into()),
        ..Faults::default()
    });
    let response = sb.gum(Method::GET, "/user").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), page);
    // Without a content type, none is sent; the body is still exactly the one given.
    sb.handle.set_faults(Faults {
        fail_next: 1,
        fail_status: 200,
        fail_body: Some("{\"success\":tru".into()),
        ..Faults::default()
    });
    let response = sb.gum(Method::GET, "/user").send().await.unwrap();
    assert!(response.headers().get("content-type").is_none());
    assert_eq!(response.text().await.unwrap(), "{\"success\":tru");
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
    assert_eq!(sb.handle.requests()[0].status, 200);
}

#[tokio::test]
async fn latency_delays_the_answer() {
    let sb = Sb::unlimited().await;
    sb.handle.set_faults(Faults {
        latency_ms: 150,
        ..Faults::default()
    });
    let started = Instant::now();
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn refused_connections_are_transport_errors() {
    let sb = Sb::unlimited().await;
    // Warm the pool: a kept-alive connection must break too, not only new ones.
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
    sb.handle.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let pooled = sb.gum(Method::GET, "/user").send().await.unwrap_err();
    assert!(pooled.status().is_none());
    let url = format!("{}/gumroad/v2/user", sb.handle.base_url());
    let fresh = client().get(url).send().await.unwrap_err();
    assert!(fresh.status().is_none());
    sb.handle.set_faults(Faults::default());
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
}

#[tokio::test]
async fn faults_and_requests_are_steerable_over_http() {
    let sb = Sb::unlimited().await;
    let control = |m: Method, p: &str| {
        sb.http
            .request(m, format!("{}/_sandbox{p}", sb.handle.base_url()))
    };
    let (status, _) =
        send(control(Method::PUT, "/faults").json(&json!({"fail_next": 1, "fail_status": 500})))
            .await;
    assert_eq!(status, 200);
    assert_eq!(
        send(control(Method::GET, "/faults")).await.1["fail_next"],
        1
    );
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 500);
    let (_, recorded) = send(control(Method::GET, "/requests")).await;
    assert_eq!(
        recorded.as_array().unwrap().len(),
        1,
        "control calls are not recorded"
    );
    assert_eq!(recorded[0]["status"], 500);
    assert_eq!(send(control(Method::DELETE, "/requests")).await.0, 204);
    assert_eq!(sb.handle.request_count(), 0);
}

#[tokio::test]
async fn the_recorder_keeps_every_request_in_order() {
    let sb = Sb::unlimited().await;
    let url = format!("{}/gumroad/v2/user?x=1", sb.handle.base_url());
    send(sb.http.get(&url)).await;
    sb.verify(&[
        ("product_id", PRODUCT_ONE_TIME),
        ("license_key", LICENSE_VALID),
    ])
    .await;
    let recorded = sb.handle.requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        (recorded[0].status, recorded[0].query.as_deref()),
        (401, Some("x=1"))
    );
    let r = &recorded[1];
    assert_eq!(
        (r.method.as_str(), r.path.as_str(), r.status),
        ("POST", "/gumroad/v2/licenses/verify", 200)
    );
    assert!(r.body.contains(LICENSE_VALID));
    assert!(
        r.headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == &format!("Bearer {DEFAULT_API_KEY}"))
    );
    sb.handle.clear_requests();
    assert_eq!(sb.handle.request_count(), 0);
}

#[tokio::test]
async fn reset_restores_the_seed() {
    let sb = Sb::unlimited().await;
    sb.license_put("disable", LICENSE_VALID, CONNECTION_A).await;
    let control = sb
        .http
        .post(format!("{}/_sandbox/reset", sb.handle.base_url()));
    assert_eq!(send(control).await.0, 204);
    let (status, body) = sb
        .verify(&[
            ("product_id", PRODUCT_ONE_TIME),
            ("license_key", LICENSE_VALID),
        ])
        .await;
    assert_eq!((status, body["uses"].clone()), (200, json!(1)));
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let sb = Sb::unlimited().await;
    let addr = sb.handle.addr();
    sb.handle.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn products_page_and_carry_the_string_count_quirk() {
    let sb = Sb::unlimited().await;
    let (_, first) = send(sb.gum(Method::GET, "/products")).await;
    assert_eq!(first["products"].as_array().unwrap().len(), 10);
    let key = first["next_page_key"].as_str().unwrap();
    assert_eq!(
        first["next_page_url"],
        format!("/v2/products?page_key={key}")
    );
    let (_, second) = send(sb.gum(Method::GET, &format!("/products?page_key={key}"))).await;
    assert_eq!(
        second["products"].as_array().unwrap().len(),
        SELLER_A_PRODUCT_COUNT - 10
    );
    assert!(second.get("next_page_key").is_none());
    // Gumroad's fetch_product also takes the unique permalink.
    let (_, body) = send(sb.gum(Method::GET, "/products/sbxap")).await;
    assert!(
        body["product"]["sales_count"].is_string()
            && body["product"]["sales_usd_cents"].is_string()
    );
    let (status, body) = send(sb.gum(Method::GET, &format!("/products/{PRODUCT_SELLER_B}"))).await;
    assert_eq!(
        (status, body),
        (200, not_found("The product was not found."))
    );
}

#[tokio::test]
async fn products_update_disable_enable_and_delete() {
    let sb = Sb::unlimited().await;
    let tiered = sb.gum(Method::PUT, &format!("/products/{PRODUCT_MEMBERSHIP}"));
    let (_, body) = send(tiered.form(&[("price", "1000")])).await;
    assert_eq!(
        body["success"], false,
        "memberships are priced through tiers"
    );
    let path = format!("/products/{PRODUCT_LEGACY}");
    let (_, body) = send(
        sb.gum(Method::PUT, &path)
            .form(&[("name", "Renamed"), ("price", "1000")]),
    )
    .await;
    assert_eq!(
        (
            body["product"]["name"].clone(),
            body["product"]["price"].clone()
        ),
        (json!("Renamed"), json!(1000))
    );
    let (_, body) = send(sb.gum(Method::PUT, &format!("{path}/disable"))).await;
    assert_eq!(body["product"]["published"], false);
    let (_, body) = send(sb.gum(Method::PUT, &format!("{path}/enable"))).await;
    assert_eq!(body["product"]["published"], true);
    let (_, body) = send(sb.gum(Method::DELETE, &path)).await;
    assert_eq!(
        body,
        json!({"success": true, "message": "The product was deleted successfully."})
    );
    assert_eq!(send(sb.gum(Method::GET, &path)).await.1["success"], false);
}

#[tokio::test]
async fn offer_codes_crud() {
    let sb = Sb::unlimited().await;
    let base = format!("/products/{PRODUCT_ONE_TIME}/offer_codes");
    let (_, body) = send(sb.gum(Method::GET, &base)).await;
    assert_eq!(body["offer_codes"][0]["id"], OFFER_CODE_ID);
    let (_, body) = send(
        sb.gum(Method::POST, &base)
            .form(&[("name", "SUMMER20"), ("amount_off", "20")]),
    )
    .await;
    assert_eq!(body["offer_code"]["amount_cents"], 20);
    let id = body["offer_code"]["id"].as_str().unwrap().to_owned();
    let (_, body) = send(
        sb.gum(Method::PUT, &format!("{base}/{id}"))
            .form(&[("max_purchase_count", "100")]),
    )
    .await;
    assert_eq!(body["offer_code"]["max_purchase_count"], 100);
    let (_, body) = send(sb.gum(Method::POST, &base).form(&[("name", "NOAMOUNT")])).await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("You are missing required offer code parameters.")
    );
    let (_, body) = send(sb.gum(Method::DELETE, &format!("{base}/{id}"))).await;
    assert_eq!(body["message"], "The offer_code was deleted successfully.");
    let (status, body) = send(sb.gum(Method::GET, &format!("{base}/{id}"))).await;
    assert_eq!(
        (status, body),
        (200, not_found("The offer_code was not found."))
    );
}

#[tokio::test]
async fn variant_categories_variants_and_custom_fields() {
    let sb = Sb::unlimited().await;
    let base = format!("/products/{PRODUCT_ONE_TIME}");
    let (_, body) = send(
        sb.gum(Method::POST, &format!("{base}/variant_categories"))
            .form(&[("title", "Size")]),
    )
    .await;
    let vc = body["variant_category"]["id"].as_str().unwrap().to_owned();
    let variants = format!("{base}/variant_categories/{vc}/variants");
    let (_, body) = send(
        sb.gum(Method::POST, &variants)
            .form(&[("name", "Large"), ("price_difference", "200")]),
    )
    .await;
    let v = body["variant"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["variant"]["price_difference_cents"], 200);
    let (_, body) = send(
        sb.gum(Method::PUT, &format!("{variants}/{v}"))
            .form(&[("name", "Extra Large")]),
    )
    .await;
    assert_eq!(body["variant"]["name"], "Extra Large");
    assert_eq!(
        send(sb.gum(Method::GET, &variants)).await.1["variants"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        send(sb.gum(Method::DELETE, &format!("{variants}/{v}")))
            .await
            .1["success"],
        true
    );
    let (_, body) = send(sb.gum(
        Method::GET,
        &format!("{base}/variant_categories/{VARIANT_CATEGORY_ID}"),
    ))
    .await;
    assert_eq!(body["variant_category"]["title"], "Tier");
    assert_eq!(
        send(sb.gum(Method::DELETE, &format!("{base}/variant_categories/{vc}")))
            .await
            .1["success"],
        true
    );
    let (_, body) = send(sb.gum(Method::GET, &format!("{base}/variant_categories/{vc}"))).await;
    assert_eq!(body, not_found("The variant_category was not found."));

    let fields = format!("{base}/custom_fields");
    let (_, body) = send(
        sb.gum(Method::POST, &fields)
            .form(&[("name", "Seat Name"), ("required", "true")]),
    )
    .await;
    assert_eq!(
        body["custom_field"],
        json!({"name": "Seat Name", "required": true, "type": "text"})
    );
    let (_, body) = send(
        sb.gum(Method::PUT, &format!("{fields}/Seat%20Name"))
            .form(&[("required", "false")]),
    )
    .await;
    assert_eq!(body["custom_field"]["required"], false);
    assert_eq!(
        send(sb.gum(Method::GET, &fields)).await.1["custom_fields"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        send(sb.gum(Method::DELETE, &format!("{fields}/Seat%20Name")))
            .await
            .1["success"],
        true
    );
}

#[tokio::test]
async fn subscribers_list_and_show_with_status() {
    let sb = Sb::unlimited().await;
    let (_, body) = send(sb.gum(
        Method::GET,
        &format!("/products/{PRODUCT_MEMBERSHIP}/subscribers"),
    ))
    .await;
    assert_eq!(
        body["subscribers"].as_array().unwrap().len(),
        3,
        "the ended one is not listed"
    );
    let (_, body) = send(sb.gum(
        Method::GET,
        &format!("/products/{PRODUCT_MEMBERSHIP}/subscribers?paginated=true"),
    ))
    .await;
    assert!(body.get("next_page_key").is_none());
    for (id, status) in [
        (SUBSCRIBER_ACTIVE, "alive"),
        (SUBSCRIBER_CANCELLED, "pending_cancellation"),
        (SUBSCRIBER_ENDED, "cancelled"),
        (SUBSCRIBER_FAILED, "pending_failure"),
    ] {
        let (_, body) = send(sb.gum(Method::GET, &format!("/subscribers/{id}"))).await;
        assert_eq!(body["subscriber"]["status"], status);
    }
    let (status, body) = send(sb.gum(Method::GET, "/subscribers/nope")).await;
    assert_eq!((status, body["success"].clone()), (200, json!(false)));
}

#[tokio::test]
async fn resource_subscriptions_accept_local_receivers() {
    let sb = Sb::unlimited().await;
    let put = |name: &str, url: &str| {
        send(sb.gum(Method::PUT, "/resource_subscriptions").form(&[
            ("resource_name", name.to_owned()),
            ("post_url", url.to_owned()),
        ]))
    };
    let (_, body) = put("sale", "http://127.0.0.1:9999/hook/secret").await;
    let id = body["resource_subscription"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        put("purchase", "https://example.com/").await.1["success"],
        false
    );
    assert_eq!(put("sale", "ftp://example.com/").await.1["success"], false);
    let (_, body) = send(sb.gum(Method::GET, "/resource_subscriptions?resource_name=sale")).await;
    assert_eq!(
        body["resource_subscriptions"][0]["post_url"],
        "http://127.0.0.1:9999/hook/secret"
    );
    let (_, body) = send(sb.gum(Method::DELETE, &format!("/resource_subscriptions/{id}"))).await;
    assert_eq!(
        body,
        json!({"success": true, "message": "The resource_subscription was deleted successfully."})
    );
}

/// The controls are never faulted: under `refuse_connections` they still answer, on a fresh
/// connection and on one the pool kept from a Maton call, so the fault can be switched off
/// over HTTP (issue 10). Maton's surface stays refused meanwhile, on either kind.
#[tokio::test]
async fn controls_answer_while_connections_are_refused() {
    let sb = Sb::unlimited().await;
    let control = |http: &reqwest::Client, m: Method, p: &str| {
        http.request(m, format!("{}/_sandbox{p}", sb.handle.base_url()))
    };
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
    let on = json!({"refuse_connections": true});
    assert_eq!(
        send(control(&sb.http, Method::PUT, "/faults").json(&on))
            .await
            .0,
        200
    );

    // A pooled connection and a fresh client both reach the controls...
    let (status, faults) = send(control(&sb.http, Method::GET, "/faults")).await;
    assert_eq!(
        (status, faults["refuse_connections"].clone()),
        (200, json!(true))
    );
    let fresh = client();
    assert_eq!(send(control(&fresh, Method::GET, "/requests")).await.0, 200);
    // ...while Maton's surface is refused on both.
    assert!(sb.gum(Method::GET, "/user").send().await.is_err());
    let url = format!("{}/gumroad/v2/user", sb.handle.base_url());
    assert!(client().get(url).send().await.is_err());

    let off = json!({"refuse_connections": false});
    assert_eq!(
        send(control(&fresh, Method::PUT, "/faults").json(&off))
            .await
            .0,
        200
    );
    assert_eq!(send(sb.gum(Method::GET, "/user")).await.0, 200);
}
