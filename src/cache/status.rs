//! The `Cache-Status` response header (RFC 9211), saying how each answer was served.

use http::HeaderValue;

/// Our cache's name in `Cache-Status`.
const NAME: &str = "gumgate";

/// How an answer was produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheStatus {
    /// A fresh stored answer; `ttl` seconds of freshness left.
    Hit { ttl: u64 },
    /// A stale stored answer served because upstream failed; it went stale `age` seconds ago.
    StaleIfError { age: u64 },
    /// Fetched from upstream. `stale`: a stale entry was being refreshed; `collapsed`: another
    /// request's fetch was joined; `stored`: the answer was cached.
    Forwarded {
        status: u16,
        stale: bool,
        collapsed: bool,
        stored: bool,
    },
    /// Another replica's fresh answer (cluster mode), `ttl` seconds of freshness left;
    /// `collapsed`: another request's wait for it was joined.
    Shared { ttl: u64, collapsed: bool },
    /// Not eligible for the cache (an incrementing verify, `no-cache`); `status` is upstream's.
    Bypass { status: u16, stored: bool },
    /// Upstream failed and nothing stored could stand in.
    Unavailable,
}

impl CacheStatus {
    /// The metric label of this outcome.
    pub fn result(&self) -> &'static str {
        match self {
            Self::Hit { .. } => "hit",
            Self::Shared { .. } => "shared",
            Self::StaleIfError { .. } => "stale",
            Self::Forwarded {
                collapsed: true, ..
            } => "collapsed",
            Self::Forwarded { .. } | Self::Unavailable => "miss",
            Self::Bypass { .. } => "bypass",
        }
    }

    pub fn header(&self) -> HeaderValue {
        let value = match *self {
            // Every cache hit: built without `format!` (bench/callgrind.sh).
            Self::Hit { ttl } => {
                let mut v = String::with_capacity(32);
                v.push_str(NAME);
                v.push_str("; hit; ttl=");
                v.push_str(itoa::Buffer::new().format(ttl));
                v
            }
            Self::Shared { ttl, .. } => format!("{NAME}; hit; ttl={ttl}; detail=shared"),
            Self::StaleIfError { age } => {
                format!("{NAME}; hit; ttl=-{age}; detail=stale-if-error")
            }
            Self::Forwarded {
                status,
                stale,
                collapsed,
                stored,
            } => {
                let fwd = if stale { "stale" } else { "miss" };
                let mut v = format!("{NAME}; fwd={fwd}; fwd-status={status}");
                if stored {
                    v.push_str("; stored");
                }
                if collapsed {
                    v.push_str("; collapsed");
                }
                v
            }
            Self::Bypass { status, stored } => {
                let stored = if stored { "; stored" } else { "" };
                format!("{NAME}; fwd=request; fwd-status={status}{stored}")
            }
            Self::Unavailable => format!("{NAME}; fwd=miss; detail=upstream-unavailable"),
        };
        HeaderValue::from_maybe_shared(bytes::Bytes::from(value)).expect("ASCII header value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_rfc_9211() {
        assert_eq!(CacheStatus::Hit { ttl: 5 }.header(), "gumgate; hit; ttl=5");
        let fwd = CacheStatus::Forwarded {
            status: 200,
            stale: false,
            collapsed: true,
            stored: true,
        };
        assert_eq!(
            fwd.header(),
            "gumgate; fwd=miss; fwd-status=200; stored; collapsed"
        );
        assert_eq!(fwd.result(), "collapsed");
        assert_eq!(
            CacheStatus::StaleIfError { age: 3 }.header(),
            "gumgate; hit; ttl=-3; detail=stale-if-error"
        );
    }
}
