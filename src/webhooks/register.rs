//! `gumgate webhooks register | list | unregister`: subscribing the receiver upstream for every
//! resource Gumroad pings about. Registration is idempotent (existing subscriptions are listed
//! first and not duplicated), and the receiver's secret, which is part of the URL Gumroad
//! calls, is never printed.

use serde_json::Value;
use url::Url;

use super::ping::RESOURCES;
use crate::budget::{DenyReason, Priority};
use crate::config::Secret;
use crate::upstream::{Retry, Upstream, UpstreamError, UpstreamRequest};

/// Why a registration step failed.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the public URL cannot carry a path")]
    NotABase,
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Upstream answered, but refused (its status and Gumroad's message).
    #[error("upstream answered {status}: {message}")]
    Refused { status: u16, message: String },
    /// Maton kept throttling (another process spends the same account's budget).
    #[error(
        "Maton kept answering 429 (its rate limit) after {THROTTLE_RETRIES} retries; nothing more was changed, run it again in a minute"
    )]
    Throttled,
}

/// How often a call Maton throttled (its 429, or the budget's pause after one) is tried again,
/// after waiting what Maton asked for: another process (a running server, a second `register`)
/// may be spending the same account's 10 requests a second.
const THROTTLE_RETRIES: u32 = 3;

/// What was done for one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub resource: String,
    pub id: String,
    pub outcome: &'static str,
}

/// The URL Gumroad should call: `{public_url}/webhooks/gumroad/{secret}`.
pub fn receiver_url(public_url: &Url, secret: &Secret) -> Result<Url, RegisterError> {
    let mut url = public_url.clone();
    url.path_segments_mut()
        .map_err(|()| RegisterError::NotABase)?
        .pop_if_empty()
        .extend(["webhooks", "gumroad", secret.expose()]);
    Ok(url)
}

/// A receiver URL with its secret masked, for output.
pub fn masked(url: &str) -> String {
    match url.rsplit_once("/webhooks/gumroad/") {
        Some((base, _)) => format!("{base}/webhooks/gumroad/***"),
        None => url.to_owned(),
    }
}

/// Subscribes `url` to every resource that lacks it, then drops the subscriptions of `retired`
/// URLs (the receiver under a secret being rotated out): pings move to the new secret, and the
/// old one keeps working until its subscriptions are gone.
pub async fn register(
    upstream: &Upstream,
    url: &Url,
    retired: &[Url],
) -> Result<Vec<Line>, RegisterError> {
    let mut lines = Vec::new();
    for resource in RESOURCES {
        let existing = subscriptions(upstream, resource).await?;
        if let Some((id, _)) = existing.iter().find(|(_, u)| u == url.as_str()) {
            lines.push(line(resource, id, "exists"));
        } else {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("resource_name", resource)
                .append_pair("post_url", url.as_str())
                .finish();
            let answer = call(upstream, http::Method::PUT, None, None, body).await?;
            let id = answer["resource_subscription"]["id"]
                .as_str()
                .unwrap_or_default();
            lines.push(line(resource, id, "created"));
        }
        for (id, old) in &existing {
            if retired.iter().any(|r| r.as_str() == old) {
                delete(upstream, id).await?;
                lines.push(line(resource, id, "retired"));
            }
        }
    }
    Ok(lines)
}

async fn delete(upstream: &Upstream, id: &str) -> Result<(), RegisterError> {
    let (method, body) = (http::Method::DELETE, String::new());
    call(upstream, method, Some(id), None, body).await?;
    Ok(())
}

/// Every subscription, with masked URLs.
pub async fn list(upstream: &Upstream) -> Result<Vec<(String, String, String)>, RegisterError> {
    let mut out = Vec::new();
    for resource in RESOURCES {
        for (id, url) in subscriptions(upstream, resource).await? {
            out.push(((*resource).to_owned(), id, masked(&url)));
        }
    }
    Ok(out)
}

/// Deletes the subscriptions that call any of `urls` (the receiver under each secret).
pub async fn unregister(upstream: &Upstream, urls: &[Url]) -> Result<Vec<Line>, RegisterError> {
    let mut lines = Vec::new();
    for resource in RESOURCES {
        for (id, existing) in subscriptions(upstream, resource).await? {
            if urls.iter().any(|u| u.as_str() == existing) {
                delete(upstream, &id).await?;
                lines.push(line(resource, &id, "deleted"));
            }
        }
    }
    Ok(lines)
}

fn line(resource: &str, id: &str, outcome: &'static str) -> Line {
    Line {
        resource: resource.to_owned(),
        id: id.to_owned(),
        outcome,
    }
}

/// `(id, post_url)` of a resource's subscriptions.
async fn subscriptions(
    upstream: &Upstream,
    resource: &str,
) -> Result<Vec<(String, String)>, RegisterError> {
    let query = format!("resource_name={resource}");
    let answer = call(
        upstream,
        http::Method::GET,
        None,
        Some(query),
        String::new(),
    )
    .await?;
    let items = answer["resource_subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    Ok(items
        .iter()
        .map(|s| {
            let field = |k: &str| s[k].as_str().unwrap_or_default().to_owned();
            (field("id"), field("post_url"))
        })
        .collect())
}

async fn call(
    upstream: &Upstream,
    method: http::Method,
    id: Option<&str>,
    query: Option<String>,
    body: String,
) -> Result<Value, RegisterError> {
    let retry = if method == http::Method::GET {
        Retry::Safe
    } else {
        Retry::Never
    };
    let path: Vec<&str> = ["resource_subscriptions"].into_iter().chain(id).collect();
    let mut request = UpstreamRequest::gumroad(method, &path, Priority::Admin, retry);
    request.query = query;
    if !body.is_empty() {
        request = request.form(body);
    }
    let mut retries = 0;
    let answer = loop {
        let wait = match upstream.send(request.clone()).await {
            // The budget took Maton's Retry-After (or its backoff) as a pause: wait it out.
            Ok(answer) if answer.status == http::StatusCode::TOO_MANY_REQUESTS => upstream
                .budget()
                .paused_for()
                .unwrap_or(std::time::Duration::from_secs(1)),
            Err(UpstreamError::Denied(d)) if d.reason != DenyReason::CircuitOpen => d.retry_after,
            Ok(answer) => break answer,
            Err(e) => return Err(e.into()),
        };
        if retries == THROTTLE_RETRIES {
            return Err(RegisterError::Throttled);
        }
        retries += 1;
        tracing::warn!(
            retry = retries,
            wait_secs = wait.as_secs_f64(),
            "Maton throttled the call (429); retrying after the pause it asked for"
        );
        tokio::time::sleep(wait).await;
    };
    let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
    if !answer.status.is_success() || value["success"] == Value::Bool(false) {
        let message = value["message"].as_str().unwrap_or("no message");
        return Err(RegisterError::Refused {
            status: answer.status.as_u16(),
            message: message.to_owned(),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receiver_url_carries_the_secret_and_output_masks_it() {
        let base: Url = "https://licenses.example.com/gate/".parse().unwrap();
        let url = receiver_url(&base, &Secret::new("s3cret-s3cret-s3cret")).unwrap();
        assert_eq!(
            url.as_str(),
            "https://licenses.example.com/gate/webhooks/gumroad/s3cret-s3cret-s3cret"
        );
        assert_eq!(
            masked(url.as_str()),
            "https://licenses.example.com/gate/webhooks/gumroad/***"
        );
    }
}
