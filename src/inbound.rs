//! Reading an inbound request safely before anything is sent upstream: the body under a size
//! limit, the path checked against every spelling that could escape `/gumroad/v2/`, and the
//! caller's own credentials (`access_token` params) taken out of what will be forwarded.

use axum::body::Body;
use bytes::Bytes;
use gumroad_wire::params::{self, BodyKind, Params, ParamsError};
use http::{HeaderMap, Method, header};
use percent_encoding::percent_decode_str;

use crate::error::AppError;

/// The param a Gumroad client puts its OAuth token in.
pub const ACCESS_TOKEN: &str = "access_token";

/// Reads the whole body, refusing with 413 anything over `limit` bytes (early, from
/// `Content-Length`, when the client announced it).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, AppError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(AppError::PayloadTooLarge(limit));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if too_large {
            AppError::PayloadTooLarge(limit)
        } else {
            AppError::BadRequest("The request body could not be read.".into())
        }
    })
}

/// The `Content-Type` header as a string, when it is one.
pub fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

/// Whether a path may be served: `false` (answered 400 by `middleware::edge`) for a segment
/// [`segment_is_safe`] refuses (dot segments plain or percent-encoded, encoded separators, `;`
/// path params, look-alikes, empty segments, double encoding, control characters), before any
/// routing decision or upstream call is made on it.
pub fn path_is_safe(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    // A segment with no escape is its own decoding; one with an escape is decoded (allocating).
    rest.split('/').all(|raw| {
        if raw.contains('%') {
            percent_decode_str(raw)
                .decode_utf8()
                .is_ok_and(|seg| segment_is_safe(&seg))
        } else {
            segment_is_safe(raw)
        }
    })
}

/// Characters some server, proxy, normaliser or file system on the way may read as `.`, `/` or
/// `\`, so a segment holding one could become a step up or a separator after Gumgate checked it.
/// The list is documented, not guessed:
/// - every character whose NFKC form is or contains `.`, `/` or `\` (Unicode's compatibility
///   folding, which normalising servers apply): U+2024, U+2025, U+2026, U+FE52, U+FF0E,
///   U+FF0F, U+FE68, U+FF3C;
/// - the ideographic full stops U+3002 and U+FF61 (NFKC folds the second to the first), read as
///   a dot by IME-typed input and some URL normalisers;
/// - the symbols Unicode's confusables table (UTS #39 `confusables.txt`) maps to `/` or `\`:
///   U+1735, U+2041, U+2044, U+2215, U+2216, U+2571, U+27CB, U+27CD, U+29F5, U+29F8, U+29F9,
///   U+2F02, U+2F03, U+1D20F, U+1D23A, U+1D23B. Its letters and CJK strokes (KATAKANA NO,
///   U+4E3F, ...) are left out: a custom field name in Japanese must still work.
///
/// Gumroad's ids, permalinks and custom field names have no use for any of them.
const LOOKALIKES: &[char] = &[
    '\u{2024}',  // ONE DOT LEADER
    '\u{2025}',  // TWO DOT LEADER
    '\u{2026}',  // HORIZONTAL ELLIPSIS
    '\u{3002}',  // IDEOGRAPHIC FULL STOP
    '\u{FE52}',  // SMALL FULL STOP
    '\u{FF0E}',  // FULLWIDTH FULL STOP
    '\u{FF61}',  // HALFWIDTH IDEOGRAPHIC FULL STOP
    '\u{1735}',  // PHILIPPINE SINGLE PUNCTUATION
    '\u{2041}',  // CARET INSERTION POINT
    '\u{2044}',  // FRACTION SLASH
    '\u{2215}',  // DIVISION SLASH
    '\u{2571}',  // BOX DRAWINGS LIGHT DIAGONAL UPPER RIGHT TO LOWER LEFT
    '\u{27CB}',  // MATHEMATICAL RISING DIAGONAL
    '\u{29F8}',  // BIG SOLIDUS
    '\u{2F03}',  // KANGXI RADICAL SLASH
    '\u{FF0F}',  // FULLWIDTH SOLIDUS
    '\u{1D23A}', // GREEK INSTRUMENTAL NOTATION SYMBOL-47
    '\u{2216}',  // SET MINUS
    '\u{27CD}',  // MATHEMATICAL FALLING DIAGONAL
    '\u{29F5}',  // REVERSE SOLIDUS OPERATOR
    '\u{29F9}',  // BIG REVERSE SOLIDUS
    '\u{2F02}',  // KANGXI RADICAL DOT
    '\u{FE68}',  // SMALL REVERSE SOLIDUS
    '\u{FF3C}',  // FULLWIDTH REVERSE SOLIDUS
    '\u{1D20F}', // GREEK VOCAL NOTATION SYMBOL-16
    '\u{1D23B}', // GREEK INSTRUMENTAL NOTATION SYMBOL-48
];

