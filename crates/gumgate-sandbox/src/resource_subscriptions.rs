//! `PUT|GET /v2/resource_subscriptions` and `DELETE /v2/resource_subscriptions/{id}`: webhook
//! registrations. The sandbox only stores them; it sends no pings.

use gumroad_wire::params::Params;
use serde_json::{Value, json};

use super::{
    ids::random_id,
    reply::Reply,
    store::{ResourceSubscription, Store},
};

/// Gumroad's resource names: the same list the webhook receiver accepts.
const NAMES: &[&str] = gumroad_wire::webhooks::RESOURCES;

/// Registers `post_url` for `resource_name`.
pub fn create(store: &mut Store, seller: &str, p: &Params) -> Reply {
    let url = p.str("post_url").map(str::trim).unwrap_or("");
    // Gumroad demands a public http(s) URL; the sandbox deliberately also accepts localhost
    // and private addresses so a test can run a local webhook receiver against it.
    if !is_http_url(url) {
        return failure(format!("Invalid post URL '{url}'"));
    }
    let Some(name) = valid_name(p) else {
        // Gumroad interpolates a variable that is always nil here, hence the empty quotes.
        return failure("Unable to subscribe to ''.".to_owned());
    };
    let hook = ResourceSubscription {
        id: random_id(),
        seller_id: seller.to_owned(),
        resource_name: name.to_owned(),
        post_url: url.to_owned(),
    };
    let body = json!({"success": true, "resource_subscription": hook_json(&hook)});
    store.hooks.push(hook);
    Reply::ok(body)
}

/// The seller's registrations for one resource name.
pub fn list(store: &Store, seller: &str, p: &Params) -> Reply {
    let Some(name) = valid_name(p) else {
        return failure("Valid resource_name parameter required".to_owned());
    };
    let hooks: Vec<Value> = store
        .hooks
        .iter()
        .filter(|h| h.seller_id == seller && h.resource_name == name)
        .map(hook_json)
        .collect();
    Reply::ok(json!({"success": true, "resource_subscriptions": hooks}))
}

/// Removes one registration.
pub fn delete(store: &mut Store, seller: &str, id: &str) -> Reply {
    let before = store.hooks.len();
    store
        .hooks
        .retain(|h| !(h.id == id && h.seller_id == seller));
    if store.hooks.len() == before {
        return Reply::not_found_200("The resource_subscription was not found.");
    }
    Reply::deleted("resource_subscription")
}

fn valid_name(p: &Params) -> Option<&str> {
    p.str("resource_name").filter(|name| NAMES.contains(name))
}

fn failure(message: String) -> Reply {
    Reply::ok(json!({"success": false, "message": message}))
}

fn is_http_url(raw: &str) -> bool {
    url::Url::parse(raw).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn hook_json(h: &ResourceSubscription) -> Value {
    json!({"id": h.id, "resource_name": h.resource_name, "post_url": h.post_url})
}
