use std::time::Duration;

use serde_json::json;
use time::macros::datetime;

use super::*;

fn policy() -> Policy {
    Policy {
        seats: 3,
        allow_test_purchases: false,
        token_ttl: None,
        offline_grace: Duration::from_secs(72 * 3600),
        payment_failed_grace: Duration::from_secs(72 * 3600),
        max_deactivations_per_day: 3,
        mirror_uses_count: false,
        heartbeat_interval: Duration::ZERO,
        heartbeat_grace: Duration::from_secs(600),
    }
}

const NOW: OffsetDateTime = datetime!(2026-11-26 12:00 UTC);

fn ok(purchase: Value) -> Decision {
    let body = json!({ "success": true, "uses": 1, "purchase": purchase });
    judge(
        Upstream::Answered {
            status: StatusCode::OK,
            body: &body,
        },
        &policy(),
        NOW,
    )
}

fn not_found(message: &str) -> Code {
    let body = json!({ "success": false, "message": message });
    judge(
        Upstream::Answered {
            status: StatusCode::NOT_FOUND,
            body: &body,
        },
        &policy(),
        NOW,
    )
    .code
}

#[test]
fn a_plain_purchase_is_valid_with_seats_times_quantity() {
    assert_eq!(
        ok(json!({"quantity": 1})),
        Decision {
            code: Code::Valid,
            seats: 3
        }
    );
    assert_eq!(ok(json!({"quantity": 5})).seats, 15);
    assert_eq!(ok(json!({})).seats, 3, "no quantity: one unit");
    assert_eq!(ok(json!({"quantity": 0})).seats, 3);
}

#[test]
fn the_three_404s_map_to_their_codes() {
    assert_eq!(
        not_found("That license does not exist for the provided product."),
        Code::NotFound
    );
    assert_eq!(
        not_found("This license key has been disabled."),
        Code::Disabled
    );
    assert_eq!(
        not_found("Access to the purchase associated with this license has expired."),
        Code::AccessRevoked
    );
}

#[test]
fn money_going_back_revokes() {
    assert_eq!(ok(json!({"refunded": true})).code, Code::Refunded);
    assert_eq!(ok(json!({"chargebacked": true})).code, Code::Chargebacked);
    assert_eq!(
        ok(json!({"disputed": true, "dispute_won": false})).code,
        Code::Disputed
    );
    assert_eq!(
        ok(json!({"disputed": true, "dispute_won": true})).code,
        Code::Valid
    );
    assert_eq!(
        ok(json!({"refunded": "true"})).code,
        Code::Refunded,
        "string booleans too"
    );
}

#[test]
fn memberships_end_when_they_end_and_fail_after_the_grace() {
    let cancelled =
        json!({"subscription_cancelled_at": "2026-11-01T00:00:00Z", "subscription_ended_at": null});
    assert_eq!(
        ok(cancelled).code,
        Code::Valid,
        "cancelled stays valid until it ends"
    );
    assert_eq!(
        ok(json!({"subscription_ended_at": "2026-11-20T00:00:00Z"})).code,
        Code::SubscriptionEnded
    );
    assert_eq!(
        ok(json!({"subscription_ended_at": "2026-12-20T00:00:00Z"})).code,
        Code::Valid,
        "ends later"
    );
    assert_eq!(
        ok(json!({"subscription_failed_at": "2026-11-25T12:00:00Z"})).code,
        Code::Valid,
        "within grace"
    );
    assert_eq!(
        ok(json!({"subscription_failed_at": "2026-11-22T00:00:00Z"})).code,
        Code::SubscriptionPaymentFailed
    );
}

#[test]
fn test_purchases_need_the_policy() {
    assert_eq!(ok(json!({"test": true})).code, Code::TestPurchaseNotAllowed);
    let body = json!({"success": true, "purchase": {"test": true}});
    let allowed = Policy {
        allow_test_purchases: true,
        ..policy()
    };
    let d = judge(
        Upstream::Answered {
            status: StatusCode::OK,
            body: &body,
        },
        &allowed,
        NOW,
    );
    assert_eq!(d.code, Code::Valid);
}

#[test]
fn no_answer_and_odd_answers() {
    assert_eq!(
        judge(Upstream::Unavailable, &policy(), NOW).code,
        Code::UpstreamUnavailable
    );
    let body = json!({"success": false, "message": "The 'product_id' parameter is required"});
    let d = judge(
        Upstream::Answered {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: &body,
        },
        &policy(),
        NOW,
    );
    assert_eq!(d.code, Code::NotFound);
    let imported = json!({"success": true, "uses": 0, "imported_customer": {"email": "x"}});
    let d = judge(
        Upstream::Answered {
            status: StatusCode::OK,
            body: &imported,
        },
        &policy(),
        NOW,
    );
    assert_eq!(d.code, Code::Valid);
}

#[test]
fn codes_serialize_as_screaming_snake_case() {
    for code in [
        Code::TooManyActivations,
        Code::SubscriptionPaymentFailed,
        Code::Valid,
    ] {
        assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
    }
}
