//! The platform emulators of the demo: started on loopback, seeded with the scenario's listings,
//! described as connections, and asked for their stock. Adding a platform: a field, a line in
//! [`Emulators::all`], its connection, and its listings in [`super::FOLLOWERS`].

use std::time::Duration;

use channel_core::ChannelKind;
use channel_core::rust_decimal::Decimal;
use channel_testkit::amazon::{self as amz_emu, AmazonEmulator};
use channel_testkit::ebay::{self as ebay_emu, EbayEmulator};
use channel_testkit::magento::{self as magento_emu, MagentoEmulator};
use channel_testkit::shopify::{self as shop_emu, ShopifyEmulator};
use channel_testkit::takealot::{self as tk_emu, TakealotEmulator};
use channel_testkit::woocommerce::{self as woo_emu, WooCommerceEmulator};
use channel_testkit::{PlaceOrder, RegisterWebhook, SeedProduct};
use sync_engine::store::{CompanyId, Scope, SyncMode};
use sync_engine::{Credentials, NewConnection};

use super::{AMAZON_FBA, CATALOG, FOLLOWERS, fail};
use crate::sandbox::Running;

/// The running emulators.
pub(super) struct Emulators {
    pub(super) takealot: TakealotEmulator,
    pub(super) woo: WooCommerceEmulator,
    pub(super) shopify: ShopifyEmulator,
    pub(super) amazon: AmazonEmulator,
    pub(super) ebay: EbayEmulator,
    pub(super) magento: MagentoEmulator,
}

impl Emulators {
    /// Start the emulators (Takealot with fast batch processing, Amazon and eBay with their fast presets,
    /// Magento as documented: input limiting, MSI reservations).
    pub(super) async fn start() -> Result<Self, String> {
        let mut tk_config = tk_emu::TakealotConfig::default();
        tk_config.batch_processing_delay = Duration::from_millis(10);
        let takealot = TakealotEmulator::start(tk_config).await.map_err(fail)?;
        let woo = WooCommerceEmulator::start(woo_emu::WooCommerceConfig::default()).await.map_err(fail)?;
        let shopify = ShopifyEmulator::start(shop_emu::ShopifyConfig::default()).await.map_err(fail)?;
        let amazon = AmazonEmulator::start(amz_emu::AmazonConfig::fast()).await.map_err(fail)?;
        let ebay = EbayEmulator::start(ebay_emu::EbayConfig::fast()).await.map_err(fail)?;
        let magento = MagentoEmulator::start(magento_emu::MagentoConfig::default()).await.map_err(fail)?;
        Ok(Self { takealot, woo, shopify, amazon, ebay, magento })
    }

    /// Every store's emulator, Takealot first: (store id, emulator, the secret its webhooks are signed
    /// with, `None` when it sends none and its orders are polled).
    pub(super) fn all(&self) -> Vec<(&'static str, &dyn Running, Option<&str>)> {
        vec![
            ("takealot", &self.takealot, Some(self.takealot.webhook_secret())),
            ("woo", &self.woo, Some(self.woo.webhook_secret())),
            ("shopify", &self.shopify, Some(self.shopify.webhook_secret())),
            ("amazon", &self.amazon, None),
            ("ebay", &self.ebay, None),
            ("magento", &self.magento, None),
        ]
    }

    /// The emulator of `store`.
    fn get(&self, store: &str) -> Option<&dyn Running> {
        self.all().into_iter().find(|(id, _, _)| *id == store).map(|(_, e, _)| e)
    }

    /// Seed each platform with the scenario's listings and starting quantities.
    pub(super) fn seed(&self) -> Result<(), String> {
        for (sku, qty) in CATALOG {
            let mut seed = SeedProduct::new(*sku, *qty, Decimal::from(150));
            if *sku == "CAP" {
                // Takealot also holds CAPs in its own DC: channel-held, never written, never counted.
                seed = seed.with("dc_stock", 50);
            }
            self.takealot.seed_product(seed).map_err(fail)?;
        }
        for follower in FOLLOWERS {
            let emulator = self.get(follower.id).ok_or_else(|| format!("no emulator for {}", follower.id))?;
            for (sku, qty) in follower.listings {
                let seed = SeedProduct::new(*sku, *qty, Decimal::from(follower.price));
                emulator.control().seed_product(seed).map_err(fail)?;
            }
        }
        // Fulfilled by Amazon: channel-held, never written, never counted.
        let fba = SeedProduct::new(AMAZON_FBA.0, AMAZON_FBA.1, Decimal::from(12)).with("fulfilment", "channel");
        self.amazon.seed_product(fba).map_err(fail)?;
        Ok(())
    }

    /// The line naming each emulator's base URL.
    pub(super) fn describe(&self) -> String {
        let urls: Vec<String> = self.all().iter().map(|(_, e, _)| format!("{} {}", e.name(), e.base_url())).collect();
        format!("  emulators: {}", urls.join("  "))
    }

