//! Memory of the verify cache itself: inserts N distinct, realistic verify answers (default one
//! million) into the real `AnswerCache` and prints resident memory before and after. The
//! end-to-end figure (the whole server, filled over HTTP) comes from `bench/verify.sh`.
//!
//! cargo bench --bench cache_memory [-- N]
//! cargo bench --bench cache_memory -- --bound MIB   # a full cache's resident size vs its bound

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gumgate::cache::{Answer, AnswerCache, ENTRY_OVERHEAD, Keyer};
use gumgate::clock::Clock;
use gumgate::metrics::Metrics;
use http::{HeaderValue, StatusCode};

/// The allocator the `gumgate` binary ships with, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// Stores answer `i` into `cache`.
fn store(cache: &AnswerCache, keyer: &Keyer, i: u64) {
    let answer = Answer {
        status: StatusCode::OK,
        content_type: Some(HeaderValue::from_static("application/json; charset=utf-8")),
        body: Bytes::from(body(i)),
    };
    let key = keyer.verify("", "9Y2u8Dy4AWioyNrmNROrFA==", &license_key(i));
    cache.store(key, &answer, Duration::from_secs(300), cache.asked());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `--bound MIB`: fill a cache bounded to MIB with twice what fits, then compare what it
    // holds resident with the bound (`cache.max_bytes` honesty). Otherwise: N entries
    // (default one million) in an unbounded cache, bytes per entry.
    if let Some(at) = args.iter().position(|a| a == "--bound") {
        let mib: u64 = args
            .get(at + 1)
            .and_then(|a| a.parse().ok())
            .expect("--bound MIB");
        return bounded(mib);
    }
    let n: u64 = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let cache = AnswerCache::new(
        "verify",
        1 << 40,
        Duration::from_secs(72 * 3600),
        Clock::system(),
        Arc::new(Metrics::new()),
    );
    let keyer = Keyer::random();
    let sample = body(1);
    let before = rss_mib();
    let started = Instant::now();
    for i in 0..n {
        store(&cache, &keyer, i);
    }
    let fill = started.elapsed();
    let weighed = cache.weighed_bytes();
    let after = rss_mib();
    println!("entries: {n}  body: {} bytes each (raw)", sample.len());
    println!(
        "packed answer: {:.0} bytes per entry on average (weighed {:.0} MiB, overhead {} each)",
        weighed as f64 / n as f64 - ENTRY_OVERHEAD as f64,
        weighed as f64 / 1048576.0,
        ENTRY_OVERHEAD
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
    println!(
        "resident / weighed: {:.3}",
        (after - before) * 1048576.0 / weighed as f64
    );
}

/// A cache bounded to `mib` MiB filled with twice what fits: its resident size against the
/// bound.
fn bounded(mib: u64) {
    let bound = mib << 20;
    let cache = AnswerCache::new(
        "verify",
        bound,
        Duration::from_secs(72 * 3600),
        Clock::system(),
        Arc::new(Metrics::new()),
    );
    let keyer = Keyer::random();
    let before = rss_mib();
    // Each answer weighs about 230 + ENTRY_OVERHEAD bytes: twice the bound's worth.
    let n = 2 * bound / (230 + ENTRY_OVERHEAD);
    for i in 0..n {
        store(&cache, &keyer, i);
        if i % 4096 == 0 {
            cache.run_pending_tasks();
        }
    }
    let weighed = cache.weighed_bytes();
    let after = rss_mib();
    let resident = (after - before) * 1048576.0;
    println!(
        "bound {mib} MiB; {n} answers stored, {} held, weighed {:.1} MiB",
        cache.entry_count(),
        weighed as f64 / 1048576.0
    );
    println!(
        "resident growth {:.1} MiB = {:.3} x the bound",
        resident / 1048576.0,
        resident / bound as f64
    );
}
