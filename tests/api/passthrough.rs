//! The admin passthrough: every seed call answers through Gumgate what the sandbox answers
//! directly, with params, account choice and upstream oddities preserved.

use gumgate_sandbox::seed;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

async fn json(req: reqwest::RequestBuilder) -> (u16, Value) {
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn every_seed_read_answers_what_the_sandbox_answers_directly() {
    let app = spawn_app().await;
    let p = seed::PRODUCT_ONE_TIME;
    let (_, cats) =
        json(app.direct(Method::GET, &format!("/v2/products/{p}/variant_categories"))).await;
    let cat = cats["variant_categories"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, codes) = json(app.direct(Method::GET, &format!("/v2/products/{p}/offer_codes"))).await;
    let code = codes["offer_codes"][0]["id"].as_str().unwrap().to_owned();
    let paths = [
        "/v2/user".to_owned(),
        "/v2/products".to_owned(),
        format!("/v2/products/{p}"),
        "/v2/products/no-such-product".to_owned(),
        format!("/v2/products/{p}/offer_codes"),
        format!("/v2/products/{p}/offer_codes/{code}"),
        format!("/v2/products/{p}/variant_categories"),
        format!("/v2/products/{p}/variant_categories/{cat}"),
        format!("/v2/products/{p}/variant_categories/{cat}/variants"),
        format!("/v2/products/{p}/custom_fields"),
        format!("/v2/products/{}/subscribers", seed::PRODUCT_MEMBERSHIP),
        "/v2/sales".to_owned(),
        "/v2/sales.json".to_owned(),
        "/v2/sales?after=2020-01-01&before=2030-12-31".to_owned(),
        format!(
            "/v2/sales?product_id={}",
            seed::PRODUCT_MEMBERSHIP.replace('=', "%3D")
        ),
        format!("/v2/sales/{}", seed::SALE_VALID),
        "/v2/sales/not-a-sale".to_owned(),
        "/v2/sales?page_key=garbage".to_owned(),
        format!("/v2/subscribers/{}", seed::SUBSCRIBER_ACTIVE),
        "/v2/resource_subscriptions?resource_name=sale".to_owned(),
    ];
    for path in &paths {
        let direct = app.direct(Method::GET, path).send().await.unwrap();
        let (d_status, d_type) = (direct.status(), direct.headers()["content-type"].clone());
        let d_body = direct.bytes().await.unwrap();
        let via = app.admin(Method::GET, path).send().await.unwrap();
        assert_eq!(via.status(), d_status, "{path}");
        assert_eq!(via.headers()["content-type"], d_type, "{path}");
        assert_eq!(via.bytes().await.unwrap(), d_body, "{path}");
    }
    // Gumroad's not-found outside licenses is a 200 with success:false; it must stay that way.
    let (status, body) = json(app.admin(Method::GET, "/v2/sales/not-a-sale")).await;
    assert_eq!((status, &body["success"]), (200, &Value::Bool(false)));
}

#[tokio::test]
async fn seed_mutations_through_gumgate_take_effect_upstream() {
    let app = spawn_app().await;
    let p = seed::PRODUCT_ONE_TIME;

    let (s, b) = json(
        app.admin(Method::PUT, &format!("/v2/products/{p}"))
            .form(&[("name", "Renamed"), ("price", "1000")]),
    )
    .await;
    assert_eq!((s, &b["success"]), (200, &Value::Bool(true)));
    let (_, direct) = json(app.direct(Method::GET, &format!("/v2/products/{p}"))).await;
    assert_eq!(direct["product"]["name"], "Renamed");

    for (action, published) in [("disable", false), ("enable", true)] {
        let (s, _) = json(app.admin(Method::PUT, &format!("/v2/products/{p}/{action}"))).await;
        assert_eq!(s, 200);
        let (_, direct) = json(app.direct(Method::GET, &format!("/v2/products/{p}"))).await;
        assert_eq!(direct["product"]["published"], published, "{action}");
    }

    // Offer codes: create, read, update, delete.
    let codes = format!("/v2/products/{p}/offer_codes");
    let (s, created) = json(app.admin(Method::POST, &codes).form(&[
        ("name", "SUMMER20"),
        ("amount_off", "20"),
        ("offer_type", "percent"),
    ]))
    .await;
    assert_eq!(s, 200, "{created}");
    let id = created["offer_code"]["id"].as_str().unwrap().to_owned();
    let (_, got) = json(app.direct(Method::GET, &format!("{codes}/{id}"))).await;
    assert_eq!(got["offer_code"]["name"], "SUMMER20");
    let (s, _) = json(
        app.admin(Method::PUT, &format!("{codes}/{id}"))
            .form(&[("max_purchase_count", "100")]),
    )
    .await;
    assert_eq!(s, 200);
    let (_, got) = json(app.direct(Method::GET, &format!("{codes}/{id}"))).await;
    assert_eq!(got["offer_code"]["max_purchase_count"], 100);
    let (_, deleted) = json(app.admin(Method::DELETE, &format!("{codes}/{id}"))).await;
    assert_eq!(deleted["success"], true);
    let (_, gone) = json(app.direct(Method::GET, &format!("{codes}/{id}"))).await;
    assert_eq!(gone["success"], false);

    // Variant categories and variants.
    let cats = format!("/v2/products/{p}/variant_categories");
    let (_, cat) = json(app.admin(Method::POST, &cats).form(&[("title", "Size")])).await;
    let cat_id = cat["variant_category"]["id"].as_str().unwrap().to_owned();
    let variants = format!("{cats}/{cat_id}/variants");
    let (_, v) = json(
        app.admin(Method::POST, &variants)
            .form(&[("name", "Large"), ("price_difference", "200")]),
    )
    .await;
    let v_id = v["variant"]["id"].as_str().unwrap().to_owned();
    let (_, _) = json(
        app.admin(Method::PUT, &format!("{variants}/{v_id}"))
            .form(&[("name", "Extra Large")]),
    )
    .await;
    let (_, listed) = json(app.direct(Method::GET, &variants)).await;
    assert_eq!(listed["variants"][0]["name"], "Extra Large");
    let (_, d) = json(app.admin(Method::DELETE, &format!("{variants}/{v_id}"))).await;
    assert_eq!(d["success"], true);
    let (_, d) = json(app.admin(Method::DELETE, &format!("{cats}/{cat_id}"))).await;
    assert_eq!(d["success"], true);

    // Custom fields, addressed by name (with a space, percent-encoded in the path).
    let fields = format!("/v2/products/{p}/custom_fields");
    let (s, _) = json(
        app.admin(Method::POST, &fields)
            .form(&[("name", "Company Name"), ("required", "true")]),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = json(
        app.admin(Method::PUT, &format!("{fields}/Company%20Name"))
            .form(&[("required", "false")]),
    )
    .await;
    assert_eq!(s, 200);
    let (_, listed) = json(app.direct(Method::GET, &fields)).await;
    let field = listed["custom_fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "Company Name")
        .cloned()
        .unwrap();
    assert_eq!(field["required"], false);
    let (_, d) = json(app.admin(Method::DELETE, &format!("{fields}/Company%20Name"))).await;
    assert_eq!(d["success"], true);

    // Resource subscriptions.
    let (_, sub) = json(app.admin(Method::PUT, "/v2/resource_subscriptions").form(&[
        ("resource_name", "refund"),
        ("post_url", "https://example.com/hook"),
    ]))
    .await;
    let sub_id = sub["resource_subscription"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, listed) = json(app.direct(
        Method::GET,
        "/v2/resource_subscriptions?resource_name=refund",
    ))
    .await;
    assert_eq!(listed["resource_subscriptions"][0]["id"], sub_id.as_str());
    let (_, d) = json(app.admin(
        Method::DELETE,
        &format!("/v2/resource_subscriptions/{sub_id}"),
    ))
    .await;
    assert_eq!(
        d["message"],
        "The resource_subscription was deleted successfully."
    );

    // Product delete last.
    let (_, d) = json(app.admin(Method::DELETE, &format!("/v2/products/{p}"))).await;
    assert_eq!(d["success"], true);
    let (_, gone) = json(app.direct(Method::GET, &format!("/v2/products/{p}"))).await;
    assert_eq!(gone["success"], false);
}

#[tokio::test]
async fn license_admin_calls_pass_through_with_their_quirks() {
    let app = spawn_app().await;
    let form = [
        ("product_id", seed::PRODUCT_ONE_TIME),
        ("license_key", seed::LICENSE_VALID),
    ];
    let (s, b) = json(app.admin(Method::PUT, "/v2/licenses/disable").form(&form)).await;
    assert_eq!((s, &b["success"]), (200, &Value::Bool(true)));
    let res = app.verify(&form).await;
    assert_eq!(res.status(), 404);
    let (s, _) = json(app.admin(Method::PUT, "/v2/licenses/enable").form(&form)).await;
    assert_eq!(s, 200);
    assert_eq!(app.verify(&form).await.status(), 200);
    let (_, b) = json(
        app.admin(Method::PUT, "/v2/licenses/decrement_uses_count")
            .form(&form),
    )
    .await;
    assert_eq!(b["uses"], 0);

    let (_, rotated) = json(app.admin(Method::PUT, "/v2/licenses/rotate").form(&form)).await;
    let new_key = rotated["purchase"]["license_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_key, seed::LICENSE_VALID);
    assert_eq!(app.verify(&form).await.status(), 404);
    assert_eq!(
        app.verify(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", &new_key)
        ])
        .await
        .status(),
        200
    );

    // Seller B's connection lacks edit_products: 403, empty body, WWW-Authenticate, unchanged.
    let res = app
        .admin(Method::PUT, "/v2/licenses/disable")
        .header("maton-connection", seed::CONNECTION_B)
        .form(&[
            ("product_id", seed::PRODUCT_SELLER_B),
            ("license_key", seed::LICENSE_SELLER_B),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert!(res.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn connection_choice_reaches_upstream() {
    let app = spawn_app().await;
    let (_, a) = json(app.admin(Method::GET, "/v2/user")).await;
    let (_, b) = json(
        app.admin(Method::GET, "/v2/user")
            .header("maton-connection", seed::CONNECTION_B),
    )
    .await;
    assert_eq!(a["user"]["name"], seed::SELLER_A_NAME);
    assert_eq!(b["user"]["name"], seed::SELLER_B_NAME);
    let seen = app.sandbox.requests();
    assert!(!seen[0].headers.iter().any(|(k, _)| k == "maton-connection"));
    assert!(
        seen[1]
            .headers
            .iter()
            .any(|(k, v)| k == "maton-connection" && v == seed::CONNECTION_B)
    );

    // An unknown connection is Maton's 400, passed back.
    let res = app
        .admin(Method::GET, "/v2/user")
        .header("maton-connection", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn configured_default_connection_is_sent() {
    let app = spawn_app_with(|s| s.upstream.connection = seed::CONNECTION_B.into()).await;
    let (_, b) = json(app.admin(Method::GET, "/v2/user")).await;
    assert_eq!(b["user"]["name"], seed::SELLER_B_NAME);
}

#[tokio::test]
async fn get_form_body_params_reach_gumroad_like_pygumroad_expects() {
    let app = spawn_app().await;
    let (_, first) = json(app.admin(Method::GET, "/v2/sales")).await;
    let key = first["next_page_key"].as_str().unwrap().to_owned();
    let res = app
        .admin(Method::GET, "/v2/sales")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "page_key={}",
            form_urlencoded::byte_serialize(key.as_bytes()).collect::<String>()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let second: Value = res.json().await.unwrap();
    assert_ne!(second["sales"][0]["id"], first["sales"][0]["id"]);
    let last = app.sandbox.requests().pop().unwrap();
    assert!(last.query.unwrap().contains("page_key="));
    assert!(last.body.is_empty());
}

#[tokio::test]
async fn sales_paging_with_page_key_walks_every_sale() {
    let app = spawn_app().await;
    let mut seen = Vec::new();
    let mut path = "/v2/sales".to_owned();
    for _ in 0..20 {
        let (s, page) = json(app.admin(Method::GET, &path)).await;
        assert_eq!(s, 200);
        seen.extend(
            page["sales"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].clone()),
        );
        match page["next_page_url"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with("/v2/sales?"),
                    "relative URL without /gumroad: {next}"
                );
                path = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), seed::SELLER_A_SALE_COUNT);
    seen.dedup();
    assert_eq!(seen.len(), seed::SELLER_A_SALE_COUNT);
}

#[tokio::test]
async fn upstream_429_and_its_retry_after_pass_back_to_admins() {
    let app = spawn_app().await;
    app.fail_next(1, 429, Some("2"));
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "2");
    // Upstream is now paused for 2 s: the next call is refused here, without reaching it.
    let res = app.admin(Method::GET, "/v2/user").send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "2");
    assert_eq!(app.sandbox.request_count(), 1);
}

#[tokio::test]
async fn maton_connections_are_managed_only_through_admin_routes() {
    let app = spawn_app().await;
    let (s, list) =
        json(app.admin(Method::GET, "/admin/connections?app=gumroad&status=ACTIVE")).await;
    assert_eq!(s, 200);
    assert_eq!(list["connections"].as_array().unwrap().len(), 2);
    let (s, created) = json(
        app.admin(Method::POST, "/admin/connections")
            .json(&serde_json::json!({"app": "gumroad"})),
    )
    .await;
    assert_eq!(s, 200, "{created}");
    let id = created["connection"]["connection_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, got) = json(app.admin(Method::GET, &format!("/admin/connections/{id}"))).await;
    assert_eq!(got["connection"]["status"], "PENDING");
    let (s, _) = json(app.admin(Method::DELETE, &format!("/admin/connections/{id}"))).await;
    assert_eq!(s, 200);
    let recorded: Vec<String> = app
        .sandbox
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        recorded,
        [
            "GET /connections".to_owned(),
            "POST /connections".to_owned(),
            format!("GET /connections/{id}"),
            format!("DELETE /connections/{id}"),
        ]
    );
}
