//! `stocksync verify-webhook --channel C --secret-env VAR|--secret-file PATH [--header 'Name: value']...
//! --body FILE`: check a webhook delivery the way the service does, so a seller can see why one is rejected.
//! Exit 0 and the event when genuine, 1 and the reason when not, 2 on bad usage. The secret comes from an
//! environment variable or a file, as everywhere else; `--secret S` still works but is deprecated (a secret on
//! the command line shows in `ps` and the shell's history).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use channel_core::secrecy::{ExposeSecret as _, SecretString};
use channel_core::{Channel, ChannelKind, WebhookPayload, WebhookRequest};

/// Arguments of `stocksync verify-webhook`.
#[derive(Debug, clap::Args)]
#[command(after_help = "The webhook secret is read from --secret-env VAR or --secret-file PATH (exactly one; a \
trailing newline in the file is not part of it). --secret S is deprecated: a secret on the command line is \
visible to every user in `ps` and stays in the shell's history.")]
pub(crate) struct VerifyWebhookArgs {
    /// The channel that sent it (takealot, woocommerce, shopify).
    #[arg(long)]
    channel: String,
    /// The environment variable holding the webhook secret, as configured on the channel.
    #[arg(long, value_name = "VAR")]
    secret_env: Option<String>,
    /// A file holding the webhook secret.
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
    /// Deprecated: the webhook secret itself (visible in `ps`; use --secret-env or --secret-file).
    #[arg(long, value_name = "SECRET", hide = true)]
    secret: Option<String>,
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

fn channel_for(kind: ChannelKind, secret: SecretString) -> Result<Arc<dyn Channel>, String> {
    match kind {
        ChannelKind::Takealot => {
            let config = channel_takealot::TakealotConfig::new(SecretString::from("unused".to_owned()), 0)
                .webhook_secret(secret, channel_takealot::SignatureScheme::HexBody);
            Ok(Arc::new(channel_takealot::Takealot::new(config).map_err(|e| e.to_string())?))
        }
        ChannelKind::Woocommerce => {
            let config = channel_woocommerce::WooCommerceConfig::new("https://shop.invalid", "unused", "unused")
                .webhook_secret(secret.expose_secret());
            Ok(Arc::new(channel_woocommerce::WooCommerce::new(config).map_err(|e| e.to_string())?))
        }
        ChannelKind::Shopify => {
            // Verification needs only the webhook secret: the shop and token are placeholders, never used.
            let config =
                channel_shopify::ShopifyConfig::new("verify.myshopify.com", SecretString::from("unused".to_owned()))
                    .webhook_secret(secret);
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

/// The webhook secret from exactly one of `--secret-env`, `--secret-file` or the deprecated `--secret`.
fn secret(args: &VerifyWebhookArgs) -> Result<SecretString, String> {
    let given = [args.secret_env.is_some(), args.secret_file.is_some(), args.secret.is_some()];
    let secret = match (&args.secret_env, &args.secret_file, &args.secret) {
        _ if given.iter().filter(|g| **g).count() > 1 => {
            return Err("give the secret by one of --secret-env VAR or --secret-file PATH".into());
        }
        (Some(var), _, _) => std::env::var(var).map_err(|_| format!("--secret-env: the variable {var} is not set"))?,
        (_, Some(file), _) => std::fs::read_to_string(file)
            .map_err(|e| format!("--secret-file: cannot read {}: {e}", file.display()))?
            .trim_end_matches(['\n', '\r'])
            .to_owned(),
        (_, _, Some(inline)) => {
            eprintln!(
                "stocksync verify-webhook: warning: --secret is deprecated (the secret shows in `ps`); use \
                 --secret-env VAR or --secret-file PATH"
            );
            inline.clone()
        }
        _ => return Err("the webhook secret is needed: --secret-env VAR or --secret-file PATH".into()),
    };
    if secret.is_empty() {
        return Err("the webhook secret is empty".into());
    }
    Ok(SecretString::from(secret))
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
    let secret = match secret(&args) {
        Ok(s) => s,
        Err(e) => return usage(e),
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
    let channel = match channel_for(kind, secret) {
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
