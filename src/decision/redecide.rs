//! Re-deciding a license in the background, after a webhook ping or by the reconciler: one
//! upstream re-check from spare budget, then every activation of the license re-decided and
//! recorded (with the audit row and the ping it finishes) in one store transaction.

pub use crate::store::Cause;
use crate::store::{Previous, StoreError};

use super::{Code, decide};
use crate::budget::Priority;
use crate::read_through::Freshness;
use crate::state::AppState;

/// What a re-decision recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redecided {
    pub code: Code,
    /// Each active activation's decision before this one.
    pub previous: Vec<Previous>,
}

impl Redecided {
    /// The activations whose decision this one changed.
    pub fn changed(&self) -> impl Iterator<Item = &Previous> {
        self.previous
            .iter()
            .filter(|p| p.last_code.as_deref() != Some(self.code.as_str()))
    }
}

/// Why a background re-check recorded nothing; both are worth another try later.
#[derive(Debug, thiserror::Error)]
pub enum RecheckError {
    /// Upstream could not be asked (no spare budget, paused, down), or only a stale answer
    /// was to be had: nothing new was learnt.
    #[error("upstream is unavailable for the re-check")]
    Unavailable,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Asks upstream again about one license (background priority, past any cached answer) and
/// records the decision for all its activations.
pub async fn redecide(
    state: &AppState,
    product: &str,
    key: &str,
    cause: Cause<'_>,
) -> Result<Redecided, RecheckError> {
    let license = decide(
        state,
        product,
        key,
        Priority::Background,
        Freshness::Refresh,
    )
    .await;
    if license.code() == Code::UpstreamUnavailable {
        return Err(RecheckError::Unavailable);
    }
    // The re-check has just stored its fresh answer under this product; only the entry keyed
    // without a product (a legacy product's verify) may still hold an older one. The other
    // replicas' answers under the product are older than this one: theirs go.
    if !license.product.is_empty() {
        crate::licenses::invalidate_entry(state, "", key);
    }
    crate::licenses::invalidate_elsewhere(state, &license.product, key);
    Ok(record(state, &license.hash, license.code(), cause).await?)
}

/// Records a decision already known (the reconciler's "this key was rotated away") for every
/// activation of the license, in one transaction.
pub async fn record(
    state: &AppState,
    license_hash: &str,
    code: Code,
    cause: Cause<'_>,
) -> Result<Redecided, StoreError> {
    let now = state.clock.unix_now();
    let good = code == Code::Valid;
    let previous = state
        .store
        .record_redecision(license_hash, code.as_str(), good, cause, now)
        .await?;
    Ok(Redecided { code, previous })
}
