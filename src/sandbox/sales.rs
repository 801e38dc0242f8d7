//! `GET /v2/sales` (newest first, 10 a page, `page_key` cursor, the deprecated `page=`) and
//! `GET /v2/sales/{id}`.

use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime, macros::format_description};

use super::{
    purchase::sale_json,
    reply::Reply,
    store::{Sale, Store},
};
use crate::params::Params;

const PAGE_SIZE: usize = 10;
/// Gumroad refuses deep `page=` offsets and points callers at `page_key`.
const MAX_LEGACY_PAGE: usize = 10;
const PAGE_DEPRECATED: &str = "The 'page' parameter is deprecated. Please use 'page_key' instead: https://gumroad.com/api#sales";

/// One sale of the seller, or 200 `success:false`.
pub fn show(store: &Store, seller: &str, id: &str) -> Reply {
    match store
        .sales
        .iter()
        .find(|s| s.id == id && s.seller_id == seller)
    {
        Some(sale) => Reply::ok(json!({"success": true, "sale": sale_json(store, sale)})),
        None => Reply::not_found_200("The sale was not found."),
    }
}

/// A page of the seller's sales matching the filters.
pub fn list(store: &Store, seller: &str, p: &Params) -> Reply {
    let mut rows: Vec<&Sale> = match filtered(store, seller, p) {
        Ok(rows) => rows,
        Err(reply) => return reply,
    };
    rows.sort_by_key(|s| std::cmp::Reverse(cursor_of(s)));
    let start = match start_of_page(&rows, p) {
        Ok(start) => start,
        Err(reply) => return reply,
    };
    let page = &rows[start.min(rows.len())..(start + PAGE_SIZE).min(rows.len())];
    let mut body = json!({
        "success": true,
        "sales": page.iter().map(|s| sale_json(store, s)).collect::<Vec<_>>(),
    });
    if start + PAGE_SIZE < rows.len() {
        let last = page.last().expect("a non-final page is full");
        let key = encode_cursor(cursor_of(last));
        body["next_page_url"] = json!(format!("/v2/sales?page_key={key}"));
        body["next_page_key"] = json!(key);
    }
    Reply::ok(body)
}

/// Where the requested page starts in the sorted rows.
fn start_of_page(rows: &[&Sale], p: &Params) -> Result<usize, Reply> {
    if let Some(key) = p.str("page_key").filter(|k| !k.is_empty()) {
        let cursor = decode_cursor(key).ok_or_else(|| {
            Reply::json(
                400,
                json!({"success": false, "message": "Invalid page_key."}),
            )
        })?;
        // Cursor, not offset: the next page starts after the last row seen, whatever was added.
        return Ok(rows.iter().take_while(|s| cursor_of(s) >= cursor).count());
    }
    let page = match p.get("page") {
        Some(Value::String(s)) => s.trim().parse::<usize>().unwrap_or(1),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(1) as usize,
        _ => 1,
    };
    if page > MAX_LEGACY_PAGE {
        return Err(Reply::json(
            400,
            json!({"status": 400, "error": PAGE_DEPRECATED}),
        ));
    }
    Ok(page.saturating_sub(1) * PAGE_SIZE)
}

fn cursor_of(s: &Sale) -> (i64, u64) {
    (s.created_at.unix_timestamp(), s.order_number)
}

fn encode_cursor((ts, order): (i64, u64)) -> String {
    format!("{ts}.{order}")
}

fn decode_cursor(key: &str) -> Option<(i64, u64)> {
    let (ts, order) = key.split_once('.')?;
    Some((ts.parse().ok()?, order.parse().ok()?))
}

fn filtered<'a>(store: &'a Store, seller: &str, p: &Params) -> Result<Vec<&'a Sale>, Reply> {
    let after = date_param(p, "after")?;
    let before = date_param(p, "before")?.map(|d| d + Duration::days(1));
    let text = |name: &str| p.str(name).map(str::trim).filter(|s| !s.is_empty());
    let (email, product, order, name, key) = (
        text("email"),
        text("product_id"),
        text("order_id"),
        text("name"),
        text("license_key"),
    );
    Ok(store
        .sales
        .iter()
        .filter(|s| s.seller_id == seller)
        .filter(|s| after.is_none_or(|d| s.created_at >= d))
        .filter(|s| before.is_none_or(|d| s.created_at < d))
        .filter(|s| email.is_none_or(|e| s.email.eq_ignore_ascii_case(e)))
        .filter(|s| product.is_none_or(|id| s.product_id == id))
        .filter(|s| order.is_none_or(|o| s.order_number.to_string() == o))
        .filter(|s| name.is_none_or(|n| contains_ci(&s.full_name, n)))
        .filter(|s| {
            key.is_none_or(|k| {
                s.license
                    .as_ref()
                    .is_some_and(|l| l.key.eq_ignore_ascii_case(k))
            })
        })
        .collect())
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// `YYYY-MM-DD` as the start of that UTC day.
fn date_param(p: &Params, name: &str) -> Result<Option<OffsetDateTime>, Reply> {
    let Some(raw) = p.str(name).map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    Date::parse(raw, format_description!("[year]-[month]-[day]"))
        .map(|d| Some(d.midnight().assume_utc()))
        .map_err(|_| {
            Reply::json(
                400,
                json!({"success": false, "message": format!("Invalid date for '{name}'.")}),
            )
        })
}
