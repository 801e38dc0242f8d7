//! Endpoint templates: the bounded label an upstream call is counted under. Literal words of
//! Gumroad's API are kept, everything else becomes `{id}`, and anything outside the known API
//! is `other`, so no id, key or invented path ever becomes a metric label.

/// Path words of Gumroad API v2 that are not ids.
const LITERALS: &[&str] = &[
    "v2",
    "user",
    "products",
    "disable",
    "enable",
    "offer_codes",
    "variant_categories",
    "variants",
    "custom_fields",
    "subscribers",
    "sales",
    "licenses",
    "verify",
    "decrement_uses_count",
    "rotate",
    "resource_subscriptions",
    "refund",
    "mark_as_shipped",
    "resend_receipt",
];

/// Every template the seed reference (and Gumroad's documented API) uses.
const TEMPLATES: &[&str] = &[
    "/v2/user",
    "/v2/products",
    "/v2/products/{id}",
    "/v2/products/{id}/disable",
    "/v2/products/{id}/enable",
    "/v2/products/{id}/offer_codes",
    "/v2/products/{id}/offer_codes/{id}",
    "/v2/products/{id}/variant_categories",
    "/v2/products/{id}/variant_categories/{id}",
    "/v2/products/{id}/variant_categories/{id}/variants",
    "/v2/products/{id}/variant_categories/{id}/variants/{id}",
    "/v2/products/{id}/custom_fields",
    "/v2/products/{id}/custom_fields/{id}",
    "/v2/products/{id}/subscribers",
    "/v2/sales",
    "/v2/sales/{id}",
    "/v2/sales/{id}/refund",
    "/v2/sales/{id}/mark_as_shipped",
    "/v2/sales/{id}/resend_receipt",
    "/v2/subscribers/{id}",
    "/v2/licenses/verify",
    "/v2/licenses/enable",
    "/v2/licenses/disable",
    "/v2/licenses/decrement_uses_count",
    "/v2/licenses/rotate",
    "/v2/resource_subscriptions",
    "/v2/resource_subscriptions/{id}",
];

/// The template of a Gumroad path given as decoded segments (`["v2", "sales", "abc=="]`).
pub fn gumroad_template(segments: &[String]) -> &'static str {
    let mut template = String::new();
    for (i, seg) in segments.iter().enumerate() {
        let seg = if i + 1 == segments.len() {
            seg.strip_suffix(".json").unwrap_or(seg)
        } else {
            seg
        };
        template.push('/');
        // The first word after an id is still a literal; an id in a literal's place is not.
        if LITERALS.contains(&seg) && !(i > 0 && is_id_slot(&segments[i - 1])) {
            template.push_str(seg);
        } else {
            template.push_str("{id}");
        }
    }
    TEMPLATES
        .iter()
        .find(|t| **t == template)
        .copied()
        .unwrap_or("other")
}

/// Collections whose next segment is an id, so `/v2/products/sales` counts `sales` as an id.
fn is_id_slot(previous: &str) -> bool {
    matches!(
        previous,
        "products"
            | "offer_codes"
            | "variant_categories"
            | "variants"
            | "custom_fields"
            | "sales"
            | "subscribers"
            | "resource_subscriptions"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(path: &str) -> &'static str {
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(String::from)
            .collect();
        gumroad_template(&segs)
    }

    #[test]
    fn ids_are_masked_and_unknown_paths_are_other() {
        assert_eq!(t("/v2/sales/abc=="), "/v2/sales/{id}");
        assert_eq!(t("/v2/sales.json"), "/v2/sales");
        assert_eq!(
            t("/v2/products/p1/offer_codes/o1"),
            "/v2/products/{id}/offer_codes/{id}"
        );
        assert_eq!(t("/v2/products/sales"), "/v2/products/{id}");
        assert_eq!(t("/v2/licenses/verify"), "/v2/licenses/verify");
        assert_eq!(t("/v2/secret-license-key/x/y"), "other");
        assert_eq!(t("/v2/subscribers/s1"), "/v2/subscribers/{id}");
    }
}
