use channel_core::{ChannelExt, Outcome};
use futures::TryStreamExt;

use super::*;

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn outcomes(out: &[ItemOutcome]) -> Vec<(&str, &Outcome)> {
    out.iter().map(|o| (o.listing.as_str(), &o.outcome)).collect()
}

async fn orders(c: &FakeChannel, since: Timestamp) -> Vec<OrderPage> {
    c.orders_since(&OrderCursor::new(since)).try_collect().await.unwrap()
}

#[test]
fn the_builder_sets_the_capabilities_asked_for() {
    let minimal = FakeChannel::builder(ChannelKind::Takealot).build();
    assert_eq!(minimal.capabilities(), Capabilities::builder().listings_by_id_batch(100).build());
    assert_eq!(minimal.kind(), ChannelKind::Takealot);
    let c = FakeChannel::builder(ChannelKind::Shopify)
        .max_stock_batch(7)
        .listing_page_size(100)
        .webhooks()
        .compare_and_set()
        .keyed_deltas()
        .build();
    let caps = c.capabilities();
    assert_eq!((caps.max_stock_batch, caps.listing_page_size), (7, 100));
    assert!(caps.webhooks && caps.compare_and_set && caps.delta_adjust && caps.idempotent_writes);
    assert!(!caps.price_sync && !caps.tracking_export);
    let given = Capabilities::builder().price_sync(true).max_stock_batch(20);
    let c = FakeChannel::builder(ChannelKind::Amazon).capabilities(given.clone()).compare_and_set().build();
    assert_eq!(c.capabilities(), given.compare_and_set(true).build());
}

#[tokio::test]
async fn a_channel_alone_answers_as_the_fake_account() {
    let c = FakeChannel::builder(ChannelKind::Woocommerce).build();
    let me = c.test_connection().await.unwrap();
    assert_eq!((me.channel, me.account_id.as_str()), (ChannelKind::Woocommerce, DEFAULT_ACCOUNT));
    assert_eq!(me.details.get("region").map(String::as_str), Some("za"));
    assert_eq!(c.secret(), DEFAULT_SECRET);
}

#[tokio::test]
async fn set_stock_writes_listings_records_calls_and_rejects_unknown_ones() {
    let c = FakeChannel::builder(ChannelKind::Shopify).max_stock_batch(3).build();
    c.add("1", "MUG", 3);
    c.add("2", "TEA", 4);
    let out = c
        .set_stock(&[
            StockUpdate::new("1", "MUG", 5),
            StockUpdate::new("9", "NOPE", 1),
            StockUpdate::new("2", "TEA", 0),
        ])
        .await
        .unwrap();
    assert!(out[0].is_applied() && out[2].is_applied());
    assert!(matches!(out[1].outcome, Outcome::Rejected { retryable: false, .. }), "{out:?}");
    assert_eq!((c.quantity("1"), c.quantity("2"), c.quantity("9")), (Some(5), Some(0), None));
    assert_eq!(c.write_calls().len(), 1);
    assert_eq!(c.write_calls()[0].len(), 3);
    assert_eq!(c.all_listings().await.unwrap().len(), 2);
}

#[tokio::test]
async fn expected_quantities_are_checked_only_with_compare_and_set() {
    let cas = FakeChannel::builder(ChannelKind::Shopify).compare_and_set().build();
    cas.add("1", "MUG", 3);
    let stale = cas.set_stock(&[StockUpdate::new("1", "MUG", 5).expecting(2)]).await.unwrap();
    assert_eq!(stale[0].outcome, Outcome::Stale { actual: Some(3) });
    assert_eq!(cas.quantity("1"), Some(3));
    assert!(cas.set_stock(&[StockUpdate::new("1", "MUG", 5).expecting(3)]).await.unwrap()[0].is_applied());
    assert_eq!(cas.quantity("1"), Some(5));

    let plain = FakeChannel::builder(ChannelKind::Woocommerce).build();
    plain.add("1", "MUG", 3);
    assert!(plain.set_stock(&[StockUpdate::new("1", "MUG", 5).expecting(2)]).await.unwrap()[0].is_applied());
    assert_eq!(plain.quantity("1"), Some(5));
}

