//! Reading a Gumroad ping: form-encoded (bracketed keys, string values) or JSON, its resource
//! name checked against the ones Gumroad sends, a de-duplication key for its retries, and what
//! of it is stored: the fields processing needs, never the buyer's details or the license key
//! (kept apart, until processed, only by a ping that names no sale).

use serde_json::{Map, Value};

pub use gumroad_wire::webhooks::RESOURCES;

use crate::hashes::license_hash;

/// The fields a ping is stored with, when it has them: what processing and a person looking at
/// the inbox need, nothing about the buyer (no email, name, card, address or license key).
const KEPT: &[&str] = &[
    "resource_name",
    "sale_id",
    "purchase_ids",
    "product_id",
    "subscription_id",
    "sale_timestamp",
    "created_at",
    "cancelled_at",
    "ended_at",
    "restarted_at",
];

/// A ping as stored.
#[derive(Debug, Clone)]
pub struct Received {
    pub resource: Option<String>,
    /// The [`KEPT`] params as JSON, keys sorted, with `license_hash` for a ping that names a
    /// license key (never the key itself).
    pub payload: String,
    /// The license key, only for a ping that names no sale to resolve it through: kept until
    /// the ping is processed, then blanked.
    pub license_key: Option<String>,
    /// Hash of all the params: Gumroad's retries carry the identical body.
    pub dedup_key: String,
    /// Why it cannot be processed, if it cannot.
    pub malformed: Option<&'static str>,
}

impl Received {
    pub fn new(params: Map<String, Value>) -> Self {
        let sorted: std::collections::BTreeMap<_, _> = params.into_iter().collect();
        let all = serde_json::to_string(&sorted).unwrap_or_default();
        let resource = sorted
            .get("resource_name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let malformed = match resource.as_deref() {
            None => Some("no resource_name"),
            Some(r) if !RESOURCES.contains(&r) => Some("unknown resource_name"),
            Some(_) => None,
        };
        let subject = Subject::of(&Value::Object(sorted.clone().into_iter().collect()));
        let mut kept: std::collections::BTreeMap<String, Value> = sorted
            .into_iter()
            .filter(|(k, _)| KEPT.contains(&k.as_str()))
            .collect();
        if let Some(key) = &subject.license_key {
            kept.insert("license_hash".into(), license_hash(key).into());
        }
        Self {
            dedup_key: blake3::hash(all.as_bytes()).to_hex().to_string(),
            resource,
            payload: serde_json::to_string(&kept).unwrap_or_default(),
            // A sale (or purchase) id is resolved upstream to the key: the key is not needed.
            license_key: subject.license_key.filter(|_| subject.sale_ids.is_empty()),
            malformed,
        }
    }

    /// A ping as the receiver read it: its params, or `None` when the body could not be read
    /// as params at all. A malformed ping is kept as [`Received::malformed`].
    pub fn from_body(params: Option<Map<String, Value>>, body: &[u8]) -> Self {
        match params.map(Self::new) {
            Some(Self {
                malformed: Some(reason),
                ..
            }) => Self::malformed(reason, body),
            Some(received) => received,
            None => Self::malformed("unreadable body", body),
        }
    }

    /// A ping that cannot be processed, kept for inspection as the hash and size of its body
    /// only: the body may hold a buyer's email, a license key or just junk, and none of it is
    /// needed to see that (and how often) something sent it. Its resource name is dropped
    /// too: it is none Gumroad sends, so it is the sender's string.
    pub fn malformed(reason: &'static str, body: &[u8]) -> Self {
        let hash = blake3::hash(body).to_hex().to_string();
        let payload = serde_json::json!({ "reason": reason, "bytes": body.len(), "blake3": hash });
        Self {
            // Its own namespace, so a malformed body can never stand for a stored good ping.
            dedup_key: format!("malformed:{hash}"),
            resource: None,
            payload: payload.to_string(),
            license_key: None,
            malformed: Some(reason),
        }
    }
}

/// What a ping names: a license key directly, or a sale (or subscription purchases) that
/// leads to one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Subject {
    pub product_id: Option<String>,
    pub license_key: Option<String>,
    /// Sale ids to resolve the license from, when the ping carries no `license_key`.
    pub sale_ids: Vec<String>,
}

