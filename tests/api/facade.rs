//! The verify facade: cache hits, coalescing, increments, negative caching, TTLs on a manual
//! clock, stale-if-error, invalidation and the allow-list, each proven by what reached the
//! sandbox.

use std::time::Duration;

use gumgate_sandbox::{Faults, seed};
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

const NO_INCREMENT: [(&str, &str); 3] = [
    ("product_id", seed::PRODUCT_ONE_TIME),
    ("license_key", seed::LICENSE_VALID),
    ("increment_uses_count", "false"),
];

#[tokio::test]
async fn a_second_identical_verify_is_a_hit() {
    let app = spawn_app().await;
    let first = app.verify(&NO_INCREMENT).await;
    assert_eq!(first.status(), 200);
    assert_eq!(
        cache_status(&first),
        "gumgate; fwd=miss; fwd-status=200; stored"
    );
    let first_body = first.bytes().await.unwrap();

    // Same license, other spelling (case, blanks), other encoding (JSON): the same entry.
    let second = app
        .verify_json(serde_json::json!({
            "product_id": seed::PRODUCT_ONE_TIME,
            "license_key": format!(" {} ", seed::LICENSE_VALID.to_lowercase()),
            "increment_uses_count": false
        }))
        .await;
    assert_eq!(second.status(), 200);
    assert_eq!(cache_status(&second), "gumgate; hit; ttl=300");
    assert_eq!(second.bytes().await.unwrap(), first_body);
    assert_eq!(app.sandbox.request_count(), 1);
}

#[tokio::test]
async fn concurrent_identical_cold_verifies_make_one_upstream_call() {
    let app = spawn_app().await;
    app.sandbox.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let calls = (0..200).map(|_| {
        let (client, url) = (
            app.client.clone(),
            format!("{}/v2/licenses/verify", app.api),
        );
        tokio::spawn(async move { client.post(url).form(&NO_INCREMENT).send().await.unwrap() })
    });
    let mut collapsed = 0;
    for call in futures_util::future::join_all(calls).await {
        let res = call.unwrap();
        assert_eq!(res.status(), 200);
        collapsed += usize::from(cache_status(&res).contains("collapsed"));
    }
    assert_eq!(app.sandbox.request_count(), 1);
    assert!(collapsed >= 1, "some callers joined the first fill");
}

#[tokio::test]
async fn the_fill_survives_its_first_caller_leaving() {
    let app = spawn_app().await;
    app.sandbox.set_faults(Faults {
        latency_ms: 400,
        ..Faults::default()
    });
    // The first caller gives up long before upstream answers.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let gave_up = impatient
        .post(format!("{}/v2/licenses/verify", app.api))
        .form(&NO_INCREMENT)
        .send()
        .await;
    assert!(gave_up.is_err());
    // Others arrive while the fill still runs, and get its answer.
    let res = app.verify(&NO_INCREMENT).await;
    assert_eq!(res.status(), 200);
    assert!(
        cache_status(&res).contains("collapsed"),
        "{}",
        cache_status(&res)
    );
    assert_eq!(app.sandbox.request_count(), 1);
}

#[tokio::test]
async fn incrementing_verifies_always_reach_upstream_and_count_exactly() {
    let app = spawn_app().await;
    let _ = app.verify(&NO_INCREMENT).await; // warm the cache
    for (i, flag) in ["true", "0", "False", "no"].into_iter().enumerate() {
        let res = app
            .verify(&[
                ("product_id", seed::PRODUCT_ONE_TIME),
                ("license_key", seed::LICENSE_VALID),
                ("increment_uses_count", flag),
            ])
            .await;
        assert!(cache_status(&res).starts_with("gumgate; fwd=request; fwd-status=200"));
        assert_eq!(res.json::<Value>().await.unwrap()["uses"], i + 1, "{flag}");
    }
    let res = app.verify(&VALID).await; // absent flag: increments too
    assert_eq!(res.json::<Value>().await.unwrap()["uses"], 5);
    assert_eq!(app.sandbox.request_count(), 6);
    // Every increment refreshed the cache, so a cached read shows the count.
    let res = app.verify(&NO_INCREMENT).await;
    assert!(cache_status(&res).contains("hit"));
    assert_eq!(res.json::<Value>().await.unwrap()["uses"], 5);
    assert_eq!(app.sandbox.request_count(), 6);
}