#[tokio::test]
#[should_panic(expected = "batches to the channel's maximum")]
async fn a_call_over_the_batch_size_panics() {
    let c = FakeChannel::builder(ChannelKind::Takealot).max_stock_batch(1).build();
    let _ = c.set_stock(&[StockUpdate::new("1", "A", 1), StockUpdate::new("2", "B", 1)]).await;
}

#[tokio::test]
async fn faults_reject_items_or_fail_the_next_call() {
    let c = FakeChannel::builder(ChannelKind::Woocommerce).max_stock_batch(10).build();
    c.add("1", "A", 1);
    c.add("2", "B", 1);
    c.push_fault(Fault::Reject { listing: "2".into(), reason: "offer disabled".into(), retryable: true });
    c.push_fault(Fault::Call(ErrorKind::Transient, "502 bad gateway"));
    c.push_fault(Fault::Reject { listing: "1".into(), reason: "locked".into(), retryable: false });
    let err = c.set_stock(&[StockUpdate::new("1", "A", 5), StockUpdate::new("2", "B", 5)]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!((c.quantity("1"), c.quantity("2")), (Some(1), Some(1)), "a failed call applies nothing");
    // The rejection queued after the call fault applies to the next call; the one before it was used up.
    let out = c.set_stock(&[StockUpdate::new("1", "A", 5), StockUpdate::new("2", "B", 5)]).await.unwrap();
    assert_eq!(
        outcomes(&out),
        [
            ("1", &Outcome::Rejected { reason: "locked".into(), retryable: false }),
            ("2", &Outcome::Applied { quantity: Some(5) }),
        ]
    );
    assert_eq!(c.write_calls().len(), 2, "failed calls are recorded too");
    assert!(c.set_stock(&[StockUpdate::new("1", "A", 5)]).await.unwrap()[0].is_applied(), "faults are used up");
}

#[tokio::test]
async fn keyed_deltas_apply_at_most_once() {
    let c = FakeChannel::builder(ChannelKind::Shopify).max_stock_batch(10).keyed_deltas().build();
    c.add("1", "A", 10);
    let first = c
        .adjust_stock(&[
            StockAdjustment::new("1", "A", -2).with_idempotency_key("k1"),
            StockAdjustment::new("9", "Z", 1),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes(&first)[0], ("1", &Outcome::Applied { quantity: Some(8) }));
    assert!(matches!(first[1].outcome, Outcome::Rejected { .. }));
    let again = c
        .adjust_stock(&[
            StockAdjustment::new("1", "A", -2).with_idempotency_key("k1"),
            StockAdjustment::new("1", "A", -1).with_idempotency_key("k2"),
            StockAdjustment::new("1", "A", -1),
        ])
        .await
        .unwrap();
    let quantities: Vec<_> = again.iter().map(|o| o.outcome.clone()).collect();
    assert_eq!(
        quantities,
        [
            Outcome::Applied { quantity: Some(8) },
            Outcome::Applied { quantity: Some(7) },
            Outcome::Applied { quantity: Some(6) },
        ]
    );
    assert_eq!(c.quantity("1"), Some(6));
    assert_eq!(c.adjust_calls().iter().map(Vec::len).collect::<Vec<_>>(), [2, 3]);
}

#[tokio::test]
#[should_panic(expected = "deltas are sent only to channels that take them")]
async fn deltas_to_a_channel_without_them_panic() {
    let c = FakeChannel::builder(ChannelKind::Takealot).build();
    let _ = c.adjust_stock(&[StockAdjustment::new("1", "A", -1)]).await;
}

#[tokio::test]
async fn sales_decrement_stock_and_come_back_from_orders_since() {
    let c = FakeChannel::builder(ChannelKind::Takealot).build();
    c.add("1", "MUG", 10);
    c.add_channel_held("2", "MUG-FBA", 4);
    assert_eq!(c.listings_now()[1].fulfilment, Fulfilment::Channel);
    let first = c.sell("o1", "1", 3, at("2026-01-01T10:00:00Z"));
    let second = c.sell("o2", "2", 1, at("2026-01-01T11:00:00Z"));
    assert_eq!((c.quantity("1"), c.quantity("2")), (Some(7), Some(3)));
    assert_eq!(first.lines[0].listing.as_ref().map(ListingId::as_str), Some("1"));
    assert_eq!((first.lines[0].channel_sku.as_str(), first.lines[0].quantity), ("MUG", 3));
    assert_eq!(c.orders(), [first.clone(), second.clone()]);

    let all = orders(&c, at("2026-01-01T00:00:00Z")).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].orders, [first, second.clone()]);
    assert_eq!(all[0].next.since, at("2026-01-01T11:00:00Z"));
    let later = orders(&c, at("2026-01-01T10:30:00Z")).await;
    assert_eq!(later[0].orders, [second]);
    let none = orders(&c, at("2026-02-01T00:00:00Z")).await;
    assert!(none[0].orders.is_empty());
    assert_eq!(none[0].next.since, at("2026-02-01T00:00:00Z"), "an empty page keeps the cursor");
}

