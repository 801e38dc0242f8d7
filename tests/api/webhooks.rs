//! Gumroad's pings: stored before the 200, de-duplicated, malformed ones kept, each a reason to
//! re-check upstream and re-decide the license's activations; resumed after a restart, retried
//! when upstream is down.

use std::time::Duration;

use gumgate::budget::Priority;
use gumgate_sandbox::{Faults, seed};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// The captured real sale ping from GUMROAD.md (email redacted), form-encoded.
const CAPTURED_SALE: &str = "seller_id=9MNhwBVl3w6hN8muzCv86Q%3D%3D&product_id=B3K7zHJBfTCgXhEWPJnJcQ%3D%3D&product_name=txtconv&permalink=txtconv&product_permalink=https%3A%2F%2Fupchen.gumroad.com%2Fl%2Ftxtconv&short_product_id=ccxux&email=redacted%40example.com&price=1500&gumroad_fee=200&currency=usd&quantity=1&discover_fee_charged=false&can_contact=true&referrer=direct&card[visual]=paypal&card[type]=paypal&card[bin]=&order_number=627652801&sale_id=43B-ogwCqvDAPQhlCAALJg%3D%3D&sale_timestamp=2026-01-10T14%3A15%3A40Z&purchaser_id=6923323685518&variants[]=15&ip_country=Taiwan&is_gift_receiver_purchase=false&refunded=false&disputed=false&dispute_won=false&test=true&resource_name=sale";

