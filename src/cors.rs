//! CORS for desktop web views (issue 13): an Electron renderer or a Tauri web view calls the
//! public license API from a `file://` or custom-scheme origin, and its browser engine sends an
//! OPTIONS preflight first. Only the public surface answers one (`/v1/licenses/*`,
//! `/v2/licenses/verify`, the JWKS), for the origins in `server.cors_origins` (none by default:
//! no CORS headers at all). The public API takes no cookies or credentials, so an allowed origin
//! only decides which pages may read the answers.

use std::time::Duration;

use axum::routing::MethodRouter;
use http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::AppError;

/// The layer for `origins` (`*` allows any); `None` when the list is empty. An origin that is no
/// valid header value is an error naming it.
pub fn layer(origins: &[String]) -> Result<Option<CorsLayer>, String> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o)
                    .map_err(|_| format!("server.cors_origins: {o:?} is not a valid origin"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::ACCEPT])
            // What an app reads besides the body: when to retry, and the request id to quote.
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(Duration::from_secs(600)),
    ))
}

/// `route` with an OPTIONS endpoint when CORS is on. The router's method-not-allowed fallback
/// (`app.rs`) replaces each route's own fallback after the CORS layer wrapped it, so a preflight
/// must reach a real endpoint for the layer to see it; the layer answers every preflight it
/// allows, and the endpoint answers the rest as the fallback would (405).
pub fn with_preflight<S: Clone + Send + Sync + 'static>(
    route: MethodRouter<S>,
    cors: Option<&CorsLayer>,
) -> MethodRouter<S> {
    match cors {
        Some(_) => route.options(refused),
        None => route,
    }
}

async fn refused() -> AppError {
    AppError::MethodNotAllowed
}