#[tokio::test]
async fn fresh_answers_expire_on_time_without_sleeping() {
    let app = spawn_app().await;
    let _ = app.verify(&NO_INCREMENT).await;
    app.clock.advance(Duration::from_secs(299));
    assert!(cache_status(&app.verify(&NO_INCREMENT).await).contains("hit; ttl=1"));
    assert_eq!(app.sandbox.request_count(), 1);
    app.clock.advance(Duration::from_secs(2));
    let res = app.verify(&NO_INCREMENT).await;
    assert_eq!(
        cache_status(&res),
        "gumgate; fwd=stale; fwd-status=200; stored"
    );
    assert_eq!(app.sandbox.request_count(), 2);
}

#[tokio::test]
async fn definitive_404s_are_cached_negatively_and_expire_sooner() {
    let app = spawn_app().await;
    let unknown = [
        ("product_id", seed::PRODUCT_ONE_TIME),
        ("license_key", "00000000-00000000-00000000-00000000"),
        ("increment_uses_count", "false"),
    ];
    for _ in 0..3 {
        let res = app.verify(&unknown).await;
        assert_eq!(res.status(), 404);
        assert_eq!(
            res.json::<Value>().await.unwrap()["message"],
            "That license does not exist for the provided product."
        );
    }
    assert_eq!(app.sandbox.request_count(), 1);
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(app.verify(&unknown).await.status(), 404);
    assert_eq!(app.sandbox.request_count(), 2);
}

#[tokio::test]
async fn caller_errors_and_outages_are_never_cached() {
    let app = spawn_app().await;
    // Gumroad's 500 for a missing product_id is the caller's error: passed, not kept.
    for _ in 0..2 {
        let res = app
            .verify(&[
                ("license_key", seed::LICENSE_VALID),
                ("increment_uses_count", "false"),
            ])
            .await;
        assert_eq!(res.status(), 500);
        assert!(cache_status(&res).contains("fwd=miss"));
    }
    assert_eq!(app.sandbox.request_count(), 2);
    // An outage answer is not kept either: the next call asks again.
    app.fail_next(1, 500, None);
    let res = app.verify(&NO_INCREMENT).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let res = app.verify(&NO_INCREMENT).await;
    assert_eq!(res.status(), 200);
    assert!(cache_status(&res).contains("stored"));
}

#[tokio::test]
async fn stale_answers_stand_in_while_upstream_fails_and_503_when_none() {
    let app = spawn_app().await;
    let _ = app.verify(&NO_INCREMENT).await;
    app.clock.advance(Duration::from_secs(3600)); // stale, well inside the 72 h window
    app.sandbox.set_faults(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let res = app.verify(&NO_INCREMENT).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        cache_status(&res),
        "gumgate; hit; ttl=-3300; detail=stale-if-error"
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["purchase"]["license_key"],
        seed::LICENSE_VALID
    );
    // An incrementing verify cannot count now; the user keeps working on the stale answer.
    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 200);
    assert!(cache_status(&res).contains("stale-if-error"));
    // Nothing stored for this license: 503, Retry-After, Gumroad's shape.
    let res = app
        .verify(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_MULTISEAT),
            ("increment_uses_count", "false"),
        ])
        .await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(
        cache_status(&res),
        "gumgate; fwd=miss; detail=upstream-unavailable"
    );
    assert_eq!(res.json::<Value>().await.unwrap()["success"], false);
    // Past the stale window nothing stands in any more.
    app.clock.advance(Duration::from_secs(72 * 3600));
    assert_eq!(app.verify(&NO_INCREMENT).await.status(), 503);
}

