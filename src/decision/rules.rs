//! One decision per license: what Gumroad answered, read against the product's policy, becomes
//! a single reason code. Pure (no I/O, the time is a parameter) so every rule is unit-tested.
//!
//! Gumroad answers 200 for chargebacked, disputed, refunded-before-Aug-2026 and ended or
//! cancelled memberships; deciding that those must not unlock the app is this function's job.

use std::time::Duration;

use gumroad_wire::licenses;
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::Policy;

/// Why a license does or does not unlock the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    Valid,
    NotFound,
    Disabled,
    AccessRevoked,
    Refunded,
    Chargebacked,
    Disputed,
    SubscriptionEnded,
    SubscriptionPaymentFailed,
    TooManyActivations,
    FingerprintMismatch,
    ProductNotAllowed,
    TestPurchaseNotAllowed,
    UpstreamUnavailable,
    HeartbeatMissed,
}

impl Code {
    /// Every code, for the metrics' series created at 0.
    pub const ALL: [Code; 15] = [
        Self::Valid,
        Self::NotFound,
        Self::Disabled,
        Self::AccessRevoked,
        Self::Refunded,
        Self::Chargebacked,
        Self::Disputed,
        Self::SubscriptionEnded,
        Self::SubscriptionPaymentFailed,
        Self::TooManyActivations,
        Self::FingerprintMismatch,
        Self::ProductNotAllowed,
        Self::TestPurchaseNotAllowed,
        Self::UpstreamUnavailable,
        Self::HeartbeatMissed,
    ];

    /// The wire form, e.g. `TOO_MANY_ACTIVATIONS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::NotFound => "NOT_FOUND",
            Self::Disabled => "DISABLED",
            Self::AccessRevoked => "ACCESS_REVOKED",
            Self::Refunded => "REFUNDED",
            Self::Chargebacked => "CHARGEBACKED",
            Self::Disputed => "DISPUTED",
            Self::SubscriptionEnded => "SUBSCRIPTION_ENDED",
            Self::SubscriptionPaymentFailed => "SUBSCRIPTION_PAYMENT_FAILED",
            Self::TooManyActivations => "TOO_MANY_ACTIVATIONS",
            Self::FingerprintMismatch => "FINGERPRINT_MISMATCH",
            Self::ProductNotAllowed => "PRODUCT_NOT_ALLOWED",
            Self::TestPurchaseNotAllowed => "TEST_PURCHASE_NOT_ALLOWED",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::HeartbeatMissed => "HEARTBEAT_MISSED",
        }
    }

    /// A sentence an app can show its user.
    pub fn message(self) -> &'static str {
        match self {
            Self::Valid => "The license is valid.",
            Self::NotFound => "That license does not exist for this product.",
            Self::Disabled => "This license key has been disabled.",
            Self::AccessRevoked => "Access to this purchase has been revoked.",
            Self::Refunded => "This purchase was refunded.",
            Self::Chargebacked => "This purchase was charged back.",
            Self::Disputed => "This purchase is disputed.",
            Self::SubscriptionEnded => "The subscription has ended.",
            Self::SubscriptionPaymentFailed => "The subscription's payment failed.",
            Self::TooManyActivations => "Every seat of this license is in use.",
            Self::FingerprintMismatch => "This machine holds no activation of this license.",
            Self::ProductNotAllowed => "This product is not served here.",
            Self::TestPurchaseNotAllowed => "Test purchases cannot activate this product.",
            Self::UpstreamUnavailable => "The license cannot be checked right now. Please retry.",
            Self::HeartbeatMissed => {
                "This machine lost its seat: it sent no heartbeat in time. Activate it again."
            }
        }
    }
}

/// What Gumroad said, as far as the decision needs it.
#[derive(Debug, Clone)]
pub enum Upstream<'a> {
    /// An answer: its status and JSON body.
    Answered { status: StatusCode, body: &'a Value },
    /// No answer could be had (outage, budget spent, circuit open).
    Unavailable,
}

/// A license decision, with the seat count when the purchase is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub code: Code,
    /// Seats the purchase buys: the policy's seats times the purchase's quantity.
    pub seats: u32,
}

/// Judges what Gumroad answered for one license against its product's policy. `now` is the
/// current time.
pub fn judge(upstream: Upstream<'_>, policy: &Policy, now: OffsetDateTime) -> Decision {
    let (status, body) = match upstream {
        Upstream::Unavailable => return denied(Code::UpstreamUnavailable),
        Upstream::Answered { status, body } => (status, body),
    };
    if status == StatusCode::NOT_FOUND {
        return denied(not_found_reason(body));
    }
    if status != StatusCode::OK || body.get("success") != Some(&Value::Bool(true)) {
        return denied(Code::NotFound);
    }
    // Imported customers carry no purchase: nothing to hold against them.
    let Some(purchase) = body
        .get("purchase")
        .or_else(|| body.get("imported_customer"))
    else {
        return denied(Code::NotFound);
    };
    let seats = policy.seats.saturating_mul(quantity(purchase));
    let code = purchase_reason(purchase, policy, now);
    Decision { code, seats }
}

fn denied(code: Code) -> Decision {
    Decision { code, seats: 0 }
}

/// Gumroad's three 404 messages.
fn not_found_reason(body: &Value) -> Code {
    match body.get("message").and_then(Value::as_str) {
        Some(licenses::DISABLED) => Code::Disabled,
        Some(licenses::ACCESS_REVOKED) => Code::AccessRevoked,
        _ => Code::NotFound,
    }
}

fn purchase_reason(p: &Value, policy: &Policy, now: OffsetDateTime) -> Code {
    if flag(p, "test") && !policy.allow_test_purchases {
        return Code::TestPurchaseNotAllowed;
    }
    if flag(p, "refunded") {
        return Code::Refunded;
    }
    if flag(p, "chargebacked") {
        return Code::Chargebacked;
    }
    if flag(p, "disputed") && !flag(p, "dispute_won") {
        return Code::Disputed;
    }
    // A cancelled subscription stays valid until it has ended.
    if timestamp(p, "subscription_ended_at").is_some_and(|t| t <= now) {
        return Code::SubscriptionEnded;
    }
    if let Some(failed) = timestamp(p, "subscription_failed_at")
        && now - failed >= duration(policy.payment_failed_grace)
    {
        return Code::SubscriptionPaymentFailed;
    }
    Code::Valid
}

/// A boolean field; Gumroad's pings use strings, its API booleans: accept both.
fn flag(p: &Value, key: &str) -> bool {
    match p.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn timestamp(p: &Value, key: &str) -> Option<OffsetDateTime> {
    p.get(key)
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
}

/// The seat multiplier; a missing, zero or odd quantity counts as one unit.
fn quantity(p: &Value) -> u32 {
    p.get("quantity")
        .and_then(|q| q.as_u64().or_else(|| q.as_str()?.parse().ok()))
        .and_then(|q| u32::try_from(q).ok())
        .filter(|q| *q > 0)
        .unwrap_or(1)
}

fn duration(d: Duration) -> time::Duration {
    time::Duration::try_from(d).unwrap_or(time::Duration::MAX)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
