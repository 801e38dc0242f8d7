//! `POST /v2/licenses/verify` and `PUT /v2/licenses/{enable,disable,decrement_uses_count,rotate}`
//! with Gumroad's exact status codes and messages (see GUMROAD.md, "License endpoints").

use gumroad_wire::licenses::{ACCESS_REVOKED, DISABLED, NOT_FOUND, same_license_key};
use gumroad_wire::params::{Params, increments_uses};
use serde_json::{Value, json};
use time::{OffsetDateTime, macros::datetime};

use super::{
    extra_licenses,
    gumroad::unknown_route,
    ids::new_license_key,
    purchase::purchase_json,
    reply::Reply,
    seed::PRODUCT_ONE_TIME,
    store::{Account, Sale, Store},
};

/// Products created from this day on must be verified with `product_id`.
const PRODUCT_ID_REQUIRED_SINCE: OffsetDateTime = datetime!(2023-01-09 00:00:00 UTC);

/// Verify is not seller-scoped at Gumroad (it needs no token), so any seller's license answers.
pub fn verify(store: &mut Store, p: &Params) -> Reply {
    if let Some(i) = p
        .str("license_key")
        .and_then(|k| extra_licenses::index(store, k))
    {
        return verify_extra(store, p, i);
    }
    let index = match find(store, p) {
        Ok(i) => i,
        Err(reply) => return reply,
    };
    let license = store.sales[index]
        .license
        .as_mut()
        .expect("found by license");
    if license.disabled {
        return not_found(DISABLED);
    }
    if increments_uses(p) {
        license.uses += 1;
    }
    success(store, index)
}

/// The seller's edits of a license; need the `edit_products` scope and the seller's own license.
pub fn edit(store: &mut Store, account: &Account, action: &str, p: &Params) -> Reply {
    if !matches!(
        action,
        "enable" | "disable" | "decrement_uses_count" | "rotate"
    ) {
        return unknown_route();
    }
    if !account.edit_products {
        return Reply::insufficient_scope();
    }
    let index = match find(store, p) {
        Ok(i) => i,
        Err(reply) => return reply,
    };
    if store.sales[index].seller_id != account.seller_id {
        return Reply::json(404, json!({"success": false, "error": "Not found"}));
    }
    let license = store.sales[index]
        .license
        .as_mut()
        .expect("found by license");
    match action {
        "enable" => license.disabled = false,
        "disable" => license.disabled = true,
        "decrement_uses_count" => license.uses = license.uses.saturating_sub(1),
        _ => license.key = new_license_key(),
    }
    success(store, index)
}

/// An extra license (load tests): enabled, on the one-time product, which needs `product_id`.
fn verify_extra(store: &mut Store, p: &Params, i: u32) -> Reply {
    match non_empty(p, "product_id") {
        None => return product_id_required(PRODUCT_ONE_TIME),
        Some(id) if id != PRODUCT_ONE_TIME => return not_found(NOT_FOUND),
        Some(_) => {}
    }
    if increments_uses(p) {
        *store.extra_uses.entry(i).or_default() += 1;
    }
    sale_reply(store, &extra_licenses::sale(store, i))
}

fn success(store: &Store, index: usize) -> Reply {
    sale_reply(store, &store.sales[index])
}

fn sale_reply(store: &Store, sale: &Sale) -> Reply {
    let uses = sale.license.as_ref().map_or(0, |l| l.uses);
    Reply::ok(json!({"success": true, "uses": uses, "purchase": purchase_json(store, sale)}))
}

fn not_found(message: &str) -> Reply {
    Reply::json(404, json!({"success": false, "message": message}))
}

/// Finds the sale holding the license the params name, with Gumroad's errors when it cannot.
fn find(store: &Store, p: &Params) -> Result<usize, Reply> {
    for name in [
        "product_id",
        "product_permalink",
        "id",
        "link_id",
        "license_key",
    ] {
        require_string(p, name)?;
    }
    let key = p.str("license_key").unwrap_or("").trim();
    let product_id = non_empty(p, "product_id");
    // `id` and `link_id` are Gumroad's undocumented legacy names for the permalink, in this
    // order of precedence. Unlike Gumroad, which then insists on a matching permalink, the
    // sandbox lets a legacy product verify by key alone when no permalink is given at all.
    let permalink = ["id", "link_id", "product_permalink"]
        .into_iter()
        .find_map(|name| non_empty(p, name));
    let index = store
        .sales
        .iter()
        .position(|s| {
            s.license
                .as_ref()
                .is_some_and(|l| same_license_key(&l.key, key))
                && product_id.is_none_or(|id| s.product_id == id)
                // With a product_id the permalink is not looked at, as at Gumroad.
                && (product_id.is_some()
                    || permalink.is_none_or(|pl| permalink_matches(store, &s.product_id, pl)))
        })
        .ok_or_else(|| not_found(NOT_FOUND))?;
    let product = store
        .product(&store.sales[index].product_id)
        .ok_or_else(|| not_found(NOT_FOUND))?;
    if product_id.is_none() && product.created_at >= PRODUCT_ID_REQUIRED_SINCE {
        return Err(product_id_required(&product.id));
    }
    // Gumroad checks revocation while fetching the license, so it wins over "disabled" and
    // also refuses the seller's edits of a revoked license.
    if store.sales[index]
        .license
        .as_ref()
        .is_some_and(|l| l.access_revoked)
    {
        return Err(not_found(ACCESS_REVOKED));
    }
    Ok(index)
}

/// Legacy products may be named by permalink instead of id, as Gumroad's old clients do.
fn permalink_matches(store: &Store, product_id: &str, permalink: &str) -> bool {
    store.product(product_id).is_some_and(|p| {
        p.unique_permalink == permalink || p.custom_permalink.as_deref() == Some(permalink)
    })
}

fn non_empty<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.str(name).map(str::trim).filter(|s| !s.is_empty())
}

/// Rails would happily take `license_key[]=x`; Gumroad checks and answers 400.
fn require_string(p: &Params, name: &str) -> Result<(), Reply> {
    match p.get(name) {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(Reply::json(
            400,
            json!({"success": false, "message": format!("The '{name}' parameter must be a string.")}),
        )),
    }
}

/// Gumroad's quirk: a caller error reported as HTTP 500.
fn product_id_required(id: &str) -> Reply {
    Reply::json(
        500,
        json!({"success": false, "message": format!(
            "The 'product_id' parameter is required to verify the license for this product. \
             Please set 'product_id' to '{id}' in the request."
        )}),
    )
}
