//! Who the client is, and the key it is limited under.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

use crate::limits::client_ip::{client_ip, limit_key};

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|n| n.parse().unwrap()).collect()
}

fn xff(lines: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in lines {
        headers.append("x-forwarded-for", line.parse().unwrap());
    }
    headers
}

fn peer(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 4242)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn untrusted_peer_ignores_a_spoofed_forwarded_for() {
    let trusted = nets(&["10.0.0.0/8"]);
    let got = client_ip(&trusted, peer("198.51.100.9"), &xff(&["203.0.113.1"]));
    assert_eq!(got, ip("198.51.100.9"));
    assert_eq!(
        client_ip(&[], peer("198.51.100.9"), &xff(&["1.1.1.1"])),
        ip("198.51.100.9")
    );
}

#[test]
fn trusted_peer_gives_the_rightmost_untrusted_entry() {
    let trusted = nets(&["10.0.0.0/8"]);
    // The client put "1.1.1.1" there itself; the proxy appended what it saw.
    let headers = xff(&["1.1.1.1, 203.0.113.7"]);
    assert_eq!(
        client_ip(&trusted, peer("10.0.0.2"), &headers),
        ip("203.0.113.7")
    );
}

#[test]
fn chains_of_trusted_proxies_are_walked() {
    let trusted = nets(&["10.0.0.0/8", "192.0.2.0/24"]);
    let headers = xff(&["6.6.6.6, 203.0.113.7", "192.0.2.5, 10.1.1.1"]);
    assert_eq!(
        client_ip(&trusted, peer("10.0.0.2"), &headers),
        ip("203.0.113.7")
    );
}

#[test]
fn trusted_peer_without_header_or_with_only_proxies_is_the_nearest_hop() {
    let trusted = nets(&["10.0.0.0/8"]);
    assert_eq!(
        client_ip(&trusted, peer("10.0.0.2"), &HeaderMap::new()),
        ip("10.0.0.2")
    );
    let headers = xff(&["10.9.9.9, 10.0.0.3"]);
    assert_eq!(
        client_ip(&trusted, peer("10.0.0.2"), &headers),
        ip("10.9.9.9")
    );
}

#[test]
fn malformed_entries_stop_the_walk_at_the_last_verified_hop() {
    let trusted = nets(&["10.0.0.0/8"]);
    let headers = xff(&["203.0.113.7, not-an-ip, 10.0.0.3"]);
    assert_eq!(
        client_ip(&trusted, peer("10.0.0.2"), &headers),
        ip("10.0.0.3")
    );
    let headers = xff(&["203.0.113.7,"]);
    assert_eq!(
        client_ip(&trusted, peer("10.0.0.2"), &headers),
        ip("10.0.0.2")
    );
}

#[test]
fn entries_with_ports_and_brackets_parse() {
    let trusted = nets(&["10.0.0.0/8"]);
    let headers = xff(&["[2001:db8::1]:443"]);
    assert_eq!(
        client_ip(&trusted, peer("10.0.0.2"), &headers),
        ip("2001:db8::1")
    );
    let headers = xff(&[" 203.0.113.7:5555 "]);
    assert_eq!(
        client_ip(&trusted, peer("10.0.0.2"), &headers),
        ip("203.0.113.7")
    );
}

#[test]
fn ipv4_mapped_peers_and_entries_count_as_ipv4() {
    let trusted = nets(&["10.0.0.0/8"]);
    let headers = xff(&["::ffff:203.0.113.7"]);
    // The mapped peer is recognised as the trusted 10.0.0.2.
    assert_eq!(
        client_ip(&trusted, peer("::ffff:10.0.0.2"), &headers),
        ip("203.0.113.7")
    );
    assert_eq!(
        client_ip(&[], peer("::ffff:198.51.100.9"), &HeaderMap::new()),
        ip("198.51.100.9")
    );
    assert_eq!(limit_key(ip("::ffff:198.51.100.9")), ip("198.51.100.9"));
}

#[test]
fn ipv6_is_keyed_by_its_64_and_ipv4_by_address() {
    let a = limit_key(ip("2001:db8:1:2:aaaa::1"));
    let b = limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    assert_eq!(a, ip("2001:db8:1:2::"));
    assert_eq!(a, b);
    assert_ne!(a, limit_key(ip("2001:db8:1:3::1")));
    assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
    assert_ne!(limit_key(ip("203.0.113.7")), limit_key(ip("203.0.113.8")));
}
