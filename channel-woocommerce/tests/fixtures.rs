//! Decoding the WooCommerce REST v3 documentation examples in `../shared/fixtures/woocommerce`
//! (skipped with a message when that directory is absent).

use std::path::Path;

use channel_core::{OrderStatus, WebhookPayload};
use channel_woocommerce::webhook;
use channel_woocommerce::wire::{BatchResponse, ManageStock, Order, Product};

fn fixture(name: &str) -> Option<Vec<u8>> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/woocommerce").join(name);
    match std::fs::read(&p) {
        Ok(bytes) => Some(bytes),
        Err(_) => {
            println!("skipped: {} not found", p.display());
            None
        }
    }
}

#[test]
fn products_and_variations() {
    let Some(list) = fixture("products_list.json") else { return };
    let products: Vec<Product> = serde_json::from_slice(&list).unwrap();
    assert!(!products.is_empty());
    assert!(products.iter().all(|p| p.id > 0 && !p.kind.is_empty()));
    let Some(one) = fixture("product_retrieve.json") else { return };
    let p: Product = serde_json::from_slice(&one).unwrap();
    assert_eq!(p.manage_stock, ManageStock::No);
    let Some(vars) = fixture("product_variations_list.json") else { return };
    let vars: Vec<Product> = serde_json::from_slice(&vars).unwrap();
    assert!(vars.iter().all(|v| v.manage_stock == ManageStock::No && !v.regular_price.is_empty()));
}

#[test]
fn batch_responses() {
    for name in ["products_batch_response.json", "product_variations_batch_response.json"] {
        let Some(bytes) = fixture(name) else { return };
        let r: BatchResponse = serde_json::from_slice(&bytes).unwrap();
        assert!(!r.update.is_empty(), "{name}");
        assert!(r.update.iter().all(|i| i.id > 0 && i.error.is_none()), "{name}");
    }
}

#[test]
fn orders_map_to_domain_orders() {
    let Some(list) = fixture("orders_list.json") else { return };
    let orders: Vec<Order> = serde_json::from_slice(&list).unwrap();
    assert!(!orders.is_empty());
    let Some(one) = fixture("order_retrieve.json") else { return };
    let WebhookPayload::Order(order) = webhook::parse("order.updated", &one).unwrap() else { panic!() };
    assert_eq!(order.id.as_str(), "727");
    assert_eq!(order.status, OrderStatus::Open);
    let line = order.lines.iter().find(|l| l.channel_sku == "Bar3").unwrap();
    assert_eq!(line.listing.as_ref().map(|l| l.as_str()), Some("22/23"));
    assert_eq!(line.unit_price.map(|p| p.amount.to_string()).as_deref(), Some("12"));
    assert_eq!(order.created_at, "2017-03-22T19:28:02Z".parse::<jiff::Timestamp>().unwrap());
}
