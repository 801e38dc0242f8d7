//! Desktop activation end to end: one decision per license, seats per machine (also under
//! concurrency), idempotency, deactivation limits, offline grace, admin views, and tokens an
//! app verifies offline with the published JWKS.

use std::time::Duration;

use gumgate_sandbox::seed;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[path = "../../examples/verify_token.rs"]
mod example;

impl TestApp {
    /// `POST /v1/licenses/{action}` with a JSON body: the status and the JSON answer.
    pub(crate) async fn call(&self, action: &str, body: Value) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/v1/licenses/{action}", self.api))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }

    async fn activate(&self, license: &str, fingerprint: &str) -> (u16, Value) {
        let body = json!({
            "product_id": product_of(license),
            "license_key": license,
            "fingerprint": fingerprint,
            "name": "Ada's laptop",
            "platform": "macos",
        });
        self.call("activate", body).await
    }

    async fn jwks(&self) -> String {
        reqwest::get(format!("{}/.well-known/jwks.json", self.api))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn product_of(license: &str) -> &'static str {
    match license {
        seed::LICENSE_MEMBERSHIP_ACTIVE
        | seed::LICENSE_MEMBERSHIP_CANCELLED
        | seed::LICENSE_MEMBERSHIP_ENDED
        | seed::LICENSE_MEMBERSHIP_FAILED => seed::PRODUCT_MEMBERSHIP,
        seed::LICENSE_LEGACY => seed::PRODUCT_LEGACY,
        _ => seed::PRODUCT_ONE_TIME,
    }
}

#[tokio::test]
async fn activation_returns_a_token_the_app_verifies_offline() {
    let app = spawn_app().await;
    let (status, body) = app.activate(seed::LICENSE_VALID, "machine-1").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["activated"], true);
    assert_eq!(body["code"], "VALID");
    assert_eq!(
        body["license"],
        json!({"product_id": seed::PRODUCT_ONE_TIME, "seats": 3, "seats_used": 1})
    );
    assert_eq!(body["activation"]["name"], "Ada's laptop");
    let token = body["token"].as_str().unwrap();
    let jwks = app.jwks().await;
    let claims = example::verify_offline(
        token,
        &jwks,
        seed::PRODUCT_ONE_TIME,
        seed::LICENSE_VALID,
        "machine-1",
    )
    .unwrap();
    assert_eq!(claims.sub, body["activation"]["id"].as_str().unwrap());
    assert_eq!(claims.seats, 3);
    // The same token is worthless on another machine, for another license or another product.
    assert!(
        example::verify_offline(
            token,
            &jwks,
            seed::PRODUCT_ONE_TIME,
            seed::LICENSE_VALID,
            "machine-2"
        )
        .is_err()
    );
    assert!(
        example::verify_offline(
            token,
            &jwks,
            seed::PRODUCT_ONE_TIME,
            seed::LICENSE_MULTISEAT,
            "machine-1"
        )
        .is_err()
    );
    assert!(
        example::verify_offline(
            token,
            &jwks,
            seed::PRODUCT_MEMBERSHIP,
            seed::LICENSE_VALID,
            "machine-1"
        )
        .is_err()
    );
    // Gumroad's own uses count was not touched (mirror_uses_count is off by default).
    let seen = app.sandbox.requests();
    assert!(
        seen.iter()
            .all(|r| r.body.contains("increment_uses_count=false"))
    );
}

#[tokio::test]
async fn activation_is_idempotent_per_fingerprint_and_holds_the_seat_limit() {
    let app = spawn_app().await;
    let (_, first) = app.activate(seed::LICENSE_VALID, "m1").await;
    let (status, again) = app.activate(seed::LICENSE_VALID, "m1").await;
    assert_eq!(status, 200);
    assert_eq!(again["activation"]["id"], first["activation"]["id"]);
    assert_eq!(again["license"]["seats_used"], 1);
    assert_eq!(app.activate(seed::LICENSE_VALID, "m2").await.0, 201);
    assert_eq!(app.activate(seed::LICENSE_VALID, "m3").await.0, 201);
    let (status, denied) = app.activate(seed::LICENSE_VALID, "m4").await;
    assert_eq!(status, 409);
    assert_eq!(
        denied,
        json!({"activated": false, "code": "TOO_MANY_ACTIVATIONS", "message": "Every seat of this license is in use."})
    );
    // A multi-seat purchase (quantity 5) has 15 seats.
    let (_, multi) = app.activate(seed::LICENSE_MULTISEAT, "m1").await;
    assert_eq!(multi["license"]["seats"], 15);
}

