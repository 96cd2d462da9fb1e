//! How a client authenticates: the secrets it puts on each request.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use http::{HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::redact::REDACTED;
use crate::error::{Error, Result};

/// How a client authenticates: one or more of these are given to
/// [`HttpClientBuilder::auth`](super::HttpClientBuilder::auth).
///
/// Credentials are only sent to the client's own origin (scheme, host and port of its base URL); a request
/// to any other origin (a pre-signed upload URL, say) goes without them.
#[derive(Clone)]
#[non_exhaustive]
pub enum Auth {
    /// A header whose whole value is secret: `Authorization: Key …` (Takealot),
    /// `X-Shopify-Access-Token: …` (Shopify), `x-api-key: …` (Veeqo).
    Header {
        /// The header name.
        name: HeaderName,
        /// The header value.
        value: SecretString,
    },
    /// HTTP Basic authentication (WooCommerce over HTTPS: consumer key and secret).
    Basic {
        /// The user name (treated as secret too: for WooCommerce it is the consumer key).
        username: SecretString,
        /// The password.
        password: SecretString,
    },
    /// Secret query parameters (WooCommerce over plain HTTP: `consumer_key`, `consumer_secret`).
    Query(Vec<(String, SecretString)>),
    /// Credentials fetched before each attempt from a provider, for tokens that expire and refresh
    /// (Amazon LWA access tokens, OAuth2 client credentials).
    Provider(Arc<dyn AuthProvider>),
}

impl Auth {
    /// A secret header, e.g. `Auth::header(HeaderName::from_static("x-shopify-access-token"), token)`.
    pub fn header(name: HeaderName, value: SecretString) -> Self {
        Self::Header { name, value }
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &SecretString) -> Self {
        Self::Header {
            name: http::header::AUTHORIZATION,
            value: SecretString::from(format!("Bearer {}", token.expose_secret())),
        }
    }

    /// `Authorization: <scheme> <credential>`, e.g. Takealot's `Authorization: Key <api key>`.
    pub fn authorization(scheme: &str, credential: &SecretString) -> Self {
        Self::Header {
            name: http::header::AUTHORIZATION,
            value: SecretString::from(format!("{scheme} {}", credential.expose_secret())),
        }
    }

    /// HTTP Basic authentication.
    pub fn basic(username: SecretString, password: SecretString) -> Self {
        Self::Basic { username, password }
    }

    /// Secret query parameters appended to every request to the client's origin.
    pub fn query<I, K>(params: I) -> Self
    where
        I: IntoIterator<Item = (K, SecretString)>,
        K: Into<String>,
    {
        Self::Query(params.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// Credentials from a provider, fetched before each attempt.
    pub fn provider(provider: Arc<dyn AuthProvider>) -> Self {
        Self::Provider(provider)
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header { name, .. } => {
                f.debug_struct("Header").field("name", name).field("value", &REDACTED).finish()
            }
            Self::Basic { .. } => {
                f.debug_struct("Basic").field("username", &REDACTED).field("password", &REDACTED).finish()
            }
            Self::Query(params) => f.debug_map().entries(params.iter().map(|(k, _)| (k.as_str(), REDACTED))).finish(),
            Self::Provider(p) => f.debug_tuple("Provider").field(p).finish(),
        }
    }
}

/// A source of credentials that may change over time: it caches a token and refreshes it when it expires.
///
/// [`AuthProvider::credentials`] is called before every attempt (including retries), so it should return a
/// cached token quickly and only go to the network when the token is about to expire. Its `Debug` must not
/// print secrets.
///
/// ```
/// use std::sync::Arc;
/// use channel_core::http::{AuthProvider, RequestSecrets};
/// use channel_core::secrecy::SecretString;
///
/// #[derive(Debug)]
/// struct StaticToken;
///
/// #[async_trait::async_trait]
/// impl AuthProvider for StaticToken {
///     async fn credentials(&self) -> channel_core::Result<RequestSecrets> {
///         Ok(RequestSecrets::new().header(
///             channel_core::http::HeaderName::from_static("x-amz-access-token"),
///             SecretString::from("Atza|…"),
///         ))
///     }
/// }
/// let auth = channel_core::http::Auth::provider(Arc::new(StaticToken));
/// assert!(!format!("{auth:?}").contains("Atza"));
/// ```
#[async_trait]
pub trait AuthProvider: fmt::Debug + Send + Sync {
    /// The credentials to put on the next attempt. An error here fails the request without retrying it
    /// (the provider retries its own token requests).
    async fn credentials(&self) -> Result<RequestSecrets>;

