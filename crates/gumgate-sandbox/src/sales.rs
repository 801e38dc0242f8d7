//! `GET /v2/sales` (newest first, 10 a page, `page_key` cursor, the deprecated `page=`) and
//! `GET /v2/sales/{id}`, following Gumroad's `Api::V2::SalesController`.

use gumroad_wire::licenses::same_license_key;
use gumroad_wire::params::Params;
use serde_json::{Value, json};
use time::{Date, OffsetDateTime, macros::format_description};

use super::{
    paging,
    purchase::sale_json,
    reply::Reply,
    store::{Sale, Store},
};

const PAGE_SIZE: usize = 10;
/// Deep `page=` offsets time out at Gumroad and come back as this 400; the sandbox makes
/// that deterministic past page 10.
const MAX_LEGACY_PAGE: i64 = 10;
const PAGE_DEPRECATED: &str = "The 'page' parameter is deprecated. Please use 'page_key' instead: https://gumroad.com/api#sales";
/// Filters that are carried into `next_page_url`, like Gumroad keeps the request's query.
const FILTERS: [&str; 7] = [
    "after",
    "before",
    "email",
    "license_key",
    "name",
    "order_id",
    "product_id",
];
/// One sale of the seller, or 200 `success:false`.
pub fn show(store: &Store, seller: &str, id: &str) -> Reply {
    match store
        .sales
        .iter()
        .find(|s| s.id == id && s.seller_id == seller)
    {
        Some(sale) => Reply::ok(json!({"success": true, "sale": sale_json(store, sale)})),
        None => Reply::not_found_200(gumroad_wire::sales::SALE_NOT_FOUND),
    }
}

/// A page of the seller's sales matching the filters.
pub fn list(store: &Store, seller: &str, p: &Params) -> Reply {
    let mut rows = match filtered(store, seller, p) {
        Ok(rows) => rows,
        Err(reply) => return reply,
    };
    let start = match legacy_page(p) {
        Ok(Some(page)) => {
            paging::newest_after(&mut rows, cursor_of, None);
            (page - 1) * PAGE_SIZE
        }
        Ok(None) => match paging::page_key(p) {
            Ok(after) => {
                paging::newest_after(&mut rows, cursor_of, after);
                0
            }
            Err(reply) => return reply,
        },
        Err(reply) => return reply,
    };
    let start = start.min(rows.len());
    let end = (start + PAGE_SIZE).min(rows.len());
    let page = &rows[start..end];
    let mut body = json!({
        "success": true,
        "sales": page.iter().map(|s| sale_json(store, s)).collect::<Vec<_>>(),
    });
    if let (true, Some(last)) = (end < rows.len(), page.last()) {
        let key = paging::encode(cursor_of(last));
        body["next_page_url"] = json!(next_page_url(p, &key));
        body["next_page_key"] = json!(key);
    }
    Reply::ok(body)
}

/// The deprecated `page=N`, when given (it wins over `page_key`, as at Gumroad).
fn legacy_page(p: &Params) -> Result<Option<usize>, Reply> {
    let Some(raw) = p.get("page") else {
        return Ok(None);
    };
    let page = match raw {
        Value::String(s) => leading_int(s),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    };
    if page < 1 {
        return Err(Reply::error_400(
            "Invalid page number. Page numbers start at 1.",
        ));
    }
    if page > MAX_LEGACY_PAGE {
        return Err(Reply::error_400(PAGE_DEPRECATED));
    }
    Ok(Some(page as usize))
}

/// Ruby's `String#to_i`: the leading digits, 0 when there are none.
fn leading_int(s: &str) -> i64 {
    let digits: String = s.trim().chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(0)
}

fn cursor_of(s: &&Sale) -> paging::Cursor {
    (s.created_at, s.order_number)
}

/// Relative, keeping the filters, with keys sorted as Gumroad's Addressable sorts them.
fn next_page_url(p: &Params, key: &str) -> String {
    let mut pairs: Vec<(&str, &str)> = FILTERS
        .iter()
        .filter_map(|name| p.str(name).filter(|v| !v.is_empty()).map(|v| (*name, v)))
        .collect();
    pairs.push(("page_key", key));
    pairs.sort();
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("/v2/sales?{query}")
}

fn filtered<'a>(store: &'a Store, seller: &str, p: &Params) -> Result<Vec<&'a Sale>, Reply> {
    let before = date_param(p, "before")?;
    let after = date_param(p, "after")?;
    let text = |name: &str| p.str(name).map(str::trim).filter(|s| !s.is_empty());
    let (email, name, key) = (text("email"), text("name"), text("license_key"));
    let product = text("product_id");
    if product.is_some_and(|id| !looks_like_external_id(id)) {
        return Err(Reply::error_400("Invalid product ID."));
    }
    let order = match p.str("order_id").filter(|s| !s.is_empty()) {
        Some(o) => Some(
            o.parse::<u64>()
                .map_err(|_| Reply::error_400("Invalid order ID."))?,
        ),
        None => None,
    };
    Ok(store
        .sales
        .iter()
        .filter(|s| s.seller_id == seller)
        .filter(|s| after.is_none_or(|d| s.created_at >= d))
        .filter(|s| before.is_none_or(|d| s.created_at < d))
        .filter(|s| email.is_none_or(|e| s.email.eq_ignore_ascii_case(e)))
        .filter(|s| product.is_none_or(|id| s.product_id == id))
        .filter(|s| order.is_none_or(|o| s.order_number == o))
        .filter(|s| name.is_none_or(|n| s.full_name.to_lowercase().contains(&n.to_lowercase())))
        .filter(|s| {
            key.is_none_or(|k| {
                s.license
                    .as_ref()
                    .is_some_and(|l| same_license_key(&l.key, k))
            })
        })
        .collect())
}

/// Gumroad 400s on a product id that does not even decode; an unknown but well-formed id just
/// matches nothing.
fn looks_like_external_id(id: &str) -> bool {
    id.len() == 24
        && id.ends_with("==")
        && id[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `YYYY-MM-DD` as the start of that UTC day; `after` is inclusive, `before` exclusive.
fn date_param(p: &Params, name: &str) -> Result<Option<OffsetDateTime>, Reply> {
    let Some(raw) = p.str(name) else {
        return Ok(None);
    };
    Date::parse(raw.trim(), format_description!("[year]-[month]-[day]"))
        .map(|d| Some(d.midnight().assume_utc()))
        .map_err(|_| {
            Reply::error_400(&format!(
                "Invalid date format provided in field '{name}'. Dates must be in the format YYYY-MM-DD."
            ))
        })
}
