//! eBay notifications. Not verified in this version: eBay signs Notification API deliveries with ECDSA
//! (`X-EBAY-SIGNATURE`, a public key fetched by `kid`), which needs a key cache this adapter does not have
//! yet, so orders are polled ([`crate::ebay::Ebay`] declares `webhooks: false`) and every delivery is
//! refused as not accepted (never as a bad signature).

use channel_core::WebhookRejection;

/// The header eBay signs notifications in.
pub(crate) const SIGNATURE_HEADER: &str = "x-ebay-signature";

/// Why a delivery is not accepted.
pub(crate) fn not_accepted(has_signature: bool) -> WebhookRejection {
    let what = if has_signature { "a signed eBay notification" } else { "a delivery without X-EBAY-SIGNATURE" };
    WebhookRejection::NotAccepted(format!(
        "{what}: eBay notifications are not verified by this adapter; orders are polled (see docs/ebay.md)"
    ))
}
