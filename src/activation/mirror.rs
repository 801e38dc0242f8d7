//! `mirror_uses_count`: when a product opts in, a new activation increments Gumroad's `uses`
//! and a deactivation decrements it, so the seller's dashboard shows machines in use. Sent in
//! the background (the app's answer does not wait on it) and never retried: an increment must
//! not be doubled.

use http::Method;

use crate::budget::Priority;
use crate::state::AppState;
use crate::upstream::{Retry, UpstreamRequest};

/// Which way a seat moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// A new activation: Gumroad's `uses` goes up (an incrementing verify).
    Up,
    /// A deactivation: `uses` goes down.
    Down,
}

/// Mirrors one activation or deactivation of `product`'s license `key` into Gumroad's `uses`,
/// if the product opts in.
pub(super) fn uses(state: &AppState, product: &str, key: &str, direction: Direction) {
    if !state.settings.policy_for(product).mirror_uses_count {
        return;
    }
    let (method, action) = match direction {
        Direction::Up => (Method::POST, "verify"),
        Direction::Down => (Method::PUT, "decrement_uses_count"),
    };
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("product_id", product)
        .append_pair("license_key", key)
        .finish();
    // Bookkeeping, not an answer anyone waits for: spare capacity only.
    let request = UpstreamRequest::gumroad(
        method,
        &["licenses", action],
        Priority::Background,
        Retry::Never,
    )
    .form(body);
    let (upstream, state2, product, key) = (
        state.upstream.clone(),
        state.clone(),
        product.to_owned(),
        key.to_owned(),
    );
    // On the state's tracker: shutdown waits for a mirror in flight rather than cut it off.
    state.tasks.spawn(async move {
        match upstream.send(request).await {
            Ok(r) if r.status.is_success() => crate::licenses::invalidate(&state2, &product, &key),
            Ok(r) => tracing::warn!(
                status = r.status.as_u16(),
                "mirroring uses was refused upstream"
            ),
            Err(e) => tracing::warn!(error = %e, "mirroring uses failed"),
        }
    });
}