#[test]
fn set_quantity_changes_stock_behind_the_engines_back() {
    let c = FakeChannel::builder(ChannelKind::Takealot).build();
    c.add("1", "MUG", 10);
    c.set_quantity("1", 40);
    c.set_quantity("nope", 1);
    assert_eq!(c.quantity("1"), Some(40));
    assert_eq!(c.listings_now().len(), 1);
}

#[test]
fn clones_share_one_store() {
    let c = FakeChannel::builder(ChannelKind::Takealot).build();
    let other = c.clone();
    other.add("1", "MUG", 10);
    assert_eq!(c.quantity("1"), Some(10));
}

#[test]
fn signed_webhooks_are_verified_and_parsed() {
    let c = FakeChannel::builder(ChannelKind::Shopify).webhooks().build();
    c.add("1", "MUG", 10);
    let order = c.sell("o1", "1", 1, at("2026-01-01T10:00:00Z"));
    let event = c.verify_webhook(&c.order_webhook("d-1", &order)).unwrap();
    assert_eq!(event, WebhookEvent::new(Some("d-1".into()), "order", WebhookPayload::Order(order)));
    let event = c.verify_webhook(&c.inventory_webhook("d-2", "1", 7)).unwrap();
    let change = InventoryChange::new(Some(ListingId::new("1")), None, Some(7));
    assert_eq!(event, WebhookEvent::new(Some("d-2".into()), "inventory", WebhookPayload::Inventory(change)));
    let ping = WebhookRequest::new("{}").header(SIGNATURE_HEADER, DEFAULT_SECRET);
    assert_eq!(c.verify_webhook(&ping).unwrap().payload, WebhookPayload::Ping);
}

