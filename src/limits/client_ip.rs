//! Who the client is: the socket peer, or the address a trusted proxy reports in
//! `X-Forwarded-For`, and the key under which that client is rate-limited.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

/// The client's IP as [`super::InboundLimits::client_ip`] documents it.
pub(crate) fn client_ip(trusted: &[IpNet], peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !is_trusted(trusted, peer) {
        // An untrusted peer may write anything in X-Forwarded-For; only the socket is real.
        return peer;
    }
    let mut nearest = peer;
    // Walk from the right: each trusted hop appended the address it saw, so the first entry
    // that is not one of ours is the last address we can vouch for.
    for entry in forwarded_entries(headers).into_iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            // Left of a malformed entry nothing is trustworthy; the nearest hop we could
            // verify is the most precise honest answer.
            return nearest;
        };
        if !is_trusted(trusted, ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// The rate-limit key: an IPv4 address as is, an IPv6 address reduced to its /64, because a
/// subscriber usually holds a whole /64 and per-address keys would be trivially bypassed.
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

fn is_trusted(trusted: &[IpNet], ip: IpAddr) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// Every comma-separated entry of every `X-Forwarded-For` line, in order (RFC 9110 §5.3:
/// several lines are one list). A line that is not visible ASCII yields one unparsable entry
/// so that the walk stops there rather than skipping it.
fn forwarded_entries(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|line| match line.to_str() {
            Ok(text) => text.split(',').collect::<Vec<_>>(),
            Err(_) => vec![""],
        })
        .collect()
}

/// An entry is a bare address; some proxies add a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}