#[tokio::test]
async fn disabling_through_gumgate_invalidates_the_cached_answer() {
    let app = spawn_app().await;
    assert_eq!(app.verify(&NO_INCREMENT).await.status(), 200);
    let form = [
        ("product_id", seed::PRODUCT_ONE_TIME),
        ("license_key", seed::LICENSE_VALID),
    ];
    let res = app
        .admin(Method::PUT, "/v2/licenses/disable")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = app.verify(&NO_INCREMENT).await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "This license key has been disabled."
    );

    // Rotate: the old key's entry and the new key's are both fresh from upstream.
    let res = app
        .admin(Method::PUT, "/v2/licenses/enable")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.verify(&NO_INCREMENT).await.status(), 200);
    let rotated: Value = app
        .admin(Method::PUT, "/v2/licenses/rotate")
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(app.verify(&NO_INCREMENT).await.status(), 404);
    let new_key = rotated["purchase"]["license_key"].as_str().unwrap();
    let res = app
        .verify(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", new_key),
            ("increment_uses_count", "false"),
        ])
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn operators_can_purge_one_license_or_everything() {
    let app = spawn_app().await;
    let _ = app.verify(&NO_INCREMENT).await;
    let res = app
        .admin(Method::DELETE, "/admin/cache")
        .query(&[("product_id", seed::PRODUCT_ONE_TIME)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = app
        .admin(Method::DELETE, "/admin/cache")
        .query(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", seed::LICENSE_VALID),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(cache_status(&app.verify(&NO_INCREMENT).await).contains("fwd=miss"));
    let res = app
        .admin(Method::DELETE, "/admin/cache")
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["success"], true);
    assert!(cache_status(&app.verify(&NO_INCREMENT).await).contains("fwd=miss"));
    // Without the admin token, nothing is purged.
    let res = app
        .client
        .delete(format!("{}/admin/cache", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn unlisted_products_are_refused_without_an_upstream_call() {
    let app =
        spawn_app_with(|s| s.licenses.allowed_products = vec![seed::PRODUCT_MEMBERSHIP.into()])
            .await;
    let res = app.verify(&NO_INCREMENT).await;
    assert_eq!(res.status(), 404);
    assert_eq!(
        res.json::<Value>().await.unwrap()["message"],
        "That license does not exist for the provided product."
    );
    assert_eq!(app.sandbox.request_count(), 0);
    let res = app
        .verify(&[
            ("product_id", seed::PRODUCT_MEMBERSHIP),
            ("license_key", seed::LICENSE_MEMBERSHIP_ACTIVE),
        ])
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(app.sandbox.request_count(), 1);
}

#[tokio::test]
async fn cache_metrics_count_lookups_and_size() {
    let app = spawn_app().await;
    let _ = app.verify(&NO_INCREMENT).await;
    let _ = app.verify(&NO_INCREMENT).await;
    let _ = app.verify(&VALID).await;
    let m = app.metrics().await;
    assert_eq!(
        sample(
            &m,
            r#"gumgate_cache_lookups_total{cache="verify",result="miss"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            r#"gumgate_cache_lookups_total{cache="verify",result="hit"}"#
        ),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            r#"gumgate_cache_lookups_total{cache="verify",result="bypass"}"#
        ),
        1.0
    );
    assert_eq!(sample(&m, r#"gumgate_cache_entries{cache="verify"}"#), 1.0);
    assert!(sample(&m, r#"gumgate_cache_bytes{cache="verify"}"#) > 100.0);
}

#[tokio::test]
async fn params_the_cache_key_does_not_hold_never_read_or_fill_the_cache() {
    let app = spawn_app().await;
    // A legacy product verifies without product_id: cached under "no product".
    let legacy = [
        ("license_key", seed::LICENSE_LEGACY),
        ("increment_uses_count", "false"),
    ];
    assert_eq!(app.verify(&legacy).await.status(), 200);
    // Another product's app names its product by permalink: that must reach upstream (404),
    // not get the legacy product's cached 200.
    let res = app
        .verify(&[
            ("license_key", seed::LICENSE_LEGACY),
            ("increment_uses_count", "false"),
            ("product_permalink", "sbxap"),
        ])
        .await;
    assert_eq!(res.status(), 404);
    assert!(
        cache_status(&res).contains("fwd=request"),
        "{}",
        cache_status(&res)
    );
    // And a bogus permalink's 404 is not stored for the plain verify that follows.
    let res = app
        .verify(&[
            ("license_key", seed::LICENSE_LEGACY),
            ("increment_uses_count", "false"),
            ("product_permalink", "bogus"),
        ])
        .await;
    assert_eq!(res.status(), 404);
    let res = app.verify(&legacy).await;
    assert_eq!(res.status(), 200);
    assert!(cache_status(&res).contains("hit"));
    // What reached upstream for cached verifies holds only the canonical params.
    let first = &app.sandbox.requests()[0];
    assert_eq!(
        first.body,
        format!(
            "license_key={}&increment_uses_count=false",
            seed::LICENSE_LEGACY
        )
    );
}

#[tokio::test]
async fn every_spelling_of_a_license_edit_invalidates() {
    let app = spawn_app().await;
    assert_eq!(app.verify(&NO_INCREMENT).await.status(), 200);
    let form = [
        ("product_id", seed::PRODUCT_ONE_TIME),
        ("license_key", seed::LICENSE_VALID),
    ];
    let res = app
        .admin(Method::PUT, "/v2/licenses/%64isable")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.verify(&NO_INCREMENT).await.status(), 404);

    // A legacy license verified without product_id, disabled with it: both entries go.
    let legacy = [
        ("license_key", seed::LICENSE_LEGACY),
        ("increment_uses_count", "false"),
    ];
    assert_eq!(app.verify(&legacy).await.status(), 200);
    let res = app
        .admin(Method::PUT, "/v2/licenses/disable")
        .form(&[
            ("product_id", seed::PRODUCT_LEGACY),
            ("license_key", seed::LICENSE_LEGACY),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(app.verify(&legacy).await.status(), 404);
}

/// The verify cache keys a license as Gumgate normalises it (ASCII case, ASCII blanks around it)
/// and sends upstream that same normalised key, so an entry only ever holds Gumroad's answer for
/// the key it is filed under. A key with a trailing U+00A0 or U+3000 is another key: Gumroad's
/// controller does not strip it (and Ruby's `strip` would not either), so it gets its own
/// upstream answer, never the valid key's cached one.
#[tokio::test]
async fn unicode_spaces_are_another_key_and_upstream_gets_the_key_the_cache_holds() {
    // With the key-shape check on, a padded key never leaves Gumgate at all (see
    // `keys_of_no_gumroad_shape_are_answered_locally`); without it, it must still be its own key.
    let app = spawn_app_with(|s| s.licenses.require_key_shape = false).await;
    // Cold, in a spelling Gumroad matches: lower case, blanks around it.
    let first = app
        .verify(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            (
                "license_key",
                &format!(" {}\t ", seed::LICENSE_VALID.to_lowercase()),
            ),
            ("increment_uses_count", "false"),
        ])
        .await;
    assert_eq!(first.status(), 200);
    let sent = app.sandbox.requests().pop().unwrap();
    let params = gumroad_wire::params::parse_form(sent.body.as_bytes());
    assert_eq!(params["license_key"], seed::LICENSE_VALID, "{}", sent.body);

    // Upper case shares the entry.
    let upper = app.verify(&NO_INCREMENT).await;
    assert_eq!(cache_status(&upper), "gumgate; hit; ttl=300");
    assert_eq!(app.sandbox.request_count(), 1);

    for padded in [
        format!("{}\u{00A0}", seed::LICENSE_VALID),
        format!("{}\u{3000}", seed::LICENSE_VALID.to_lowercase()),
    ] {
        let before = app.sandbox.request_count();
        let res = app
            .verify(&[
                ("product_id", seed::PRODUCT_ONE_TIME),
                ("license_key", &padded),
                ("increment_uses_count", "false"),
            ])
            .await;
        assert!(
            cache_status(&res).contains("fwd=miss"),
            "{padded:?}: {}",
            cache_status(&res)
        );
        assert_eq!(app.sandbox.request_count(), before + 1, "{padded:?}");
        let sent = app.sandbox.requests().pop().unwrap();
        let params = gumroad_wire::params::parse_form(sent.body.as_bytes());
        assert_eq!(
            params["license_key"],
            padded.to_ascii_uppercase(),
            "{}",
            sent.body
        );
    }

    // An incrementing verify carries the normalised key too.
    let res = app
        .verify(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", &seed::LICENSE_VALID.to_lowercase()),
        ])
        .await;
    assert_eq!(res.status(), 200);
    let sent = app.sandbox.requests().pop().unwrap();
    let params = gumroad_wire::params::parse_form(sent.body.as_bytes());
    assert_eq!(params["license_key"], seed::LICENSE_VALID, "{}", sent.body);
}

/// What a proxy in front of Gumroad may pass off as an answer: a 200 that is not one.
const NOT_AN_ANSWER: [(Option<&str>, &str); 3] = [
    (
        Some("text/html; charset=utf-8"),
        "<html><body><h1>We'll be right back</h1></body></html>",
    ),
    (
        Some("application/json; charset=utf-8"),
        r#"{"success":true,"purchase":{"id":"#,
    ),
    (
        Some("application/json; charset=utf-8"),
        r#"{"success":false}"#,
    ),
];

#[tokio::test]
async fn a_200_that_is_not_gumroads_answer_is_an_outage_and_never_stored() {
    let app = spawn_app().await;
    let good = app.verify(&NO_INCREMENT).await.bytes().await.unwrap();
    for (content_type, body) in NOT_AN_ANSWER {
        // Past the TTL, the refresh meets the junk: the good answer stands in, stale.
        app.clock.advance(Duration::from_secs(301));
        let before = app.sandbox.request_count();
        app.answer_next(1, 200, content_type, body);
        let res = app.verify(&NO_INCREMENT).await;
        assert_eq!(res.status(), 200, "{body}");
        assert!(
            cache_status(&res).ends_with("detail=stale-if-error"),
            "{body}: {}",
            cache_status(&res)
        );
        assert_eq!(res.bytes().await.unwrap(), good, "{body}");
        assert_eq!(app.sandbox.request_count(), before + 1, "{body}");
        // The junk was not stored: the next verify asks again, and stores Gumroad's answer.
        let res = app.verify(&NO_INCREMENT).await;
        assert_eq!(
            cache_status(&res),
            "gumgate; fwd=stale; fwd-status=200; stored",
            "{body}"
        );
        assert_eq!(res.bytes().await.unwrap(), good, "{body}");
    }
    // An incrementing verify's junk replaces nothing either: the last answer stands in.
    app.answer_next(1, 200, Some("text/html"), "<html>maintenance</html>");
    let res = app.verify(&VALID).await;
    assert_eq!(res.status(), 200);
    assert!(cache_status(&res).contains("stale-if-error"));
    let res = app.verify(&NO_INCREMENT).await;
    assert!(cache_status(&res).contains("hit"), "{}", cache_status(&res));
    assert_eq!(res.bytes().await.unwrap(), good);
}

#[tokio::test]
async fn a_miss_that_meets_junk_is_unavailable_and_stores_nothing() {
    let app = spawn_app().await;
    // Junk under a 200, and a 404 or a 500 that is not one of Gumroad's: all outages.
    let junk = [
        (200, Some("text/html"), "<html>maintenance</html>"),
        (200, Some("application/json"), "not json"),
        (200, Some("application/json"), r#"{"success":false}"#),
        (200, Some("application/json"), r#"{"success":true}"#),
        (404, Some("text/html"), "<html>Not Found</html>"),
        (404, Some("application/json"), r#"{"error":"Not found"}"#),
        (500, Some("application/json"), r#"{"success":false}"#),
    ];
    for (status, content_type, body) in junk {
        app.answer_next(1, status, content_type, body);
        let res = app.verify(&NO_INCREMENT).await;
        assert_eq!(res.status(), 503, "{status} {body}");
        assert!(res.headers().contains_key("retry-after"));
        assert_eq!(
            cache_status(&res),
            "gumgate; fwd=miss; detail=upstream-unavailable",
            "{status} {body}"
        );
    }
    let res = app.verify(&NO_INCREMENT).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        cache_status(&res),
        "gumgate; fwd=miss; fwd-status=200; stored"
    );
}

/// A key that is not four groups of eight hex digits gets Gumroad's own "does not exist" 404 at
/// once, spends no upstream budget, and counts as a failed verify; the check can be turned off.
#[tokio::test]
async fn keys_of_no_gumroad_shape_are_answered_locally() {
    let app = spawn_app().await;
    for key in [
        "x",
        "' OR 1=1 --",
        "5A1C0F3E-8B2D4E61-9F7A3C05",
        "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0\u{00A0}",
    ] {
        for increment in ["false", "true"] {
            let res = app
                .verify(&[
                    ("product_id", seed::PRODUCT_ONE_TIME),
                    ("license_key", key),
                    ("increment_uses_count", increment),
                ])
                .await;
            assert_eq!(res.status(), 404, "{key:?}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(
                body,
                serde_json::json!({"success": false, "message": gumroad_wire::licenses::NOT_FOUND})
            );
        }
    }
    assert_eq!(app.sandbox.request_count(), 0, "nothing went upstream");
    // The activation API decides the same without asking.
    let res = app
        .client
        .post(format!("{}/v1/licenses/activate", app.api))
        .form(&[
            ("product_id", seed::PRODUCT_ONE_TIME),
            ("license_key", "not-a-key"),
            ("fingerprint", "m1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["code"],
        "NOT_FOUND"
    );
    assert_eq!(app.sandbox.request_count(), 0);

    let open = spawn_app_with(|s| s.licenses.require_key_shape = false).await;
    assert_eq!(
        open.verify(&[("product_id", seed::PRODUCT_ONE_TIME), ("license_key", "x")])
            .await
            .status(),
        404
    );
    assert_eq!(
        open.sandbox.request_count(),
        1,
        "with the check off, upstream is asked"
    );
}
