//! The emulator farm: three emulators per company (Takealot, the source of truth; Shopify; WooCommerce),
//! all in this process. An emulator is one shop (its own loopback port, state, request log and webhook
//! queue), so the farm runs `3 × companies` of them.

use channel_core::rust_decimal::Decimal;
use channel_core::{ChannelKind, StoreId};
use channel_testkit::shopify::{ShopifyConfig, ShopifyEmulator};
use channel_testkit::takealot::{TakealotConfig, TakealotEmulator};
use channel_testkit::woocommerce::{WooCommerceConfig, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use jiff::Timestamp;
use serde_json::{Value, json};
use sync_engine::store::{CompanyId, ConnectionRecord, Scope, SyncMode};
use sync_engine::{CredentialCipher, Credentials};

/// The three stores of a company, in this order everywhere (index 0 is the source of truth).
pub(crate) const KINDS: [ChannelKind; 3] = [ChannelKind::Takealot, ChannelKind::Shopify, ChannelKind::Woocommerce];
const SUFFIX: [&str; 3] = ["tk", "shop", "woo"];

/// A company's id.
pub(crate) fn company_id(c: usize) -> CompanyId {
    CompanyId::new(format!("c{c:05}"))
}

/// The store id of company `c`'s store `s`.
pub(crate) fn store_id(c: usize, s: usize) -> StoreId {
    StoreId::new(format!("c{c:05}-{}", SUFFIX[s]))
}

/// Company and store index of a store id (`c00042-shop` → (42, 1)).
pub(crate) fn parse_store(store: &str) -> Option<(usize, usize)> {
    let (company, suffix) = store.strip_prefix('c')?.split_once('-')?;
    Some((company.parse().ok()?, SUFFIX.iter().position(|s| *s == suffix)?))
}

/// SKU `k`.
pub(crate) fn sku(k: usize) -> String {
    format!("SKU-{k:04}")
}

/// One company's emulators.
pub(crate) struct Shops {
    tk: TakealotEmulator,
    shop: ShopifyEmulator,
    woo: WooCommerceEmulator,
}

/// Every company's emulators.
pub(crate) struct Farm {
    companies: Vec<Shops>,
    pub skus: usize,
}

impl Farm {
    /// Start `companies × 3` emulators with the platforms' default limits, each seeded with `skus` SKUs at
    /// `quantity`.
    pub(crate) async fn start(companies: usize, skus: usize, quantity: i64) -> Result<Self, String> {
        let mut all = Vec::with_capacity(companies);
        for c in 0..companies {
            let e = |err: channel_testkit::Error| format!("company {c}: {err}");
            let shops = Shops {
                tk: TakealotEmulator::start(TakealotConfig::default()).await.map_err(e)?,
                shop: ShopifyEmulator::start(ShopifyConfig::default()).await.map_err(e)?,
                woo: WooCommerceEmulator::start(WooCommerceConfig::default()).await.map_err(e)?,
            };
            for k in 0..skus {
                let seed = SeedProduct::new(sku(k), quantity, Decimal::from(100));
                shops.tk.seed_product(seed.clone()).map_err(|err| err.to_string())?;
                shops.shop.seed_product(seed.clone()).map_err(|err| err.to_string())?;
                shops.woo.seed_product(seed).map_err(|err| err.to_string())?;
            }
            all.push(shops);
        }
        Ok(Self { companies: all, skus })
    }

    /// How many companies.
    pub(crate) fn len(&self) -> usize {
        self.companies.len()
    }

    /// Register `{base}/webhooks/{store}` as every store's webhook receiver (every topic).
    pub(crate) fn register_webhooks(&self, base: &str) -> Result<(), String> {
        for (c, shops) in self.companies.iter().enumerate() {
            let hook =
                |s: usize, secret: &str| RegisterWebhook::new(format!("{base}/webhooks/{}", store_id(c, s)), secret);
            shops.tk.register_webhook(hook(0, shops.tk.webhook_secret())).map_err(|e| e.to_string())?;
            shops.shop.register_webhook(hook(1, shops.shop.webhook_secret())).map_err(|e| e.to_string())?;
            shops.woo.register_webhook(hook(2, shops.woo.webhook_secret())).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Merchant stock of a SKU on company `c`'s store `s`.
    pub(crate) fn stock(&self, c: usize, s: usize, sku: &str) -> Option<i64> {
        let shops = &self.companies[c];
        let read = match s {
            0 => shops.tk.stock(sku),
            1 => shops.shop.stock(sku),
            _ => shops.woo.stock(sku),
        };
        read.ok().flatten()
    }

    /// Place an order for one unit of `sku` on company `c`'s store `s`, as a shopper would.
    pub(crate) fn place(&self, c: usize, s: usize, sku: &str) -> Result<(), String> {
        let shops = &self.companies[c];
        let order = PlaceOrder::new(sku, 1);
        let placed = match s {
            0 => shops.tk.place_order(order),
            1 => shops.shop.place_order(order),
            _ => shops.woo.place_order(order),
        };
        placed.map(drop).map_err(|e| format!("order on {}: {e}", store_id(c, s)))
    }

    /// Forget the emulators' request logs (they grow with every request).
    pub(crate) fn clear_logs(&self) {
        for shops in &self.companies {
            shops.tk.clear_requests();
            shops.shop.clear_requests();
            shops.woo.clear_requests();
        }
    }

    /// The settings and credentials of company `c`'s store `s`, as `sync_engine::AdapterFactory` reads
    /// them (`docs/configuration.md`).
    fn settings(&self, c: usize, s: usize) -> (Value, Credentials) {
        let shops = &self.companies[c];
        match s {
            0 => (
                json!({"base_url": shops.tk.base_url(), "merchant_warehouse_id": shops.tk.warehouse_ids()[0]}),
                Credentials::new()
                    .with("api_key", shops.tk.api_key())
                    .with("webhook_secret", shops.tk.webhook_secret()),
            ),
            1 => (
                json!({"base_url": shops.shop.base_url(), "shop_domain": "sandbox-shop.myshopify.com",
                       "location_id": shops.shop.location_id()}),
                Credentials::new()
                    .with("access_token", shops.shop.access_token())
                    .with("webhook_secret", shops.shop.webhook_secret()),
            ),
            _ => (
                json!({"base_url": shops.woo.base_url()}),
                Credentials::new()
                    .with("consumer_key", shops.woo.consumer_key())
                    .with("consumer_secret", shops.woo.consumer_secret())
                    .with("webhook_secret", shops.woo.webhook_secret()),
            ),
        }
    }

    /// Company `c`'s three connections of `scope`, live, Takealot the source of truth, credentials sealed
    /// with `cipher`.
    pub(crate) fn connections(
        &self,
        c: usize,
        scope: &Scope,
        cipher: &CredentialCipher,
        now: Timestamp,
    ) -> Result<Vec<ConnectionRecord>, String> {
        (0..3)
            .map(|s| {
                let store = store_id(c, s);
                let (settings, credentials) = self.settings(c, s);
                let mut record = ConnectionRecord::new(store.clone(), KINDS[s], store.to_string(), scope.clone(), now);
                record.settings = settings;
                record.credentials = Some(cipher.seal(&store, &credentials).map_err(|e| e.to_string())?);
                record.sync_mode = SyncMode::Live;
                record.source_of_truth = s == 0;
                Ok(record)
            })
            .collect()
    }
}
