//! `GET /v2/products/{id}/subscribers` (all rows, or 100 a page with `paginated=true`) and
//! `GET /v2/subscribers/{id}`.

use gumroad_wire::params::Params;
use serde_json::{Value, json};

use super::{
    ids::gumroad_time,
    paging, products,
    reply::Reply,
    store::{Sale, Store},
};

const PAGE_SIZE: usize = 100;

/// The live subscribers of one of the seller's products, newest first: all of them, or 100 a
/// page with `paginated=true|1` or a `page_key`.
pub fn list(store: &Store, seller: &str, product_id: &str, p: &Params) -> Reply {
    let Some(product) = store
        .products
        .iter()
        .find(|x| x.is(product_id) && x.seller_id == seller)
    else {
        return Reply::not_found_200(products::NOT_FOUND);
    };
    let after = match paging::page_key(p) {
        Ok(after) => after,
        Err(reply) => return reply,
    };
    let email = p.str("email").map(str::trim).filter(|e| !e.is_empty());
    let mut rows: Vec<&Sale> = store
        .sales
        .iter()
        .filter(|s| s.product_id == product.id)
        // Gumroad's `Subscription.active`: an ended subscription is no longer listed.
        .filter(|s| {
            s.subscription
                .as_ref()
                .is_some_and(|sub| sub.ended_at.is_none())
        })
        .filter(|s| email.is_none_or(|e| s.email.eq_ignore_ascii_case(e)))
        .collect();
    paging::newest_after(&mut rows, cursor_of, after);
    let paginated = matches!(p.str("paginated"), Some("1" | "true")) || after.is_some();
    if !paginated {
        let all: Vec<Value> = rows.iter().map(|s| subscriber_json(s)).collect();
        return Reply::ok(json!({"success": true, "subscribers": all}));
    }
    let page = &rows[..PAGE_SIZE.min(rows.len())];
    let mut body = json!({"success": true, "subscribers": page.iter().map(|s| subscriber_json(s)).collect::<Vec<_>>()});
    if let (true, Some(last)) = (rows.len() > PAGE_SIZE, page.last()) {
        let key = paging::encode(cursor_of(last));
        body["next_page_key"] = json!(key);
        body["next_page_url"] = json!(format!(
            "/v2/products/{}/subscribers?page_key={key}",
            product.id
        ));
    }
    Reply::ok(body)
}

fn cursor_of(s: &&Sale) -> paging::Cursor {
    (s.created_at, s.order_number)
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
