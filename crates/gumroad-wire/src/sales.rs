//! Gumroad's sales vocabulary: the 200 `success:false` that
//! `GET /v2/sales/{id}` answers for a sale it does not know.

use serde_json::Value;

/// No sale with this id for this seller (answered with HTTP 200, like every Gumroad not-found
/// outside the license endpoints).
pub const SALE_NOT_FOUND: &str = "The sale was not found.";

/// Whether a sale lookup's body is Gumroad's not-found:
/// `{"success":false,"message":"The sale was not found."}`.
pub fn is_sale_not_found(body: &Value) -> bool {
    body.get("success") == Some(&Value::Bool(false))
        && body.get("message").and_then(Value::as_str) == Some(SALE_NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_gumroads_own_not_found_is_one() {
        assert!(is_sale_not_found(
            &json!({"success": false, "message": SALE_NOT_FOUND})
        ));
        for other in [
            json!({"success": false}),
            json!({"success": false, "message": "Something went wrong."}),
            json!({"success": true, "message": SALE_NOT_FOUND}),
            json!(SALE_NOT_FOUND),
            Value::Null,
        ] {
            assert!(!is_sale_not_found(&other), "{other}");
        }
    }
}
