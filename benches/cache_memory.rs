//! Memory of the verify cache itself: inserts N distinct, realistic verify answers (default one
//! million) into the real `AnswerCache` and prints resident memory before and after. The
//! end-to-end figure (the whole server, filled over HTTP) comes from `bench/verify.sh`.
//!
//! cargo bench --bench cache_memory [-- N]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gumgate::cache::{Answer, AnswerCache, Keyer};
use gumgate::clock::Clock;
use gumgate::metrics::Metrics;
use http::{HeaderValue, StatusCode};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A verify answer shaped like Gumroad's, with per-license values varying as they do.
fn body(i: u64) -> String {
    format!(
        r#"{{"success":true,"uses":{uses},"purchase":{{"id":"{sale}==","sale_id":"{sale}==","seller_id":"RznH2LkWWClrULj2ndGSpw==","product_id":"9Y2u8Dy4AWioyNrmNROrFA==","product_name":"Sandbox App","permalink":"sandbox-app","product_permalink":"https://adasandbox.gumroad.com/l/sandbox-app","short_product_id":"sbxap","email":"buyer{i}@customer.example","price":1500,"gumroad_fee":200,"currency":"usd","quantity":1,"discover_fee_charged":false,"can_contact":true,"referrer":"direct","card":{{"visual":"**** **** **** {card:04}","type":"visa","bin":"424242","expiry_month":12,"expiry_year":2029}},"order_number":{order},"sale_timestamp":"2026-01-10T14:15:40Z","created_at":"2026-01-10T14:15:40Z","license_key":"{key}","is_gift_receiver_purchase":false,"refunded":false,"disputed":false,"dispute_won":false,"variants":"(Premium)","custom_fields":["Company: Company {i}"],"purchaser_id":"{purchaser}","full_name":"Buyer {i}","ip_country":"Germany","test":false,"Company":"Company {i}","chargebacked":false}}}}"#,
        uses = i % 7,
        sale = format!("{:022x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        card = i % 10_000,
        order = 600_000_000 + i,
        key = license_key(i),
        purchaser = 6_923_323_685_000 + i,
    )
}

fn license_key(i: u64) -> String {
    let h = i.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    format!(
        "{:08X}-{:08X}-{:08X}-{:08X}",
        (h >> 32) as u32,
        h as u32,
        (i >> 32) as u32 ^ 0x5A5A_5A5A,
        i as u32
    )
}

fn main() {
    let n: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let cache = AnswerCache::new(
        "verify",
        1 << 30,
        Duration::from_secs(72 * 3600),
        Clock::system(),
        Arc::new(Metrics::new()),
    );
    let keyer = Keyer::random();
    let sample = body(1);
    let before = rss_mib();
    let started = Instant::now();
    for i in 0..n {
        let answer = Answer {
            status: StatusCode::OK,
            content_type: Some(HeaderValue::from_static("application/json; charset=utf-8")),
            body: Bytes::from(body(i)),
        };
        let key = keyer.verify("", "9Y2u8Dy4AWioyNrmNROrFA==", &license_key(i));
        cache.store(key, &answer, Duration::from_secs(300), cache.asked());
    }
    let fill = started.elapsed();
    let weighed = cache.weighed_bytes();
    let after = rss_mib();
    println!("entries: {n}  body: {} bytes each (raw)", sample.len());
    println!(
        "stored body: {:.0} bytes per entry on average (weighed {:.0} MiB)",
        weighed as f64 / n as f64 - 100.0,
        weighed as f64 / 1048576.0
    );
    println!(
        "fill: {:.1} s ({:.0} inserts/s)",
        fill.as_secs_f64(),
        n as f64 / fill.as_secs_f64()
    );
    println!(
        "resident: {before:.0} MiB before, {after:.0} MiB after: {:.0} MiB for the entries, {:.0} bytes per entry",
        after - before,
        (after - before) * 1024.0 * 1024.0 / n as f64
    );
}
