//! Builds the seed state described by the constants in [`super::seed`]: deterministic, so every
//! reset and every test starts from the same data.

use time::{Duration, OffsetDateTime, macros::datetime};

use super::{ids::seeded_id, seed::*, seed_sales, store::*};

/// The seed state.
pub fn store() -> Store {
    let mut store = Store {
        connections: connections(),
        sellers: sellers(),
        products: products(),
        ..Store::default()
    };
    store.sales = seed_sales::sales();
    store
}

fn connections() -> Vec<Connection> {
    let conn = |id: &str, seller: &str, created, edit_products| Connection {
        id: id.to_owned(),
        status: "ACTIVE".to_owned(),
        created,
        updated: created + Duration::seconds(19),
        seller_id: Some(seller.to_owned()),
        edit_products,
    };
    vec![
        conn(
            CONNECTION_A,
            SELLER_A_ID,
            datetime!(2026-02-08 06:22:48.654579 UTC),
            true,
        ),
        conn(
            CONNECTION_B,
            SELLER_B_ID,
            datetime!(2026-03-14 09:10:11.123456 UTC),
            false,
        ),
    ]
}

fn sellers() -> Vec<Seller> {
    vec![
        Seller {
            user_id: SELLER_A_ID.to_owned(),
            numeric_id: "1690942847664".to_owned(),
            name: SELLER_A_NAME.to_owned(),
            email: SELLER_A_EMAIL.to_owned(),
            subdomain: "adasandbox".to_owned(),
        },
        Seller {
            user_id: SELLER_B_ID.to_owned(),
            numeric_id: "2281034455120".to_owned(),
            name: SELLER_B_NAME.to_owned(),
            email: SELLER_B_EMAIL.to_owned(),
            subdomain: "bosandbox".to_owned(),
        },
    ]
}

fn product(
    id: &str,
    seller: &str,
    name: &str,
    permalink: &str,
    created: OffsetDateTime,
) -> Product {
    Product {
        number: 0,
        id: id.to_owned(),
        seller_id: seller.to_owned(),
        name: name.to_owned(),
        unique_permalink: permalink.to_owned(),
        custom_permalink: None,
        description: format!("{name}, sold through the Gumgate sandbox."),
        price: 1500,
        currency: "usd".to_owned(),
        created_at: created,
        published: true,
        recurrence: None,
        counts_as_strings: false,
        offer_codes: Vec::new(),
        variant_categories: Vec::new(),
        custom_fields: Vec::new(),
    }
}

fn products() -> Vec<Product> {
    let mut one_time = product(
        PRODUCT_ONE_TIME,
        SELLER_A_ID,
        "Sandbox App",
        "sbxap",
        datetime!(2025-04-02 10:00:00 UTC),
    );
    one_time.custom_permalink = Some("sandbox-app".to_owned());
    one_time.counts_as_strings = true;
    one_time.offer_codes.push(OfferCode {
        id: OFFER_CODE_ID.to_owned(),
        name: "LAUNCH10".to_owned(),
        amount_off: 10,
        offer_type: "percent".to_owned(),
        max_purchase_count: Some(100),
        universal: false,
    });
    one_time.variant_categories.push(VariantCategory {
        id: VARIANT_CATEGORY_ID.to_owned(),
        title: "Tier".to_owned(),
        variants: vec![Variant {
            id: VARIANT_ID.to_owned(),
            name: "Premium".to_owned(),
            price_difference_cents: 500,
            max_purchase_count: None,
        }],
    });
    one_time.custom_fields.push(CustomField {
        name: CUSTOM_FIELD_NAME.to_owned(),
        required: true,
        kind: "text".to_owned(),
    });
    let mut membership = product(
        PRODUCT_MEMBERSHIP,
        SELLER_A_ID,
        "Sandbox Pro Membership",
        "sbxmb",
        datetime!(2025-05-10 12:00:00 UTC),
    );
    membership.recurrence = Some("monthly".to_owned());
    membership.price = 900;
    let legacy = product(
        PRODUCT_LEGACY,
        SELLER_A_ID,
        "Sandbox Classic",
        "sbxlg",
        datetime!(2021-01-05 19:38:56 UTC),
    );
    let mut all = vec![one_time, membership, legacy];
    for n in 0..(SELLER_A_PRODUCT_COUNT - 3) {
        let created = datetime!(2025-06-01 08:00:00 UTC) + Duration::days(n as i64 * 7);
        let permalink = format!("sbxf{n}");
        all.push(product(
            &seeded_id(100 + n as u64),
            SELLER_A_ID,
            &format!("Sandbox Extra {}", n + 1),
            &permalink,
            created,
        ));
    }
    all.push(product(
        PRODUCT_SELLER_B,
        SELLER_B_ID,
        "Bo's Tool",
        "botol",
        datetime!(2025-09-09 09:00:00 UTC),
    ));
    for (n, product) in all.iter_mut().enumerate() {
        product.number = n as u64 + 1;
    }
    all
}
