//! Which headers cross the gateway. Upstream gets the caller's ordinary headers minus every
//! credential and hop-by-hop header (Maton forwards custom headers to Gumroad, so what we let
//! through reaches Gumroad too); the caller gets back only the response headers that carry
//! meaning for an API client.

use http::{HeaderMap, HeaderName, header};

/// Request headers never forwarded: credentials, hop-by-hop (RFC 9110 §7.6.1), and those
/// Gumgate sets itself.
const DROPPED_REQUEST: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "expect",
    "user-agent",
    "accept-encoding",
    "maton-connection",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
];

/// Response headers passed back to the caller.
const KEPT_RESPONSE: &[HeaderName] = &[
    header::CONTENT_TYPE,
    header::WWW_AUTHENTICATE,
    header::RETRY_AFTER,
    header::CACHE_CONTROL,
    header::ETAG,
    header::LAST_MODIFIED,
    header::LOCATION,
    header::LINK,
    header::CONTENT_LANGUAGE,
];

/// The caller's headers as they may be sent upstream.
pub fn request_headers(incoming: &HeaderMap) -> HeaderMap {
    // Headers named in `Connection` are hop-by-hop for this hop too.
    let named_by_connection: Vec<String> = incoming
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let n = name.as_str();
        if DROPPED_REQUEST.contains(&n) || named_by_connection.iter().any(|c| c == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Upstream's headers as they are passed back to the caller.
pub fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in upstream {
        let n = name.as_str();
        if KEPT_RESPONSE.contains(name)
            || n.starts_with("ratelimit")
            || n.starts_with("x-ratelimit")
        {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_by_hop_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("authorization", "Bearer admin".parse().unwrap());
        h.insert("cookie", "s=1".parse().unwrap());
        h.insert("connection", "x-secret-hop".parse().unwrap());
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert("accept", "application/json".parse().unwrap());
        h.insert("x-request-id", "abc".parse().unwrap());
        let out = request_headers(&h);
        assert_eq!(out.len(), 2);
        assert!(out.contains_key("accept") && out.contains_key("x-request-id"));
    }
}
