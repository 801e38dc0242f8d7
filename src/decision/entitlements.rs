//! What a purchase is, for an app to unlock by: Gumroad's variants, the membership's recurrence
//! and end, and the features the seller maps variants to (`products."<id>".entitlements`). Read
//! from the verify answer a decision already fetched: never an upstream call of its own.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Carried in activate, validate and heartbeat answers and in tokens (`entitlements`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlements {
    /// Verify's `variants` string (`"(Premium)"`, `"(Large, Blue)"`) without its parentheses,
    /// split on `, `.
    pub variants: Vec<String>,
    /// `monthly`, `yearly`, ... for a membership; null otherwise.
    pub recurrence: Option<String>,
    /// When the subscription ends (verify's `subscription_ended_at`, RFC 3339), when set.
    pub subscription_ends_at: Option<String>,
    /// The features the variants unlock, from the configuration.
    #[serde(default)]
    pub features: Vec<String>,
}

impl Entitlements {
    /// From verify's `purchase` (or `imported_customer`) object; `features` left empty.
    pub fn of_purchase(purchase: &Value) -> Self {
        let text = |k: &str| {
            purchase
                .get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let variants = text("variants").map_or_else(Vec::new, split_variants);
        let ends = text("subscription_ended_at")
            .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
            .and_then(|t| t.format(&Rfc3339).ok());
        Self {
            variants,
            recurrence: text("recurrence").map(str::to_owned),
            subscription_ends_at: ends,
            features: Vec::new(),
        }
    }

    /// The subscription's end as unix seconds, when known: no token outlives it.
    pub fn ends_at_unix(&self) -> Option<i64> {
        let at = OffsetDateTime::parse(self.subscription_ends_at.as_deref()?, &Rfc3339).ok()?;
        Some(at.unix_timestamp())
    }
}

/// `"(Premium)"` -> `["Premium"]`; `"(Large, Blue)"` -> `["Large", "Blue"]`; `""` -> `[]`. A
/// string without the parentheses is taken as it is.
fn split_variants(s: &str) -> Vec<String> {
    let inner = s
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(s);
    inner
        .split(", ")
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variants_lose_their_parentheses_and_split_on_comma_space() {
        assert_eq!(split_variants("(Premium)"), ["Premium"]);
        assert_eq!(split_variants("(Large, Blue)"), ["Large", "Blue"]);
        assert!(split_variants("()").is_empty());
        assert_eq!(split_variants("Pro"), ["Pro"]);
    }

    #[test]
    fn a_membership_carries_its_recurrence_and_end() {
        let e = Entitlements::of_purchase(&json!({
            "variants": "(Tier 2)",
            "recurrence": "monthly",
            "subscription_ended_at": "2027-01-05T19:38:56Z",
            "subscription_cancelled_at": "2026-12-05T19:38:56Z",
        }));
        assert_eq!(e.variants, ["Tier 2"]);
        assert_eq!(e.recurrence.as_deref(), Some("monthly"));
        assert_eq!(
            e.subscription_ends_at.as_deref(),
            Some("2027-01-05T19:38:56Z")
        );
        assert_eq!(e.ends_at_unix(), Some(1_799_177_936));
        // A one-time purchase: nothing but its (empty) variants.
        let plain =
            Entitlements::of_purchase(&json!({"variants": "", "subscription_ended_at": null}));
        assert_eq!(plain, Entitlements::default());
    }
}
