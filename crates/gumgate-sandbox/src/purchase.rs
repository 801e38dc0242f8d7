//! The two JSON views of a sale: the `purchase` of the license endpoints and the `sale` of the
//! sales endpoints. They differ on purpose (`chargebacked` vs `chargedback`, strings vs
//! objects for variants and custom fields), exactly as Gumroad's do.

use serde_json::{Map, Value, json};

use super::{
    ids::gumroad_time,
    store::{Product, Sale, Store},
};

/// The `purchase` object of `POST /v2/licenses/verify` and the license `PUT`s.
pub fn purchase_json(store: &Store, sale: &Sale) -> Value {
    let product = store.product(&sale.product_id);
    let mut v = json!({
        "id": sale.id,
        "sale_id": sale.id,
        "seller_id": sale.seller_id,
        "product_id": sale.product_id,
        "product_name": product.map(|p| p.name.as_str()),
        "permalink": product.map(permalink),
        "product_permalink": product.map(|p| product_url(store, p)),
        "short_product_id": product.map(|p| p.unique_permalink.as_str()),
        "email": sale.email,
        "price": sale.price,
        "gumroad_fee": sale.gumroad_fee,
        "currency": "usd",
        "quantity": sale.quantity,
        "discover_fee_charged": false,
        "can_contact": true,
        "referrer": "direct",
        "card": {"visual": "**** **** **** 4242", "type": "visa", "bin": "424242", "expiry_month": 12, "expiry_year": 2029},
        "order_number": sale.order_number,
        "sale_timestamp": gumroad_time(sale.created_at),
        "created_at": gumroad_time(sale.created_at),
        "license_key": sale.license.as_ref().map(|l| l.key.as_str()),
        "is_gift_receiver_purchase": false,
        "refunded": sale.refunded,
        "disputed": sale.disputed,
        "dispute_won": sale.dispute_won,
        "variants": variants_string(sale),
        "custom_fields": sale.custom_fields.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>(),
        "purchaser_id": sale.purchaser_id,
        "full_name": sale.full_name,
        "ip_country": sale.ip_country,
        "test": sale.test,
    });
    let m = v.as_object_mut().expect("a json! object");
    for (name, value) in &sale.custom_fields {
        m.insert(name.clone(), json!(value));
    }
    match &sale.subscription {
        // Memberships carry the subscription keys and never `chargebacked` (GUMROAD.md).
        Some(sub) => {
            m.insert("subscription_id".into(), json!(sub.id));
            m.insert("recurrence".into(), json!(sub.recurrence));
            m.insert("is_multiseat_license".into(), json!(sale.quantity > 1));
            m.insert(
                "subscription_ended_at".into(),
                json!(sub.ended_at.map(gumroad_time)),
            );
            m.insert(
                "subscription_cancelled_at".into(),
                json!(sub.cancelled_at.map(gumroad_time)),
            );
            m.insert(
                "subscription_failed_at".into(),
                json!(sub.failed_at.map(gumroad_time)),
            );
        }
        None => {
            m.insert("chargebacked".into(), json!(sale.chargebacked));
        }
    }
    v
}

/// The `sale` object of `GET /v2/sales` and `GET /v2/sales/{id}`; null-valued keys dropped.
pub fn sale_json(store: &Store, sale: &Sale) -> Value {
    let product = store.product(&sale.product_id);
    let license = sale.license.as_ref();
    let sub = sale.subscription.as_ref();
    let v = json!({
        "id": sale.id,
        "email": sale.email,
        "purchase_email": sale.email,
        "full_name": sale.full_name,
        "seller_id": sale.seller_id,
        "timestamp": gumroad_time(sale.created_at),
        "daystamp": gumroad_time(sale.created_at).get(..10),
        "created_at": gumroad_time(sale.created_at),
        "product_name": product.map(|p| p.name.as_str()),
        "product_id": sale.product_id,
        "product_permalink": product.map(permalink),
        "price": sale.price,
        "gumroad_fee": sale.gumroad_fee,
        "currency_symbol": "$",
        "formatted_display_price": format!("${}", sale.price / 100),
        "quantity": sale.quantity,
        "order_id": sale.order_number,
        "purchaser_id": sale.purchaser_id,
        "ip_country": sale.ip_country,
        "referrer": "direct",
        "can_contact": true,
        "paid": !sale.test,
        "has_variants": !sale.variants.is_empty(),
        "variants": sale.variants.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
        "has_custom_fields": !sale.custom_fields.is_empty(),
        "custom_fields": sale.custom_fields.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
    });
    // Two literals: one would exceed serde_json's macro recursion limit.
    let flags = json!({
        "card": {"visual": "**** **** **** 4242", "type": "visa"},
        // Gumroad omits `refunded` when it is not set: the key is dropped rather than false.
        "refunded": sale.refunded.then_some(true),
        "partially_refunded": sale.partially_refunded,
        "chargedback": sale.chargebacked,
        "disputed": sale.disputed,
        "dispute_won": sale.dispute_won,
        "is_gift_receiver_purchase": false,
        "discover_fee_charged": false,
        "license_key": license.map(|l| l.key.as_str()),
        "license_id": license.map(|l| l.id.as_str()),
        "license_disabled": license.map(|l| l.disabled),
        "is_recurring_billing": sub.is_some(),
        "subscription_id": sub.map(|s| s.id.as_str()),
        "recurrence": sub.map(|s| s.recurrence.as_str()),
        "cancelled": sub.map(|s| s.cancelled_at.is_some()),
        "ended": sub.map(|s| s.ended_at.is_some()),
        "dead": sub.map(|s| s.ended_at.is_some() || s.failed_at.is_some()),
        "test": sale.test.then_some(true),
    });
    drop_nulls(merge(v, flags))
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

fn drop_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// `"(Premium)"` or `""`, as verify shows variants.
fn variants_string(sale: &Sale) -> String {
    if sale.variants.is_empty() {
        return String::new();
    }
    let names: Vec<&str> = sale.variants.iter().map(|(_, v)| v.as_str()).collect();
    format!("({})", names.join(", "))
}

/// The custom permalink when set, else the unique one.
pub fn permalink(p: &Product) -> &str {
    p.custom_permalink.as_deref().unwrap_or(&p.unique_permalink)
}

/// `https://{subdomain}.gumroad.com/l/{permalink}`.
pub fn product_url(store: &Store, p: &Product) -> String {
    let sub = store
        .seller(&p.seller_id)
        .map_or("app", |s| s.subdomain.as_str());
    format!("https://{sub}.gumroad.com/l/{}", permalink(p))
}
