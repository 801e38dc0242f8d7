//! Seed sales: the licensed sales behind every `LICENSE_*` constant, the memberships with
//! their subscriptions, and unlicensed fillers so seller A has three pages of sales.
//! [`one_time`] also shapes the load-test extras of `extra_licenses.rs`.

use time::{Duration, OffsetDateTime, macros::datetime};

use super::{ids::seeded_id, seed::*, store::*};

fn sale(id: &str, product: &str, n: u64, created: OffsetDateTime) -> Sale {
    Sale {
        id: id.to_owned(),
        seller_id: SELLER_A_ID.to_owned(),
        product_id: product.to_owned(),
        email: format!("buyer{n}@customer.example"),
        full_name: format!("Buyer {n}"),
        price: 1500,
        gumroad_fee: 200,
        created_at: created,
        order_number: 627_652_800 + n,
        purchaser_id: (6_923_323_685_500 + n).to_string(),
        quantity: 1,
        refunded: false,
        partially_refunded: false,
        chargebacked: false,
        disputed: false,
        dispute_won: false,
        test: false,
        ip_country: "Germany".to_owned(),
        variants: Vec::new(),
        custom_fields: Vec::new(),
        license: None,
        subscription: None,
    }
}

fn license(key: &str, n: u64) -> Option<License> {
    Some(License {
        id: seeded_id(500 + n),
        key: key.to_owned(),
        uses: 0,
        disabled: false,
        access_revoked: false,
    })
}

pub(super) fn one_time(id: &str, key: &str, n: u64, created: OffsetDateTime) -> Sale {
    let mut s = sale(id, PRODUCT_ONE_TIME, n, created);
    s.license = license(key, n);
    s.custom_fields
        .push((CUSTOM_FIELD_NAME.to_owned(), format!("Company {n}")));
    s
}

/// Every seeded sale, both sellers.
pub fn sales() -> Vec<Sale> {
    let day = |d: i64| datetime!(2026-01-10 14:15:40 UTC) + Duration::days(d);
    let mut valid = one_time(SALE_VALID, LICENSE_VALID, 1, day(0));
    valid
        .variants
        .push(("Tier".to_owned(), "Premium".to_owned()));
    let mut multiseat = one_time(SALE_MULTISEAT, LICENSE_MULTISEAT, 2, day(3));
    multiseat.quantity = 5;
    multiseat.price = 7500;
    let mut refunded = one_time(SALE_REFUNDED, LICENSE_REFUNDED, 3, day(50));
    refunded.refunded = true;
    let mut refunded_disabled = one_time(
        SALE_REFUNDED_DISABLED,
        LICENSE_REFUNDED_DISABLED,
        4,
        datetime!(2026-08-20 10:00:00 UTC),
    );
    refunded_disabled.refunded = true;
    if let Some(l) = refunded_disabled.license.as_mut() {
        l.disabled = true;
    }
    let mut chargebacked = one_time(SALE_CHARGEBACKED, LICENSE_CHARGEBACKED, 5, day(8));
    chargebacked.chargebacked = true;
    let mut disputed = one_time(SALE_DISPUTED, LICENSE_DISPUTED, 6, day(9));
    disputed.disputed = true;
    let mut dispute_won = one_time(SALE_DISPUTE_WON, LICENSE_DISPUTE_WON, 7, day(10));
    dispute_won.disputed = true;
    dispute_won.dispute_won = true;
    let mut disabled = one_time(SALE_DISABLED, LICENSE_DISABLED, 8, day(11));
    if let Some(l) = disabled.license.as_mut() {
        l.disabled = true;
    }
    let mut revoked = one_time(SALE_REVOKED, LICENSE_REVOKED, 9, day(12));
    if let Some(l) = revoked.license.as_mut() {
        l.access_revoked = true;
    }
    let mut test = one_time(SALE_TEST_PURCHASE, LICENSE_TEST_PURCHASE, 10, day(13));
    test.test = true;
    test.email = SELLER_A_EMAIL.to_owned();
    let mut all = vec![
        valid,
        multiseat,
        refunded,
        refunded_disabled,
        chargebacked,
        disputed,
        dispute_won,
        disabled,
        revoked,
        test,
    ];
    all.extend(memberships(day(20)));
    let mut legacy = sale(
        SALE_LEGACY,
        PRODUCT_LEGACY,
        15,
        datetime!(2021-06-05 19:38:56 UTC),
    );
    legacy.license = license(LICENSE_LEGACY, 15);
    all.push(legacy);
    all.extend(fillers(all.len()));
    let mut b = sale(SALE_SELLER_B, PRODUCT_SELLER_B, 99, day(30));
    b.seller_id = SELLER_B_ID.to_owned();
    b.license = license(LICENSE_SELLER_B, 99);
    all.push(b);
    all
}

fn memberships(start: OffsetDateTime) -> Vec<Sale> {
    let rows = [
        (
            SALE_MEMBERSHIP_ACTIVE,
            LICENSE_MEMBERSHIP_ACTIVE,
            SUBSCRIBER_ACTIVE,
            "alive",
        ),
        (
            SALE_MEMBERSHIP_CANCELLED,
            LICENSE_MEMBERSHIP_CANCELLED,
            SUBSCRIBER_CANCELLED,
            "pending_cancellation",
        ),
        (
            SALE_MEMBERSHIP_ENDED,
            LICENSE_MEMBERSHIP_ENDED,
            SUBSCRIBER_ENDED,
            "cancelled",
        ),
        (
            SALE_MEMBERSHIP_FAILED,
            LICENSE_MEMBERSHIP_FAILED,
            SUBSCRIBER_FAILED,
            "pending_failure",
        ),
    ];
    rows.iter()
        .zip(11u64..)
        .map(|(&(id, key, sub, status), n)| {
            let created = start + Duration::days(n as i64);
            let later = Some(created + Duration::days(40));
            let mut s = sale(id, PRODUCT_MEMBERSHIP, n, created);
            s.price = 900;
            s.license = license(key, n);
            s.subscription = Some(Subscription {
                id: sub.to_owned(),
                recurrence: "monthly".to_owned(),
                status: status.to_owned(),
                cancelled_at: later
                    .filter(|_| matches!(status, "pending_cancellation" | "cancelled")),
                ended_at: later.filter(|_| status == "cancelled"),
                failed_at: later.filter(|_| status == "pending_failure"),
                charge_occurrence_count: 2,
            });
            s
        })
        .collect()
}

/// Unlicensed sales of the filler products, so seller A's sales span three pages.
fn fillers(already: usize) -> Vec<Sale> {
    (already..SELLER_A_SALE_COUNT)
        .map(|i| {
            let n = 200 + i as u64;
            let product = seeded_id(100 + (i % (SELLER_A_PRODUCT_COUNT - 3)) as u64);
            let created = datetime!(2025-10-01 09:00:00 UTC) + Duration::hours(i as i64 * 30);
            sale(&seeded_id(n), &product, n, created)
        })
        .collect()
}
