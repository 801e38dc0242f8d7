//! The answer a sandbox handler produces: status, extra headers and a body (JSON, none, or
//! text sent as given), kept free of axum types so handlers can be tested without HTTP.

use axum::{
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Extra headers, e.g. `Retry-After`.
    pub headers: Vec<(&'static str, String)>,
    pub body: Payload,
}

/// What follows the headers.
#[derive(Debug, Clone)]
pub enum Payload {
    /// No body at all.
    Empty,
    /// JSON, sent as `application/json; charset=utf-8`.
    Json(Value),
    /// Text sent byte for byte, with its `Content-Type` if any: what an injected fault passes
    /// off as an answer (an HTML page, broken JSON).
    Text {
        content_type: Option<String>,
        text: String,
    },
}

impl Reply {
    /// A JSON answer with `status`.
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            headers: Vec::new(),
            body: Payload::Json(body),
        }
    }

    /// `status` with `text` as the body, exactly as given, and `content_type` when given.
    pub fn text(status: u16, content_type: Option<String>, text: String) -> Self {
        Self {
            body: Payload::Text { content_type, text },
            ..Self::empty(status)
        }
    }

    /// 200 with `body`.
    pub fn ok(body: Value) -> Self {
        Self::json(200, body)
    }

    /// Gumroad's not-found for everything except licenses: HTTP 200 with `success:false`.
    pub fn not_found_200(message: &str) -> Self {
        Self::ok(json!({"success": false, "message": message}))
    }

    /// `{"success":true,"message":...}`, Gumroad's answer to deletes.
    pub fn deleted(what: &str) -> Self {
        Self::ok(
            json!({"success": true, "message": format!("The {what} was deleted successfully.")}),
        )
    }

    /// Gumroad's `error_400`: `{"status":400,"error":...}` (no `success` key).
    pub fn error_400(message: &str) -> Self {
        Self::json(400, json!({"status": 400, "error": message}))
    }

    /// A status with an empty body (Doorkeeper's 401/403 style).
    pub fn empty(status: u16) -> Self {
        Self {
            body: Payload::Empty,
            ..Self::json(status, Value::Null)
        }
    }

    /// Doorkeeper's answer to a token without the needed scope (`edit_products`): it comes
    /// before the controller runs, so the body is empty and the reason is in the header.
    pub fn insufficient_scope() -> Self {
        Self::empty(403).header(
            "www-authenticate",
            "Bearer realm=\"Doorkeeper\", error=\"insufficient_scope\", error_description=\"The \
             request requires higher privileges than provided by the access token.\"",
        )
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Payload::Json(v) => {
                let mut r = Response::new(Body::from(v.to_string()));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                r
            }
            Payload::Text { content_type, text } => {
                let mut r = Response::new(Body::from(text));
                if let Some(v) = content_type.and_then(|ct| HeaderValue::from_str(&ct).ok()) {
                    r.headers_mut().insert(header::CONTENT_TYPE, v);
                }
                r
            }
            Payload::Empty => Response::new(Body::empty()),
        };
        *response.status_mut() = self.status;
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.headers_mut().append(name, v);
            }
        }
        response
    }
}
