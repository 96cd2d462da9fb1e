//! `stocksync verify-webhook --channel C --secret S [--header 'Name: value']... --body FILE`: check a webhook
//! delivery the way the service does, so a seller can see why one is rejected. Exit 0 and the event when
//! genuine, 1 and the reason when not, 2 on bad usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use channel_core::secrecy::SecretString;
use channel_core::{Channel, ChannelKind, WebhookPayload, WebhookRequest};

/// Arguments of `stocksync verify-webhook`.
#[derive(Debug, clap::Args)]
pub(crate) struct VerifyWebhookArgs {
    /// The channel that sent it (takealot, woocommerce, shopify).
    #[arg(long)]
    channel: String,
    /// The webhook secret, as configured on the channel.
    #[arg(long)]
    secret: String,
    /// A header of the delivery, `Name: value` (repeat for each header).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The file holding the raw body, exactly as received.
    #[arg(long)]
    body: PathBuf,
    /// The URL the delivery was sent to (for signature schemes that sign it).
    #[arg(long)]
    url: Option<String>,
}

fn channel_for(kind: ChannelKind, secret: &str) -> Result<Arc<dyn Channel>, String> {
    match kind {
        ChannelKind::Takealot => {
            let config = channel_takealot::TakealotConfig::new(SecretString::from("unused".to_owned()), 0)
                .webhook_secret(SecretString::from(secret.to_owned()), channel_takealot::SignatureScheme::HexBody);
            Ok(Arc::new(channel_takealot::Takealot::new(config).map_err(|e| e.to_string())?))
        }
        ChannelKind::Woocommerce => {
            let config = channel_woocommerce::WooCommerceConfig::new("https://shop.invalid", "unused", "unused")
                .webhook_secret(secret);
            Ok(Arc::new(channel_woocommerce::WooCommerce::new(config).map_err(|e| e.to_string())?))
        }
        ChannelKind::Shopify => {
            // Verification needs only the webhook secret: the shop and token are placeholders, never used.
            let config =
                channel_shopify::ShopifyConfig::new("verify.myshopify.com", SecretString::from("unused".to_owned()))
                    .webhook_secret(SecretString::from(secret.to_owned()));
            Ok(Arc::new(channel_shopify::Shopify::new(config).map_err(|e| e.to_string())?))
        }
        other => Err(format!("verify-webhook does not support {other} in this build")),
    }
}

fn describe(payload: &WebhookPayload) -> String {
    match payload {
        WebhookPayload::Order(order) => {
            format!("order {} ({:?}, {} line(s))", order.id, order.status, order.lines.len())
        }
        WebhookPayload::Inventory(change) => format!(
            "inventory change of {} to {}",
            change.channel_sku.as_deref().or(change.listing.as_ref().map(|l| l.as_str())).unwrap_or("?"),
            change.quantity.map_or_else(|| "?".to_owned(), |q| q.to_string())
        ),
        WebhookPayload::ListingChanged { listing, .. } => {
            format!("listing changed ({})", listing.as_ref().map_or("?", |l| l.as_str()))
        }
        WebhookPayload::BatchCompleted { batch_id, succeeded } => {
            format!("batch {batch_id} completed (succeeded: {succeeded})")
        }
        WebhookPayload::Uninstalled => {
            "app uninstalled (a claim: serve confirms it with the platform first)".to_owned()
        }
        WebhookPayload::Ping => "ping".to_owned(),
        _ => "other".to_owned(),
    }
}

/// Run `verify-webhook`.
pub(crate) fn run(args: VerifyWebhookArgs) -> ExitCode {
    let usage = |m: String| {
        eprintln!("stocksync verify-webhook: {m}");
        ExitCode::from(2)
    };
    let kind: ChannelKind = match args.channel.parse() {
        Ok(k) => k,
        Err(e) => return usage(format!("{e}")),
    };
    let body = match std::fs::read(&args.body) {
        Ok(b) => b,
        Err(e) => return usage(format!("cannot read {}: {e}", args.body.display())),
    };
    let mut request = WebhookRequest::new(body);
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return usage(format!("--header {h:?}: expected 'Name: value'"));
        };
        if name.trim().is_empty() {
            return usage(format!("--header {h:?}: the name is empty"));
        }
        request = request.header(name.trim(), value.trim());
    }
    if let Some(url) = args.url {
        request = request.with_url(url);
    }
    let channel = match channel_for(kind, &args.secret) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    match channel.verify_webhook(&request) {
        Ok(event) => {
            println!(
                "genuine: topic {:?}, {}{}",
                event.topic,
                describe(&event.payload),
                event.delivery_id.map(|d| format!(", delivery {d}")).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(rejection) => {
            println!("rejected (HTTP {}): {rejection}", rejection.http_status());
            ExitCode::from(1)
        }
    }
}