#[tokio::test]
async fn fifty_simultaneous_activations_of_a_three_seat_license_give_exactly_three() {
    let app = spawn_app().await;
    let calls = (0..50).map(|i| {
        let (client, url) = (app.client.clone(), format!("{}/v1/licenses/activate", app.api));
        tokio::spawn(async move {
            let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "fingerprint": format!("fp-{i}")});
            client.post(url).json(&body).send().await.unwrap().status().as_u16()
        })
    });
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        47,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn every_purchase_state_gets_its_reason_code() {
    let app = spawn_app().await;
    for (license, status, code) in [
        (seed::LICENSE_REFUNDED, 403, "REFUNDED"),
        (seed::LICENSE_REFUNDED_DISABLED, 403, "DISABLED"),
        (seed::LICENSE_CHARGEBACKED, 403, "CHARGEBACKED"),
        (seed::LICENSE_DISPUTED, 403, "DISPUTED"),
        (seed::LICENSE_DISPUTE_WON, 201, "VALID"),
        (seed::LICENSE_DISABLED, 403, "DISABLED"),
        (seed::LICENSE_REVOKED, 403, "ACCESS_REVOKED"),
        (
            seed::LICENSE_TEST_PURCHASE,
            403,
            "TEST_PURCHASE_NOT_ALLOWED",
        ),
        (seed::LICENSE_MEMBERSHIP_ACTIVE, 201, "VALID"),
        (seed::LICENSE_MEMBERSHIP_CANCELLED, 201, "VALID"),
        (seed::LICENSE_MEMBERSHIP_ENDED, 403, "SUBSCRIPTION_ENDED"),
        (seed::LICENSE_LEGACY, 201, "VALID"),
        ("00000000-00000000-00000000-00000000", 403, "NOT_FOUND"),
    ] {
        let (s, body) = app.activate(license, "machine").await;
        assert_eq!(
            (s, body["code"].as_str().unwrap()),
            (status, code),
            "{license}: {body}"
        );
    }
    // A failed payment: within the grace it still works, after it it does not (seeded dates).
    let (_, body) = app
        .activate(seed::LICENSE_MEMBERSHIP_FAILED, "machine")
        .await;
    assert!(["VALID", "SUBSCRIPTION_PAYMENT_FAILED"].contains(&body["code"].as_str().unwrap()));
    // The allow-list applies here too.
    let app =
        spawn_app_with(|s| s.licenses.allowed_products = vec![seed::PRODUCT_MEMBERSHIP.into()])
            .await;
    let (s, body) = app.activate(seed::LICENSE_VALID, "machine").await;
    assert_eq!(
        (s, body["code"].as_str().unwrap()),
        (403, "PRODUCT_NOT_ALLOWED")
    );
    assert_eq!(app.sandbox.request_count(), 0);
}

#[tokio::test]
async fn validate_by_id_or_fingerprint_with_a_fresh_token() {
    let app = spawn_app().await;
    let (_, act) = app.activate(seed::LICENSE_VALID, "m1").await;
    let id = act["activation"]["id"].as_str().unwrap();
    let base = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID});
    let by_id = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id});
    let (s, v) = app.call("validate", by_id).await;
    assert_eq!(
        (s, &v["valid"], &v["code"]),
        (200, &json!(true), &json!("VALID"))
    );
    assert!(
        example::verify_offline(
            v["token"].as_str().unwrap(),
            &app.jwks().await,
            seed::PRODUCT_ONE_TIME,
            seed::LICENSE_VALID,
            "m1"
        )
        .is_ok()
    );
    let mut by_fp = base.clone();
    by_fp["fingerprint"] = json!("m1");
    assert_eq!(app.call("validate", by_fp).await.1["valid"], true);
    let mut other = base.clone();
    other["fingerprint"] = json!("m9");
    let (s, v) = app.call("validate", other).await;
    assert_eq!((s, &v["code"]), (403, &json!("FINGERPRINT_MISMATCH")));
    let mut both = base.clone();
    both["activation_id"] = json!(id);
    both["fingerprint"] = json!("m9");
    assert_eq!(
        app.call("validate", both).await.1["code"],
        "FINGERPRINT_MISMATCH"
    );
    let (s, _) = app.call("validate", base).await;
    assert_eq!(s, 400, "neither activation_id nor fingerprint");
}

