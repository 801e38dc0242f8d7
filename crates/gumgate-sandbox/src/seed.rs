//! Names of everything the sandbox is seeded with, so tests and docs can refer to them.
//! Seller A owns the one-time, membership and legacy products (and the oldest connection);
//! seller B owns one product and its connection lacks the `edit_products` scope.

/// Maton connection of seller A: ACTIVE, the oldest, so the default without `Maton-Connection`.
pub const CONNECTION_A: &str = "2f1c9a7e-4b3d-4c8a-9e21-5a7d3f0b6c11";
/// Maton connection of seller B: ACTIVE, newer, token without the `edit_products` scope.
pub const CONNECTION_B: &str = "8d4e2b1a-7c6f-4e9b-a3d5-0f1e2c3b4a22";

/// Seller A's Gumroad `user_id` (also `seller_id` on its sales).
pub const SELLER_A_ID: &str = "RznH2LkWWClrULj2ndGSpw==";
/// Seller A's display name, as `GET /v2/user` shows it.
pub const SELLER_A_NAME: &str = "Ada Sandbox";
/// Seller A's email.
pub const SELLER_A_EMAIL: &str = "ada@sandbox.example";
/// Seller B's Gumroad `user_id`.
pub const SELLER_B_ID: &str = "QIT5SzhlCh6xxW5KIr41Tg==";
/// Seller B's display name.
pub const SELLER_B_NAME: &str = "Bo Sandbox";
/// Seller B's email.
pub const SELLER_B_EMAIL: &str = "bo@sandbox.example";

/// Seller A's one-time licensed product, created 2025 (so verify requires `product_id`).
/// Its `sales_count`/`sales_usd_cents` are strings, Gumroad's quirk.
pub const PRODUCT_ONE_TIME: &str = "9Y2u8Dy4AWioyNrmNROrFA==";
/// Seller A's monthly membership with licenses.
pub const PRODUCT_MEMBERSHIP: &str = "tTBhZDvqNUc4W3rSX0i8Zw==";
/// Seller A's legacy product, created 2021: verify works without `product_id`.
pub const PRODUCT_LEGACY: &str = "ON7NUPxjP1OZdKiPXOJMNw==";
/// Seller B's licensed product.
pub const PRODUCT_SELLER_B: &str = "0MfRiZVDyLvVYewpVqvgJQ==";
/// How many products seller A has (the named three plus unlicensed fillers: two pages).
pub const SELLER_A_PRODUCT_COUNT: usize = 12;
/// How many sales seller A has (licensed ones plus unlicensed fillers: three pages).
pub const SELLER_A_SALE_COUNT: usize = 30;

/// One-time product: a plain valid license, 0 uses.
pub const LICENSE_VALID: &str = "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0";
/// One-time product: a multi-seat license, quantity 5.
pub const LICENSE_MULTISEAT: &str = "6B2D1E4F-9C3E5F72-A08B4D16-E5F3C2B1";
/// One-time product: refunded before Aug 2026, key still enabled (200, `refunded:true`).
pub const LICENSE_REFUNDED: &str = "7C3E2F50-AD4F6083-B19C5E27-F604D3C2";
/// One-time product: refunded after Aug 2026, so the key was disabled (404 disabled).
pub const LICENSE_REFUNDED_DISABLED: &str = "8D4F3061-BE507194-C2AD6F38-0715E4D3";
/// One-time product: chargebacked (still 200, `chargebacked:true`).
pub const LICENSE_CHARGEBACKED: &str = "9E504172-CF6182A5-D3BE7049-1826F5E4";
/// One-time product: disputed (still 200, `disputed:true`).
pub const LICENSE_DISPUTED: &str = "AF615283-D07293B6-E4CF815A-2937A6F5";
/// One-time product: dispute won by the seller (`disputed` and `dispute_won` true).
pub const LICENSE_DISPUTE_WON: &str = "B0726394-E183A4C7-F5D0926B-3A48B706";
/// One-time product: disabled by the seller (404 disabled).
pub const LICENSE_DISABLED: &str = "C18374A5-F294B5D8-06E1A37C-4B59C817";
/// One-time product: access revoked by the seller (404 expired).
pub const LICENSE_REVOKED: &str = "D29485B6-03A5C6E9-17F2B48D-5C6AD928";
/// One-time product: the seller's own test purchase (`test:true`).
pub const LICENSE_TEST_PURCHASE: &str = "E3A596C7-14B6D7FA-2803C59E-6D7BEA39";
/// Membership: active subscription.
pub const LICENSE_MEMBERSHIP_ACTIVE: &str = "F4B6A7D8-25C7E80B-3914D6AF-7E8CFB4A";
/// Membership: cancelled but not yet ended (`subscription_cancelled_at` set, ended null).
pub const LICENSE_MEMBERSHIP_CANCELLED: &str = "05C7B8E9-36D8F91C-4A25E7B0-8F9D0C5B";
/// Membership: ended (`subscription_ended_at` set; the key stays enabled).
pub const LICENSE_MEMBERSHIP_ENDED: &str = "16D8C9FA-47E90A2D-5B36F8C1-90AE1D6C";
/// Membership: last payment failed (`subscription_failed_at` set).
pub const LICENSE_MEMBERSHIP_FAILED: &str = "27E9DA0B-58FA1B3E-6C4709D2-A1BF2E7D";
/// Legacy product: a valid license.
pub const LICENSE_LEGACY: &str = "38FAEB1C-690B2C4F-7D581AE3-B2C03F8E";
/// Seller B's product: a valid license.
pub const LICENSE_SELLER_B: &str = "490BFC2D-7A1C3D50-8E692BF4-C3D1409F";

