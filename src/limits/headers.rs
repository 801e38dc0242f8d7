//! The answers the limits add: RateLimit fields on everything that passes, and the 429.
//!
//! Field syntax follows draft-ietf-httpapi-ratelimit-headers-11 (May 2026, the latest draft;
//! -07 and earlier used `limit=, remaining=, reset=` instead). `RateLimit-Policy` lists quota
//! policies as `"name";q=<quota>;w=<window seconds>`; `RateLimit` reports the current state
//! as `"name";r=<remaining>;t=<seconds until reset>`.

use std::time::Duration;

use axum::Json;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::json;

use super::limiter::{Admitted, Limit, Refused};
use crate::config::Rate;

/// `RateLimit-Policy` (header names are lower-case on the wire in HTTP/2 and in `http`).
pub(crate) const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub(crate) const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The message of every 429 this module gives.
pub(crate) const TOO_MANY: &str = "Too many requests from this address. Please retry later.";

/// The `RateLimit-Policy` value for every limit; it never changes, so it is built once.
pub(crate) fn policy(verify: Rate, failed: Rate, upstream: Rate) -> HeaderValue {
    let value = format!(
        "{}, {}, {}",
        policy_item(Limit::Verify, verify),
        policy_item(Limit::FailedVerify, failed),
        policy_item(Limit::UpstreamVerify, upstream)
    );
    HeaderValue::try_from(value).expect("policy names and numbers are visible ASCII")
}

/// The `RateLimit-Policy` value of admin-authentication refusals.
pub(crate) fn admin_policy(failed: Rate) -> HeaderValue {
    HeaderValue::try_from(policy_item(Limit::AdminAuth, failed))
        .expect("policy names and numbers are visible ASCII")
}

/// Adds the policy and the remaining verify quota to an answer that passed.
pub(crate) fn annotate(headers: &mut HeaderMap, policy: &HeaderValue, admitted: Admitted) {
    headers.insert(RATELIMIT_POLICY, policy.clone());
    headers.insert(
        RATELIMIT,
        state_item(Limit::Verify, admitted.remaining, admitted.reset),
    );
}

/// The 429 in Gumroad's error shape, with `Retry-After` and the refusing policy's state.
pub(crate) fn too_many_requests(policy: &HeaderValue, refused: Refused) -> Response {
    let body = Json(json!({ "success": false, "message": TOO_MANY }));
    let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(whole_seconds(refused.wait)),
    );
    headers.insert(RATELIMIT_POLICY, policy.clone());
    headers.insert(RATELIMIT, state_item(refused.limit, 0, refused.wait));
    response
}

/// Whole seconds, rounded up and at least 1: a client told "0" would retry at once and be
/// refused again.
pub(crate) fn whole_seconds(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

fn policy_item(limit: Limit, rate: Rate) -> String {
    format!(
        "\"{}\";q={};w={}",
        limit.label(),
        rate.count,
        whole_seconds(rate.period)
    )
}

fn state_item(limit: Limit, remaining: u32, reset: Duration) -> HeaderValue {
    // Built by hand, not with `format!`: this runs on every verify answer (bench/callgrind.sh).
    let mut value = String::with_capacity(40);
    value.push('"');
    value.push_str(limit.label());
    value.push_str("\";r=");
    value.push_str(itoa::Buffer::new().format(remaining));
    value.push_str(";t=");
    value.push_str(itoa::Buffer::new().format(whole_seconds(reset)));
    HeaderValue::from_maybe_shared(Bytes::from(value))
        .expect("policy names and numbers are visible ASCII")
}
