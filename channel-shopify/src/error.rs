//! The adapter's errors.

use std::time::Duration;

use channel_core::{Error, ErrorKind};

/// What went wrong talking to Shopify. Converts into [`channel_core::Error`] with the matching kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopifyError {
    /// The transport failed or Shopify answered with an error status (the kind is the transport's). A
    /// call still `THROTTLED` after `max_throttle_retries` waits is `RateLimited` here, with the wait.
    #[error(transparent)]
    Http(#[from] Error),
    /// The configuration is unusable.
    #[error("invalid Shopify configuration: {0}")]
    Config(String),
    /// A response did not have the shape the platform documents.
    #[error("unexpected response from {what}: {detail}")]
    Unexpected {
        /// The operation that answered (`productVariants`, `inventorySetQuantities`, …).
        what: String,
        /// What was wrong with the answer.
        detail: String,
    },
    /// A top-level GraphQL error (`errors[]` without data).
    #[error("GraphQL {code}: {message}")]
    GraphQl {
        /// `extensions.code` (`ACCESS_DENIED`, `MAX_COST_EXCEEDED`, `BAD_REQUEST`, …).
        code: String,
        /// The message.
        message: String,
    },
    /// The shop cannot be used until its owner acts: HTTP 402 Payment Required ("The requested shop is
    /// currently frozen. The shop owner needs to log in to the shop's admin and pay the outstanding
    /// balance", <https://shopify.dev/docs/api/usage/response-codes>) or 423 Locked (a locked shop,
    /// <https://shopify.dev/changelog/admin-api-requests-to-locked-stores-will-return-a-423-status-code-instead-of-420>).
    /// Kind `Auth`: not retryable, and the engine holds the store's writes until someone looks.
    #[error("the shop is unavailable (HTTP {status}): {}", shop_state(*.status))]
    ShopUnavailable {
        /// 402 or 423.
        status: u16,
    },
    /// The store has several locations and none was configured.
    #[error("the shop has {} locations; configure one as location_id: {}", .0.len(), .0.join(", "))]
    SeveralLocations(Vec<String>),
    /// The configured location is not one of the shop's.
    #[error("location {0} does not exist in this shop")]
    UnknownLocation(String),
    /// The app lacks access scopes every sync needs (`read_products` for the listing, `write_inventory`
    /// for stock writes); the merchant must grant them (reinstall or update the app's scopes).
    #[error("the Shopify app lacks required access scopes: {}; grant them to the app in the Shopify admin", .0.join(", "))]
    MissingScopes(Vec<String>),
    /// Part of a shipment could not be fulfilled: fulfillment orders that do not support
    /// `CREATE_FULFILLMENT` now (on hold, scheduled, assigned to a fulfillment service, …) or that
    /// `fulfillmentCreate` refused. The others were fulfilled.
    #[error("order {order}: not fulfilled: {}{}", join(not_fulfilled), fulfilled_note(fulfilled))]
    NotFulfilled {
        /// The order.
        order: String,
        /// The fulfillment orders that were fulfilled (their gids).
        fulfilled: Vec<String>,
        /// The ones that were not, and why.
        not_fulfilled: Vec<Unfulfilled>,
    },
}

/// A fulfillment order a shipment could not fulfil, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unfulfilled {
    /// `gid://shopify/FulfillmentOrder/…`.
    pub fulfillment_order: String,
    /// Its status and supported actions, or Shopify's refusal.
    pub reason: String,
}

impl Unfulfilled {
    pub(crate) fn new(fulfillment_order: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { fulfillment_order: fulfillment_order.into(), reason: reason.into() }
    }
}

impl std::fmt::Display for Unfulfilled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.fulfillment_order, self.reason)
    }
}

fn shop_state(status: u16) -> &'static str {
    if status == 402 {
        "frozen; the shop owner must pay the outstanding balance in the Shopify admin"
    } else {
        "locked; the shop owner must resolve it with Shopify"
    }
}

fn join(list: &[Unfulfilled]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

fn fulfilled_note(fulfilled: &[String]) -> String {
    if fulfilled.is_empty() { String::new() } else { format!("; fulfilled: {}", fulfilled.join(", ")) }
}

impl ShopifyError {
    /// A transport error, read for Shopify's own statuses: 402 (frozen) and 423 (locked) become
    /// [`Self::ShopUnavailable`]; the rest pass through.
    pub(crate) fn from_transport(e: Error) -> Self {
        match e.status() {
            Some(status @ (402 | 423)) => Self::ShopUnavailable { status },
            _ => Self::Http(e),
        }
    }

    /// A response from `what` that did not have the documented shape.
    pub(crate) fn unexpected(what: &str, detail: impl Into<String>) -> Self {
        Self::Unexpected { what: what.to_owned(), detail: detail.into() }
    }

    /// The [`ErrorKind`] the engine acts on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Http(e) => e.kind(),
            Self::GraphQl { code, .. } => match code.as_str() {
                "ACCESS_DENIED" | "UNAUTHORIZED" | "FORBIDDEN" => ErrorKind::Auth,
                "THROTTLED" => ErrorKind::RateLimited,
                "INTERNAL_SERVER_ERROR" | "SERVICE_UNAVAILABLE" => ErrorKind::Transient,
                "NOT_FOUND" => ErrorKind::NotFound,
                _ => ErrorKind::Validation,
            },
            // The shop's owner must act (pay, or have the lock lifted): hold, don't hammer.
            Self::ShopUnavailable { .. } => ErrorKind::Auth,
            // The token works but is not allowed to do the job: the merchant must grant more.
            Self::MissingScopes(_) => ErrorKind::Auth,
            Self::SeveralLocations(_) | Self::UnknownLocation(_) | Self::Config(_) => ErrorKind::Config,
            // The fulfillment orders' state decides; re-read it before trying again.
            Self::NotFulfilled { .. } => ErrorKind::Conflict,
            Self::Unexpected { .. } => ErrorKind::Decode,
        }
    }

    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// How long to wait before trying again, when Shopify said (a call still throttled).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl From<ShopifyError> for Error {
    fn from(e: ShopifyError) -> Self {
        match e {
            ShopifyError::Http(inner) => inner,
            other => Error::new(other.kind(), format!("shopify: {other}")).with_source(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_conversion_keep_the_source() {
        let e = ShopifyError::unexpected("productVariants", "no productVariants");
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert_eq!(e.to_string(), "unexpected response from productVariants: no productVariants");
        let converted = Error::from(e);
        assert_eq!(converted.kind(), ErrorKind::Decode);
        assert!(std::error::Error::source(&converted).is_some_and(|s| s.is::<ShopifyError>()));
        let throttled = ShopifyError::GraphQl { code: "THROTTLED".into(), message: "Throttled".into() };
        assert!(throttled.is_retryable());
        let limited =
            ShopifyError::Http(Error::new(ErrorKind::RateLimited, "x").with_retry_after(Duration::from_secs(2)));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(2)));
        let http = Error::from(limited);
        assert_eq!(http.retry_after(), Some(Duration::from_secs(2)), "the transport's error passes through");
        assert_eq!(ShopifyError::SeveralLocations(vec!["a".into()]).kind(), ErrorKind::Config);
    }
}
