//! Which license a Gumroad sale carries. Pings about refunds and subscriptions name sales, and
//! the reconciler remembers sales instead of keys, so both resolve the key upstream
//! (`GET /v2/sales/{id}`), from spare budget only.

use gumroad_wire::sales;
use http::StatusCode;
use serde_json::Value;

use crate::budget::Priority;
use crate::state::AppState;
use crate::upstream::{Retry, UpstreamError, UpstreamRequest};

/// Why a sale could not be resolved this time; worth another try later.
#[derive(Debug, thiserror::Error)]
pub enum SaleLookupError {
    #[error("the sale lookup got no answer: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("the sale lookup answered {0}")]
    Status(StatusCode),
    /// A 200 that is neither a sale nor Gumroad's not-found (a proxy's maintenance page,
    /// broken JSON): an outage, not a "no such sale".
    #[error("the sale lookup answered 200 with something other than Gumroad's answer")]
    NotGumroad,
}

/// The product and license key of one sale. `Ok(None)` is a definite "nothing to resolve"
/// (no such sale for this connection, or a sale without a license key); only Gumroad's own
/// answers say so, anything else under a 200 is an error worth another try.
pub async fn license_of_sale(
    state: &AppState,
    sale_id: &str,
) -> Result<Option<(String, String)>, SaleLookupError> {
    let request = UpstreamRequest::gumroad(
        http::Method::GET,
        &["sales", sale_id],
        Priority::Background,
        Retry::Safe,
    );
    let answer = state.upstream.send(request).await?;
    // A 4xx (other than 429) is a definite "no such sale here". Outages and throttling are
    // worth another try.
    if answer.status.is_client_error() && answer.status != StatusCode::TOO_MANY_REQUESTS {
        return Ok(None);
    }
    if !answer.status.is_success() {
        return Err(SaleLookupError::Status(answer.status));
    }
    let body: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    if sales::is_sale_not_found(&body) {
        return Ok(None);
    }
    let sale = &body["sale"];
    if body["success"] != Value::Bool(true) || !sale.is_object() {
        return Err(SaleLookupError::NotGumroad);
    }
    Ok(sale["license_key"].as_str().map(|key| {
        let product = sale["product_id"].as_str().unwrap_or_default();
        (product.to_owned(), key.to_owned())
    }))
}
