//! What desktop apps rely on beyond activation (issue 13): heartbeats that free a silent
//! machine's seat, a holder's own view of their machines, entitlements from the purchase,
//! short-lived tokens capped by a subscription's end and by the offline grace, and CORS
//! preflights for desktop web views.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gumgate::hashes::license_hash;
use gumgate_sandbox::seed;
use reqwest::Method;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use crate::helpers::*;

impl TestApp {
    /// Activates `fingerprint` on the seeded valid license (one-time product).
    async fn activate_machine(&self, fingerprint: &str) -> Value {
        let (status, body) = self
            .call(
                "activate",
                json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID,
                       "fingerprint": fingerprint, "name": format!("{fingerprint}'s PC")}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Validate (`valid`) or heartbeat (`alive`) of an activation of the valid license.
    async fn check(&self, action: &str, id: &str) -> (u16, Value) {
        self.call(
            action,
            json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID,
                   "activation_id": id}),
        )
        .await
    }

    async fn machines(&self, license: &str) -> (u16, Value) {
        self.call(
            "machines",
            json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": license}),
        )
        .await
    }
}

/// A token's claims, read without verifying (the signature is tested elsewhere).
fn claims(token: &Value) -> Value {
    let payload = token.as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn unix(rfc3339: &Value) -> i64 {
    time::OffsetDateTime::parse(rfc3339.as_str().unwrap(), &Rfc3339)
        .unwrap()
        .unix_timestamp()
}

fn id_of(answer: &Value) -> String {
    answer["activation"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_machine_that_stops_beating_loses_its_seat_and_is_told_why() {
    let app = spawn_app_with(|s| {
        s.policy.heartbeat_interval = Duration::from_secs(60);
        s.policy.heartbeat_grace = Duration::from_secs(30);
    })
    .await;
    let beating = app.activate_machine("beating").await;
    let silent = app.activate_machine("silent").await;
    let now = app.clock.unix_now();
    // The answer says when to beat, and the token lasts exactly as long as the seat without one.
    assert_eq!(beating["heartbeat"]["interval_secs"], 60, "{beating}");
    assert_eq!(unix(&beating["heartbeat"]["next_at"]), now + 60);
    assert_eq!(unix(&beating["heartbeat"]["deadline"]), now + 90);
    let token = claims(&beating["token"]);
    assert_eq!(
        token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap(),
        90
    );

    app.clock.advance(Duration::from_secs(50));
    let (status, alive) = app.check("heartbeat", &id_of(&beating)).await;
    assert_eq!((status, &alive["alive"]), (200, &json!(true)), "{alive}");
    assert_eq!(unix(&alive["heartbeat"]["deadline"]), now + 50 + 90);
    assert_eq!(claims(&alive["token"])["exp"], now + 50 + 90, "refreshed");
    assert_eq!(unix(&alive["activation"]["last_seen_at"]), now + 50);

    // 100 s on, the silent machine is past its deadline (90 s); the beating one is not.
    app.clock.advance(Duration::from_secs(50));
    let sweep = gumgate::activation::heartbeats::sweep(&app.state).await;
    assert_eq!(sweep.unwrap(), 1);
    assert_eq!(
        gumgate::activation::heartbeats::sweep(&app.state)
            .await
            .unwrap(),
        0,
        "released once"
    );
    let (status, missed) = app.check("validate", &id_of(&silent)).await;
    assert_eq!(status, 403, "{missed}");
    assert_eq!(missed["code"], "HEARTBEAT_MISSED");
    let by_fingerprint = json!({"product_id": seed::PRODUCT_ONE_TIME,
        "license_key": seed::LICENSE_VALID, "fingerprint": "silent"});
    let (_, missed) = app.call("heartbeat", by_fingerprint).await;
    assert_eq!(
        (&missed["alive"], &missed["code"]),
        (&json!(false), &json!("HEARTBEAT_MISSED"))
    );
    assert_eq!(app.check("validate", &id_of(&beating)).await.0, 200);
    // Its seat is free, the release audited with its reason and counted, not as a user's.
    let (_, listed) = app.machines(seed::LICENSE_VALID).await;
    assert_eq!(listed["license"]["seats_used"], 1, "{listed}");
    let trail = app
        .state
        .store
        .audit_trail(&license_hash(seed::LICENSE_VALID), 20)
        .await
        .unwrap();
    let release = trail
        .iter()
        .find(|e| e.action == "heartbeat_release")
        .expect("audited");
    assert_eq!(
        release.activation_id.as_deref(),
        Some(id_of(&silent).as_str())
    );
    assert!(release.detail.as_deref().unwrap().contains("deadline"));
    assert_eq!(
        sample(&app.metrics().await, "gumgate_heartbeat_releases_total"),
        1.0
    );
    // Activating again takes a new seat.
    let again = app.activate_machine("silent").await;
    assert_ne!(id_of(&again), id_of(&silent));
}

#[tokio::test]
async fn an_outage_costs_no_heartbeats_and_an_offline_token_ends_with_the_grace() {
    // Stale answers must not stand in: the offline grace is what is tested.
    let app = spawn_app_with(|s| {
        s.cache.stale_if_error = Duration::from_secs(1);
        s.policy.heartbeat_interval = Duration::from_secs(3600);
        s.policy.heartbeat_grace = Duration::from_secs(600);
        s.policy.offline_grace = Duration::from_secs(3 * 3600);
    })
    .await;
    let machine = app.activate_machine("m1").await;
    let good_at = app.clock.unix_now();
    app.sandbox.set_faults(gumgate_sandbox::Faults {
        refuse_connections: true,
        ..Default::default()
    });
    // Beating through the outage keeps the seat past the first deadline (70 minutes).
    for _ in 0..3 {
        app.clock.advance(Duration::from_secs(50 * 60));
        let (status, alive) = app.check("heartbeat", &id_of(&machine)).await;
        assert_eq!((status, &alive["offline"]), (200, &json!(true)), "{alive}");
        let released = gumgate::activation::heartbeats::sweep(&app.state).await;
        assert_eq!(released.unwrap(), 0, "the outage cost no seat");
    }
    // 150 minutes after the last good check, 30 left of the 3 h grace: the token ends there,
    // not an interval + grace (70 minutes) on.
    let (_, offline) = app.check("validate", &id_of(&machine)).await;
    assert_eq!(offline["valid"], true, "{offline}");
    let until = unix(&offline["offline_until"]);
    assert_eq!(until, good_at + 3 * 3600);
    assert_eq!(claims(&offline["token"])["exp"], until);
    assert_eq!(unix(&offline["token_expires_at"]), until);
    // Offline answers carry the entitlements of the last good decision.
    assert_eq!(offline["entitlements"]["variants"], json!(["Premium"]));
}

#[tokio::test]
async fn holders_see_only_their_own_machines_and_free_them_within_the_daily_limit() {
    let app = spawn_app_with(|s| s.policy.seats = 10).await;
    let mut ids = Vec::new();
    for fp in ["a", "b", "c", "d"] {
        ids.push(id_of(&app.activate_machine(fp).await));
    }
    // Another license's machine, never listed here.
    let other = json!({"product_id": seed::PRODUCT_ONE_TIME,
        "license_key": seed::LICENSE_MULTISEAT, "fingerprint": "a"});
    assert_eq!(app.call("activate", other).await.0, 201);
    let (status, listed) = app.machines(seed::LICENSE_VALID).await;
    assert_eq!(status, 200, "{listed}");
    let mut seen: Vec<&str> = listed["machines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
    let first = &listed["machines"][0];
    assert!(
        first["name"].as_str().unwrap().ends_with("'s PC"),
        "{first}"
    );
    assert!(first["last_seen_at"].is_string() && first["created_at"].is_string());
    assert_eq!(listed["license"]["seats_used"], 4);
    assert_eq!(listed["max_deactivations_per_day"], 3);
    // No hash of the key or the machine leaves the server.
    assert!(!listed.to_string().contains("fingerprint"), "{listed}");
    // The holder frees three of them by id; the fourth the same day is refused.
    for id in &ids[..3] {
        let (status, body) = app.check("deactivate", id).await;
        assert_eq!((status, &body["deactivated"]), (200, &json!(true)));
    }
    let (status, body) = app.check("deactivate", &ids[3]).await;
    assert_eq!(
        (status, &body["code"]),
        (429, &json!("TOO_MANY_DEACTIVATIONS"))
    );
    let (_, listed) = app.machines(seed::LICENSE_VALID).await;
    assert_eq!(listed["machines"].as_array().unwrap().len(), 1);
    // A real license with no machines: an empty list. One made up: 403, not an empty list.
    let (status, none) = app.machines(seed::LICENSE_DISPUTE_WON).await;
    assert_eq!((status, &none["machines"]), (200, &json!([])), "{none}");
    let (status, unknown) = app.machines("00000000-00000000-00000000-00000000").await;
    assert_eq!(
        (status, unknown),
        (
            403,
            json!({"code": "NOT_FOUND", "message": "That license does not exist for this product."})
        )
    );
}

#[tokio::test]
async fn guessing_keys_on_the_machines_list_meets_the_failed_verify_limit() {
    let app = spawn_app_with(|s| s.limits.failed_verify_per_ip = "3/min".parse().unwrap()).await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let (status, _) = app
            .machines(&format!("0000000{i}-00000000-00000000-00000000"))
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses[..3], [403, 403, 403]);
    assert_eq!(statuses[3..], [429, 429], "{statuses:?}");
}

#[tokio::test]
async fn entitlements_come_from_the_verify_already_fetched() {
    let app = spawn_app_with(|s| {
        let product = s.products.entry(seed::PRODUCT_ONE_TIME.into()).or_default();
        product
            .entitlements
            .insert("Premium".into(), vec!["pro".into(), "export".into()]);
        product
            .entitlements
            .insert("Basic".into(), vec!["basic".into()]);
    })
    .await;
    let activated = app.activate_machine("m1").await;
    let expected = json!({"variants": ["Premium"], "recurrence": null,
        "subscription_ends_at": null, "features": ["pro", "export"]});
    assert_eq!(activated["entitlements"], expected);
    let token = claims(&activated["token"]);
    assert_eq!(token["entitlements"], expected);
    // Heartbeats are off: the token lasts the default 24 hours.
    assert_eq!(
        token["exp"].as_i64().unwrap() - token["iat"].as_i64().unwrap(),
        86_400
    );
    assert!(activated["heartbeat"].is_null());
    let (_, validated) = app.check("validate", &id_of(&activated)).await;
    assert_eq!(validated["entitlements"], expected);
    // One upstream verify served both answers: no call of its own for entitlements.
    assert_eq!(app.sandbox.requests().len(), 1);
    // A membership: its recurrence; no features mapped for its product.
    let (status, member) = app
        .call(
            "activate",
            json!({"product_id": seed::PRODUCT_MEMBERSHIP,
                   "license_key": seed::LICENSE_MEMBERSHIP_ACTIVE, "fingerprint": "m1"}),
        )
        .await;
    assert_eq!(status, 201, "{member}");
    assert_eq!(
        member["entitlements"],
        json!({"variants": [], "recurrence": "monthly", "subscription_ends_at": null, "features": []})
    );
}

#[tokio::test]
async fn no_token_outlives_the_subscription_it_stands_for() {
    let app = spawn_app().await;
    let ends = app.clock.utc_now() + time::Duration::hours(2);
    let ends = ends
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    // A cancelled membership that runs for two more hours: valid, and its token ends with it.
    let verify = json!({"success": true, "uses": 0, "purchase": {
        "id": "sale-ending", "product_id": seed::PRODUCT_MEMBERSHIP, "quantity": 1,
        "refunded": false, "disputed": false, "dispute_won": false, "test": false,
        "variants": "(Tier 2)", "recurrence": "yearly", "subscription_id": "sub-1",
        "subscription_cancelled_at": "2026-01-01T00:00:00Z", "subscription_ended_at": ends,
        "subscription_failed_at": null}});
    app.answer_next(1, 200, Some("application/json"), &verify.to_string());
    let (status, body) = app
        .call(
            "activate",
            json!({"product_id": seed::PRODUCT_MEMBERSHIP,
                   "license_key": seed::LICENSE_MEMBERSHIP_CANCELLED, "fingerprint": "m1"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["entitlements"]["subscription_ends_at"], json!(ends));
    assert_eq!(body["entitlements"]["variants"], json!(["Tier 2"]));
    let token = claims(&body["token"]);
    assert_eq!(token["exp"], unix(&json!(ends)), "capped, not 24 h");
    assert_eq!(body["token_expires_at"], json!(ends));
}

#[tokio::test]
async fn desktop_web_views_get_preflights_on_the_public_surface_only() {
    let origin = "tauri://localhost";
    let app = spawn_app_with(|s| {
        s.server.cors_origins = vec![origin.into(), "file://".into()];
    })
    .await;
    let preflight = |path: &str, from: &str| {
        app.client
            .request(Method::OPTIONS, format!("{}{path}", app.api))
            .header("origin", from)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    for path in [
        "/v1/licenses/validate",
        "/v1/licenses/heartbeat",
        "/v1/licenses/machines",
        "/v2/licenses/verify",
        "/.well-known/jwks.json",
    ] {
        let res = preflight(path, origin).await.unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let allowed = res.headers()["access-control-allow-origin"]
            .to_str()
            .unwrap();
        assert_eq!(allowed, origin, "{path}");
        let methods = res.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(methods.contains("POST"), "{path}: {methods}");
    }
    let res = preflight("/v1/licenses/activate", "file://").await.unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "file://");
    // Another origin is told nothing; the admin surface has no CORS at all.
    let res = preflight("/v1/licenses/validate", "https://evil.example")
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let res = preflight("/admin/licenses/release", origin).await.unwrap();
    assert_eq!(res.status(), 405);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    // The real call carries the header too, so the web view may read the answer.
    let res = app
        .client
        .post(format!("{}/v1/licenses/machines", app.api))
        .header("origin", origin)
        .json(&json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], origin);
    // By default no origin is allowed: a preflight is the 405 it always was.
    let plain = spawn_app().await;
    let res = plain
        .client
        .request(
            Method::OPTIONS,
            format!("{}/v1/licenses/validate", plain.api),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
}
