//! `GET /v2/products` (10 a page with `page_key`), `GET|PUT|DELETE /v2/products/{id}` and
//! `PUT /v2/products/{id}/disable|enable`.

use gumroad_wire::params::Params;
use serde_json::{Value, json};

use super::{
    paging,
    product_parts::{custom_field_json, variant_category_json},
    purchase::{permalink, product_url},
    reply::Reply,
    store::{Product, Store},
};

const PAGE_SIZE: usize = 10;
/// Gumroad's not-found for products, also used by the nested product routes.
pub const NOT_FOUND: &str = "The product was not found.";
/// The sandbox's memberships are tiered, and Gumroad prices those through their variants.
const TIERED_PRICE: &str = "Price cannot be updated for tiered membership products. \
     Use the variant endpoints to manage tier pricing.";

/// A page of the seller's products, newest first.
pub fn list(store: &Store, seller: &str, p: &Params) -> Reply {
    let after = match paging::page_key(p) {
        Ok(after) => after,
        Err(reply) => return reply,
    };
    let mut rows: Vec<&Product> = store
        .products
        .iter()
        .filter(|p| p.seller_id == seller)
        .collect();
    paging::newest_after(&mut rows, |p| (p.created_at, p.number), after);
    let page = &rows[..PAGE_SIZE.min(rows.len())];
    let mut body = json!({
        "success": true,
        "products": page.iter().map(|p| product_json(store, p)).collect::<Vec<_>>(),
    });
    if let (true, Some(last)) = (rows.len() > PAGE_SIZE, page.last()) {
        let key = paging::encode((last.created_at, last.number));
        body["next_page_key"] = json!(key);
        body["next_page_url"] = json!(format!("/v2/products?page_key={key}"));
    }
    Reply::ok(body)
}

/// One product.
pub fn show(store: &Store, seller: &str, id: &str) -> Reply {
    match store
        .products
        .iter()
        .find(|p| p.is(id) && p.seller_id == seller)
    {
        Some(p) => Reply::ok(json!({"success": true, "product": product_json(store, p)})),
        None => Reply::not_found_200(NOT_FOUND),
    }
}

/// Updates name, description, price and custom permalink when given.
pub fn update(store: &mut Store, seller: &str, id: &str, params: &Params) -> Reply {
    let Some(product) = store.own_product_mut(seller, id) else {
        return Reply::not_found_200(NOT_FOUND);
    };
    if product.recurrence.is_some() && params.contains("price") {
        return Reply::ok(json!({"success": false, "message": TIERED_PRICE}));
    }
    if let Some(name) = params.str("name") {
        product.name = name.to_owned();
    }
    if let Some(description) = params.str("description") {
        product.description = description.to_owned();
    }
    if let Some(price) = int_param(params, "price") {
        product.price = price;
    }
    if let Some(custom) = params.str("custom_permalink") {
        product.custom_permalink = Some(custom.to_owned()).filter(|c| !c.is_empty());
    }
    show(store, seller, id)
}

/// Removes the product (its sales stay, as at Gumroad).
pub fn delete(store: &mut Store, seller: &str, id: &str) -> Reply {
    let before = store.products.len();
    store
        .products
        .retain(|p| !(p.is(id) && p.seller_id == seller));
    if store.products.len() == before {
        return Reply::not_found_200(NOT_FOUND);
    }
    Reply::deleted("product")
}

/// `disable` unpublishes, `enable` publishes.
pub fn set_published(store: &mut Store, seller: &str, id: &str, published: bool) -> Reply {
    match store.own_product_mut(seller, id) {
        Some(product) => product.published = published,
        None => return Reply::not_found_200(NOT_FOUND),
    }
    show(store, seller, id)
}

/// An integer param given as a JSON number or a numeric string.
pub fn int_param(p: &Params, name: &str) -> Option<i64> {
    match p.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Gumroad's product object.
pub fn product_json(store: &Store, p: &Product) -> Value {
    let sales = store
        .sales
        .iter()
        .filter(|s| s.product_id == p.id && !s.test);
    let (count, cents) = sales.fold((0i64, 0i64), |(n, c), s| (n + 1, c + s.price));
    // Gumroad sometimes serializes these two as strings; clients must cope with both.
    let (count, cents) = if p.counts_as_strings {
        (json!(count.to_string()), json!(cents.to_string()))
    } else {
        (json!(count), json!(cents))
    };
    json!({
        "id": p.id,
        "name": p.name,
        "description": p.description,
        "customizable_price": false,
        "require_shipping": false,
        "custom_permalink": p.custom_permalink,
        "permalink": permalink(p),
        "subscription_duration": p.recurrence,
        "is_tiered_membership": p.recurrence.is_some(),
        "recurrences": p.recurrence.as_ref().map(|r| vec![r]),
        "price": p.price,
        "currency": p.currency,
        "formatted_price": format!("${}", p.price / 100),
        "short_url": product_url(store, p),
        "published": p.published,
        "deleted": false,
        "sales_count": count,
        "sales_usd_cents": cents,
        "variants": p.variant_categories.iter().map(variant_category_json).collect::<Vec<_>>(),
        "custom_fields": p.custom_fields.iter().map(custom_field_json).collect::<Vec<_>>(),
    })
}
