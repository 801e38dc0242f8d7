//! Reading a Gumroad ping: form-encoded (bracketed keys, string values) or JSON, its resource
//! name checked against the ones Gumroad sends, and a de-duplication key for its retries.

use serde_json::{Map, Value};

pub use gumroad_wire::webhooks::RESOURCES;

/// A ping as stored.
#[derive(Debug, Clone)]
pub struct Received {
    pub resource: Option<String>,
    /// The params as JSON, keys sorted (so a retry serialises identically).
    pub payload: String,
    /// Hash of `payload`: Gumroad's retries carry the identical body.
    pub dedup_key: String,
    /// Why it cannot be processed, if it cannot.
    pub malformed: Option<&'static str>,
}

impl Received {
    pub fn new(params: Map<String, Value>) -> Self {
        let sorted: std::collections::BTreeMap<_, _> = params.into_iter().collect();
        let payload = serde_json::to_string(&sorted).unwrap_or_default();
        let resource = sorted
            .get("resource_name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let malformed = match resource.as_deref() {
            None => Some("no resource_name"),
            Some(r) if !RESOURCES.contains(&r) => Some("unknown resource_name"),
            Some(_) => None,
        };
        Self {
            dedup_key: blake3::hash(payload.as_bytes()).to_hex().to_string(),
            resource,
            payload,
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