    /// The platform rejected the credentials last returned (HTTP 401): drop any cached token so the next
    /// call to [`AuthProvider::credentials`] fetches a fresh one. The default does nothing.
    fn invalidate(&self) {}
}

/// The secret headers and query parameters of one request, as an [`AuthProvider`] hands them to the
/// transport. (A connection's named secrets, sealed at rest, are `sync_engine::Credentials`.)
#[derive(Clone, Default)]
pub struct RequestSecrets {
    headers: Vec<(HeaderName, SecretString)>,
    query: Vec<(String, SecretString)>,
}

impl RequestSecrets {
    /// No secrets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a secret header.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: SecretString) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Add a secret query parameter.
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: SecretString) -> Self {
        self.query.push((name.into(), value));
        self
    }
}

impl fmt::Debug for RequestSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestSecrets")
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("query", &self.query.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .finish()
    }
}

/// Credentials resolved for one attempt, ready to apply.
#[derive(Default)]
pub(crate) struct Resolved {
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) query: Vec<(String, SecretString)>,
    /// Every secret value in the forms it may appear in text, for scrubbing error bodies.
    pub(crate) secrets: Vec<String>,
}

impl Resolved {
    fn push_header(&mut self, name: &HeaderName, value: &str) -> Result<()> {
        let mut v = HeaderValue::from_str(value).map_err(|e| {
            // The error names no part of the value.
            Error::config(format!("the credential for header {name} is not a valid header value")).with_source(e)
        })?;
        v.set_sensitive(true);
        self.headers.push((name.clone(), v));
        self.remember(value);
        Ok(())
    }

    fn remember(&mut self, secret: &str) {
        self.secrets.push(secret.to_owned());
        // Also the bare credential after a scheme word ("Key abc" → "abc"), and its URL-encoded form.
        if let Some((_, rest)) = secret.split_once(' ') {
            self.secrets.push(rest.to_owned());
        }
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        if encoded != secret {
            self.secrets.push(encoded);
        }
    }

    pub(crate) async fn resolve(auth: &[Auth]) -> Result<Self> {
        let mut out = Self::default();
        for a in auth {
            match a {
                Auth::Header { name, value } => out.push_header(name, value.expose_secret())?,
                Auth::Basic { username, password } => {
                    let raw = format!("{}:{}", username.expose_secret(), password.expose_secret());
                    let encoded = base64::engine::general_purpose::STANDARD.encode(raw.as_bytes());
                    out.push_header(&http::header::AUTHORIZATION, &format!("Basic {encoded}"))?;
                    out.remember(username.expose_secret());
                    out.remember(password.expose_secret());
                }
                Auth::Query(params) => {
                    for (k, v) in params {
                        out.remember(v.expose_secret());
                        out.query.push((k.clone(), v.clone()));
                    }
                }
                Auth::Provider(p) => {
                    let creds = p.credentials().await?;
                    for (name, value) in &creds.headers {
                        out.push_header(name, value.expose_secret())?;
                    }
                    for (k, v) in creds.query {
                        out.remember(v.expose_secret());
                        out.query.push((k, v));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Tell every provider among `auth` that its credentials were rejected.
pub(crate) fn invalidate(auth: &[Auth]) {
    for a in auth {
        if let Auth::Provider(p) = a {
            p.invalidate();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_headers_and_query_and_remembers_secrets() {
        let auth = vec![
            Auth::authorization("Key", &SecretString::from("api-key-123")),
            Auth::basic(SecretString::from("ck_user"), SecretString::from("cs_pass")),
            Auth::query([("consumer_secret", SecretString::from("cs/with space"))]),
        ];
        let r = Resolved::resolve(&auth).await.unwrap();
        assert_eq!(r.headers.len(), 2);
        assert!(r.headers.iter().all(|(_, v)| v.is_sensitive()));
        assert_eq!(r.headers[1].1.to_str().unwrap(), "Basic Y2tfdXNlcjpjc19wYXNz");
        for s in ["Key api-key-123", "api-key-123", "ck_user", "cs_pass", "cs/with space", "cs%2Fwith+space"] {
            assert!(r.secrets.iter().any(|x| x == s), "{s} not remembered: {} kept", r.secrets.len());
        }
        let shown = format!("{auth:?}");
        for s in ["api-key-123", "ck_user", "cs_pass", "cs/with"] {
            assert!(!shown.contains(s), "{shown}");
        }
    }

    #[tokio::test]
    async fn bad_header_value_is_a_config_error_without_the_value() {
        let auth = vec![Auth::bearer(&SecretString::from("line\nbreak-secret"))];
        let err = Resolved::resolve(&auth).await.err().unwrap();
        assert_eq!(err.kind(), crate::ErrorKind::Config);
        assert!(!format!("{err} {err:?}").contains("break-secret"));
    }
}
