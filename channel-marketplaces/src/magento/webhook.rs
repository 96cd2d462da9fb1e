//! Webhooks: none. Magento Open Source sends no event notifications, and Adobe Commerce Webhooks are
//! synchronous plugin hooks that expect an `operations` reply (signed with RSA-SHA256 in
//! `x-adobe-commerce-webhook-signature`), not order notifications (`marketplaces.md` §4.7). The adapter
//! polls orders instead ([`Capabilities::webhooks`](channel_core::Capabilities) is `false`), and refuses
//! every delivery.

use channel_core::{WebhookEvent, WebhookRejection, WebhookRequest};

/// Refuses a delivery: the Magento adapter accepts none.
pub fn verify(request: &WebhookRequest) -> Result<WebhookEvent, WebhookRejection> {
    let _ = request;
    Err(WebhookRejection::NotAccepted(
        "magento: orders are polled; Magento delivers no webhooks stocksync accepts".into(),
    ))
}