#[tokio::test]
async fn a_revoked_license_stops_validating_at_once() {
    let app = spawn_app().await;
    let (_, act) = app.activate(seed::LICENSE_VALID, "m1").await;
    let id = act["activation"]["id"].as_str().unwrap();
    let form = [
        ("product_id", seed::PRODUCT_ONE_TIME),
        ("license_key", seed::LICENSE_VALID),
    ];
    assert_eq!(
        app.admin(Method::PUT, "/v2/licenses/disable")
            .form(&form)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let (s, v) = app
        .call("validate", json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id}))
        .await;
    assert_eq!(
        (s, &v["valid"], &v["code"]),
        (403, &json!(false), &json!("DISABLED"))
    );
    assert!(v.get("token").is_none());
}

#[tokio::test]
async fn deactivation_frees_a_seat_but_not_too_often() {
    let app = spawn_app().await;
    for round in 0..4 {
        let (_, act) = app
            .activate(seed::LICENSE_VALID, &format!("m{round}"))
            .await;
        let id = act["activation"]["id"].as_str().unwrap().to_owned();
        let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id});
        let (s, v) = app.call("deactivate", body).await;
        if round < 3 {
            assert_eq!((s, v), (200, json!({"deactivated": true})));
        } else {
            assert_eq!(s, 429, "the fourth deactivation today: {v}");
            assert_eq!(v["code"], "TOO_MANY_DEACTIVATIONS");
        }
    }
    // The refusal is counted, and not in the audit trail (issue 9).
    let refused = r#"gumgate_activation_denials_total{code="TOO_MANY_DEACTIVATIONS"}"#;
    assert_eq!(sample(&app.metrics().await, refused), 1.0);
    let actions = app.audit_actions(seed::LICENSE_VALID).await;
    assert_eq!(actions.iter().filter(|a| *a == "deactivate").count(), 3);
    assert!(!actions.iter().any(|a| a == "deny"), "{actions:?}");
    // A day later it is allowed again.
    app.clock.advance(Duration::from_secs(86_400));
    let (_, list) = app.activations(seed::LICENSE_VALID).await;
    let id = list["activations"][0]["id"].as_str().unwrap().to_owned();
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id});
    assert_eq!(app.call("deactivate", body).await.0, 200);
    // An unknown activation, or the wrong license for it: 404.
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": "act_nope"});
    let (status, answer) = app.call("deactivate", body).await;
    assert_eq!(status, 404);
    assert_eq!(answer["code"], "NOT_FOUND");
    assert_eq!(
        answer["message"], "No active activation with this id for this license and product.",
        "the activation, not the license, is what was not found"
    );
}

#[tokio::test]
async fn existing_activations_survive_an_outage_within_the_grace_new_ones_do_not() {
    // Stale answers must not stand in here, so that the offline grace is what is tested.
    let app = spawn_app_with(|s| s.cache.stale_if_error = Duration::from_secs(1)).await;
    let (_, act) = app.activate(seed::LICENSE_VALID, "m1").await;
    let id = act["activation"]["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(3600));
    app.sandbox.set_faults(gumgate_sandbox::Faults {
        refuse_connections: true,
        ..Default::default()
    });
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id});
    let (s, v) = app.call("validate", body.clone()).await;
    assert_eq!(
        (s, &v["valid"], &v["offline"]),
        (200, &json!(true), &json!(true)),
        "{v}"
    );
    assert!(v["offline_until"].is_string());
    // The real seat count, remembered from the last good decision (it was 0 offline).
    assert_eq!(
        (&v["license"]["seats"], &v["license"]["seats_used"]),
        (&json!(3), &json!(1)),
        "{v}"
    );
    // Re-activating the same machine is the same: it is already activated.
    assert_eq!(app.activate(seed::LICENSE_VALID, "m1").await.0, 200);
    // A new machine cannot activate without Gumroad.
    let (s, v) = app.activate(seed::LICENSE_VALID, "m2").await;
    assert_eq!((s, &v["code"]), (503, &json!("UPSTREAM_UNAVAILABLE")));
    // Past the grace (72 h from the last good check), the outage wins.
    app.clock.advance(Duration::from_secs(72 * 3600));
    let (s, v) = app.call("validate", body).await;
    assert_eq!((s, &v["code"]), (503, &json!("UPSTREAM_UNAVAILABLE")));
}

