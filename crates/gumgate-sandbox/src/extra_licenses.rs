//! The load-test extras of `SandboxConfig::extra_licenses`: one-time licenses computed from
//! their index on demand, so a million of them cost no memory until a verify counts a use.

use gumroad_wire::licenses::same_license_key;
use time::{Duration, macros::datetime};

use super::{
    ids::seeded_id,
    seed::{EXTRA_LICENSE_PREFIX, PRODUCT_ONE_TIME, extra_license_key},
    seed_sales::one_time,
    store::{Sale, Store},
};

/// Buyer numbers of the extras start here, past every seeded sale's (emails, order numbers
/// and purchaser ids derive from it, so they stay distinct).
const FIRST_BUYER: u64 = 100_000;
/// Sale ids are `seeded_id(SALE_TAG | i)`, far from the small tags the seed uses.
const SALE_TAG: u64 = 1 << 40;

/// The index of the extra license `key` names, if it is one of the `store`'s extras.
pub fn index(store: &Store, key: &str) -> Option<u32> {
    let key = key.trim();
    if store.extra_licenses == 0
        || !key
            .get(..EXTRA_LICENSE_PREFIX.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(EXTRA_LICENSE_PREFIX))
    {
        return None;
    }
    let i = u32::from_str_radix(key.get(9..17)?, 16).ok()?;
    (i < store.extra_licenses && same_license_key(&extra_license_key(i), key)).then_some(i)
}

/// Extra license `i`'s sale, shaped like the seeded one-time sales, with its current `uses`.
pub fn sale(store: &Store, i: u32) -> Sale {
    let n = FIRST_BUYER + u64::from(i);
    let created = datetime!(2026-02-01 08:00:00 UTC) + Duration::seconds(i64::from(i) * 7);
    let mut s = one_time(
        &seeded_id(SALE_TAG | u64::from(i)),
        &extra_license_key(i),
        n,
        created,
    );
    if let Some(l) = s.license.as_mut() {
        l.uses = store.extra_uses.get(&i).copied().unwrap_or(0);
    }
    debug_assert_eq!(s.product_id, PRODUCT_ONE_TIME);
    s
}
