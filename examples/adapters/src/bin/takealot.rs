//! List a Takealot seller's offers and push one leadtime quantity.
//!
//! With no environment set it starts the Takealot emulator in-process, seeds three offers and runs against
//! it:
//!
//! ```sh
//! cargo run -p adapter-examples --bin takealot
//! ```
//!
//! Against a real seller account (careful: it writes a quantity):
//!
//! ```sh
//! TAKEALOT_API_KEY=… TAKEALOT_WAREHOUSE_ID=28676 TAKEALOT_SKU=MUG-1 TAKEALOT_QUANTITY=12 \
//!     cargo run -p adapter-examples --bin takealot
//! ```
//!
//! `TAKEALOT_BASE_URL` overrides the API's base URL. Without `TAKEALOT_SKU` nothing is written.

use channel_core::rust_decimal::Decimal;
use channel_core::secrecy::SecretString;
use channel_takealot::{Takealot, TakealotConfig};
use channel_testkit::SeedProduct;
use channel_testkit::takealot::{TakealotConfig as EmulatorConfig, TakealotEmulator};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // Keeps the emulator alive for the whole run when there is one.
    let mut emulator = None;
    let (config, sku, quantity) = match env("TAKEALOT_API_KEY") {
        Some(key) => {
            let warehouse: u64 = env("TAKEALOT_WAREHOUSE_ID").ok_or("set TAKEALOT_WAREHOUSE_ID")?.parse()?;
            let mut config = TakealotConfig::new(SecretString::from(key), warehouse);
            if let Some(url) = env("TAKEALOT_BASE_URL") {
                config = config.base_url(url);
            }
            let quantity = env("TAKEALOT_QUANTITY").map(|q| q.parse()).transpose()?.unwrap_or(0);
            (config, env("TAKEALOT_SKU"), quantity)
        }
        None => {
            let e = TakealotEmulator::start(EmulatorConfig::default()).await?;
            for (sku, qty) in [("MUG-1", 10), ("MUG-2", 0), ("TEAPOT", 4)] {
                e.seed_product(SeedProduct::new(sku, qty, Decimal::from(199)).with("dc_stock", 6))?;
            }
            println!("started the Takealot emulator at {}", e.base_url());
            let config = TakealotConfig::new(SecretString::from(e.api_key().to_owned()), e.warehouse_ids()[0])
                .base_url(e.base_url())
                .batch_poll_interval(std::time::Duration::from_millis(50));
            emulator = Some(e);
            (config, Some("MUG-1".to_owned()), 12)
        }
    };
    let takealot = Takealot::new(config)?;
    adapter_examples::list_and_push(&takealot, sku.as_deref().map(|s| (s, quantity)), "TAKEALOT_SKU").await?;
    if let (Some(e), Some(sku)) = (&emulator, &sku) {
        println!("the emulator now holds {:?} units of {sku}", e.stock(sku)?);
    }
    Ok(())
}
