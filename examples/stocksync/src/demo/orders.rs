//! The demo's concurrent orders and what they sold: the figures convergence is judged by.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use channel_testkit::{OrderFulfilment, PlaceOrder};

use super::emulators::Emulators;
use super::{AMAZON_FBA, BUNDLE, CATALOG, FOLLOWERS, fail};

/// What the orders sold, as the channels accepted them.
#[derive(Debug, Default)]
pub(super) struct Sales {
    /// Units of each simple product sold from stocksync's stock (bundles counted as their components).
    sold: BTreeMap<String, i64>,
    /// Orders the channels accepted.
    pub(super) placed: usize,
    /// Orders the channels refused (out of stock there).
    pub(super) refused: usize,
    /// Units Amazon shipped from its own FBA stock: only they change it.
    pub(super) fba_sold: i64,
}

/// The `i`th order of the demo: which store sells what.
fn order(i: usize) -> (&'static str, PlaceOrder) {
    match i % 12 {
        0 => ("takealot", PlaceOrder::new("MUG-RED", 1)),
        1 => ("woo", PlaceOrder::new("MUG-RED", 1)),
        2 => ("woo", PlaceOrder::new("MUG-PAIR", 1)),
        3 => ("takealot", PlaceOrder::new("TEE-M", 1)),
        4 => ("woo", PlaceOrder::new("TEE-S", 1)),
        5 => ("shopify", PlaceOrder::new("MUG-PAIR", 1)),
        6 => ("shopify", PlaceOrder::new("TEE-M", 1)),
        7 => ("amazon", PlaceOrder::new("MUG-RED", 1)),
        8 => ("amazon", PlaceOrder::new(AMAZON_FBA.0, 1).by_channel()),
        9 => ("takealot", PlaceOrder::new("CAP", 1).by_channel()),
        10 => ("ebay", PlaceOrder::new("TEE-M", 1)),
        _ => ("magento", PlaceOrder::new("MUG-PAIR", 1)),
    }
}

/// Place `count` orders on every channel at once, 10 ms apart (the emulators refuse what they cannot
/// sell), and tally what they sold.
pub(super) async fn place_concurrently(emulators: &Arc<Emulators>, count: usize) -> Result<Sales, String> {
    let tasks = (0..count).map(order).enumerate().map(|(i, (store, order))| {
        let emulators = Arc::clone(emulators);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10 * i as u64)).await;
            let sku = order.sku.clone();
            let quantity = order.quantity;
            let channel_held = order.fulfilment == OrderFulfilment::Channel;
            let ok = emulators.place(store, order);
            (store, sku, quantity, channel_held, ok)
        })
    });
    let mut sales = Sales::default();
    for r in futures::future::join_all(tasks).await {
        let (store, sku, quantity, channel_held, ok) = r.map_err(fail)?;
        sales.record(store, &sku, quantity, channel_held, ok);
    }
    Ok(sales)
}

impl Sales {
    /// Count one order's outcome.
    fn record(&mut self, store: &str, sku: &str, quantity: i64, channel_held: bool, ok: bool) {
        if !ok {
            self.refused += 1;
            return;
        }
        self.placed += 1;
        if channel_held {
            if store == "amazon" {
                self.fba_sold += quantity;
            }
            return;
        }
        let parts: Vec<(&str, u32)> = if sku == BUNDLE.0 { BUNDLE.1.to_vec() } else { vec![(sku, 1)] };
        for (component, m) in parts {
            *self.sold.entry(component.to_owned()).or_default() += quantity * i64::from(m);
        }
    }

    fn sold(&self, sku: &str) -> i64 {
        self.sold.get(sku).copied().unwrap_or(0)
    }

    /// The source's stock of a simple product once everything converged: its start less what was sold.
    pub(super) fn expected(&self, sku: &str) -> i64 {
        let start = CATALOG.iter().find(|(s, _)| *s == sku).map_or(0, |(_, q)| *q);
        (start - self.sold(sku)).max(0)
    }

    /// What the other channels should show: the expected stock, or for the bundle, what its scarcest
    /// component allows.
    pub(super) fn target(&self, sku: &str) -> i64 {
        if sku == BUNDLE.0 {
            BUNDLE.1.iter().map(|(c, m)| self.expected(c) / i64::from(*m)).min().unwrap_or(0)
        } else {
            self.expected(sku)
        }
    }

    /// Units sold beyond the stock: the channels' own races (see docs/sync.md).
    pub(super) fn oversold(&self) -> i64 {
        CATALOG.iter().map(|(sku, start)| (self.sold(sku) - start).max(0)).sum()
    }

    /// Every store shows what it should.
    pub(super) fn converged(&self, emulators: &Emulators) -> bool {
        CATALOG.iter().all(|(sku, _)| emulators.stock("takealot", sku) == Some(self.expected(sku)))
            && FOLLOWERS.iter().all(|follower| {
                follower.listings.iter().all(|(sku, _)| emulators.stock(follower.id, sku) == Some(self.target(sku)))
            })
    }
}
