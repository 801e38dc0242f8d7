//! Request parameters read the way Gumroad (Rails) reads them: the query string and the body
//! (form or JSON) merged, for every method, a GET with a body included.
//!
//! Both the gateway (to find an `access_token`, to read verify params) and the sandbox (to
//! answer like Gumroad) use this one reader, so the two can never disagree on what a request said.

use serde_json::{Map, Value};

/// What a request body is, judged by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// No body at all (or zero bytes).
    Empty,
    /// `application/x-www-form-urlencoded`.
    Form,
    /// `application/json` or any `+json` type, in UTF-8 (no `charset`, or `charset=utf-8`).
    Json,
    /// Anything else, a JSON type declaring another charset included: not read as params.
    Other,
}

/// A body that claimed to be form or JSON but could not be read as params.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamsError {
    #[error("The request body is not valid JSON.")]
    InvalidJson,
    #[error("A JSON request body must be an object.")]
    JsonNotObject,
    #[error("The request body is not valid UTF-8.")]
    InvalidUtf8,
}

impl BodyKind {
    /// Classifies a body from its content type and length.
    pub fn of(content_type: Option<&str>, body: &[u8]) -> Self {
        if body.is_empty() {
            return Self::Empty;
        }
        let Some(ct) = content_type else {
            return Self::Other;
        };
        let mut parts = ct.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if essence == "application/x-www-form-urlencoded" {
            // Percent-encoded ASCII whatever the label; Rails ignores a form's charset too (and
            // Apache HttpClient labels its forms ISO-8859-1 by default).
            Self::Form
        } else if essence == "application/json" || essence.ends_with("+json") {
            // JSON is UTF-8 (RFC 8259 §8.1): a body labelled otherwise would be read one way
            // here and maybe another way upstream, so it is not read at all.
            if parts.all(|p| !declares_other_charset(p)) {
                Self::Json
            } else {
                Self::Other
            }
        } else {
            Self::Other
        }
    }
}

/// Whether one `;` parameter of a content type is a `charset` other than UTF-8.
fn declares_other_charset(param: &str) -> bool {
    let Some((name, value)) = param.split_once('=') else {
        return false;
    };
    name.trim().eq_ignore_ascii_case("charset")
        && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
}

/// The merged parameters of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Map<String, Value>);

