//! Reading the activation API's params (form, JSON or query, like every Gumroad-style route)
//! into checked values: strings, non-empty, bounded, so nothing odd reaches the store or a token.

use gumroad_wire::params::Params;

use crate::error::AppError;

/// Longest license key, product id or fingerprint accepted; real ones are far shorter.
const MAX_ID: usize = 256;
/// Longest machine name or platform label.
const MAX_LABEL: usize = 128;

/// A required string param.
pub fn required<'a>(p: &'a Params, name: &str) -> Result<&'a str, AppError> {
    match p.get(name) {
        None => Err(AppError::BadRequest(format!(
            "The '{name}' parameter is required."
        ))),
        Some(v) => {
            let s = v.as_str().ok_or_else(|| {
                AppError::BadRequest(format!("The '{name}' parameter must be a string."))
            })?;
            let s = s.trim();
            if s.is_empty() {
                Err(AppError::BadRequest(format!(
                    "The '{name}' parameter is required."
                )))
            } else if s.len() > MAX_ID {
                Err(AppError::BadRequest(format!(
                    "The '{name}' parameter is too long."
                )))
            } else {
                Ok(s)
            }
        }
    }
}

/// A required string param exactly as sent (not trimmed): fingerprints are hashed as the app
/// sent them, so that it computes the same `fp` claim.
pub fn exact<'a>(p: &'a Params, name: &str) -> Result<&'a str, AppError> {
    required(p, name)?;
    Ok(p.str(name).unwrap_or_default())
}

/// An optional label (machine name, platform), trimmed; empty counts as absent.
pub fn label(p: &Params, name: &str) -> Result<Option<String>, AppError> {
    match p.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => {
            let s = v.as_str().ok_or_else(|| {
                AppError::BadRequest(format!("The '{name}' parameter must be a string."))
            })?;
            let s = s.trim();
            if s.chars().count() > MAX_LABEL || s.chars().any(char::is_control) {
                return Err(AppError::BadRequest(format!(
                    "The '{name}' parameter must be at most {MAX_LABEL} printable characters."
                )));
            }
            Ok(Some(s.to_owned()).filter(|s| !s.is_empty()))
        }
    }
}
