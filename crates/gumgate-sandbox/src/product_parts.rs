//! The nested product routes: offer codes, variant categories and their variants, custom
//! fields. Each answers in Gumroad's `{"success":true,"offer_codes":[...]}` /
//! `{"success":true,"offer_code":{...}}` shapes, and not-found is a 200 `success:false`.

use gumroad_wire::params::Params;
use serde_json::{Value, json};

use super::{
    gumroad::unknown_route,
    offer_codes, products,
    reply::Reply,
    store::{CustomField, Product, Store, Variant, VariantCategory},
    variants,
};

/// Routes `/v2/products/{id}/{part}/{tail..}`.
pub fn dispatch(
    store: &mut Store,
    seller: &str,
    method: &str,
    id: &str,
    part: &str,
    tail: &[&str],
    p: &Params,
) -> Reply {
    if !matches!(part, "offer_codes" | "variant_categories" | "custom_fields") {
        return unknown_route();
    }
    let Some(product) = store.own_product_mut(seller, id) else {
        return Reply::not_found_200(products::NOT_FOUND);
    };
    match part {
        "offer_codes" => offer_codes::dispatch(product, method, tail, p),
        "variant_categories" => variants::dispatch(product, method, tail, p),
        _ => custom_fields(product, method, tail, p),
    }
}

fn custom_fields(product: &mut Product, method: &str, tail: &[&str], p: &Params) -> Reply {
    match (method, tail) {
        ("GET", []) => list(product),
        ("POST", []) => {
            // `url` and `label` are older names for the field's name.
            let name = ["name", "url", "label"]
                .into_iter()
                .find_map(|k| p.str(k).filter(|n| !n.is_empty()));
            let Some(name) = name else {
                return Reply::not_found_200("The custom_field was unable to be created.");
            };
            let field = CustomField {
                name: name.to_owned(),
                required: flag(p, "required"),
                kind: p.str("type").unwrap_or("text").to_owned(),
            };
            let body = json!({"success": true, "custom_field": custom_field_json(&field)});
            product.custom_fields.push(field);
            Reply::ok(body)
        }
        ("PUT", [name]) => match product.custom_fields.iter_mut().rfind(|f| f.name == *name) {
            Some(field) => {
                // Without `required` there is nothing to change, and Gumroad calls that success.
                if p.contains("required") {
                    field.required = flag(p, "required");
                }
                Reply::ok(json!({"success": true, "custom_field": custom_field_json(field)}))
            }
            None => Reply::not_found_200("The custom_field was not found."),
        },
        ("DELETE", [name]) => {
            let before = product.custom_fields.len();
            product.custom_fields.retain(|f| f.name != *name);
            if product.custom_fields.len() == before {
                return Reply::not_found_200("The custom_field was not found.");
            }
            Reply::deleted("custom_field")
        }
        _ => unknown_route(),
    }
}

fn list(product: &Product) -> Reply {
    let fields: Vec<Value> = product
        .custom_fields
        .iter()
        .map(custom_field_json)
        .collect();
    Reply::ok(json!({"success": true, "custom_fields": fields}))
}

/// Gumroad's controllers test `params[:x] == "true"`; a JSON `true` is let through as well.
pub fn flag(p: &Params, name: &str) -> bool {
    matches!(p.get(name), Some(Value::Bool(true))) || p.str(name) == Some("true")
}

/// Gumroad's answer to a create without a required param.
pub fn missing(name: &str) -> Reply {
    Reply::ok(json!({"success": false, "message": format!("The '{name}' parameter is required.")}))
}

/// `{"name","required","type"}`.
pub fn custom_field_json(f: &CustomField) -> Value {
    json!({"name": f.name, "required": f.required, "type": f.kind})
}

/// `{"id","title","options":[...]}` (the `options` as the product object shows them).
pub fn variant_category_json(c: &VariantCategory) -> Value {
    json!({"id": c.id, "title": c.title, "options": c.variants.iter().map(variant_json).collect::<Vec<_>>()})
}

/// `{"id","name","price_difference_cents","max_purchase_count"}`.
pub fn variant_json(v: &Variant) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "price_difference_cents": v.price_difference_cents,
        "max_purchase_count": v.max_purchase_count,
    })
}