/// Sale of [`LICENSE_VALID`].
pub const SALE_VALID: &str = "cUjaZx6zDFpu5EpQeXKRjw==";
/// Sale of [`LICENSE_MULTISEAT`].
pub const SALE_MULTISEAT: &str = "nAIvyiXESkFqqEJkeSWUcg==";
/// Sale of [`LICENSE_REFUNDED`].
pub const SALE_REFUNDED: &str = "yA4cqwh2BDg9bnHD6dlX2A==";
/// Sale of [`LICENSE_REFUNDED_DISABLED`].
pub const SALE_REFUNDED_DISABLED: &str = "C1wYCljndHDurWV5zWRa2w==";
/// Sale of [`LICENSE_CHARGEBACKED`].
pub const SALE_CHARGEBACKED: &str = "XzaSzcXrxpC2LU13cVCzsg==";
/// Sale of [`LICENSE_DISPUTED`].
pub const SALE_DISPUTED: &str = "s6ZWxGKLGVvWrf9K1klRFg==";
/// Sale of [`LICENSE_DISPUTE_WON`].
pub const SALE_DISPUTE_WON: &str = "vH5mUT9562XvJ4m9oPRbfQ==";
/// Sale of [`LICENSE_DISABLED`].
pub const SALE_DISABLED: &str = "D8fEMfWmELZp2N3Lg4vPiQ==";
/// Sale of [`LICENSE_REVOKED`].
pub const SALE_REVOKED: &str = "YniR767wqbOitlfqW5AEdQ==";
/// Sale of [`LICENSE_TEST_PURCHASE`].
pub const SALE_TEST_PURCHASE: &str = "T5mEeWHiniE3UQy9UWN9og==";
/// Sale of [`LICENSE_MEMBERSHIP_ACTIVE`].
pub const SALE_MEMBERSHIP_ACTIVE: &str = "AVMBCJPdPrxGn3RRXrfd5w==";
/// Sale of [`LICENSE_MEMBERSHIP_CANCELLED`].
pub const SALE_MEMBERSHIP_CANCELLED: &str = "WSFBSYwlRvC4JJXzOBNa2w==";
/// Sale of [`LICENSE_MEMBERSHIP_ENDED`].
pub const SALE_MEMBERSHIP_ENDED: &str = "Yb9Zyx0gWdTeRPJk0hBCXA==";
/// Sale of [`LICENSE_MEMBERSHIP_FAILED`].
pub const SALE_MEMBERSHIP_FAILED: &str = "2Sbb57hk9qBRXCSQxXE2Hg==";
/// Sale of [`LICENSE_LEGACY`].
pub const SALE_LEGACY: &str = "8NEdrHos7qfrqPwbbmOBdA==";
/// Sale of [`LICENSE_SELLER_B`] (seller B).
pub const SALE_SELLER_B: &str = "oEcxvf8F0ETaTvEB5zi32w==";

/// Subscriber (subscription) of [`SALE_MEMBERSHIP_ACTIVE`]: status `alive`.
pub const SUBSCRIBER_ACTIVE: &str = "iKvzMh8m8r0Yc3gZFZ4FOQ==";
/// Subscriber of [`SALE_MEMBERSHIP_CANCELLED`]: status `pending_cancellation`.
pub const SUBSCRIBER_CANCELLED: &str = "ht5y2jlxRTwlZvHtUPnj3w==";
/// Subscriber of [`SALE_MEMBERSHIP_ENDED`]: status `cancelled`, ended.
pub const SUBSCRIBER_ENDED: &str = "9ocTSIYQAzj0vqzGtt6HQA==";
/// Subscriber of [`SALE_MEMBERSHIP_FAILED`]: status `pending_failure`.
pub const SUBSCRIBER_FAILED: &str = "sj2tneBCSB7ZqOiJYcA8OA==";

/// Offer code `LAUNCH10` (10% off) on [`PRODUCT_ONE_TIME`].
pub const OFFER_CODE_ID: &str = "BxGMn75UdFp8cW6wlbQ23Q==";
/// Variant category "Tier" on [`PRODUCT_ONE_TIME`].
pub const VARIANT_CATEGORY_ID: &str = "0IDCI1DKoXRfyQPAkTjntw==";
/// Variant "Premium" in [`VARIANT_CATEGORY_ID`].
pub const VARIANT_ID: &str = "1haKx3ScFQREdldFmV3SeA==";
/// Custom field on [`PRODUCT_ONE_TIME`] (required); its values appear on sales.
pub const CUSTOM_FIELD_NAME: &str = "Company";

/// First group of every extra license key (see [`extra_license_key`]); no seeded key starts
/// with it, and keys made by `rotate` are random, so the two kinds cannot be confused.
pub const EXTRA_LICENSE_PREFIX: &str = "EB000000";

/// The key of extra license `i` (`SandboxConfig::extra_licenses`, seller A's one-time
/// product): `EB000000-{i}-{0xFFFFFFFF - i}-{i}`, each group 8 upper-case hex digits, e.g.
/// `EB000000-00000000-FFFFFFFF-00000000` for `i = 0`. Simple enough for a wrk Lua script:
/// `string.format("EB000000-%08X-%08X-%08X", i, 4294967295 - i, i)`.
pub fn extra_license_key(i: u32) -> String {
    format!(
        "{EXTRA_LICENSE_PREFIX}-{i:08X}-{:08X}-{i:08X}",
        u32::MAX - i
    )
}
