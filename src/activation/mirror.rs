//! `mirror_uses_count`: when a product opts in, a new activation increments Gumroad's `uses`
//! and a deactivation decrements it, so the seller's dashboard shows machines in use. Sent in
//! the background (the app's answer does not wait on it) and never retried: an increment must
//! not be doubled.

use http::Method;

use super::api::License;
use crate::budget::Priority;
use crate::state::AppState;
use crate::upstream::{Retry, UpstreamRequest};

/// Mirrors one activation (`up`) or deactivation into Gumroad's `uses`, if the product opts in.
pub(super) fn uses(state: &AppState, license: &License, up: bool) {
    if !state
        .settings
        .policy_for(&license.product)
        .mirror_uses_count
    {
        return;
    }
    let (method, action) = if up {
        (Method::POST, "verify")
    } else {
        (Method::PUT, "decrement_uses_count")
    };
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("product_id", &license.product)
        .append_pair("license_key", &license.key)
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
        license.product.clone(),
        license.key.clone(),
    );
    tokio::spawn(async move {
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
