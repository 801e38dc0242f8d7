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

/// A license key in Gumgate's one spelling: ASCII letters upper-cased, and the characters
/// Ruby's `String#strip` removes (ASCII blanks and NUL) taken off both ends. Nothing else.
///
/// How Gumroad matches a key: `Api::V2::LicensesController#fetch_valid_license` passes
/// `params[:license_key]` untouched to `find_by(serial: ...)` (no strip, no case change;
/// `app/controllers/api/v2/licenses_controller.rb`, `app/models/license.rb`), so the match is
/// MySQL's `utf8mb4_unicode_ci` on `licenses.serial`: case-insensitive, and PAD SPACE (trailing
/// U+0020 ignored). Upper-casing ASCII and dropping trailing spaces therefore never changes
/// Gumroad's answer. Dropping *leading* ASCII blanks does, in principle (Gumroad would say "not
/// found"); Gumgate does it anyway as input cleaning, and stays truthful because every verify
/// sends upstream this normalised key, the one its cache entry is filed under.
///
/// Unicode spaces (U+00A0, U+3000, ...) are kept: Ruby would not strip them, and whether the
/// collation equates them with a space is not established, so such a key is another key with
/// its own upstream answer, never the plain key's cached one.
pub fn normalize_license_key(key: &str) -> String {
    key.trim_matches(ruby_strips).to_ascii_uppercase()
}

/// Whether a key has the shape of the keys Gumroad generates (after [`normalize_license_key`]):
/// four groups of eight hex digits joined by `-` (`License#generate_serial` upper-cases a UUID's
/// hex and regroups it). Whether imported customers' keys follow it is not established, which
/// is why Gumgate's check can be switched off.
pub fn has_gumroad_key_shape(key: &str) -> bool {
    let key = normalize_license_key(key);
    let groups: Vec<&str> = key.split('-').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| g.len() == 8 && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether two keys name the same license: [`normalize_license_key`]'s rule, without
/// allocating.
pub fn same_license_key(a: &str, b: &str) -> bool {
    a.trim_matches(ruby_strips)
        .eq_ignore_ascii_case(b.trim_matches(ruby_strips))
}

/// What Ruby's `String#strip` removes: NUL, `\t`, `\n`, `\v`, `\f`, `\r` and the space. Gumgate
/// trims every required param by this one rule, so the OpenAPI pattern `NonBlank` can state it.
pub fn ruby_strips(c: char) -> bool {
    matches!(c, '\0' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r' | ' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gumroad_keys_are_four_groups_of_eight_hex_digits() {
        for good in [
            "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0",
            " 5a1c0f3e-8b2d4e61-9f7a3c05-d4e2b1a0\n",
        ] {
            assert!(has_gumroad_key_shape(good), "{good:?}");
        }
        for bad in [
            "",
            "x",
            "5A1C0F3E-8B2D4E61-9F7A3C05",
            "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A",
            "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1AG",
            "5A1C0F3E8B2D4E619F7A3C05D4E2B1A0",
            "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0-00000000",
            "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0\u{00A0}",
        ] {
            assert!(!has_gumroad_key_shape(bad), "{bad:?}");
        }
    }

    #[test]
    fn keys_compare_trimmed_and_case_insensitive() {
        assert_eq!(normalize_license_key("  abcd-ef01\n"), "ABCD-EF01");
        let pairs = [
            ("abcd-ef01", " ABCD-EF01\t", true),
            ("abcd-ef01", "abcd-ef02", false),
            ("abcd-ef01", "abcd ef01", false),
            ("", "  ", true),
            ("ÄBCD", "äbcd", false),
            ("abcd-ef01", "abcd-ef01\u{0B}\0", true),
            ("abcd-ef01", "abcd-ef01\u{00A0}", false),
            ("abcd-ef01", "\u{3000}abcd-ef01", false),
            ("abcd-ef01", "abcd-ef01\u{2003}", false),
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
