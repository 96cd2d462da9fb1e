//! List a WooCommerce store's products and variations and push one quantity.
//!
//! With no environment set it starts the WooCommerce emulator in-process, seeds a few products (one with
//! variations) and runs against it:
//!
//! ```sh
//! cargo run -p adapter-examples --bin woocommerce
//! ```
//!
//! Against a real store (careful: it writes a quantity):
//!
//! ```sh
//! WOOCOMMERCE_URL=https://shop.example WOOCOMMERCE_KEY=ck_… WOOCOMMERCE_SECRET=cs_… \
//!     WOOCOMMERCE_SKU=MUG-1 WOOCOMMERCE_QUANTITY=12 cargo run -p adapter-examples --bin woocommerce
//! ```
//!
//! HTTPS stores use HTTP Basic, plain-HTTP (local) stores OAuth 1.0a signatures. Without
//! `WOOCOMMERCE_SKU` nothing is written.

use channel_core::rust_decimal::Decimal;
use channel_testkit::SeedProduct;
use channel_testkit::woocommerce::{WooCommerceConfig as EmulatorConfig, WooCommerceEmulator};
use channel_woocommerce::{WooCommerce, WooCommerceConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // Keeps the emulator alive for the whole run when there is one.
    let mut emulator = None;
    let (config, sku, quantity) = match env("WOOCOMMERCE_URL") {
        Some(url) => {
            let key = env("WOOCOMMERCE_KEY").ok_or("set WOOCOMMERCE_KEY")?;
            let secret = env("WOOCOMMERCE_SECRET").ok_or("set WOOCOMMERCE_SECRET")?;
            let quantity = env("WOOCOMMERCE_QUANTITY").map(|q| q.parse()).transpose()?.unwrap_or(0);
            (WooCommerceConfig::new(url, key, secret), env("WOOCOMMERCE_SKU"), quantity)
        }
        None => {
            let e = WooCommerceEmulator::start(EmulatorConfig::default()).await?;
            e.seed_product(SeedProduct::new("MUG-1", 10, Decimal::from(120)))?;
            e.seed_product(SeedProduct::new("TEE-S", 3, Decimal::from(250)).with("parent_sku", "TEE"))?;
            e.seed_product(SeedProduct::new("TEE-M", 5, Decimal::from(250)).with("parent_sku", "TEE"))?;
            e.seed_product(SeedProduct::new("POSTER", 0, Decimal::from(80)).with("manage_stock", false))?;
            println!("started the WooCommerce emulator at {}", e.base_url());
            let config = WooCommerceConfig::new(e.base_url(), e.consumer_key(), e.consumer_secret());
            emulator = Some(e);
            (config, Some("TEE-M".to_owned()), 12)
        }
    };
    let shop = WooCommerce::new(config)?;
    adapter_examples::list_and_push(&shop, sku.as_deref().map(|s| (s, quantity)), "WOOCOMMERCE_SKU").await?;
    if let (Some(e), Some(sku)) = (&emulator, &sku) {
        println!("the emulator now holds {:?} for {sku}", e.stock(sku)?);
    }
    Ok(())
}