impl TestApp {
    pub(crate) async fn activations(&self, license: &str) -> (u16, Value) {
        let res = self
            .admin(Method::GET, "/admin/licenses/activations")
            .query(&[
                ("product_id", product_of(license)),
                ("license_key", license),
            ])
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap())
    }
}

#[tokio::test]
async fn admins_list_force_deactivate_release_and_audit() {
    let app = spawn_app().await;
    for m in ["a", "b", "c"] {
        app.activate(seed::LICENSE_VALID, m).await;
    }
    let (s, list) = app.activations(seed::LICENSE_VALID).await;
    assert_eq!((s, list["seats_used"].as_u64()), (200, Some(3)));
    let id = list["activations"][0]["id"].as_str().unwrap().to_owned();
    let res = app
        .admin(Method::DELETE, &format!("/admin/activations/{id}"))
        .query(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app
        .admin(Method::POST, "/admin/licenses/release")
        .form(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["released"], 2);
    assert_eq!(
        app.activations(seed::LICENSE_VALID).await.1["seats_used"],
        0
    );
    let audit: Value = app
        .admin(Method::GET, "/admin/licenses/audit")
        .query(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"activate")
            && actions.contains(&"admin_deactivate")
            && actions.contains(&"release_all"),
        "{actions:?}"
    );
    // None of it without the token.
    let res = app
        .client
        .get(format!("{}/admin/licenses/activations", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn bad_input_is_a_clear_400_and_jwks_is_published() {
    let app = spawn_app().await;
    for body in [
        json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID}),
        json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": 5, "fingerprint": "m"}),
        json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "fingerprint": "x".repeat(300)}),
        json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "fingerprint": "m", "name": "a\u{7}b"}),
    ] {
        let (s, v) = app.call("activate", body).await;
        assert_eq!((s, &v["success"]), (400, &json!(false)), "{v}");
    }
    let res = reqwest::get(format!("{}/.well-known/jwks.json", app.api))
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/jwk-set+json");
    let jwks: Value = res.json().await.unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (&key["kty"], &key["crv"], &key["alg"]),
        (&json!("OKP"), &json!("Ed25519"), &json!("EdDSA"))
    );
}

#[tokio::test]
async fn without_a_signing_key_activations_carry_no_token_and_say_why() {
    let app = spawn_app_without_keys().await;
    let (status, body) = app.activate(seed::LICENSE_VALID, "m1").await;
    assert_eq!(status, 201);
    assert_eq!(body["token"], Value::Null);
    assert!(
        body["token_error"]
            .as_str()
            .unwrap()
            .contains("keys generate"),
        "{body}"
    );
    let jwks: Value = serde_json::from_str(&app.jwks().await).unwrap();
    assert_eq!(jwks["keys"], json!([]));
    let metrics = app.metrics().await;
    assert_eq!(
        sample(&metrics, "gumgate_token_signing_failures_total"),
        1.0
    );
}

