//! Parsing of the `Retry-After` header (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.

use std::time::{Duration, SystemTime};

/// Parses a Retry-After header value: delta-seconds or an HTTP-date (relative to `now`).
///
/// A date already past gives `Some(Duration::ZERO)`: the value is well formed and says "now",
/// and keeping `None` for malformed values lets the caller fall back to its own backoff only
/// when upstream really gave no usable hint.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse().ok().map(Duration::from_secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        httpdate::parse_http_date("Thu, 26 Nov 2026 12:00:00 GMT").unwrap()
    }

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_retry_after("2", now()), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 ", now()), Some(Duration::ZERO));
    }

    #[test]
    fn garbage_is_none() {
        for v in ["", "soon", "-1", "1.5", "2s", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(v, now()), None, "{v:?}");
        }
    }

    #[test]
    fn http_date_in_the_future() {
        let v = "Thu, 26 Nov 2026 12:00:30 GMT";
        assert_eq!(parse_retry_after(v, now()), Some(Duration::from_secs(30)));
    }

    #[test]
    fn http_date_in_the_past_is_zero() {
        let v = "Thu, 26 Nov 2026 11:59:00 GMT";
        assert_eq!(parse_retry_after(v, now()), Some(Duration::ZERO));
    }
}
