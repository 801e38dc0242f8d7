//! Reading the activation API's params (form, JSON or query, like every Gumroad-style route)
//! into checked values: strings, non-empty, bounded, so nothing odd reaches the store or a token.

use gumroad_wire::licenses::ruby_strips;
use gumroad_wire::params::Params;

use crate::error::AppError;

/// Longest license key, product id or fingerprint accepted, in characters (as OpenAPI's
/// `maxLength` counts); real ones are far shorter.
const MAX_ID: usize = 256;
/// Longest machine name or platform label.
const MAX_LABEL: usize = 128;

/// A required string param, trimmed of what Ruby's `strip` removes (ASCII blanks and NUL, the
/// rule license keys follow) and so non-blank by the spec's `NonBlank` pattern.
pub fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, AppError> {
    match p.get(name) {
        None => Err(AppError::BadRequest(format!(
            "The '{name}' parameter is required."
        ))),
        Some(v) => {
            let s = v.as_str().ok_or_else(|| {
                AppError::BadRequest(format!("The '{name}' parameter must be a string."))
            })?;
            let s = s.trim_matches(ruby_strips);
            if s.is_empty() {
                Err(AppError::BadRequest(format!(
                    "The '{name}' parameter is required."
                )))
            } else if s.chars().count() > MAX_ID {
                Err(AppError::BadRequest(format!(
                    "The '{name}' parameter is too long."
                )))
            } else {
                Ok(s)
            }
        }
    }
}

/// The `product_id` and `license_key` every public activation call names, each [`required`].
pub fn license(p: &Params) -> Result<(&str, &str), AppError> {
    Ok((required(p, "product_id")?, required(p, "license_key")?))
}

/// A required string param exactly as sent (not trimmed): fingerprints are hashed as the app
/// sent them, so that it computes the same `fp` claim.
pub fn exact<'a>(p: &'a Params, name: &str) -> Result<&'a str, AppError> {
    required(p, name)?;
    Ok(p.str(name).unwrap_or_default())
}

/// An optional label (machine name, platform), trimmed like [`required`]; empty counts as
/// absent.
pub fn label(p: &Params, name: &str) -> Result<Option<String>, AppError> {
    match p.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => {
            let s = v.as_str().ok_or_else(|| {
                AppError::BadRequest(format!("The '{name}' parameter must be a string."))
            })?;
            let s = s.trim_matches(ruby_strips);
            if s.chars().count() > MAX_LABEL || s.chars().any(char::is_control) {
                return Err(AppError::BadRequest(format!(
                    "The '{name}' parameter must be at most {MAX_LABEL} printable characters."
                )));
            }
            Ok(Some(s.to_owned()).filter(|s| !s.is_empty()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(name: &str, value: &str) -> Params {
        let mut p = Params::default();
        p.insert(name, json!(value));
        p
    }

    /// The spec's `NonBlank` states this rule; Schemathesis (`.ci/schemathesis.sh`) generates
    /// against it, so the two must agree.
    #[test]
    fn required_params_are_trimmed_of_what_ruby_strips_and_no_more() {
        let got = |v: &str| required(&params("k", v), "k").map(str::to_owned);
        assert_eq!(got(" \tKEY\r\n\0").unwrap(), "KEY");
        assert!(matches!(
            got("\0 \u{0B}\u{0C}"),
            Err(AppError::BadRequest(_))
        ));
        // A Unicode space is part of the value, as Ruby keeps it.
        assert_eq!(got("\u{3000}").unwrap(), "\u{3000}");
        // The bound counts characters, as OpenAPI's maxLength does.
        assert!(got(&"é".repeat(MAX_ID)).is_ok());
        assert!(matches!(
            got(&"é".repeat(MAX_ID + 1)),
            Err(AppError::BadRequest(_))
        ));
    }
}