    /// One live connection per emulator, each with the name its errors are reported under; Takealot is
    /// the source of truth. All are the default company's own (a global connection would serve every
    /// company and create no product).
    pub(super) fn connections(&self) -> Vec<(&str, NewConnection)> {
        vec![
            ("takealot", self.takealot_connection().source_of_truth(true)),
            ("woocommerce", self.woo_connection()),
            ("shopify", self.shopify_connection()),
            ("amazon", self.amazon_connection()),
            ("ebay", self.ebay_connection()),
            ("magento", self.magento_connection()),
        ]
        .into_iter()
        .map(|(name, new)| {
            (name, new.with_sync_mode(SyncMode::Live).with_scope(Scope::Client(CompanyId::default_company())))
        })
        .collect()
    }

    fn takealot_connection(&self) -> NewConnection {
        let tk = &self.takealot;
        let credentials = Credentials::new().with("api_key", tk.api_key()).with("webhook_secret", tk.webhook_secret());
        NewConnection::new("takealot", ChannelKind::Takealot, "Takealot", credentials).with_settings(
            serde_json::json!({
                "base_url": tk.base_url(),
                "warehouse_id": tk.warehouse_ids().first().copied().unwrap_or_default().to_string(),
            }),
        )
    }

    fn woo_connection(&self) -> NewConnection {
        let w = &self.woo;
        let credentials = Credentials::new()
            .with("consumer_key", w.consumer_key())
            .with("consumer_secret", w.consumer_secret())
            .with("webhook_secret", w.webhook_secret());
        NewConnection::new("woo", ChannelKind::Woocommerce, "WooCommerce", credentials)
            .with_settings(serde_json::json!({"site": w.base_url()}))
    }

    fn shopify_connection(&self) -> NewConnection {
        let sh = &self.shopify;
        let credentials =
            Credentials::new().with("access_token", sh.access_token()).with("webhook_secret", sh.webhook_secret());
        NewConnection::new("shopify", ChannelKind::Shopify, "Shopify", credentials)
            .with_settings(serde_json::json!({"shop": "demo-shop.myshopify.com", "base_url": sh.base_url()}))
    }

    fn amazon_connection(&self) -> NewConnection {
        let az = &self.amazon;
        let credentials = Credentials::new()
            .with("lwa_client_id", az.client_id())
            .with("lwa_client_secret", az.client_secret())
            .with("refresh_token", az.refresh_token());
        NewConnection::new("amazon", ChannelKind::Amazon, "Amazon", credentials).with_settings(serde_json::json!({
            "seller_id": az.seller_id(),
            "marketplace_id": az.marketplace_id(),
            "base_url": az.base_url(),
            "token_url": az.token_url(),
        }))
    }

    fn ebay_connection(&self) -> NewConnection {
        let e = &self.ebay;
        let credentials = Credentials::new()
            .with("client_id", e.client_id())
            .with("client_secret", e.client_secret())
            .with("refresh_token", e.refresh_token());
        NewConnection::new("ebay", ChannelKind::Ebay, "eBay", credentials).with_settings(serde_json::json!({
            "base_url": e.base_url(),
            "token_url": e.token_url(),
            "identity_url": e.identity_url(),
        }))
    }

    fn magento_connection(&self) -> NewConnection {
        let m = &self.magento;
        let credentials = Credentials::new().with("access_token", m.access_token());
        NewConnection::new("magento", ChannelKind::Magento, "Magento", credentials).with_settings(serde_json::json!({
            "base_url": m.base_url(),
            "store_code": m.store_code(),
            "source_code": m.source_code(),
        }))
    }

    /// Point the webhooks of the platforms that have them at `{base}/webhooks/{store}`.
    pub(super) fn register_webhooks(&self, base: &str) -> Result<(), String> {
        for (store, emulator, secret) in self.all() {
            if let Some(secret) = secret {
                let hook = RegisterWebhook::new(format!("{base}/webhooks/{store}"), secret);
                emulator.control().register_webhook(hook).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// The stores whose orders arrive by polling only (no webhooks).
    pub(super) fn polled(&self) -> Vec<&'static str> {
        self.all().into_iter().filter(|(_, _, secret)| secret.is_none()).map(|(id, _, _)| id).collect()
    }

    /// A store's stock of a SKU, when the store lists it.
    pub(super) fn stock(&self, store: &str, sku: &str) -> Option<i64> {
        self.get(store)?.control().stock(sku).ok().flatten()
    }

    /// Place an order on a store; false when the platform refused it.
    pub(super) fn place(&self, store: &str, order: PlaceOrder) -> bool {
        self.get(store).is_some_and(|e| e.control().place_order(order).is_ok())
    }
}