/// Whether one decoded path segment may be routed and forwarded. Refused: empty, `.`, anything
/// starting with `..` (`..;` is `..` to servlet containers), a separator (`/`, `\`), a `;`
/// (path params), a `%` left after decoding (double encoding), a control character, or a
/// [`LOOKALIKES`] character. Everything else is forwarded percent-encoded by
/// `crate::upstream::Upstream::url`.
pub fn segment_is_safe(seg: &str) -> bool {
    !seg.is_empty()
        && seg != "."
        && !seg.starts_with("..")
        && !seg.contains(['/', '\\', '%', ';'])
        && if seg.is_ascii() {
            // Every lookalike is outside ASCII; ASCII's control characters are its only ones.
            !seg.bytes().any(|b| b.is_ascii_control())
        } else {
            !seg.chars()
                .any(|c| c.is_control() || LOOKALIKES.contains(&c))
        }
}

fn decode_segment(raw: &str) -> Option<String> {
    percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The decoded segments of a path that passed [`path_is_safe`].
pub fn path_segments(path: &str) -> Vec<String> {
    path.trim_start_matches('/')
        .split('/')
        .filter_map(decode_segment)
        .collect()
}

/// What may be forwarded of a request's params, and the credential that was taken out.
#[derive(Debug)]
pub struct Forwardable {
    /// The query string without `access_token`.
    pub query: Option<String>,
    /// The body without `access_token` (empty for methods whose params all went to the query).
    pub body: Bytes,
    /// The first `access_token` found: in the query, else in the body.
    pub access_token: Option<String>,
}

/// Takes every `access_token` out of the query and the body, in every spelling a lenient server
/// could read as one ([`params::names_param`]: any case, padded, bracketed); only the exact
/// name is taken as the caller's token, as Gumroad's Doorkeeper reads it. For GET, HEAD, DELETE and OPTIONS
/// the body's params are moved into the query (query values win, as in Rails), because
/// Gumroad reads a GET's form body (pygumroad sends `page_key` that way) but a proxy on the
/// way may drop it. Bodies that are neither form nor JSON get 415.
pub fn strip_credentials(
    method: &Method,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Forwardable, AppError> {
    let ct = content_type(headers);
    let kind = BodyKind::of(ct, &body);
    if kind == BodyKind::Other {
        return Err(AppError::UnsupportedMediaType);
    }
    if matches!(
        *method,
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    ) && kind != BodyKind::Empty
    {
        return fold_body_into_query(query, ct, &body);
    }

    let (query, query_token) = match query {
        Some(q) => {
            let (q, t) = params::strip_form_param(q.as_bytes(), ACCESS_TOKEN);
            (Some(q), t)
        }
        None => (None, None),
    };
    let (body, body_token) = match kind {
        // Nothing to take out (the hot path): the body goes on as it came, not copied.
        BodyKind::Form if !params::form_names_param(&body, ACCESS_TOKEN) => (body, None),
        BodyKind::Form => {
            let (b, t) = params::strip_form_param(&body, ACCESS_TOKEN);
            (Bytes::from(b), t)
        }
        BodyKind::Json => {
            let (b, t) = params::strip_json_param(&body, ACCESS_TOKEN).map_err(bad_params)?;
            (
                Bytes::from(b),
                t.and_then(|v| v.as_str().map(str::to_owned)),
            )
        }
        BodyKind::Empty | BodyKind::Other => (body, None),
    };
    Ok(Forwardable {
        query: query.filter(|q| !q.is_empty()),
        body,
        access_token: query_token.or(body_token),
    })
}

fn fold_body_into_query(
    query: Option<&str>,
    ct: Option<&str>,
    body: &[u8],
) -> Result<Forwardable, AppError> {
    let query_token = query.and_then(|q| params::strip_form_param(q.as_bytes(), ACCESS_TOKEN).1);
    let mut merged = Params::from_request(query, ct, body).map_err(bad_params)?;
    let body_token = merged
        .strip(ACCESS_TOKEN)
        .and_then(|v| v.as_str().map(str::to_owned));
    let encoded = params::to_query_string(merged.as_map());
    Ok(Forwardable {
        query: Some(encoded).filter(|q| !q.is_empty()),
        body: Bytes::new(),
        access_token: query_token.or(body_token),
    })
}

/// A malformed form or JSON body is the caller's error.
pub fn bad_params(e: ParamsError) -> AppError {
    AppError::BadRequest(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_unsafe_in_every_spelling() {
        for p in [
            "/v2/../connections",
            "/v2/%2e%2e/connections",
            "/v2/%2E%2e/connections",
            "/v2/.%2e/connections",
            "/v2/./user",
            "/v2//user",
            "/v2/sales%2f..%2fconnections",
            "/v2/sales%5c..",
            "/v2/%252e%252e/connections",
            "/v2/user/",
            "/v2/%00",
            "/v2/%ff",
            "v2/user",
        ] {
            assert!(!path_is_safe(p), "{p}");
        }
        for p in [
            "/",
            "/v2/user",
            "/v2/sales/43B-ogwCqvDAPQhlCAALJg==",
            "/v2/sales.json",
            "/v2/products/p1/custom_fields/Company%20Name",
            "/v2/products/p1/custom_fields/Why%3F%20%231",
            "/v2/products/p1/custom_fields/%C3%89t%C3%A9",
            "/v2/products/a..b",
            "/v2/products/x.",
        ] {
            assert!(path_is_safe(p), "{p}");
        }
    }

    #[test]
    fn semicolons_dot_prefixes_lookalikes_and_controls_are_unsafe() {
        for p in [
            "/v2/sales/..;/..;/connections",
            "/v2/sales/..%3b/connections",
            "/v2/user;jsessionid=x",
            "/v2/sales/..x",
            "/v2/sales/...",
            "/v2/%E2%80%A4%E2%80%A4/connections",
            "/v2/%EF%BC%8E%EF%BC%8E/connections",
            "/v2/sales%EF%BC%8Fx",
            "/v2/sales%E2%88%95x",
            "/v2/sales%E2%81%84x",
            "/v2/sales%E2%A7%B8x",
            "/v2/sales/x%7Fy",
            "/v2/sales/x%C2%85y",
            "/v2/sales/x%09y",
        ] {
            assert!(!path_is_safe(p), "{p}");
        }
        for c in LOOKALIKES {
            assert!(!segment_is_safe(&format!("a{c}b")), "{c:?}");
        }
    }

    #[test]
    fn get_bodies_fold_into_the_query_without_the_token() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let f = strip_credentials(
            &Method::GET,
            Some("email=a%40b.c"),
            &h,
            Bytes::from_static(b"access_token=tok&page_key=k1"),
        )
        .unwrap();
        assert_eq!(f.access_token.as_deref(), Some("tok"));
        assert_eq!(f.query.as_deref(), Some("page_key=k1&email=a%40b.c"));
        assert!(f.body.is_empty());
    }

    #[test]
    fn put_keeps_query_and_body_apart() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let f = strip_credentials(
            &Method::PUT,
            Some("access_token=q&x=1"),
            &h,
            Bytes::from_static(br#"{"access_token":"b","name":"n"}"#),
        )
        .unwrap();
        assert_eq!(f.access_token.as_deref(), Some("q"));
        assert_eq!(f.query.as_deref(), Some("x=1"));
        assert_eq!(&f.body[..], br#"{"name":"n"}"#);
    }
}
