//! The license decision: whether a license unlocks the app, and why not. One place answers it
//! for every caller: the activation API (an app waiting, public priority, a cached answer will
//! do), webhook pings and the reconciler (spare budget only, always asking upstream again).
//!
//! - [`rules`]: the pure judgement of what Gumroad answered against the product's policy.
//! - [`decide`]: asks Gumroad through the verify cache and judges the answer.
//! - [`redecide`]: a background re-check that re-decides every activation of the license and
//!   records it in one transaction.
//! - [`grace`]: how long an activation keeps validating while upstream is unavailable.
//! - [`license_of_sale`]: which license a Gumroad sale carries (pings and the reconciler
//!   name sales, not keys).
//! - [`Entitlements`]: what the purchase is (variants, recurrence, subscription end).

mod entitlements;
pub mod grace;
mod redecide;
pub mod rules;
mod sale;

pub use entitlements::Entitlements;
pub use redecide::{Cause, RecheckError, Redecided, record, redecide};
pub use rules::{Code, Decision};
pub use sale::{SaleLookupError, license_of_sale};

use serde_json::Value;

use crate::budget::Priority;
use crate::cache::CacheStatus;
use crate::hashes::license_hash;
use crate::read_through::{Freshness, Served};
use crate::state::AppState;
use rules::{Upstream, judge};

/// A license with its decision.
#[derive(Debug, Clone)]
pub struct License {
    /// The product the license was checked for (trimmed).
    pub product: String,
    pub key: String,
    /// [`license_hash`] of the key: what the store and tokens hold.
    pub hash: String,
    pub decision: Decision,
    /// The Gumroad sale it belongs to, when upstream said (the reconciler re-checks by it).
    pub sale_id: Option<String>,
    /// What the purchase is, when upstream answered with one (features not yet mapped).
    pub entitlements: Option<Entitlements>,
}

impl License {
    pub fn code(&self) -> Code {
        self.decision.code
    }
}

/// Decides one license: refused outright when its product is not served here, else judged on
/// what Gumroad answers to the cached, non-incrementing verify (the cache entry an app's own
/// verify shares), asked at `priority` and, with [`Freshness::Refresh`], upstream even when a
/// fresh answer is cached. A stale answer stands in for an app's verify, but it is no fresh
/// decision: here it means upstream is unavailable. So does anything the verify cache does not
/// take for Gumroad's answer (an HTML page or broken JSON under a 200, say): junk from a proxy
/// must never read as "this license does not exist".
pub async fn decide(
    state: &AppState,
    product: &str,
    key: &str,
    priority: Priority,
    freshness: Freshness,
) -> License {
    let product = product.trim();
    let mut sale_id = None;
    let mut entitlements = None;
    let denied = |code| Decision { code, seats: 0 };
    let decision = if !state.settings.product_allowed(product) {
        denied(Code::ProductNotAllowed)
    } else if !state.settings.key_shape_ok(key) {
        // Gumroad would answer "does not exist": no upstream call for a key of no Gumroad shape.
        denied(Code::NotFound)
    } else {
        let policy = state.settings.policy_for(product);
        let now = state.clock.utc_now();
        match crate::licenses::cached_verify(state, product, key, priority, freshness).await {
            Served::Answer(_, CacheStatus::StaleIfError { .. }) | Served::Failed(_) => {
                judge(Upstream::Unavailable, &policy, now)
            }
            Served::Answer(answer, _) => {
                let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                sale_id = body
                    .pointer("/purchase/id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                entitlements = body
                    .get("purchase")
                    .or_else(|| body.get("imported_customer"))
                    .map(Entitlements::of_purchase);
                let upstream = Upstream::Answered {
                    status: answer.status,
                    body: &body,
                };
                judge(upstream, &policy, now)
            }
        }
    };
    License {
        product: product.to_owned(),
        key: key.to_owned(),
        hash: license_hash(key),
        decision,
        sale_id,
        entitlements,
    }
}