#[tokio::test]
async fn mirroring_uses_counts_activations_in_gumroad_when_a_product_opts_in() {
    let app = spawn_app_with(|s| {
        s.products.insert(
            seed::PRODUCT_ONE_TIME.into(),
            gumgate::config::PolicyOverride {
                mirror_uses_count: Some(true),
                ..Default::default()
            },
        );
    })
    .await;
    let (_, act) = app.activate(seed::LICENSE_VALID, "m1").await;
    // The increment goes in the background: wait for it to reach the sandbox.
    let uses = || async {
        let res = app
            .direct(Method::POST, "/v2/licenses/verify")
            .form(&[
                ("product_id", seed::PRODUCT_ONE_TIME),
                ("license_key", seed::LICENSE_VALID),
                ("increment_uses_count", "false"),
            ])
            .send()
            .await
            .unwrap();
        res.json::<Value>().await.unwrap()["uses"].as_u64().unwrap()
    };
    eventually("one use upstream for the one activation", || async {
        (uses().await == 1).then_some(())
    })
    .await;
    let id = act["activation"]["id"].as_str().unwrap();
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id});
    assert_eq!(app.call("deactivate", body).await.0, 200);
    eventually("the deactivation to give the use back upstream", || async {
        (uses().await == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_stale_cached_answer_is_no_fresh_decision_for_activations() {
    // Default settings: stale answers may stand in for app verifies for 72 h.
    let app = spawn_app().await;
    let (_, act) = app.activate(seed::LICENSE_VALID, "m1").await;
    let id = act["activation"]["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(600)); // the cached answer is now stale
    app.sandbox.set_faults(gumgate_sandbox::Faults {
        refuse_connections: true,
        ..Default::default()
    });
    // An app's plain verify still gets the stale answer...
    let res = app
        .verify(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
            ("increment_uses_count", "false"),
        ])
        .await;
    assert!(cache_status(&res).contains("stale-if-error"));
    // ...but a new machine cannot activate on it,
    let (s, v) = app.activate(seed::LICENSE_VALID, "m2").await;
    assert_eq!(
        (s, &v["code"]),
        (503, &json!("UPSTREAM_UNAVAILABLE")),
        "{v}"
    );
    // and the existing one validates offline (grace counted from its last fresh check, not
    // renewed by the stale answer), with a token that never outlives the grace (here its 24 h
    // lifetime ends first).
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id});
    let (s, v) = app.call("validate", body.clone()).await;
    assert_eq!((s, &v["offline"]), (200, &json!(true)), "{v}");
    let (expires, until) = (v["token_expires_at"].as_str(), v["offline_until"].as_str());
    assert!(expires.unwrap() <= until.unwrap(), "{v}");
    app.clock.advance(Duration::from_secs(72 * 3600));
    let (s, v) = app.call("validate", body).await;
    assert_eq!(
        (s, &v["code"]),
        (503, &json!("UPSTREAM_UNAVAILABLE")),
        "{v}"
    );
}

#[tokio::test]
async fn junk_from_upstream_is_an_outage_not_a_missing_license() {
    // Default settings: what a paying user had when a proxy answered 200 with a maintenance page.
    let app = spawn_app().await;
    let (_, act) = app.activate(seed::LICENSE_VALID, "m1").await;
    let id = act["activation"]["id"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::from_secs(600)); // the cached answer is now stale
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id});
    let junk = [
        (
            Some("text/html; charset=utf-8"),
            "<html>Down for maintenance</html>",
        ),
        (Some("application/json"), "{\"success\":tr"),
        (Some("application/json"), "{\"success\":false}"),
    ];
    for (content_type, page) in junk {
        let before = app.sandbox.request_count();
        app.answer_next(1, 200, content_type, page);
        let (s, v) = app.call("validate", body.clone()).await;
        assert_eq!(
            (s, &v["valid"], &v["offline"]),
            (200, &json!(true), &json!(true)),
            "{page}: {v}"
        );
        assert_eq!(
            app.sandbox.request_count(),
            before + 1,
            "upstream was asked"
        );
    }
    // A new machine cannot activate on junk: upstream is unavailable, the license not missing.
    app.answer_next(
        1,
        200,
        Some("text/html"),
        "<html>Down for maintenance</html>",
    );
    let (s, v) = app.activate(seed::LICENSE_VALID, "m2").await;
    assert_eq!(
        (s, &v["code"]),
        (503, &json!("UPSTREAM_UNAVAILABLE")),
        "{v}"
    );
    // Once Gumroad answers again, the activation validates online with a fresh token.
    let (s, v) = app.call("validate", body).await;
    assert_eq!((s, &v["code"]), (200, &json!("VALID")), "{v}");
    assert!(v.get("offline").is_none() && v["token"].is_string(), "{v}");
}

