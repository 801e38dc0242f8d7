//! `GET /v2/user`: the seller behind the connection.

use serde_json::json;

use super::{reply::Reply, store::Store};

/// The seller's profile.
pub fn show(store: &Store, seller: &str) -> Reply {
    let Some(s) = store.seller(seller) else {
        return Reply::not_found_200("The user was not found.");
    };
    let url = format!("https://{}.gumroad.com", s.subdomain);
    Reply::ok(json!({
        "success": true,
        "user": {
            "name": s.name,
            "currency_type": "usd",
            "bio": null,
            "twitter_handle": null,
            "id": s.numeric_id,
            "user_id": s.user_id,
            "url": url,
            "profile_url": format!("https://public-files.gumroad.com/{}", s.subdomain),
            "email": s.email,
            "display_name": s.name,
        }
    }))
}