impl Subject {
    pub fn of(payload: &Value) -> Self {
        let text = |k: &str| {
            payload
                .get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let mut sale_ids: Vec<String> = text("sale_id").into_iter().collect();
        if let Some(Value::Array(ids)) = payload.get("purchase_ids") {
            sale_ids.extend(ids.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        Self {
            product_id: text("product_id"),
            license_key: text("license_key"),
            sale_ids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gumroad_wire::params::parse_form;

    #[test]
    fn the_captured_sale_ping_reads_and_dedups() {
        let body = b"seller_id=9MNhwBVl3w6hN8muzCv86Q%3D%3D&product_id=B3K7zHJBfTCgXhEWPJnJcQ%3D%3D&card[type]=paypal&variants[]=15&sale_id=43B-ogwCqvDAPQhlCAALJg%3D%3D&resource_name=sale&refunded=false&test=true";
        let a = Received::new(parse_form(body));
        assert_eq!(a.resource.as_deref(), Some("sale"));
        assert!(a.malformed.is_none());
        // The same params in another order are the same ping.
        let b = Received::new(parse_form(b"resource_name=sale&test=true&refunded=false&sale_id=43B-ogwCqvDAPQhlCAALJg%3D%3D&variants[]=15&card[type]=paypal&product_id=B3K7zHJBfTCgXhEWPJnJcQ%3D%3D&seller_id=9MNhwBVl3w6hN8muzCv86Q%3D%3D"));
        assert_eq!(a.dedup_key, b.dedup_key);
        let subject = Subject::of(&serde_json::from_str(&a.payload).unwrap());
        assert_eq!(subject.sale_ids, ["43B-ogwCqvDAPQhlCAALJg=="]);
        // What is stored: the sale, not the buyer's card.
        assert!(!a.payload.contains("paypal"), "{}", a.payload);
        assert_eq!(
            Received::new(parse_form(b"x=1")).malformed,
            Some("no resource_name")
        );
        assert_eq!(
            Received::new(parse_form(b"resource_name=nope")).malformed,
            Some("unknown resource_name")
        );
    }

    #[test]
    fn a_license_key_is_stored_as_a_hash_and_kept_only_without_a_sale() {
        let key = "5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0";
        let with_sale = format!(
            "resource_name=refund&sale_id=s1&license_key={key}&email=a%40b.c&full_name=Ann"
        );
        let r = Received::new(parse_form(with_sale.as_bytes()));
        assert_eq!(r.license_key, None);
        let payload: Value = serde_json::from_str(&r.payload).unwrap();
        assert_eq!(payload["license_hash"], license_hash(key));
        assert_eq!(payload["sale_id"], "s1");
        for gone in [key, "a@b.c", "Ann"] {
            assert!(!r.payload.contains(gone), "{}", r.payload);
        }
        let key_only = format!("resource_name=refund&license_key={key}");
        let r = Received::new(parse_form(key_only.as_bytes()));
        assert_eq!(r.license_key.as_deref(), Some(key));
        assert!(!r.payload.contains(key));
    }

    #[test]
    fn a_malformed_ping_is_kept_as_a_hash_and_a_size() {
        let body = b"resource_name=nope&email=a%40b.c";
        let kept = Received::from_body(Some(parse_form(body)), body);
        assert_eq!(kept.malformed, Some("unknown resource_name"));
        assert_eq!(kept.resource, None);
        assert!(!kept.payload.contains("a@b.c"), "{}", kept.payload);
        let payload: Value = serde_json::from_str(&kept.payload).unwrap();
        assert_eq!(payload["bytes"], body.len());
        let unreadable = Received::from_body(None, b"{not json");
        assert_eq!(unreadable.malformed, Some("unreadable body"));
        assert_ne!(unreadable.dedup_key, kept.dedup_key);
    }

    #[test]
    fn subscription_pings_name_their_purchases() {
        let p = parse_form(b"resource_name=cancellation&subscription_id=s1&purchase_ids[]=a&purchase_ids[]=b&product_id=p");
        let subject = Subject::of(&Value::Object(p));
        assert_eq!(subject.sale_ids, ["a", "b"]);
        assert_eq!(subject.product_id.as_deref(), Some("p"));
        assert_eq!(subject.license_key, None);
    }
}