#[test]
fn bad_webhooks_are_rejected() {
    let c = FakeChannel::builder(ChannelKind::Shopify).secret("whsec").build();
    let signed = |body: &str, secret: &str| WebhookRequest::new(body.to_owned()).header(SIGNATURE_HEADER, secret);
    assert_eq!(
        c.verify_webhook(&WebhookRequest::new("{}")),
        Err(WebhookRejection::Unsigned { header: SIGNATURE_HEADER.into() })
    );
    assert_eq!(c.verify_webhook(&signed("{}", DEFAULT_SECRET)), Err(WebhookRejection::BadSignature));
    assert!(matches!(c.verify_webhook(&signed("{not json", "whsec")), Err(WebhookRejection::Malformed(_))));
    assert!(matches!(
        c.verify_webhook(&signed(r#"{"topic": "order", "order": 1}"#, "whsec")),
        Err(WebhookRejection::Malformed(_))
    ));
    assert_eq!(
        c.verify_webhook(&signed(r#"{"topic": "refund"}"#, "whsec")),
        Err(WebhookRejection::UnsupportedTopic("refund".into()))
    );
}

#[tokio::test]
async fn on_a_platform_keys_sign_in_to_accounts() {
    let p = FakePlatform::new();
    p.add_key("k1", "seller-1");
    let good = p.channel(ChannelKind::Takealot, "tk", "k1");
    let me = good.test_connection().await.unwrap();
    assert_eq!(me.account_id, "seller-1");
    assert_eq!(me.display_name.as_deref(), Some("Fake shop"));
    assert_eq!(good.capabilities(), Capabilities::builder().listings_by_id_batch(100).build());
    let bad = p.channel(ChannelKind::Takealot, "tk", "nope");
    let err = bad.test_connection().await.unwrap_err();
    assert_eq!((err.kind(), err.status()), (ErrorKind::Auth, Some(401)));
    assert_eq!(bad.all_listings().await.unwrap_err().kind(), ErrorKind::Auth);
    assert_eq!(bad.set_stock(&[StockUpdate::new("1", "A", 1)]).await.unwrap_err().kind(), ErrorKind::Auth);
    let pages: Vec<Result<OrderPage>> = bad.orders_since(&OrderCursor::new(at("2026-01-01T00:00:00Z"))).collect().await;
    assert_eq!(pages[0].as_ref().unwrap_err().kind(), ErrorKind::Auth);
    assert!(p.write_calls("tk").is_empty(), "a refused call is not recorded");
}

#[tokio::test]
async fn a_revoked_account_is_refused_until_restored() {
    let p = FakePlatform::new();
    p.add_key("k1", "shop-1");
    p.add_key("k2", "shop-1");
    p.set_listings("shop", vec![Listing::new("1", "MUG", 3)]);
    let c = p.channel(ChannelKind::Shopify, "shop", "k1");
    p.revoke("shop-1");
    assert_eq!(c.all_listings().await.unwrap_err().kind(), ErrorKind::Auth);
    assert!(p.channel(ChannelKind::Shopify, "shop", "k2").test_connection().await.is_err(), "every key");
    p.restore("shop-1");
    assert_eq!(c.all_listings().await.unwrap(), [Listing::new("1", "MUG", 3)]);
}

#[tokio::test]
async fn channels_of_one_store_share_its_data_and_sign_webhooks_with_their_key() {
    let p = FakePlatform::new();
    p.add_key("k1", "shop-1");
    p.add_key("w", "woo-1");
    p.set_listings("shop", vec![Listing::new("1", "MUG", 3)]);
    p.set_listings("woo", vec![Listing::new("w1", "MUG", 3)]);
    let one = p.channel(ChannelKind::Shopify, "shop", "k1");
    let two = p.channel(ChannelKind::Shopify, "shop", "k1");
    one.set_stock(&[StockUpdate::new("1", "MUG", 2)]).await.unwrap();
    assert_eq!(two.quantity("1"), Some(2));
    assert_eq!(p.listings("shop")[0].quantity(), Some(2));
    assert_eq!(p.write_calls("shop").len(), 1);
    assert!(p.write_calls("woo").is_empty(), "stores are apart");
    assert_eq!(p.listings("woo")[0].quantity(), Some(3));
    assert!(p.listings("elsewhere").is_empty());
    assert_eq!(one.secret(), "k1");
    let ping = WebhookRequest::new("{}").header(SIGNATURE_HEADER, "k1");
    assert!(one.verify_webhook(&ping).is_ok());
    let wrong = WebhookRequest::new("{}").header(SIGNATURE_HEADER, "w");
    assert_eq!(one.verify_webhook(&wrong), Err(WebhookRejection::BadSignature));
}

#[tokio::test]
async fn get_listings_answers_the_known_ids_once_and_records_the_call() {
    let c = FakeChannel::builder(ChannelKind::Shopify).build();
    c.add("1", "MUG", 3);
    c.add("2", "TEA", 4);
    c.add("3", "BOWL", 5);
    let ids = [ListingId::new("3"), ListingId::new("9"), ListingId::new("1"), ListingId::new("3")];
    let found = c.get_listings(&ids).await.unwrap();
    let mut found: Vec<&str> = found.iter().map(|l| l.id.as_str()).collect();
    found.sort_unstable();
    assert_eq!(found, ["1", "3"]);
    assert!(c.get_listings(&[]).await.unwrap().is_empty());
    assert_eq!(c.get_listings_calls(), [ids.to_vec(), Vec::new()]);
    assert_eq!(c.find_listing(&ListingId::new("2")).await.unwrap().map(|l| l.channel_sku), Some("TEA".to_owned()));

    let p = FakePlatform::new();
    let refused = p.channel(ChannelKind::Shopify, "shop", "nope");
    assert_eq!(refused.get_listings(&ids).await.unwrap_err().kind(), ErrorKind::Auth);
}
