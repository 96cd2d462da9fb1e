//! List an Amazon seller's listings (merchant and FBA) and push one merchant quantity.
//!
//! With no environment set it starts the Amazon SP-API emulator in-process (fast rate preset), seeds a
//! few listings and runs against it:
//!
//! ```sh
//! cargo run -p adapter-examples --bin amazon
//! ```
//!
//! Against a real seller account (careful: it writes a quantity):
//!
//! ```sh
//! AMAZON_SELLER_ID=A3TH9S8BH6GOGM AMAZON_MARKETPLACE_ID=ATVPDKIKX0DER AMAZON_REGION=NA \
//!     AMAZON_LWA_CLIENT_ID=amzn1.application-oa2-client.… AMAZON_LWA_CLIENT_SECRET=… AMAZON_REFRESH_TOKEN='Atzr|…' \
//!     AMAZON_SKU=MUG-1 AMAZON_QUANTITY=12 cargo run -p adapter-examples --bin amazon
//! ```
//!
//! `AMAZON_BASE_URL` points at another endpoint (the SP-API sandbox). Without `AMAZON_SKU` nothing is
//! written.

use std::time::Duration;

use channel_amazon::{Amazon, AmazonConfig, Region};
use channel_core::rust_decimal::Decimal;
use channel_testkit::SeedProduct;
use channel_testkit::amazon::{AmazonConfig as EmulatorConfig, AmazonEmulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut emulator = None;
    let (builder, sku, quantity) = match env("AMAZON_REFRESH_TOKEN") {
        Some(refresh) => {
            let region = match env("AMAZON_REGION").as_deref().unwrap_or("NA") {
                "EU" => Region::Eu,
                "FE" => Region::Fe,
                _ => Region::Na,
            };
            let config = AmazonConfig::new(
                env("AMAZON_SELLER_ID").ok_or("set AMAZON_SELLER_ID")?,
                [env("AMAZON_MARKETPLACE_ID").ok_or("set AMAZON_MARKETPLACE_ID")?],
                region,
                env("AMAZON_LWA_CLIENT_ID").ok_or("set AMAZON_LWA_CLIENT_ID")?,
                env("AMAZON_LWA_CLIENT_SECRET").ok_or("set AMAZON_LWA_CLIENT_SECRET")?,
                refresh,
            );
            let mut builder = Amazon::builder(config);
            if let Some(url) = env("AMAZON_BASE_URL") {
                builder = builder.base_url(url);
            }
            let quantity = env("AMAZON_QUANTITY").map(|q| q.parse()).transpose()?.unwrap_or(0);
            (builder, env("AMAZON_SKU"), quantity)
        }
        None => {
            let e = AmazonEmulator::start(EmulatorConfig::fast()).await?;
            e.seed_product(SeedProduct::new("MUG-1", 10, Decimal::from(12)))?;
            e.seed_product(SeedProduct::new("MUG-2", 0, Decimal::from(12)))?;
            e.seed_product(SeedProduct::new("TEAPOT-FBA", 40, Decimal::from(30)).with("fulfilment", "channel"))?;
            println!("started the Amazon emulator at {}", e.base_url());
            let config = AmazonConfig::new(
                e.seller_id(),
                [e.marketplace_id()],
                Region::Na,
                e.client_id(),
                e.client_secret(),
                e.refresh_token(),
            )
            .orders_settle(e.orders_settle());
            let builder = Amazon::builder(config)
                .base_url(e.base_url())
                .token_url(e.token_url())
                .poll_interval(Duration::from_millis(50));
            emulator = Some(e);
            (builder, Some("MUG-1".to_owned()), 12)
        }
    };
    let amazon = builder.build()?;
    adapter_examples::list_and_push(&amazon, sku.as_deref().map(|s| (s, quantity)), "AMAZON_SKU").await?;
    if let (Some(e), Some(sku)) = (&emulator, &sku) {
        println!("the emulator now holds {:?} for {sku}", e.stock(sku)?);
    }
    Ok(())
}
