//! Redaction: what may appear in `Debug` output, logs and error messages.
//!
//! Three layers, after smithy-rs and OpenDAL:
//! - header names on a deny-list (or that look like credentials) print as `******`;
//! - query parameters whose names look like credentials (`consumer_secret`, `X-Amz-Signature`, …) or that the
//!   client was told are secret print as `******`, and user info in a URL is dropped;
//! - free text (a platform's error body) has every known secret value scrubbed out before it is kept.

use std::borrow::Cow;
use std::fmt;

use http::HeaderMap;
use url::Url;

/// What redacted text is replaced with.
pub const REDACTED: &str = "******";

/// Header names that always carry credentials or session state.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-shopify-access-token",
    "x-amz-access-token",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-access-token",
    "x-auth-token",
    "x-csrf-token",
    "x-takealot-signature",
    "x-shopify-hmac-sha256",
    "x-wc-webhook-signature",
];

/// Fragments of header or query-parameter names that suggest a credential.
const SECRET_FRAGMENTS: &[&str] =
    &["auth", "token", "secret", "password", "passwd", "signature", "credential", "cookie", "session", "key"];

/// Header names that contain a fragment above but carry no secret.
const PUBLIC_NAMES: &[&str] = &["idempotency-key", "x-idempotency-key", "keep-alive"];

fn looks_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if PUBLIC_NAMES.contains(&lower.as_str()) {
        return false;
    }
    SECRET_HEADERS.contains(&lower.as_str()) || SECRET_FRAGMENTS.iter().any(|f| lower.contains(f))
}

/// Redaction rules of one client: the built-in deny-lists plus the names it was configured with.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// Extra header names (lower case) to treat as secret.
    headers: Vec<String>,
    /// Extra query parameter names (lower case) to treat as secret.
    params: Vec<String>,
}

impl Redactor {
    pub(crate) fn add_header(&mut self, name: &str) {
        let lower = name.to_ascii_lowercase();
        if !self.headers.contains(&lower) {
            self.headers.push(lower);
        }
    }

    pub(crate) fn add_param(&mut self, name: &str) {
        let lower = name.to_ascii_lowercase();
        if !self.params.contains(&lower) {
            self.params.push(lower);
        }
    }

    pub(crate) fn is_secret_header(&self, name: &str) -> bool {
        looks_secret(name) || self.headers.iter().any(|h| h.eq_ignore_ascii_case(name))
    }

    pub(crate) fn is_secret_param(&self, name: &str) -> bool {
        looks_secret(name) || self.params.iter().any(|p| p.eq_ignore_ascii_case(name))
    }

    /// `url` with user info and fragment dropped and secret query values replaced.
    pub(crate) fn url(&self, url: &Url) -> String {
        let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
        if let Some(port) = url.port() {
            out.push(':');
            out.push_str(&port.to_string());
        }
        out.push_str(url.path());
        let mut first = true;
        for (name, value) in url.query_pairs() {
            out.push(if first { '?' } else { '&' });
            first = false;
            out.push_str(&name);
            out.push('=');
            if self.is_secret_param(&name) {
                out.push_str(REDACTED);
            } else {
                out.push_str(&value);
            }
        }
        out
    }

    /// A `Debug`-able view of `headers` with secret values hidden.
    pub(crate) fn headers<'a>(&'a self, headers: &'a HeaderMap) -> RedactedHeaders<'a> {
        RedactedHeaders { redactor: self, headers }
    }
}

/// Headers printed with secret values hidden.
pub(crate) struct RedactedHeaders<'a> {
    redactor: &'a Redactor,
    headers: &'a HeaderMap,
}

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.headers {
            if self.redactor.is_secret_header(name.as_str()) || value.is_sensitive() {
                map.entry(&name.as_str(), &REDACTED);
            } else {
                map.entry(&name.as_str(), &value.to_str().unwrap_or("<binary>"));
            }
        }
        map.finish()
    }
}

/// Replace every occurrence of each secret in `text` (secrets shorter than four bytes are ignored: they
/// would match innocently and cannot be real credentials).
pub(crate) fn scrub<'a>(text: &'a str, secrets: &[String]) -> Cow<'a, str> {
    let mut out = Cow::Borrowed(text);
    for secret in secrets {
        if secret.len() >= 4 && out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
        }
    }
    out
}

/// At most `max` bytes of `text` on a character boundary, with an ellipsis when cut.
pub(crate) fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn secret_header_names() {
        let r = Redactor::default();
        for name in ["Authorization", "COOKIE", "X-Shopify-Access-Token", "x-amz-access-token", "X-Api-Key"] {
            assert!(r.is_secret_header(name), "{name}");
        }
        for name in ["content-type", "Idempotency-Key", "x-ratelimit-remaining", "user-agent"] {
            assert!(!r.is_secret_header(name), "{name}");
        }
        let mut r = Redactor::default();
        r.add_header("X-Partner");
        assert!(r.is_secret_header("x-partner"));
    }

    #[test]
    fn url_drops_userinfo_and_secret_params() {
        let mut r = Redactor::default();
        r.add_param("sig2");
        let url = Url::parse(
            "https://user:pw@shop.example:8443/wp-json/wc/v3/products?page=2&consumer_key=ck_1&consumer_secret=cs_2&X-Amz-Signature=abc&sig2=zz#frag",
        )
        .unwrap();
        let shown = r.url(&url);
        assert_eq!(
            shown,
            "https://shop.example:8443/wp-json/wc/v3/products?page=2&consumer_key=******&consumer_secret=******&X-Amz-Signature=******&sig2=******"
        );
    }

    #[test]
    fn headers_debug_hides_secrets() {
        let r = Redactor::default();
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Key s3cr3t"));
        h.insert("x-custom", {
            let mut v = HeaderValue::from_static("hidden-value");
            v.set_sensitive(true);
            v
        });
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let shown = format!("{:?}", r.headers(&h));
        assert!(!shown.contains("s3cr3t") && !shown.contains("hidden-value"), "{shown}");
        assert!(shown.contains("application/json"), "{shown}");
    }

    #[test]
    fn scrub_and_truncate() {
        let secrets = vec!["tok_123456".to_owned(), "ab".to_owned()];
        assert_eq!(scrub("bad token tok_123456 (ab)", &secrets), "bad token ****** (ab)");
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("hello", 10), "hello");
    }
}
