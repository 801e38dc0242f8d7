//! `/v2/products/{id}/variant_categories[/{vc}[/variants[/{v}]]]`: list, show, create, update
//! and delete for both levels.

use gumroad_wire::params::Params;
use serde_json::{Value, json};

use super::{
    gumroad::unknown_route,
    ids::random_id,
    product_parts::{missing, variant_json},
    products::int_param,
    reply::Reply,
    store::{Product, Variant, VariantCategory},
};

const CATEGORY_NOT_FOUND: &str = "The variant_category was not found.";
const VARIANT_NOT_FOUND: &str = "The variant was not found.";

/// Routes the variant-category requests of one product.
pub fn dispatch(product: &mut Product, method: &str, tail: &[&str], p: &Params) -> Reply {
    let categories = &mut product.variant_categories;
    match (method, tail) {
        ("GET", []) => {
            let all: Vec<Value> = categories.iter().map(category_json).collect();
            Reply::ok(json!({"success": true, "variant_categories": all}))
        }
        ("POST", []) => {
            // Gumroad creates the category without validating the title.
            let category = VariantCategory {
                id: random_id(),
                title: p.str("title").unwrap_or_default().to_owned(),
                variants: Vec::new(),
            };
            let reply = one_category(&category);
            categories.push(category);
            reply
        }
        ("DELETE", [id]) => {
            let before = categories.len();
            categories.retain(|c| c.id != *id);
            if categories.len() == before {
                return Reply::not_found_200(CATEGORY_NOT_FOUND);
            }
            Reply::deleted("variant_category")
        }
        (_, [id, rest @ ..]) => match categories.iter_mut().find(|c| c.id == *id) {
            Some(category) => in_category(category, method, rest, p),
            None => Reply::not_found_200(CATEGORY_NOT_FOUND),
        },
        _ => unknown_route(),
    }
}

fn in_category(category: &mut VariantCategory, method: &str, rest: &[&str], p: &Params) -> Reply {
    match (method, rest) {
        ("GET", []) => one_category(category),
        ("PUT", []) => {
            if let Some(title) = p.str("title").filter(|t| !t.is_empty()) {
                category.title = title.to_owned();
            }
            one_category(category)
        }
        ("GET", ["variants"]) => {
            let all: Vec<Value> = category.variants.iter().map(variant_json).collect();
            Reply::ok(json!({"success": true, "variants": all}))
        }
        ("POST", ["variants"]) => create_variant(category, p),
        (_, ["variants", id]) => match category.variants.iter().position(|v| v.id == *id) {
            Some(i) => on_variant(category, i, method, p),
            None => Reply::not_found_200(VARIANT_NOT_FOUND),
        },
        _ => unknown_route(),
    }
}

fn create_variant(category: &mut VariantCategory, p: &Params) -> Reply {
    let Some(name) = p.str("name").filter(|n| !n.is_empty()) else {
        return missing("name");
    };
    let variant = Variant {
        id: random_id(),
        name: name.to_owned(),
        price_difference_cents: price_difference(p).unwrap_or(0),
        max_purchase_count: int_param(p, "max_purchase_count"),
    };
    let reply = one_variant(&variant);
    category.variants.push(variant);
    reply
}

fn on_variant(category: &mut VariantCategory, i: usize, method: &str, p: &Params) -> Reply {
    match method {
        "GET" => one_variant(&category.variants[i]),
        "PUT" => {
            let v = &mut category.variants[i];
            if let Some(name) = p.str("name").filter(|n| !n.is_empty()) {
                v.name = name.to_owned();
            }
            if let Some(diff) = price_difference(p) {
                v.price_difference_cents = diff;
            }
            if p.contains("max_purchase_count") {
                v.max_purchase_count = int_param(p, "max_purchase_count");
            }
            one_variant(v)
        }
        "DELETE" => {
            category.variants.remove(i);
            Reply::deleted("variant")
        }
        _ => unknown_route(),
    }
}

/// Gumroad permits `price_difference_cents`; the seed reference documents `price_difference`,
/// so the sandbox takes both, the Gumroad name first.
fn price_difference(p: &Params) -> Option<i64> {
    int_param(p, "price_difference_cents").or_else(|| int_param(p, "price_difference"))
}

fn category_json(c: &VariantCategory) -> Value {
    json!({"id": c.id, "title": c.title})
}

fn one_category(c: &VariantCategory) -> Reply {
    Reply::ok(json!({"success": true, "variant_category": category_json(c)}))
}

fn one_variant(v: &Variant) -> Reply {
    Reply::ok(json!({"success": true, "variant": variant_json(v)}))
}