impl TestApp {
    async fn ping(&self, secret: &str, body: String) -> reqwest::Response {
        self.client
            .post(format!("{}/webhooks/gumroad/{secret}", self.api))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// Waits (bounded) until `n` pings are processed.
    async fn processed(&self, n: usize) {
        eventually(&format!("{n} pings to be processed"), || async {
            let done = self.state.store.pings_in("done").await.unwrap();
            (done.len() >= n).then_some(())
        })
        .await;
    }

    async fn validate(&self, id: &str) -> Value {
        self.client
            .post(format!("{}/v1/licenses/validate", self.api))
            .json(&json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "activation_id": id}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn activate_valid(&self) -> String {
        let res: Value = self
            .client
            .post(format!("{}/v1/licenses/activate", self.api))
            .json(&json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_VALID, "fingerprint": "m1"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        res["activation"]["id"].as_str().unwrap().to_owned()
    }

    /// Disables the license at Gumroad itself (the sandbox), as the dashboard would: no ping,
    /// and Gumgate's cache still says valid.
    async fn disable_upstream(&self) {
        let res = self
            .direct(Method::PUT, "/v2/licenses/disable")
            .form(&[
                ("product_id", seed::PRODUCT_ONE_TIME),
                ("license_key", seed::LICENSE_VALID),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
}

#[tokio::test]
async fn the_captured_sale_ping_is_stored_answered_and_deduplicated() {
    let app = spawn_app().await;
    let res = app.ping(WEBHOOK_SECRET, CAPTURED_SALE.into()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"success": true}));
    // Gumroad retries on a slow answer: the same ping again changes nothing.
    assert_eq!(
        app.ping(WEBHOOK_SECRET, CAPTURED_SALE.into())
            .await
            .status(),
        200
    );
    app.processed(1).await;
    assert_eq!(app.state.store.pings_in("done").await.unwrap().len(), 1);
    let stored = &app.state.store.pings_in("done").await.unwrap()[0];
    let payload: Value = serde_json::from_str(&stored.payload).unwrap();
    // Bracketed keys were read (the form is understood), and what is kept is the sale, not
    // the buyer (issue 9): no card, no email.
    assert_eq!(payload["sale_id"], "43B-ogwCqvDAPQhlCAALJg==");
    assert_eq!(payload["sale_timestamp"], "2026-01-10T14:15:40Z");
    assert!(payload.get("card").is_none(), "{payload}");
    assert!(payload.get("email").is_none(), "{payload}");
    let m = app.metrics().await;
    assert_eq!(
        sample(
            &m,
            r#"gumgate_webhook_pings_total{outcome="duplicate",resource="sale"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn a_wrong_secret_is_an_unknown_route_and_malformed_pings_are_kept() {
    let app = spawn_app().await;
    let wrong = app
        .ping("not-the-secret-at-all-000", CAPTURED_SALE.into())
        .await;
    let unknown = app
        .client
        .post(format!("{}/no/such/route", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (wrong.status(), unknown.status()),
        (
            reqwest::StatusCode::NOT_FOUND,
            reqwest::StatusCode::NOT_FOUND
        )
    );
    assert_eq!(wrong.text().await.unwrap(), unknown.text().await.unwrap());
    for body in ["resource_name=nonsense&x=1", "no_resource=1"] {
        let res = app.ping(WEBHOOK_SECRET, body.into()).await;
        assert_eq!(res.status(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["success"], false);
    }
    let res = app
        .client
        .post(format!("{}/webhooks/gumroad/{WEBHOOK_SECRET}", app.api))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        app.state.store.pings_in("malformed").await.unwrap().len(),
        3
    );
    assert!(
        app.state
            .store
            .pings_in("pending")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_refund_ping_rechecks_upstream_and_revokes_the_activation() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    // Without a ping the cache still answers valid.
    assert_eq!(app.validate(&id).await["valid"], true);
    let ping = format!(
        "resource_name=refund&refunded=true&license_key={}&product_id={}&sale_id={}",
        seed::LICENSE_VALID,
        seed::PRODUCT_ONE_TIME.replace('=', "%3D"),
        seed::SALE_VALID.replace('=', "%3D"),
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, ping).await.status(), 200);
    app.processed(1).await;
    let v = app.validate(&id).await;
    assert_eq!(
        (&v["valid"], &v["code"]),
        (&json!(false), &json!("DISABLED")),
        "{v}"
    );
    let (_, list) = app.activations(seed::LICENSE_VALID).await;
    assert_eq!(list["activations"][0]["last_code"], "DISABLED");
}

#[tokio::test]
async fn a_subscription_ping_without_a_key_is_resolved_through_its_sale() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    let ping = format!(
        "resource_name=cancellation&subscription_id=sub1&purchase_ids[]={}",
        seed::SALE_VALID.replace('=', "%3D")
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, ping).await.status(), 200);
    app.processed(1).await;
    assert_eq!(app.validate(&id).await["code"], "DISABLED");
}

#[tokio::test]
async fn a_sale_lookup_that_meets_junk_is_retried_not_taken_for_no_sale() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    // A proxy answers the sale lookup with a maintenance page under a 200.
    app.answer_next(
        1,
        200,
        Some("text/html"),
        "<html>Down for maintenance</html>",
    );
    let ping = format!(
        "resource_name=cancellation&subscription_id=sub1&purchase_ids[]={}",
        seed::SALE_VALID.replace('=', "%3D")
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, ping).await.status(), 200);
    let mut attempted = false;
    for _ in 0..200 {
        let store = &app.state.store;
        let pending = store.pings_in("pending").await.unwrap();
        attempted = pending.first().is_some_and(|p| p.attempts >= 1);
        if attempted || !store.pings_in("done").await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(attempted, "the ping is kept for another try, not done with");
    // Once Gumroad answers again, the sale resolves and the license is re-decided.
    app.clock.advance(Duration::from_secs(6));
    gumgate::webhooks::process::process_due(&app.state)
        .await
        .unwrap();
    assert_eq!(app.state.store.pings_in("done").await.unwrap().len(), 1);
    assert_eq!(app.validate(&id).await["code"], "DISABLED");
}

#[tokio::test]
async fn a_ping_stored_before_a_crash_is_processed_after_restart() {
    let dir = tempfile::TempDir::new().unwrap();
    let url = format!("sqlite://{}", dir.path().join("gumgate.db").display());
    {
        // The process that accepted the ping died before processing it.
        let store = gumgate::store::Store::connect(&url).await.unwrap();
        let payload = json!({"resource_name": "dispute", "license_key": seed::LICENSE_VALID, "product_id": seed::PRODUCT_ONE_TIME}).to_string();
        assert!(
            store
                .enqueue_ping("k1", Some("dispute"), &payload, None, false, 0)
                .await
                .unwrap()
        );
        store.close().await;
    }
    let app = spawn_app_with(move |s| s.storage.database_url = url).await;
    app.processed(1).await;
    let trail = app
        .state
        .store
        .audit_trail(&gumgate::hashes::license_hash(seed::LICENSE_VALID), 10)
        .await
        .unwrap();
    assert!(
        trail
            .iter()
            .any(|e| e.action == "webhook" && e.code.as_deref() == Some("VALID")),
        "{trail:?}"
    );
}

#[tokio::test]
async fn processing_waits_out_an_upstream_outage() {
    let app = spawn_app().await;
    app.sandbox.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let ping = format!(
        "resource_name=dispute&license_key={}&product_id={}",
        seed::LICENSE_VALID,
        seed::PRODUCT_ONE_TIME.replace('=', "%3D")
    );
    assert_eq!(
        app.ping(WEBHOOK_SECRET, ping).await.status(),
        200,
        "accepted even while upstream is down"
    );
    eventually("a first attempt at the pending ping", || async {
        let pending = app.state.store.pings_in("pending").await.unwrap();
        pending
            .first()
            .is_some_and(|p| p.attempts >= 1)
            .then_some(())
    })
    .await;
    assert_eq!(
        app.state.store.pings_in("pending").await.unwrap()[0].attempts,
        1
    );
    // Upstream returns; once the backoff has passed, the ping goes through.
    app.sandbox.set_faults(Faults::default());
    app.clock.advance(Duration::from_secs(6));
    gumgate::webhooks::process::process_due(&app.state)
        .await
        .unwrap();
    assert_eq!(app.state.store.pings_in("done").await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_reconciler_catches_a_disable_that_sent_no_ping() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    // Recently checked licenses are left alone.
    let round = gumgate::activation::reconcile::run_once(&app.state)
        .await
        .unwrap();
    assert_eq!(round.checked, 0);
    // Once the last check is older than reconcile.max_age (1 h), one round revokes it.
    app.clock.advance(Duration::from_secs(3601));
    let round = gumgate::activation::reconcile::run_once(&app.state)
        .await
        .unwrap();
    assert_eq!((round.checked, round.changed), (1, 1));
    let v = app.validate(&id).await;
    assert_eq!(
        (&v["valid"], &v["code"]),
        (&json!(false), &json!("DISABLED"))
    );
    let m = app.metrics().await;
    assert_eq!(
        sample(&m, r#"gumgate_reconcile_changed_total{code="DISABLED"}"#),
        1.0
    );
    // And the next round has nothing to do.
    assert_eq!(
        gumgate::activation::reconcile::run_once(&app.state)
            .await
            .unwrap()
            .checked,
        0
    );
}

#[tokio::test]
async fn the_reconciler_stays_quiet_while_upstream_is_paused() {
    let app = spawn_app().await;
    app.activate_valid().await;
    app.clock.advance(Duration::from_secs(3601));
    app.fail_next(1, 429, Some("30"));
    assert_eq!(
        app.admin(Method::GET, "/v2/user")
            .send()
            .await
            .unwrap()
            .status(),
        429
    );
    let before = app.sandbox.request_count();
    let round = gumgate::activation::reconcile::run_once(&app.state)
        .await
        .unwrap();
    assert_eq!(round.checked, 0);
    assert_eq!(app.sandbox.request_count(), before);
}

#[tokio::test]
async fn each_revoking_ping_revokes_and_a_restart_restores() {
    for resource in [
        "refund",
        "dispute",
        "cancellation",
        "subscription_ended",
        "subscription_updated",
    ] {
        let app = spawn_app().await;
        let id = app.activate_valid().await;
        app.disable_upstream().await;
        let ping = format!(
            "resource_name={resource}&license_key={}&product_id={}",
            seed::LICENSE_VALID,
            seed::PRODUCT_ONE_TIME.replace('=', "%3D")
        );
        assert_eq!(app.ping(WEBHOOK_SECRET, ping.clone()).await.status(), 200);
        app.processed(1).await;
        let v = app.validate(&id).await;
        assert_eq!(v["code"], "DISABLED", "{resource}: {v}");
        assert!(
            v.get("token").is_none(),
            "no token for a revoked activation"
        );
        // A duplicate changes nothing twice.
        assert_eq!(app.ping(WEBHOOK_SECRET, ping).await.status(), 200);
        assert_eq!(app.state.store.pings_in("done").await.unwrap().len(), 1);
        // Gumroad restores the license (a restart, a won dispute): the next ping restores it here.
        let res = app
            .direct(Method::PUT, "/v2/licenses/enable")
            .form(&[
                ("product_id", seed::PRODUCT_ONE_TIME),
                ("license_key", seed::LICENSE_VALID),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let restart = format!(
            "resource_name=subscription_restarted&license_key={}&product_id={}&restarted_at=now",
            seed::LICENSE_VALID,
            seed::PRODUCT_ONE_TIME.replace('=', "%3D")
        );
        assert_eq!(app.ping(WEBHOOK_SECRET, restart).await.status(), 200);
        app.processed(2).await;
        let v = app.validate(&id).await;
        assert_eq!(
            (&v["code"], v["token"].is_string()),
            (&json!("VALID"), true),
            "{resource}: {v}"
        );
    }
}

#[tokio::test]
async fn json_pings_are_taken_too() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    let res = app
        .client
        .post(format!("{}/webhooks/gumroad/{WEBHOOK_SECRET}", app.api))
        .json(&json!({"resource_name": "refund", "license_key": seed::LICENSE_VALID, "product_id": seed::PRODUCT_ONE_TIME, "refunded": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.processed(1).await;
    assert_eq!(app.validate(&id).await["code"], "DISABLED");
}

#[tokio::test]
async fn under_a_flood_the_reconciler_takes_no_slot_an_app_call_waits_for() {
    // The flood's keys are first-time ones: with a share reserved for known licenses they would
    // be held to it, leaving the reconciler room by design (see `upstream.known_share`). This
    // tests the budget's priorities alone, so nothing is reserved.
    let app = spawn_app_with(|s| s.upstream.known_share = 0.0).await;
    app.activate_valid().await;
    app.clock.advance(Duration::from_secs(3601));
    app.sandbox.clear_requests();
    let spawn_verifies = |range: std::ops::Range<u32>| {
        range
            .map(|i| {
                let (client, url) = (
                    app.client.clone(),
                    format!("{}/v2/licenses/verify", app.api),
                );
                let key = format!("{i:08X}-11111111-22222222-33333333");
                tokio::spawn(async move {
                    let form = [
                        ("product_id", seed::PRODUCT_ONE_TIME),
                        ("license_key", key.as_str()),
                        ("increment_uses_count", "false"),
                    ];
                    client
                        .post(url)
                        .form(&form)
                        .send()
                        .await
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect::<Vec<_>>()
    };
    // A few app calls take the next slots (10/s): once the first has reached upstream, the
    // others wait in the budget queue for theirs...
    let mut flood = spawn_verifies(0..8);
    eventually("the first app call to reach upstream", || async {
        (app.sandbox.request_count() > 0).then_some(())
    })
    .await;
    // ...the reconciler starts waiting for spare capacity...
    let state = app.state.clone();
    let reconciler = tokio::spawn(async move {
        gumgate::activation::reconcile::run_once(&state)
            .await
            .unwrap()
    });
    let budget = app.state.upstream.budget();
    eventually(
        "the reconciler's lookup to wait in the budget queue",
        || async { (budget.queued(Priority::Background) == 1).then_some(()) },
    )
    .await;
    // ...and more app calls arrive after it: they must still go first.
    flood.extend(spawn_verifies(8..16));
    let round = reconciler.await.unwrap();
    for call in flood {
        assert!([404, 503].contains(&call.await.unwrap()));
    }
    // Once the flood is over there is spare capacity, and the reconciler does its work.
    let checked = round.checked
        + gumgate::activation::reconcile::run_once(&app.state)
            .await
            .unwrap()
            .checked;
    assert_eq!(checked, 1);
    let seen = app.sandbox.requests();
    let is_flood =
        |r: &gumgate_sandbox::RecordedRequest| r.body.contains("11111111-22222222-33333333");
    let first_lookup = seen
        .iter()
        .position(|r| r.path.contains("/v2/sales/"))
        .expect("a lookup");
    assert!(seen.iter().any(is_flood), "the flood reached upstream");
    assert!(
        !seen[first_lookup..].iter().any(is_flood),
        "an app's verify was served after the reconciler took a slot"
    );
}

#[tokio::test]
async fn the_reconciler_notices_a_rotation_done_in_the_dashboard() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    let res = app
        .direct(Method::PUT, "/v2/licenses/rotate")
        .form(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.clock.advance(Duration::from_secs(3601));
    let round = gumgate::activation::reconcile::run_once(&app.state)
        .await
        .unwrap();
    assert_eq!((round.checked, round.changed), (1, 1));
    let (_, list) = app.activations(seed::LICENSE_VALID).await;
    assert_eq!(list["activations"][0]["last_code"], "NOT_FOUND");
    assert_eq!(app.validate(&id).await["code"], "NOT_FOUND");
}

/// Issue 9: malformed pings were never pruned. Processed, failed and malformed pings all go
/// once older than `webhooks.retention`; pending ones stay whatever their age.
#[tokio::test]
async fn processed_failed_and_malformed_pings_are_pruned_after_the_retention() {
    let app = spawn_app().await;
    assert_eq!(
        app.ping(WEBHOOK_SECRET, CAPTURED_SALE.into())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.ping(WEBHOOK_SECRET, "resource_name=nonsense".into())
            .await
            .status(),
        400
    );
    app.processed(1).await;
    // A ping given up (its stored payload cannot be read).
    let store = &app.state.store;
    let now = app.clock.unix_now();
    assert!(
        store
            .enqueue_ping("broken", Some("refund"), "{not json", None, false, now)
            .await
            .unwrap()
    );
    gumgate::webhooks::process::process_due(&app.state)
        .await
        .unwrap();
    assert_eq!(store.pings_in("failed").await.unwrap().len(), 1);
    // A ping still waiting (its next attempt far off) is never pruned.
    let later = now + 40 * 86_400;
    let waiting = json!({"resource_name": "sale"}).to_string();
    assert!(
        store
            .enqueue_ping("waiting", Some("sale"), &waiting, None, false, later)
            .await
            .unwrap()
    );
    gumgate::webhooks::process::prune(&app.state).await;
    assert_eq!(
        store.pings_in("done").await.unwrap().len(),
        1,
        "young pings stay"
    );
    assert_eq!(store.pings_in("malformed").await.unwrap().len(), 1);
    assert_eq!(store.pings_in("failed").await.unwrap().len(), 1);
    app.clock.advance(Duration::from_secs(31 * 86_400));
    gumgate::webhooks::process::prune(&app.state).await;
    assert!(store.pings_in("done").await.unwrap().is_empty());
    assert!(store.pings_in("malformed").await.unwrap().is_empty());
    assert!(store.pings_in("failed").await.unwrap().is_empty());
    assert_eq!(store.pings_in("pending").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_license_whose_sale_cannot_be_resolved_does_not_stall_the_reconciler() {
    let app = spawn_app().await;
    app.activate_valid().await;
    let res = app
        .client
        .post(format!("{}/v1/licenses/activate", app.api))
        .json(&json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_MULTISEAT, "fingerprint": "m2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // License A's sale is gone (or belongs to another account); it comes first (oldest check).
    let a = gumgate::hashes::license_hash(seed::LICENSE_VALID);
    app.state
        .store
        .remember_license(&a, seed::PRODUCT_ONE_TIME, "no-such-sale", 0)
        .await
        .unwrap();
    // License B is disabled upstream with no ping.
    let res = app
        .direct(Method::PUT, "/v2/licenses/disable")
        .form(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_MULTISEAT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    app.clock.advance(Duration::from_secs(3601));
    gumgate::activation::reconcile::run_once(&app.state)
        .await
        .unwrap();
    let b = app
        .state
        .store
        .list(&gumgate::hashes::license_hash(seed::LICENSE_MULTISEAT))
        .await
        .unwrap();
    assert_eq!(b[0].last_code.as_deref(), Some("DISABLED"));
}

#[tokio::test]
async fn offline_grace_never_outlives_a_revocation_gumgate_knows_of() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    let ping = format!(
        "resource_name=refund&refunded=true&license_key={}&product_id={}",
        seed::LICENSE_VALID,
        seed::PRODUCT_ONE_TIME.replace('=', "%3D")
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, ping).await.status(), 200);
    app.processed(1).await;
    // Gumgate restarts (its cache is in memory) while upstream is down.
    gumgate::licenses::invalidate(&app.state, seed::PRODUCT_ONE_TIME, seed::LICENSE_VALID);
    app.sandbox.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let v = app.validate(&id).await;
    assert_ne!(
        v["valid"], true,
        "a license known to be DISABLED validated offline: {v}"
    );
}

/// An app's cacheable verify of the valid license (`increment_uses_count=false`).
const CACHED_VALID: [(&str, &str); 3] = [
    ("product_id", seed::PRODUCT_ONE_TIME),
    ("license_key", seed::LICENSE_VALID),
    ("increment_uses_count", "false"),
];

impl TestApp {
    /// How many verifies reached the sandbox.
    fn upstream_verifies(&self) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.path == "/gumroad/v2/licenses/verify")
            .count()
    }
}

/// A ping's re-check stores a fresh answer; dropping it right after (as the background paths
/// once did) made the next app verify a miss that spent one more upstream call.
#[tokio::test]
async fn a_processed_ping_leaves_the_fresh_answer_it_fetched_in_the_cache() {
    let app = spawn_app().await;
    assert_eq!(app.verify(&CACHED_VALID).await.status(), 200);
    assert_eq!(app.upstream_verifies(), 1);
    let ping = format!(
        "resource_name=refund&license_key={}&product_id={}",
        seed::LICENSE_VALID,
        seed::PRODUCT_ONE_TIME.replace('=', "%3D"),
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, ping).await.status(), 200);
    app.processed(1).await;
    assert_eq!(app.upstream_verifies(), 2, "the ping re-checked upstream");
    let res = app.verify(&CACHED_VALID).await;
    assert_eq!(res.status(), 200);
    assert!(cache_status(&res).contains("hit"), "{}", cache_status(&res));
    assert_eq!(app.upstream_verifies(), 2, "the next verify was a hit");
}

/// The same for the reconciler's re-check.
#[tokio::test]
async fn a_reconciled_license_keeps_the_fresh_answer_in_the_cache() {
    let app = spawn_app().await;
    app.activate_valid().await;
    assert_eq!(app.upstream_verifies(), 1);
    app.clock.advance(Duration::from_secs(3601));
    let round = gumgate::activation::reconcile::run_once(&app.state)
        .await
        .unwrap();
    assert_eq!(round.checked, 1);
    assert_eq!(
        app.upstream_verifies(),
        2,
        "the reconciler re-checked upstream"
    );
    let res = app.verify(&CACHED_VALID).await;
    assert!(cache_status(&res).contains("hit"), "{}", cache_status(&res));
    assert_eq!(app.upstream_verifies(), 2, "the next verify was a hit");
}

/// A stored ping whose payload cannot be read is given up at once (no retry can mend it),
/// without an upstream call; an outage is retried (see `processing_waits_out_an_upstream_outage`).
#[tokio::test]
async fn an_unreadable_stored_ping_is_given_up_at_once() {
    let app = spawn_app().await;
    let stored = app
        .state
        .store
        .enqueue_ping(
            "broken",
            Some("refund"),
            "{not json",
            None,
            false,
            // Received now: a ping from 1970 would be pruned as soon as it failed.
            app.clock.unix_now(),
        )
        .await
        .unwrap();
    assert!(stored);
    // The app's own inbox processor takes it (woken as the receiver would wake it), once.
    app.state.inbox.notify_one();
    let failed = eventually("the unreadable ping to be given up", || async {
        let failed = app.state.store.pings_in("failed").await.unwrap();
        (!failed.is_empty()).then_some(failed)
    })
    .await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].attempts, 1);
    assert_eq!(app.upstream_verifies(), 0);
}

/// A gateway whose inbox holds at most `max_pending` pings, with a processor that only wakes
/// when a ping is accepted (so a test decides when the inbox drains).
async fn spawn_capped(max_pending: u32, batch: u32) -> TestApp {
    spawn_app_with(move |s| {
        s.webhooks.max_pending = max_pending;
        s.webhooks.poll_interval = Duration::from_secs(3600);
        s.reconcile.batch = batch;
    })
    .await
}

impl TestApp {
    /// Stores a `sale` ping directly, due only `delay_secs` from now: it waits in the inbox.
    async fn waiting_ping(&self, delay_secs: i64) {
        self.stored_ping("waiting", json!({"resource_name": "sale"}), delay_secs)
            .await;
    }
}

/// Issue 9: 40,917 pings were accepted in 15 s and a genuine refund waited behind them.
#[tokio::test]
async fn over_the_pending_cap_a_ping_is_refused_with_503_and_not_stored() {
    let app = spawn_capped(1, 20).await;
    app.waiting_ping(600).await;
    let refund = format!(
        "resource_name=refund&refunded=true&license_key={}&product_id={}",
        seed::LICENSE_VALID,
        seed::PRODUCT_ONE_TIME.replace('=', "%3D")
    );
    let res = app.ping(WEBHOOK_SECRET, refund).await;
    assert_eq!(res.status(), 503);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(app.state.store.pings_in("pending").await.unwrap().len(), 1);
    assert!(app.state.store.pings_in("done").await.unwrap().is_empty());
    let m = app.metrics().await;
    assert_eq!(
        sample(
            &m,
            r#"gumgate_webhook_pings_total{outcome="refused",resource="refund"}"#
        ),
        1.0
    );
}

/// Gumroad gives up after a few retries, so a refused refund may never come back: once the
/// inbox is under the cap again, every license holding activations is re-checked once, however
/// recently it was checked, a batch per round.
#[tokio::test]
async fn after_refusals_the_reconciler_rechecks_every_license_once_the_inbox_drains() {
    let app = spawn_capped(1, 1).await;
    let id = app.activate_valid().await;
    let res = app
        .client
        .post(format!("{}/v1/licenses/activate", app.api))
        .json(&json!({"product_id": seed::PRODUCT_ONE_TIME, "license_key": seed::LICENSE_MULTISEAT, "fingerprint": "m2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // The license is refunded upstream; its ping meets a full inbox and is refused.
    app.disable_upstream().await;
    app.waiting_ping(600).await;
    let refund = format!(
        "resource_name=refund&refunded=true&sale_id={}",
        seed::SALE_VALID.replace('=', "%3D")
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, refund).await.status(), 503);
    let reconcile = || gumgate::activation::reconcile::run_once(&app.state);
    // While the inbox is still over the cap, only licenses past max_age are due: none.
    assert_eq!(reconcile().await.unwrap().checked, 0);
    // The inbox drains (well within max_age).
    app.clock.advance(Duration::from_secs(600));
    gumgate::webhooks::process::process_due(&app.state)
        .await
        .unwrap();
    assert!(
        app.state
            .store
            .pings_in("pending")
            .await
            .unwrap()
            .is_empty()
    );
    // One license a round (reconcile.batch = 1) until both were checked, then nothing.
    let first = reconcile().await.unwrap();
    let second = reconcile().await.unwrap();
    assert_eq!((first.checked, second.checked), (1, 1));
    assert_eq!(first.changed + second.changed, 1);
    assert_eq!(reconcile().await.unwrap().checked, 0);
    let v = app.validate(&id).await;
    assert_eq!(
        (&v["valid"], &v["code"]),
        (&json!(false), &json!("DISABLED")),
        "{v}"
    );
}

/// Issue 9: 14,805 malformed 60 KB pings grew the database to 887 MB in 10 s. The receiver has
/// a body limit of its own (`webhooks.max_body_bytes`, 16 KiB), well under the server's.
#[tokio::test]
async fn a_ping_over_the_receivers_body_limit_is_refused_with_413_and_not_stored() {
    let app = spawn_app().await;
    let padded = format!(
        "resource_name=refund&license_key={}&pad={}",
        seed::LICENSE_VALID,
        "x".repeat(20 * 1024)
    );
    let res = app.ping(WEBHOOK_SECRET, padded).await;
    assert_eq!(res.status(), 413);
    assert_eq!(res.json::<Value>().await.unwrap()["success"], false);
    let junk = format!("no_resource=1&pad={}", "y".repeat(20 * 1024));
    assert_eq!(app.ping(WEBHOOK_SECRET, junk).await.status(), 413);
    for state in ["pending", "done", "malformed", "failed"] {
        assert!(
            app.state.store.pings_in(state).await.unwrap().is_empty(),
            "{state}"
        );
    }
    // A real ping (a few hundred bytes) is still taken.
    assert_eq!(
        app.ping(WEBHOOK_SECRET, CAPTURED_SALE.into())
            .await
            .status(),
        200
    );
}

/// A malformed ping is kept for inspection as a hash and a size only: its body may be a
/// buyer's email, a license key or just junk, and none of it is needed.
#[tokio::test]
async fn a_malformed_ping_keeps_only_a_hash_and_its_size() {
    let app = spawn_app().await;
    let body = format!(
        "resource_name=nonsense&email=buyer%40example.com&license_key={}",
        seed::LICENSE_VALID
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, body.clone()).await.status(), 400);
    let res = app
        .client
        .post(format!("{}/webhooks/gumroad/{WEBHOOK_SECRET}", app.api))
        .header("content-type", "application/json")
        .body("{not json, buyer@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let kept = app.state.store.pings_in("malformed").await.unwrap();
    assert_eq!(kept.len(), 2);
    for ping in &kept {
        assert!(!ping.payload.contains("buyer"), "{}", ping.payload);
        assert!(
            !ping.payload.contains(seed::LICENSE_VALID),
            "{}",
            ping.payload
        );
    }
    let first: Value = serde_json::from_str(&kept[0].payload).unwrap();
    assert_eq!(first["bytes"], body.len());
    assert_eq!(
        first["blake3"],
        blake3::hash(body.as_bytes()).to_hex().as_str()
    );
    assert_eq!(first["reason"], "unknown resource_name");
    // The same junk again is the same row.
    assert_eq!(app.ping(WEBHOOK_SECRET, body).await.status(), 400);
    assert_eq!(
        app.state.store.pings_in("malformed").await.unwrap().len(),
        2
    );
}

impl TestApp {
    /// Stores a ping directly, due `delay_secs` from now, as the receiver would have stored it.
    async fn stored_ping(&self, dedup: &str, payload: Value, delay_secs: i64) {
        let at = self.clock.unix_now() + delay_secs;
        let resource = payload["resource_name"].as_str().map(str::to_owned);
        let stored = self
            .state
            .store
            .enqueue_ping(
                dedup,
                resource.as_deref(),
                &payload.to_string(),
                None,
                false,
                at,
            )
            .await
            .unwrap();
        assert!(stored);
    }
}

/// Issue 9: pings were processed oldest first, so a refund waited behind every junk `sale`
/// received before it. Revoking pings go first.
#[tokio::test]
async fn a_refund_is_processed_before_the_sales_received_ahead_of_it() {
    let app = spawn_capped(10_000, 20).await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    // Due in 10 s, so that only the round this test runs takes them.
    for i in 0..60 {
        let sale = json!({"resource_name": "sale", "sale_id": format!("junk-{i}")});
        app.stored_ping(&format!("sale-{i}"), sale, 10).await;
    }
    let refund = json!({"resource_name": "refund", "license_key": seed::LICENSE_VALID, "product_id": seed::PRODUCT_ONE_TIME});
    app.stored_ping("refund", refund, 10).await;
    app.clock.advance(Duration::from_secs(10));
    // One round (a batch of 50): the refund is in it.
    gumgate::webhooks::process::process_due(&app.state)
        .await
        .unwrap();
    let done = app.state.store.pings_in("done").await.unwrap();
    assert!(
        done.iter()
            .any(|p| p.resource_name.as_deref() == Some("refund")),
        "the refund waited behind the sales"
    );
    assert_eq!(app.validate(&id).await["code"], "DISABLED");
}

/// Many pings about one license (a refund, its retries with other bodies, a cancellation
/// naming its sale) are one upstream re-check per round, and all of them are finished.
#[tokio::test]
async fn pings_about_one_license_collapse_into_one_recheck() {
    let app = spawn_capped(10_000, 20).await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    for n in 0..3 {
        let refund = json!({"resource_name": "refund", "license_key": seed::LICENSE_VALID, "product_id": seed::PRODUCT_ONE_TIME, "n": n});
        app.stored_ping(&format!("refund-{n}"), refund, 10).await;
    }
    let dispute = json!({"resource_name": "dispute", "license_key": seed::LICENSE_VALID, "product_id": seed::PRODUCT_ONE_TIME});
    app.stored_ping("dispute", dispute, 10).await;
    let cancellation = json!({"resource_name": "cancellation", "purchase_ids": [seed::SALE_VALID]});
    app.stored_ping("cancellation", cancellation, 10).await;
    let before = app.upstream_verifies();
    app.clock.advance(Duration::from_secs(10));
    gumgate::webhooks::process::process_due(&app.state)
        .await
        .unwrap();
    assert_eq!(app.upstream_verifies() - before, 1, "one re-check");
    assert_eq!(app.state.store.pings_in("done").await.unwrap().len(), 5);
    assert_eq!(app.validate(&id).await["code"], "DISABLED");
    let trail = app
        .state
        .store
        .audit_trail(&gumgate::hashes::license_hash(seed::LICENSE_VALID), 20)
        .await
        .unwrap();
    let webhook: Vec<_> = trail.iter().filter(|e| e.action == "webhook").collect();
    assert_eq!(webhook.len(), 1, "{trail:?}");
}

/// Issue 9: the inbox kept every ping whole, buyers' emails, names, cards and license keys
/// included, for 30 days. It keeps what processing needs: the sale, the product, a hash of the
/// key.
#[tokio::test]
async fn a_stored_ping_holds_no_license_key_or_buyer_details() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    let ping = format!(
        "resource_name=refund&refunded=true&license_key={}&product_id={}&sale_id={}&email=buyer%40example.com&full_name=Ann%20Buyer&card[visual]=**** 4242&ip_country=Taiwan",
        seed::LICENSE_VALID,
        seed::PRODUCT_ONE_TIME.replace('=', "%3D"),
        seed::SALE_VALID.replace('=', "%3D"),
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, ping).await.status(), 200);
    app.processed(1).await;
    assert_eq!(app.validate(&id).await["code"], "DISABLED");
    let stored = &app.state.store.pings_in("done").await.unwrap()[0];
    for gone in [
        seed::LICENSE_VALID,
        "buyer@example.com",
        "Ann Buyer",
        "4242",
        "Taiwan",
    ] {
        assert!(!stored.payload.contains(gone), "{gone}: {}", stored.payload);
    }
    let payload: Value = serde_json::from_str(&stored.payload).unwrap();
    assert_eq!(payload["sale_id"], seed::SALE_VALID);
    assert_eq!(payload["product_id"], seed::PRODUCT_ONE_TIME);
    assert_eq!(
        payload["license_hash"],
        gumgate::hashes::license_hash(seed::LICENSE_VALID)
    );
}

/// A ping that names only a license key (no sale to resolve it through) keeps the key apart
/// from its payload until it is processed, so it can still be re-checked after an outage.
#[tokio::test]
async fn a_key_only_ping_keeps_its_key_only_until_processed() {
    let app = spawn_app().await;
    let id = app.activate_valid().await;
    app.disable_upstream().await;
    app.sandbox.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let ping = format!(
        "resource_name=dispute&license_key={}&product_id={}&email=buyer%40example.com",
        seed::LICENSE_VALID,
        seed::PRODUCT_ONE_TIME.replace('=', "%3D")
    );
    assert_eq!(app.ping(WEBHOOK_SECRET, ping).await.status(), 200);
    let pending = eventually("a first attempt at the pending ping", || async {
        let pending = app.state.store.pings_in("pending").await.unwrap();
        pending.first().filter(|p| p.attempts >= 1).cloned()
    })
    .await;
    assert!(
        !pending.payload.contains(seed::LICENSE_VALID),
        "{}",
        pending.payload
    );
    assert!(!pending.payload.contains("buyer@example.com"));
    assert_eq!(pending.license_key.as_deref(), Some(seed::LICENSE_VALID));
    app.sandbox.set_faults(Faults::default());
    app.clock.advance(Duration::from_secs(6));
    gumgate::webhooks::process::process_due(&app.state)
        .await
        .unwrap();
    assert_eq!(app.validate(&id).await["code"], "DISABLED");
    let done = app.state.store.pings_in("done").await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].license_key, None, "blanked once processed");
}