#[tokio::test]
async fn the_daily_deactivation_limit_is_the_activations_product_not_the_callers() {
    let app = spawn_app_with(|s| {
        s.products.insert(
            seed::PRODUCT_ONE_TIME.into(),
            gumgate::config::PolicyOverride {
                max_deactivations_per_day: Some(1),
                ..Default::default()
            },
        );
    })
    .await;
    let mut ids = Vec::new();
    for m in ["m1", "m2"] {
        let (_, act) = app.activate(seed::LICENSE_VALID, m).await;
        ids.push(act["activation"]["id"].as_str().unwrap().to_owned());
    }
    let deactivate = |product: &'static str, id: String| json!({"product_id": product, "license_key": seed::LICENSE_VALID, "activation_id": id});
    // Naming another product does not pick another (laxer) limit: it names no activation.
    assert_eq!(
        app.call("deactivate", deactivate("anything-else", ids[0].clone()))
            .await
            .0,
        404
    );
    assert_eq!(
        app.call(
            "deactivate",
            deactivate(seed::PRODUCT_ONE_TIME, ids[0].clone())
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.call(
            "deactivate",
            deactivate(seed::PRODUCT_ONE_TIME, ids[1].clone())
        )
        .await
        .0,
        429
    );
    assert_eq!(
        app.call("deactivate", deactivate("anything-else", ids[1].clone()))
            .await
            .0,
        404
    );
}

impl TestApp {
    /// The actions of a license's audit trail, read as an admin does.
    async fn audit_actions(&self, license: &str) -> Vec<String> {
        let audit: Value = self
            .admin(Method::GET, "/admin/licenses/audit")
            .query(&[
                ("product_id", product_of(license)),
                ("license_key", license),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        audit["audit"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn refused_activations_are_counted_not_audited() {
    let app = spawn_app().await;
    for m in ["a", "b", "c"] {
        assert_eq!(app.activate(seed::LICENSE_VALID, m).await.0, 201);
    }
    // 50 refusals: 25 of a full license, 25 of a refunded one.
    for i in 0..25 {
        let (status, body) = app.activate(seed::LICENSE_VALID, &format!("m{i}")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("TOO_MANY_ACTIVATIONS"))
        );
        let (status, body) = app.activate(seed::LICENSE_REFUNDED, &format!("m{i}")).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("REFUNDED")));
    }
    // Only the changes are in the trail.
    assert_eq!(
        app.audit_actions(seed::LICENSE_VALID).await,
        ["activate", "activate", "activate"]
    );
    assert!(app.audit_actions(seed::LICENSE_REFUNDED).await.is_empty());
    let metrics = app.metrics().await;
    let denials = "gumgate_activation_denials_total";
    let full = format!(r#"{denials}{{code="TOO_MANY_ACTIVATIONS"}}"#);
    assert_eq!(sample(&metrics, &full), 25.0, "{metrics}");
    let refunded = format!(r#"{denials}{{code="REFUNDED"}}"#);
    assert_eq!(sample(&metrics, &refunded), 25.0);
    // Decisions count every answer, the granted ones too (issue 10).
    let decisions = "gumgate_activation_decisions_total";
    for (code, n) in [
        ("VALID", 3.0),
        ("TOO_MANY_ACTIVATIONS", 25.0),
        ("REFUNDED", 25.0),
    ] {
        let series = format!(r#"{decisions}{{code="{code}"}}"#);
        assert_eq!(sample(&metrics, &series), n, "{series}");
    }
    // Known codes are exported at 0 before they happen, for rate() from the first scrape.
    let disputed = format!(r#"{decisions}{{code="DISPUTED"}}"#);
    assert_eq!(sample(&metrics, &disputed), 0.0);
}

#[tokio::test]
async fn validate_decisions_are_counted_by_code() {
    let app = spawn_app().await;
    assert_eq!(app.activate(seed::LICENSE_VALID, "m").await.0, 201);
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "fingerprint": "m"});
    assert_eq!(app.call("validate", body).await.0, 200);
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "fingerprint": "other"});
    let (_, v) = app.call("validate", body).await;
    assert_eq!(v["code"], "FINGERPRINT_MISMATCH", "{v}");
    let body = json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": "nope"});
    let (_, v) = app.call("validate", body).await;
    assert_eq!(v["code"], "NOT_FOUND", "{v}");
    let metrics = app.metrics().await;
    let decisions = "gumgate_activation_decisions_total";
    for (code, n) in [
        ("VALID", 2.0),
        ("FINGERPRINT_MISMATCH", 1.0),
        ("NOT_FOUND", 1.0),
    ] {
        let series = format!(r#"{decisions}{{code="{code}"}}"#);
        assert_eq!(sample(&metrics, &series), n, "{series}");
    }
    // Validate refusals are decisions, not activation denials.
    let denied = r#"gumgate_activation_denials_total{code="FINGERPRINT_MISMATCH"}"#;
    assert_eq!(sample(&metrics, denied), 0.0);
}

#[tokio::test]
async fn database_errors_are_answered_500_and_counted() {
    let app = spawn_app().await;
    assert_eq!(
        sample(&app.metrics().await, "gumgate_database_errors_total"),
        0.0
    );
    app.state.store.close().await;
    let (status, body) = app.activate(seed::LICENSE_VALID, "m").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["message"], "Something went wrong inside Gumgate.");
    assert_eq!(
        sample(&app.metrics().await, "gumgate_database_errors_total"),
        1.0
    );
}

#[tokio::test]
async fn store_operations_are_timed_by_operation_failed_ones_too() {
    let app = spawn_app().await;
    let count = r#"gumgate_database_query_duration_seconds_count{op="activate"}"#;
    assert_eq!(app.activate(seed::LICENSE_VALID, "m").await.0, 201);
    let metrics = app.metrics().await;
    assert_eq!(sample(&metrics, count), 1.0);
    let listed = r#"gumgate_database_query_duration_seconds_count{op="list"}"#;
    let _ = app
        .admin(
            reqwest::Method::GET,
            &format!(
                "/admin/licenses/activations?license_key={}",
                seed::LICENSE_VALID
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(sample(&app.metrics().await, listed), 1.0);
    app.state.store.close().await;
    assert_eq!(app.activate(seed::LICENSE_VALID, "n").await.0, 500);
    assert_eq!(sample(&app.metrics().await, count), 2.0);
}

#[tokio::test]
async fn audit_entries_past_the_retention_are_pruned() {
    let app = spawn_app_with(|s| s.audit.retention = Duration::from_secs(400 * 86_400)).await;
    assert_eq!(app.activate(seed::LICENSE_VALID, "a").await.0, 201);
    app.clock.advance(Duration::from_secs(399 * 86_400));
    assert_eq!(app.activate(seed::LICENSE_VALID, "b").await.0, 201);
    assert_eq!(gumgate::activation::retention::prune(&app.state).await, 0);
    app.clock.advance(Duration::from_secs(2 * 86_400));
    // The first activation is now 401 days old, the second 2.
    assert_eq!(gumgate::activation::retention::prune(&app.state).await, 1);
    assert_eq!(app.audit_actions(seed::LICENSE_VALID).await, ["activate"]);
    let metrics = app.metrics().await;
    assert_eq!(sample(&metrics, "gumgate_audit_pruned_total"), 1.0);
}

/// The kid of a token, from its header.
fn kid_of(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice::<Value>(&header).unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A new key file in `dir` and its kid (its RFC 7638 thumbprint).
fn key_file(dir: &tempfile::TempDir, name: &str) -> (std::path::PathBuf, String) {
    let path = dir.path().join(name);
    let jwk = gumgate::tokens::write_new_key(&path).unwrap();
    let kid = gumgate::tokens::thumbprint(jwk["x"].as_str().unwrap());
    (path, kid)
}

#[tokio::test]
async fn the_signing_key_file_from_the_environment_signs_and_both_keys_are_published() {
    let dir = tempfile::TempDir::new().unwrap();
    let (active, active_kid) = key_file(&dir, "active.pem");
    let (previous, previous_kid) = key_file(&dir, "previous.pem");
    let app = spawn_app_with_key_files(&active, Some(&previous)).await;
    let (status, body) = app.activate(seed::LICENSE_VALID, "machine-1").await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().expect("a token, not null");
    assert_eq!(kid_of(token), active_kid);
    let jwks: Value = serde_json::from_str(&app.jwks().await).unwrap();
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids, [&json!(active_kid), &json!(previous_kid)]);
}

#[tokio::test]
async fn a_token_signed_before_a_rotation_verifies_after_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let (first, first_kid) = key_file(&dir, "first.pem");
    let (second, second_kid) = key_file(&dir, "second.pem");
    let before = spawn_app_with_key_files(&first, None).await;
    let (_, body) = before.activate(seed::LICENSE_VALID, "machine-1").await;
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(kid_of(&token), first_kid);
    before.shutdown().await.unwrap();

    // The rotation: the new key signs, the old one moves to the previous slot.
    let after = spawn_app_with_key_files(&second, Some(&first)).await;
    let jwks = after.jwks().await;
    example::verify_offline(
        &token,
        &jwks,
        seed::PRODUCT_ONE_TIME,
        seed::LICENSE_VALID,
        "machine-1",
    )
    .expect("the old token still verifies");
    let (_, body) = after.activate(seed::LICENSE_VALID, "machine-2").await;
    assert_eq!(kid_of(body["token"].as_str().unwrap()), second_kid);
}
