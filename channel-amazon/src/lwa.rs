//! Login with Amazon: exchanging the refresh token for access tokens, cached and refreshed once before
//! they expire, however many requests need one at the same time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use channel_core::http::{AuthProvider, Credentials, HeaderName, HttpClient, Method};
use channel_core::secrecy::{ExposeSecret, SecretString};
use channel_core::{Error, ErrorKind, Result};
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::AmazonError;

/// The production token endpoint.
pub(crate) const DEFAULT_TOKEN_URL: &str = "https://api.amazon.com/auth/o2/token";

/// Tokens are refreshed this long before Amazon says they expire (or at half their life if shorter).
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(120);

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct Cached {
    token: SecretString,
    refresh_at: Instant,
}

/// An [`AuthProvider`] that puts a fresh LWA access token in `x-amz-access-token`.
pub(crate) struct LwaTokens {
    http: HttpClient,
    token_url: String,
    client_id: SecretString,
    client_secret: SecretString,
    refresh_token: SecretString,
    cached: Mutex<Option<Cached>>,
    refreshing: tokio::sync::Mutex<()>,
    requests: AtomicU64,
}

impl fmt::Debug for LwaTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LwaTokens")
            .field("token_url", &self.token_url)
            .field("token_requests", &self.token_requests())
            .finish_non_exhaustive()
    }
}

impl LwaTokens {
    /// A token source for these credentials, asking `token_url` (over `http`, which must not carry
    /// credentials of its own: the token request is unauthenticated).
    pub(crate) fn new(
        http: HttpClient,
        token_url: impl Into<String>,
        client_id: SecretString,
        client_secret: SecretString,
        refresh_token: SecretString,
    ) -> Self {
        Self {
            http,
            token_url: token_url.into(),
            client_id,
            client_secret,
            refresh_token,
            cached: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            requests: AtomicU64::new(0),
        }
    }

    /// How many token requests were made so far.
    pub(crate) fn token_requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn valid(&self) -> Option<SecretString> {
        let cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        cached.as_ref().filter(|c| Instant::now() < c.refresh_at).map(|c| c.token.clone())
    }

    /// A valid access token: the cached one, or a new one (one request, whoever else is waiting).
    pub(crate) async fn access_token(&self) -> Result<SecretString> {
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        let _turn = self.refreshing.lock().await;
        // Someone else may have refreshed while we waited.
        if let Some(t) = self.valid() {
            return Ok(t);
        }
        let (token, lifetime) = self.fetch().await?;
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let refresh_at = Instant::now() + lifetime.saturating_sub(margin);
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached { token: token.clone(), refresh_at });
        Ok(token)
    }

    async fn fetch(&self) -> Result<(SecretString, Duration)> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", self.refresh_token.expose_secret()),
            ("client_id", self.client_id.expose_secret()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        let resp = self
            .http
            .request(Method::POST, &self.token_url)
            .without_auth()
            .form(form)
            .operation("lwaToken")
            // Asking for a token twice is harmless.
            .idempotent(true)
            .send_json::<TokenResponse>()
            .await
            .map_err(|e| match e.status() {
                Some(400 | 401 | 403) => Error::from(AmazonError::TokenRefused(e.message().to_owned()))
                    .with_status(e.status().unwrap_or(401)),
                _ if e.kind() == ErrorKind::Validation => {
                    Error::from(AmazonError::TokenRefused(e.message().to_owned()))
                }
                _ => e,
            })?;
        let body = resp.into_body();
        if body.access_token.is_empty() {
            return Err(
                AmazonError::unexpected("the LWA token endpoint", "the token response has no access_token").into()
            );
        }
        Ok((SecretString::from(body.access_token), Duration::from_secs(body.expires_in.unwrap_or(3600).max(1))))
    }
}

#[async_trait]
impl AuthProvider for LwaTokens {
    async fn credentials(&self) -> Result<Credentials> {
        let token = self.access_token().await?;
        Ok(Credentials::new().header(HeaderName::from_static("x-amz-access-token"), token))
    }

    fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
