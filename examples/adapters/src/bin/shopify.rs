//! List a Shopify store's variants at its location and push one `available` quantity.
//!
//! With no environment set it starts the Shopify emulator in-process, seeds three products and runs
//! against it:
//!
//! ```sh
//! cargo run -p adapter-examples --bin shopify
//! ```
//!
//! Against a real store (careful: it writes a quantity):
//!
//! ```sh
//! SHOPIFY_SHOP=my-shop.myshopify.com SHOPIFY_ACCESS_TOKEN=shpat_… SHOPIFY_SKU=MUG-1 SHOPIFY_QUANTITY=12 \
//!     cargo run -p adapter-examples --bin shopify
//! ```
//!
//! `SHOPIFY_LOCATION_ID` picks the location when the shop has several; `SHOPIFY_API_VERSION` overrides the
//! API version. Without `SHOPIFY_SKU` nothing is written. The write carries the quantity just read as
//! `changeFromQuantity`, so an order placed in between makes it come back stale instead of overwriting.

use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::SecretString;
use channel_shopify::{Shopify, ShopifyConfig};
use channel_testkit::SeedProduct;
use channel_testkit::shopify::{ShopifyConfig as EmulatorConfig, ShopifyEmulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // Keeps the emulator alive for the whole run when there is one.
    let mut emulator = None;
    let (config, sku, quantity) = match (env("SHOPIFY_SHOP"), env("SHOPIFY_ACCESS_TOKEN")) {
        (Some(shop), Some(token)) => {
            let mut config = ShopifyConfig::new(shop, SecretString::from(token));
            if let Some(location) = env("SHOPIFY_LOCATION_ID") {
                config = config.location(location);
            }
            if let Some(version) = env("SHOPIFY_API_VERSION") {
                config = config.api_version(version);
            }
            let quantity = env("SHOPIFY_QUANTITY").map(|q| q.parse()).transpose()?.unwrap_or(0);
            (config, env("SHOPIFY_SKU"), quantity)
        }
        _ => {
            let e = ShopifyEmulator::start(EmulatorConfig::default()).await?;
            for (sku, qty) in [("MUG-1", 10), ("MUG-2", 0), ("TEAPOT", 4)] {
                e.seed_product(SeedProduct::new(sku, qty, Decimal::new(1999, 2)))?;
            }
            println!("started the Shopify emulator at {}", e.base_url());
            let config =
                ShopifyConfig::new("sandbox-shop.myshopify.com", SecretString::from(e.access_token().to_owned()))
                    .base_url(e.base_url());
            emulator = Some(e);
            (config, Some("MUG-1".to_owned()), 12)
        }
    };
    let shop = Shopify::new(config)?;
    adapter_examples::list_and_push(&shop, sku.as_deref().map(|s| (s, quantity)), "SHOPIFY_SKU").await?;
    if let (Some(e), Some(sku)) = (&emulator, &sku) {
        println!("the emulator now holds {:?} available units of {sku}", e.stock(sku)?);
    }
    if let Some(t) = shop.throttle_status() {
        println!(
            "cost bucket: {:.0}/{:.0} points, restoring {:.0}/s",
            t.currently_available, t.maximum_available, t.restore_rate
        );
    }
    Ok(())
}
