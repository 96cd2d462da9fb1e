//! The request log behind `GET /_sandbox/requests`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// Header names whose values never reach the log.
pub const REDACTED_HEADERS: &[&str] =
    &["authorization", "proxy-authorization", "cookie", "x-api-key", "x-shopify-access-token", "x-amz-access-token"];

/// Query parameters whose values never reach the log.
pub const REDACTED_QUERY_PARAMS: &[&str] =
    &["consumer_key", "consumer_secret", "oauth_signature", "access_token", "refresh_token", "client_secret"];

/// What the log shows instead of a secret.
pub const REDACTED: &str = "******";

/// Longest body kept per logged request; longer bodies are cut (on a character boundary).
pub const MAX_LOGGED_BODY: usize = 64 * 1024;

/// One API request as the emulator saw it (`/_sandbox/` requests are not logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LoggedRequest {
    /// Position in the log, from 1.
    pub seq: u64,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Raw query string with secret parameters redacted, if any.
    pub query: Option<String>,
    /// Request headers (lower-case names) with credentials redacted.
    pub headers: BTreeMap<String, String>,
    /// The request body as text (lossy UTF-8), cut at [`MAX_LOGGED_BODY`].
    pub body: String,
    /// Response status; `None` when the connection was dropped by a fault.
    pub status: Option<u16>,
    /// The injected fault that answered this request, if any (`status`, `delay`, `drop`, `malformed`).
    pub fault: Option<String>,
}

/// A shared, append-only log of API requests.
#[derive(Debug, Clone, Default)]
pub struct RequestLog {
    entries: Arc<Mutex<Vec<LoggedRequest>>>,
}

impl RequestLog {
    /// Appends an entry, numbering it.
    pub fn push(&self, mut entry: LoggedRequest) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entry.seq = entries.len() as u64 + 1;
        entries.push(entry);
    }

    /// A copy of every entry so far.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// Builds a log entry (status and fault unset) from request parts, redacting credentials.
pub(crate) fn entry_for(parts: &axum::http::request::Parts, body: &[u8]) -> LoggedRequest {
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str().to_ascii_lowercase();
            let value = if REDACTED_HEADERS.contains(&name.as_str()) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name, value)
        })
        .collect();
    let query = parts.uri.query().map(redact_query);
    let mut text = String::from_utf8_lossy(body).into_owned();
    // A form body (an OAuth token request) carries its secrets as a query string does.
    let form = parts
        .headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        text = redact_query(&text);
    }
    if text.len() > MAX_LOGGED_BODY {
        let mut cut = MAX_LOGGED_BODY;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    LoggedRequest {
        seq: 0,
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query,
        headers,
        body: text,
        status: None,
        fault: None,
    }
}

/// The query string with the values of [`REDACTED_QUERY_PARAMS`] replaced.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if REDACTED_QUERY_PARAMS.contains(&key) => format!("{key}={REDACTED}"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_in_query_and_headers() {
        assert_eq!(
            redact_query("a=1&consumer_secret=cs_x&oauth_signature=abc"),
            "a=1&consumer_secret=******&oauth_signature=******"
        );
        let request = axum::http::Request::builder()
            .uri("/x?consumer_key=ck_1&page=2")
            .header("Authorization", "Key secret")
            .header("X-Other", "v")
            .body(())
            .unwrap_or_default();
        let (parts, ()) = request.into_parts();
        let entry = entry_for(&parts, b"{}");
        assert_eq!(entry.headers.get("authorization").map(String::as_str), Some(REDACTED));
        assert_eq!(entry.headers.get("x-other").map(String::as_str), Some("v"));
        assert_eq!(entry.query.as_deref(), Some("consumer_key=******&page=2"));
        assert_eq!(entry.body, "{}");
    }

    #[test]
    fn redacts_secrets_in_form_bodies() {
        let request = axum::http::Request::builder()
            .uri("/identity/v1/oauth2/token")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(())
            .unwrap_or_default();
        let (parts, ()) = request.into_parts();
        let entry = entry_for(&parts, b"grant_type=refresh_token&refresh_token=v%5E1.1%23r&client_secret=cs");
        assert_eq!(entry.body, "grant_type=refresh_token&refresh_token=******&client_secret=******");
    }
}