impl Params {
    /// Reads the query string and the body. Like Rails, query params win over body params with
    /// the same name (`request_parameters.merge(query_parameters)`).
    pub fn from_request(
        query: Option<&str>,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<Self, ParamsError> {
        let mut map = match BodyKind::of(content_type, body) {
            BodyKind::Form => parse_form(body),
            BodyKind::Json => parse_json_object(body)?,
            BodyKind::Empty | BodyKind::Other => Map::new(),
        };
        if let Some(q) = query {
            for (k, v) in parse_form(q.as_bytes()) {
                map.insert(k, v);
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// The param as a string, when it is one.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn insert(&mut self, key: impl Into<String>, value: Value) {
        self.0.insert(key.into(), value);
    }

    /// Removes a param, keeping the others in their order.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.shift_remove(key)
    }

    /// Removes every param [`names_param`] says is `name`, keeping the others in their order;
    /// returns the value of the one named exactly `name`.
    pub fn strip(&mut self, name: &str) -> Option<Value> {
        strip_named(&mut self.0, name)
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

fn parse_json_object(body: &[u8]) -> Result<Map<String, Value>, ParamsError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParamsError::JsonNotObject),
        Err(_) => Err(ParamsError::InvalidJson),
    }
}

/// Parses `a=1&b[]=2&b[]=3&card[type]=x` into `{"a":"1","b":["2","3"],"card":{"type":"x"}}`,
/// the nesting Rails gives bracketed keys (Gumroad's pings use both forms).
pub fn parse_form(input: &[u8]) -> Map<String, Value> {
    let mut map = Map::new();
    for (key, value) in form_urlencoded::parse(input) {
        insert_bracketed(&mut map, &key, Value::String(value.into_owned()));
    }
    map
}

fn insert_bracketed(map: &mut Map<String, Value>, key: &str, value: Value) {
    match key.split_once('[') {
        Some((head, rest)) if !head.is_empty() && rest.ends_with(']') => {
            let inner = &rest[..rest.len() - 1];
            if inner.is_empty() {
                // `key[]`: append to an array (replacing a scalar of the same name, as Rails does).
                let slot = map.entry(head).or_insert_with(|| Value::Array(Vec::new()));
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(items) = slot {
                    items.push(value);
                }
            } else if !inner.contains(['[', ']']) {
                let slot = map.entry(head).or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(nested) = slot {
                    nested.insert(inner.to_owned(), value);
                }
            } else {
                // Deeper nesting is not something Gumroad's API uses: keep the key literally.
                map.insert(key.to_owned(), value);
            }
        }
        _ => {
            map.insert(key.to_owned(), value);
        }
    }
}

/// Whether a param key could be read as `name` by a server more lenient than Rails: any ASCII
/// case, padded with blanks or control characters, with the bracketed suffixes Rails reads as
/// `name` (`name[]`, `name[x]`) or the stray brackets older Rack drops (`[name]`, `name]`).
/// `ACCESS_TOKEN`, ` access_token`, `access_token%20` and `Access_Token[]` all name
/// `access_token`; `access_tokens` does not.
pub fn names_param(key: &str, name: &str) -> bool {
    let pad = |c: char| c.is_ascii_whitespace() || c.is_ascii_control();
    let key = key.trim_start_matches(|c: char| pad(c) || c == '[' || c == ']');
    let head = key.split(['[', ']']).next().unwrap_or_default();
    head.trim_matches(pad).eq_ignore_ascii_case(name)
}

/// Removes every pair [`names_param`] says is `name` from a form-encoded string (a query or a
/// form body), keeping the other pairs in order. Returns the new string and the first value of
/// a pair named exactly `name`: only that spelling is the param, as Rails reads it.
pub fn strip_form_param(input: &[u8], name: &str) -> (String, Option<String>) {
    // The common case on the hot path: nothing to strip, so nothing to re-encode.
    if !form_names_param(input, name) {
        return (String::from_utf8_lossy(input).into_owned(), None);
    }
    let mut removed = None;
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(input) {
        if k == name {
            removed.get_or_insert_with(|| v.into_owned());
        } else if names_param(&k, name) {
            // Never forwarded, never taken as the param.
        } else {
            out.append_pair(&k, &v);
        }
    }
    (out.finish(), removed)
}

/// Whether any pair of a form-encoded string is one [`names_param`] says is `name`: when none
/// is, [`strip_form_param`] would give the input back unchanged, and a caller holding it as
/// bytes can keep them.
pub fn form_names_param(input: &[u8], name: &str) -> bool {
    // Only the names are decoded, and a name with no escape is read in place: this runs on
    // every request with params, and values are most of a form's bytes.
    input.split(|&b| b == b'&').any(|pair| {
        let raw = pair.split(|&b| b == b'=').next().unwrap_or_default();
        if raw.contains(&b'%') || raw.contains(&b'+') {
            form_urlencoded::parse(raw).any(|(k, _)| names_param(&k, name))
        } else {
            names_param(&String::from_utf8_lossy(raw), name)
        }
    })
}

/// Removes every top-level key [`names_param`] says is `name` from a JSON object body. Returns
/// the new body and the value of the key named exactly `name`, if any.
pub fn strip_json_param(body: &[u8], name: &str) -> Result<(Vec<u8>, Option<Value>), ParamsError> {
    let mut map = parse_json_object(body)?;
    let removed = strip_named(&mut map, name);
    let bytes = serde_json::to_vec(&Value::Object(map)).map_err(|_| ParamsError::InvalidJson)?;
    Ok((bytes, removed))
}

/// Removes every key [`names_param`] says is `name`; returns the value of exactly `name`.
fn strip_named(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    let removed = map.shift_remove(name);
    map.retain(|k, _| !names_param(k, name));
    removed
}

/// Encodes params back into a query string the way Rails would read them again: arrays as
/// `key[]`, objects as `key[sub]`, scalars as their string form.
pub fn to_query_string(map: &Map<String, Value>) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in map {
        match value {
            Value::Array(items) => {
                for item in items {
                    out.append_pair(&format!("{key}[]"), &scalar(item));
                }
            }
            Value::Object(fields) => {
                for (sub, item) in fields {
                    out.append_pair(&format!("{key}[{sub}]"), &scalar(item));
                }
            }
            other => {
                out.append_pair(key, &scalar(other));
            }
        }
    }
    out.finish()
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Gumroad's `increment_uses_count` rule: only the exact string `"false"` or JSON `false` skips
/// the increment; anything else (absent, `"0"`, `"False"`, `"no"`) increments.
pub fn increments_uses(params: &Params) -> bool {
    !matches!(params.get("increment_uses_count"), Some(Value::Bool(false)))
        && params.str("increment_uses_count") != Some("false")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn query_wins_over_body_and_brackets_nest() {
        let p = Params::from_request(
            Some("a=query&ids[]=1&ids[]=2"),
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"a=body&card[type]=paypal&b=x+y",
        )
        .unwrap();
        assert_eq!(p.str("a"), Some("query"));
        assert_eq!(p.str("b"), Some("x y"));
        assert_eq!(p.get("ids"), Some(&json!(["1", "2"])));
        assert_eq!(p.get("card"), Some(&json!({"type": "paypal"})));
    }

    #[test]
    fn json_in_another_charset_is_not_json() {
        let of = |ct| BodyKind::of(Some(ct), b"{}");
        assert_eq!(of("application/json; charset=utf-16"), BodyKind::Other);
        assert_eq!(of("application/json;CHARSET=\"latin1\""), BodyKind::Other);
        assert_eq!(
            of("application/problem+json; charset=utf-32"),
            BodyKind::Other
        );
        assert_eq!(of("application/json"), BodyKind::Json);
        assert_eq!(of("application/json; charset=\"UTF-8\""), BodyKind::Json);
        assert_eq!(of("application/json; profile=x"), BodyKind::Json);
        assert_eq!(
            of("application/x-www-form-urlencoded; charset=ISO-8859-1"),
            BodyKind::Form
        );
    }

    #[test]
    fn json_bodies_keep_their_types() {
        let p = Params::from_request(
            None,
            Some("application/json"),
            br#"{"license_key":5,"increment_uses_count":false}"#,
        )
        .unwrap();
        assert_eq!(p.get("license_key"), Some(&json!(5)));
        assert!(!increments_uses(&p));
    }

    #[test]
    fn bad_json_is_an_error_not_empty_params() {
        assert_eq!(
            Params::from_request(None, Some("application/json"), b"{nope"),
            Err(ParamsError::InvalidJson)
        );
        assert_eq!(
            Params::from_request(None, Some("application/json"), b"[1]"),
            Err(ParamsError::JsonNotObject)
        );
    }

    #[test]
    fn only_exact_false_skips_the_increment() {
        for (input, increments) in [
            ("increment_uses_count=false", false),
            ("increment_uses_count=False", true),
            ("increment_uses_count=0", true),
            ("increment_uses_count=no", true),
            ("", true),
        ] {
            let p = Params::from_request(Some(input), None, b"").unwrap();
            assert_eq!(increments_uses(&p), increments, "{input}");
        }
    }

    #[test]
    fn strip_removes_every_occurrence() {
        let (rest, token) = strip_form_param(
            b"access_token=a&x=1&access_token=b&access_token%5B%5D=c&access_token[k]=d&access_tokens=e",
            "access_token",
        );
        assert_eq!(rest, "x=1&access_tokens=e");
        assert_eq!(token.as_deref(), Some("a"));
        let (body, v) = strip_json_param(br#"{"access_token":"t","k":1}"#, "access_token").unwrap();
        assert_eq!(body, br#"{"k":1}"#);
        assert_eq!(v, Some(json!("t")));
    }

    #[test]
    fn names_are_found_however_they_are_spelled_and_never_in_values() {
        for form in [
            "access_token=a",
            "x=1&access_token",
            "x=1&%61ccess_token=a",
            "x=1&+access_token+=a",
            "x=1&access%5Ftoken%5B%5D=a",
            "&&ACCESS_TOKEN=a&",
        ] {
            assert!(
                form_names_param(form.as_bytes(), "access_token"),
                "{form:?}"
            );
        }
        for form in [
            "",
            "x=access_token",
            "x=1&y=%61ccess_token",
            "access_tokens=a",
            "x=a=access_token",
            "access+token=a",
        ] {
            assert!(
                !form_names_param(form.as_bytes(), "access_token"),
                "{form:?}"
            );
        }
    }

    #[test]
    fn other_cases_and_padding_are_stripped_but_never_taken() {
        for key in [
            "ACCESS_TOKEN",
            "Access_Token",
            "access_token ",
            " access_token",
            "\taccess_token\0",
            "access_token]",
            "[access_token]",
            "ACCESS_TOKEN[]",
        ] {
            assert!(names_param(key, "access_token"), "{key:?}");
        }
        for key in ["access_tokens", "x_access_token", "access token", "token"] {
            assert!(!names_param(key, "access_token"), "{key:?}");
        }
        let (rest, token) = strip_form_param(
            b"ACCESS_TOKEN=a&x=1&access_token%20=b&%5Baccess_token%5D=c",
            "access_token",
        );
        assert_eq!((rest.as_str(), token), ("x=1", None));
        let (body, v) = strip_json_param(
            br#"{"Access_Token":"t"," access_token":"u","k":1}"#,
            "access_token",
        )
        .unwrap();
        assert_eq!((body.as_slice(), v), (br#"{"k":1}"#.as_slice(), None));
    }
}
