//! Secrets out of what is printed: URLs shown in logs, `check-config` and errors.

/// A URL as it may be printed: a userinfo password becomes `***` (and a username that stands
/// alone, as an API token often does), and so does every query param whose name says it holds a
/// credential (`password=`, `sslpassword=`, `token=`, ...). What does not parse as a URL is not
/// shown at all: it could be a connection string with a password in any form.
pub fn redact_url(raw: &str) -> String {
    const MASK: &str = "***";
    let Ok(mut url) = url::Url::parse(raw) else {
        return MASK.to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some(MASK));
    } else if !url.username().is_empty() {
        let _ = url.set_username(MASK);
    }
    let secret_name = |name: &str| {
        let name = name.to_ascii_lowercase();
        ["pass", "pwd", "secret", "token", "key"]
            .iter()
            .any(|s| name.contains(s))
    };
    if url.query_pairs().any(|(k, _)| secret_name(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_name(&k) {
                    MASK.into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        for (raw, shown) in [
            ("https://api.maton.ai/", "https://api.maton.ai/"),
            (
                "https://u:pw@maton.example/",
                "https://u:***@maton.example/",
            ),
            ("https://tok3n@maton.example/", "https://***@maton.example/"),
            ("sqlite://data/gumgate.db", "sqlite://data/gumgate.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            (
                "postgres://app:pw@db/gg?sslmode=require&password=x&sslPassword=y",
                "postgres://app:***@db/gg?sslmode=require&password=***&sslPassword=***",
            ),
            ("host=db password=pw", "***"),
        ] {
            assert_eq!(redact_url(raw), shown, "{raw}");
        }
    }
}
