//! `GET /v2/products/{id}/subscribers` (all rows, or 100 a page with `paginated=true`) and
//! `GET /v2/subscribers/{id}`.

use serde_json::{Value, json};

use super::{
    ids::gumroad_time,
    product_parts::flag,
    products,
    reply::Reply,
    store::{Sale, Store},
};
use crate::params::Params;

const PAGE_SIZE: usize = 100;

/// The subscribers of one of the seller's products.
pub fn list(store: &Store, seller: &str, product_id: &str, p: &Params) -> Reply {
    if !store
        .products
        .iter()
        .any(|x| x.id == product_id && x.seller_id == seller)
    {
        return Reply::not_found_200(products::NOT_FOUND);
    }
    let rows: Vec<Value> = store
        .sales
        .iter()
        .filter(|s| s.product_id == product_id && s.subscription.is_some())
        .map(subscriber_json)
        .collect();
    if !flag(p, "paginated") {
        return Reply::ok(json!({"success": true, "subscribers": rows}));
    }
    let start = match p.str("page_key").filter(|k| !k.is_empty()) {
        None => 0,
        Some(key) => match key.parse::<usize>() {
            Ok(n) if n <= rows.len() => n,
            _ => return Reply::error_400("Invalid page_key."),
        },
    };
    let end = (start + PAGE_SIZE).min(rows.len());
    let mut body = json!({"success": true, "subscribers": rows[start..end]});
    if end < rows.len() {
        body["next_page_key"] = json!(end.to_string());
        body["next_page_url"] = json!(format!(
            "/v2/products/{product_id}/subscribers?paginated=true&page_key={end}"
        ));
    }
    Reply::ok(body)
}

/// One subscriber of the seller.
pub fn show(store: &Store, seller: &str, id: &str) -> Reply {
    let found = store
        .sales
        .iter()
        .find(|s| s.seller_id == seller && s.subscription.as_ref().is_some_and(|sub| sub.id == id));
    match found {
        Some(sale) => Reply::ok(json!({"success": true, "subscriber": subscriber_json(sale)})),
        None => Reply::not_found_200("The subscriber was not found."),
    }
}

fn subscriber_json(sale: &Sale) -> Value {
    let sub = sale.subscription.as_ref().expect("filtered to memberships");
    json!({
        "id": sub.id,
        "product_id": sale.product_id,
        "user_id": sale.purchaser_id,
        "user_email": sale.email,
        "purchase_ids": [sale.id],
        "created_at": gumroad_time(sale.created_at),
        "user_requested_cancellation_at": sub.cancelled_at.map(gumroad_time),
        "charge_occurrence_count": sub.charge_occurrence_count,
        "recurrence": sub.recurrence,
        "cancelled_at": sub.cancelled_at.map(gumroad_time),
        "ended_at": sub.ended_at.map(gumroad_time),
        "failed_at": sub.failed_at.map(gumroad_time),
        "free_trial_ends_at": null,
        "license_key": sale.license.as_ref().map(|l| l.key.as_str()),
        "status": sub.status,
    })
}
