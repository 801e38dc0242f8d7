//! The Gumroad API v2 surface: maps a method and path (below `/gumroad`) to the handler for it.
//! Plain slice matching keeps the whole route table readable in one place.

use gumroad_wire::params::Params;
use percent_encoding::percent_decode_str;
use serde_json::json;

use super::{
    licenses, product_parts, products,
    reply::Reply,
    resource_subscriptions, sales,
    store::{Account, Store},
    subscribers, user,
};

/// Answers one Gumroad request for `account`.
pub fn dispatch(
    store: &mut Store,
    account: &Account,
    method: &str,
    path: &str,
    p: &Params,
) -> Reply {
    // Rails answers HEAD on every GET route (hyper drops the body on the way out).
    let method = if method == "HEAD" { "GET" } else { method };
    let segments = segments(path);
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let Some(rest) = segs.strip_prefix(&["v2"]) else {
        return unknown_route();
    };
    // Product edits need the `edit_products` scope, like the license PUTs (see licenses.rs).
    if method != "GET" && rest.first() == Some(&"products") && !account.edit_products {
        return Reply::insufficient_scope();
    }
    let seller = account.seller_id.as_str();
    match (method, rest) {
        ("GET", ["user"]) => user::show(store, seller),
        ("GET", ["products"]) => products::list(store, seller, p),
        ("GET", ["products", id]) => products::show(store, seller, id),
        ("PUT", ["products", id]) => products::update(store, seller, id, p),
        ("DELETE", ["products", id]) => products::delete(store, seller, id),
        ("PUT", ["products", id, "disable"]) => products::set_published(store, seller, id, false),
        ("PUT", ["products", id, "enable"]) => products::set_published(store, seller, id, true),
        ("GET", ["products", id, "subscribers"]) => subscribers::list(store, seller, id, p),
        (_, ["products", id, part, tail @ ..]) => {
            product_parts::dispatch(store, seller, method, id, part, tail, p)
        }
        ("GET", ["sales"]) => sales::list(store, seller, p),
        ("GET", ["sales", id]) => sales::show(store, seller, id),
        ("GET", ["subscribers", id]) => subscribers::show(store, seller, id),
        ("PUT", ["resource_subscriptions"]) => resource_subscriptions::create(store, seller, p),
        ("GET", ["resource_subscriptions"]) => resource_subscriptions::list(store, seller, p),
        ("DELETE", ["resource_subscriptions", id]) => {
            resource_subscriptions::delete(store, seller, id)
        }
        ("POST", ["licenses", "verify"]) => licenses::verify(store, p),
        ("PUT", ["licenses", action]) => licenses::edit(store, account, action, p),
        _ => unknown_route(),
    }
}

/// Percent-decoded path segments, with Gumroad's optional `.json` suffix taken off the last.
fn segments(path: &str) -> Vec<String> {
    let mut segs: Vec<String> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    if let Some(last) = segs.last_mut()
        && let Some(stem) = last.strip_suffix(".json")
    {
        *last = stem.to_owned();
    }
    segs
}

/// Rails answers an unknown route with a 404; Gumroad's API renders it as JSON.
pub fn unknown_route() -> Reply {
    Reply::json(404, json!({"success": false, "message": "Not found"}))
}

#[cfg(test)]
mod tests {
    use super::segments;

    #[test]
    fn json_suffix_and_escapes_are_undone() {
        assert_eq!(segments("/v2/sales.json"), ["v2", "sales"]);
        assert_eq!(segments("/v2/sales/ab%3D%3D"), ["v2", "sales", "ab=="]);
    }
}
