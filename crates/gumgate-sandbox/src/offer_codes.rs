//! `/v2/products/{id}/offer_codes[/{offer_code_id}]`: list, show, create, update, delete.

use gumroad_wire::params::Params;
use serde_json::{Value, json};

use super::{
    gumroad::unknown_route,
    ids::random_id,
    product_parts::flag,
    products::int_param,
    reply::Reply,
    store::{OfferCode, Product},
};

const NOT_FOUND: &str = "The offer_code was not found.";
const MISSING_PARAMS: &str = "You are missing required offer code parameters. Please refer to \
     https://gumroad.com/api#offer-codes for the correct parameters.";

/// Routes the offer-code requests of one product.
pub fn dispatch(product: &mut Product, method: &str, tail: &[&str], p: &Params) -> Reply {
    match (method, tail) {
        ("GET", []) => {
            let codes: Vec<Value> = product.offer_codes.iter().map(offer_code_json).collect();
            Reply::ok(json!({"success": true, "offer_codes": codes}))
        }
        ("POST", []) => create(product, p),
        ("GET", [id]) => match product.offer_codes.iter().find(|c| c.id == *id) {
            Some(code) => one(code),
            None => Reply::not_found_200(NOT_FOUND),
        },
        ("PUT", [id]) => match product.offer_codes.iter_mut().find(|c| c.id == *id) {
            Some(code) => {
                update(code, p);
                one(code)
            }
            None => Reply::not_found_200(NOT_FOUND),
        },
        ("DELETE", [id]) => {
            let before = product.offer_codes.len();
            product.offer_codes.retain(|c| c.id != *id);
            if product.offer_codes.len() == before {
                return Reply::not_found_200(NOT_FOUND);
            }
            Reply::deleted("offer_code")
        }
        _ => unknown_route(),
    }
}

fn create(product: &mut Product, p: &Params) -> Reply {
    let percent = p.str("offer_type") == Some("percent");
    // Cent codes also take `amount_cents`, which wins; percent codes read only `amount_off`.
    let amount = if percent {
        int_param(p, "amount_off")
    } else {
        int_param(p, "amount_cents").or_else(|| int_param(p, "amount_off"))
    };
    let Some(amount_off) = amount else {
        return Reply::ok(json!({"success": false, "message": MISSING_PARAMS}));
    };
    let Some(name) = p.str("name").filter(|n| !n.is_empty()) else {
        return Reply::ok(json!({"success": false, "message": "Code can't be blank"}));
    };
    let code = OfferCode {
        id: random_id(),
        name: name.to_owned(),
        amount_off,
        offer_type: if percent { "percent" } else { "cents" }.to_owned(),
        max_purchase_count: int_param(p, "max_purchase_count"),
        universal: flag(p, "universal"),
    };
    let reply = one(&code);
    product.offer_codes.push(code);
    reply
}

/// Gumroad permits only `max_purchase_count` on update; other params are ignored.
fn update(code: &mut OfferCode, p: &Params) {
    if p.contains("max_purchase_count") {
        code.max_purchase_count = int_param(p, "max_purchase_count");
    }
}

fn one(code: &OfferCode) -> Reply {
    Reply::ok(json!({"success": true, "offer_code": offer_code_json(code)}))
}

/// Gumroad shows `amount_cents` or `percent_off` depending on the offer type.
fn offer_code_json(c: &OfferCode) -> Value {
    let mut v = json!({
        "id": c.id,
        "name": c.name,
        "max_purchase_count": c.max_purchase_count,
        "universal": c.universal,
        "times_used": 0,
    });
    let key = if c.offer_type == "percent" {
        "percent_off"
    } else {
        "amount_cents"
    };
    v[key] = json!(c.amount_off);
    v
}
