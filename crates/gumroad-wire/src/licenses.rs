//! Gumroad's license vocabulary: how it matches a license key, and the messages of the three
//! 404s `POST /v2/licenses/verify` answers for a license it will not vouch for.

/// No license with this key for this product (or for any product, without `product_id`).
pub const NOT_FOUND: &str = "That license does not exist for the provided product.";
/// The seller disabled the license.
pub const DISABLED: &str = "This license key has been disabled.";
/// Gumroad revoked access to the purchase; it checks this before "disabled".
pub const ACCESS_REVOKED: &str = "Access to the purchase associated with this license has expired.";

/// Every message of a definitive verify 404: Gumroad's own answer, not a proxy's or a router's.
pub const VERIFY_NOT_FOUND_MESSAGES: [&str; 3] = [NOT_FOUND, DISABLED, ACCESS_REVOKED];

/// A license key as Gumroad compares it: surrounding blanks ignored, letters case-insensitive.
pub fn normalize_license_key(key: &str) -> String {
    key.trim().to_ascii_uppercase()
}

/// Whether two keys name the same license: [`normalize_license_key`]'s rule, without
/// allocating.
pub fn same_license_key(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_compare_trimmed_and_case_insensitive() {
        assert_eq!(normalize_license_key("  abcd-ef01\n"), "ABCD-EF01");
        let pairs = [
            ("abcd-ef01", " ABCD-EF01\t", true),
            ("abcd-ef01", "abcd-ef02", false),
            ("abcd-ef01", "abcd ef01", false),
            ("", "  ", true),
            ("ÄBCD", "äbcd", false),
        ];
        for (a, b, same) in pairs {
            assert_eq!(same_license_key(a, b), same, "{a:?} {b:?}");
            assert_eq!(
                normalize_license_key(a) == normalize_license_key(b),
                same,
                "{a:?} {b:?}"
            );
        }
    }
}
