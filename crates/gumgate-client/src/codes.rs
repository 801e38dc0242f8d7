//! Reason codes: the server's (why a license does or does not unlock the app) and the offline
//! check's (why a stored token is or is not trusted).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// Why the server granted or refused. A code this version does not know is kept as
/// [`ReasonCode::Other`], never an error: a newer server may add codes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReasonCode {
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
    TooManyDeactivations,
    /// Too many requests from this machine's address (the server's per-IP limits).
    RateLimited,
    Other(String),
}

impl ReasonCode {
    /// From the wire form (`TOO_MANY_ACTIVATIONS`).
    pub fn parse(code: &str) -> Self {
        match code {
            "VALID" => Self::Valid,
            "NOT_FOUND" => Self::NotFound,
            "DISABLED" => Self::Disabled,
            "ACCESS_REVOKED" => Self::AccessRevoked,
            "REFUNDED" => Self::Refunded,
            "CHARGEBACKED" => Self::Chargebacked,
            "DISPUTED" => Self::Disputed,
            "SUBSCRIPTION_ENDED" => Self::SubscriptionEnded,
            "SUBSCRIPTION_PAYMENT_FAILED" => Self::SubscriptionPaymentFailed,
            "TOO_MANY_ACTIVATIONS" => Self::TooManyActivations,
            "FINGERPRINT_MISMATCH" => Self::FingerprintMismatch,
            "PRODUCT_NOT_ALLOWED" => Self::ProductNotAllowed,
            "TEST_PURCHASE_NOT_ALLOWED" => Self::TestPurchaseNotAllowed,
            "UPSTREAM_UNAVAILABLE" => Self::UpstreamUnavailable,
            "HEARTBEAT_MISSED" => Self::HeartbeatMissed,
            "TOO_MANY_DEACTIVATIONS" => Self::TooManyDeactivations,
            "RATE_LIMITED" => Self::RateLimited,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire form.
    pub fn as_str(&self) -> &str {
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
            Self::TooManyDeactivations => "TOO_MANY_DEACTIVATIONS",
            Self::RateLimited => "RATE_LIMITED",
            Self::Other(code) => code,
        }
    }

    /// Whether asking again later may change the answer (an outage, a limit), as opposed to a
    /// decision about the license or the machine.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::UpstreamUnavailable | Self::RateLimited | Self::TooManyDeactivations
        )
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReasonCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// Why a stored token is or is not trusted offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfflineCode {
    Valid,
    /// Nothing stored: the machine was never activated (or was deactivated).
    NoToken,
    /// `exp` passed, beyond the leeway: go online.
    TokenExpired,
    /// `nbf` is ahead of this clock, beyond the leeway.
    TokenNotYetValid,
    /// Bad signature, another algorithm, an unknown key, another issuer or product.
    TokenInvalid,
    /// The token is for another license key.
    WrongLicense,
    /// The token is for another machine.
    WrongMachine,
    /// This clock is behind a time the client already saw: it was set back.
    ClockSetBack,
}

impl OfflineCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::NoToken => "NO_TOKEN",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::TokenNotYetValid => "TOKEN_NOT_YET_VALID",
            Self::TokenInvalid => "TOKEN_INVALID",
            Self::WrongLicense => "WRONG_LICENSE",
            Self::WrongMachine => "WRONG_MACHINE",
            Self::ClockSetBack => "CLOCK_SET_BACK",
        }
    }
}

impl fmt::Display for OfflineCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_kept() {
        for code in [
            "VALID",
            "HEARTBEAT_MISSED",
            "TOO_MANY_DEACTIVATIONS",
            "REFUNDED",
        ] {
            assert_eq!(ReasonCode::parse(code).as_str(), code);
        }
        let newer: ReasonCode = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(newer, ReasonCode::Other("SOMETHING_NEW".into()));
        assert!(ReasonCode::UpstreamUnavailable.is_transient());
        assert!(!ReasonCode::Refunded.is_transient());
    }
}
