//! Integration management against test-double channels.

mod support;

use channel_core::{
    ChannelExt, ChannelKind, ErrorKind, Fulfilment, Listing, ListingId, Sku, StockUpdate, WebhookRejection,
    WebhookRequest,
};
use std::sync::Arc;
use support::*;
use sync_engine::connections::config_details;
use sync_engine::store::*;

use sync_engine::{
    Clock, ConnectionUpdate, Connections, CredentialCipher, Disconnected, Error, NewConnection, StoreExt,
};

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

#[tokio::test]
async fn add_tests_first_and_binds_the_account() {
    let f = fixture();
    f.world.add_key("good", "seller-1");
    let refused = f
        .connections
        .add(NewConnection::new("tk", ChannelKind::Takealot, "Takealot", key("wrong")))
        .await
        .expect_err("bad credentials are refused before anything is stored");
    assert_eq!(refused.kind(), ErrorKind::Auth);
    assert!(f.store.connection(&sid("tk")).await.unwrap().is_none());

    let rec = f
        .connections
        .add(
            NewConnection::new("tk", ChannelKind::Takealot, "Takealot", key("good"))
                .with_settings(serde_json::json!({"seller_id": "1234"})),
        )
        .await
        .unwrap();
    assert_eq!(rec.account.as_ref().unwrap().account_id, "seller-1");
    assert_eq!(rec.health.credentials, CredentialStatus::Valid);
    assert_eq!(rec.health.last_ok_at, Some(sync_engine::testing::t0()));
    let stored = f.store.connection(&sid("tk")).await.unwrap().unwrap();
    let sealed = stored.credentials.as_ref().unwrap();
    assert!(!sealed.as_str().contains("good"), "credentials are sealed at rest");
    assert!(!format!("{stored:?}").contains("good"), "Debug never shows credentials");
    let details = config_details(&stored);
    assert_eq!(details.get("seller_id").map(String::as_str), Some("1234"));
    assert_eq!(details.get("account").map(String::as_str), Some("seller-1"));
    assert_eq!(details.get("region").map(String::as_str), Some("za"));
    let mut shop = stored.clone();
    shop.settings = serde_json::json!({
        "shop_domain": "mugs.myshopify.com", "location_id": 42, "marketplace_ids": ["A1", "A2"], "api_version": "x",
    });
    let details = config_details(&shop);
    assert_eq!(details.get("shop_domain").map(String::as_str), Some("mugs.myshopify.com"));
    assert_eq!(details.get("location_id").map(String::as_str), Some("42"));
    assert_eq!(details.get("marketplace_ids").map(String::as_str), Some("A1,A2"));
    assert!(!details.contains_key("api_version"), "only the settings that say where a store points");
    assert_eq!(f.connections.test(&sid("tk")).await.unwrap().account_id, "seller-1");

    let dup = f.connections.add(NewConnection::new("tk", ChannelKind::Takealot, "again", key("good"))).await;
    assert_eq!(dup.unwrap_err().kind(), ErrorKind::Conflict);
    let same_account = f.connections.add(NewConnection::new("tk2", ChannelKind::Takealot, "twin", key("good"))).await;
    assert!(matches!(same_account, Err(Error::AlreadyExists(m)) if m.contains("seller-1")));
    let bad_id = f.connections.add(NewConnection::new("no spaces", ChannelKind::Shopify, "x", key("good"))).await;
    assert_eq!(bad_id.unwrap_err().kind(), ErrorKind::Validation);
    let audit = f.store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].reason, "connection added");
}

#[tokio::test]
async fn an_auth_failure_flips_health_and_stops_pushes_until_credentials_are_updated() {
    let f = fixture();
    f.world.add_key("k1", "shop-1");
    f.world.set_listings("shop", vec![Listing::new("1", "MUG", 3)]);
    f.connections.add(NewConnection::new("shop", ChannelKind::Shopify, "Shop", key("k1"))).await.unwrap();
    let channel = f.connections.channel(&sid("shop")).await.unwrap();
    channel.set_stock(&[StockUpdate::new("1", "MUG", 2)]).await.unwrap();
    assert_eq!(f.world.write_calls("shop").len(), 1);

    f.world.revoke("shop-1");
    f.clock.advance(jiff::SignedDuration::from_secs(60));
    let err = channel.all_listings().await.expect_err("revoked");
    assert_eq!(err.kind(), ErrorKind::Auth);
    let rec = f.connections.get(&sid("shop")).await.unwrap();
    assert_eq!(rec.health.credentials, CredentialStatus::NeedsReauth, "an auth error from a read flips health");
    assert_eq!(rec.health.last_error.as_ref().unwrap().kind, "auth");
    assert!(!rec.pushes_allowed());

    f.world.restore("shop-1");
    let refused = channel.set_stock(&[StockUpdate::new("1", "MUG", 1)]).await.expect_err("pushes stopped");
    assert_eq!(refused.kind(), ErrorKind::Auth);
    assert_eq!(f.world.write_calls("shop").len(), 1, "nothing reached the platform");
    let fresh = f.connections.channel(&sid("shop")).await.unwrap();
    assert!(fresh.set_stock(&[StockUpdate::new("1", "MUG", 1)]).await.is_err(), "a new handle also refuses");
    assert!(matches!(f.connections.sync_now(&sid("shop"), None).await, Err(Error::NeedsReauth(_))));

    f.world.add_key("k2", "shop-1");
    let rec = f.connections.update_credentials(&sid("shop"), key("k2")).await.unwrap();
    assert_eq!(rec.health.credentials, CredentialStatus::Valid);
    assert!(rec.pushes_allowed());
    let channel = f.connections.channel(&sid("shop")).await.unwrap();
    channel.set_stock(&[StockUpdate::new("1", "MUG", 1)]).await.unwrap();
    assert_eq!(f.world.write_calls("shop").len(), 2);
    f.connections.sync_now(&sid("shop"), Some("cli")).await.unwrap();
    let reqs = f.store.sync_requests().await.unwrap();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].requested_by.as_deref(), Some("cli"));

    // Testing the stored credentials records failures too.
    f.world.revoke("shop-1");
    assert_eq!(f.connections.test(&sid("shop")).await.unwrap_err().kind(), ErrorKind::Auth);
    assert_eq!(f.connections.get(&sid("shop")).await.unwrap().health.credentials, CredentialStatus::NeedsReauth);
}

#[tokio::test]
async fn takealot_stays_bound_to_its_seller_account() {
    let f = fixture();
    f.world.add_key("a1", "seller-A");
    f.world.add_key("a2", "seller-A");
    f.world.add_key("b1", "seller-B");
    f.world.set_listings("tk", vec![Listing::new("offer-1", "MUG", 4)]);
    f.connections.add(NewConnection::new("tk", ChannelKind::Takealot, "Takealot", key("a1"))).await.unwrap();
    let listings = f.world.listings("tk");
    f.connections.observe_listings(&sid("tk"), &listings).await.unwrap();

    let err = f.connections.update_credentials(&sid("tk"), key("b1")).await.expect_err("another seller");
    assert!(
        matches!(&err, Error::AccountMismatch { expected, actual, .. } if expected == "seller-A" && actual == "seller-B")
    );
    assert_eq!(err.kind(), ErrorKind::Auth);
    f.connections.update_credentials(&sid("tk"), key("a2")).await.expect("a new key of the same seller");

    f.store
        .enqueue(
            OutboxPush::new(
                sid("tk"),
                ListingId::new("offer-1"),
                PushAction::SetStock { quantity: 1, expected: None },
                "t",
            ),
            sync_engine::testing::t0(),
        )
        .await
        .unwrap();
    let done = f.connections.disconnect(&sid("tk")).await.unwrap();
    assert_eq!(done, Disconnected::KeptBinding { account: Some("seller-A".into()) });
    let rec = f.connections.get(&sid("tk")).await.unwrap();
    assert_eq!(rec.state, ConnectionState::Disconnected);
    assert!(rec.credentials.is_none(), "the API key is deleted");
    assert_eq!(rec.account.as_ref().unwrap().account_id, "seller-A", "the binding stays");
    assert!(!rec.pushes_allowed());
    assert!(f.store.outbox(&OutboxFilter::default()).await.unwrap().is_empty(), "queued pushes dropped");
    assert_eq!(f.store.listings(&ListingFilter::store(sid("tk"))).await.unwrap().len(), 1, "data kept");
    let req = WebhookRequest::new("{}").header("x-signature", "a2");
    assert!(matches!(f.connections.verify_webhook(&sid("tk"), &req).await, Err(WebhookRejection::NotAccepted(_))));
    assert!(matches!(f.connections.channel(&sid("tk")).await, Err(Error::Disconnected(_))));
    assert!(matches!(f.connections.sync_now(&sid("tk"), None).await, Err(Error::Disconnected(_))));

    let other = f.connections.add(NewConnection::new("tk", ChannelKind::Takealot, "Takealot", key("b1"))).await;
    assert!(matches!(other, Err(Error::AccountMismatch { .. })), "a reconnect must use the same account");
    let elsewhere = f.connections.add(NewConnection::new("tk-new", ChannelKind::Takealot, "T", key("a1"))).await;
    assert!(matches!(elsewhere, Err(Error::AlreadyExists(m)) if m.contains("reconnect")));
    let back = f.connections.add(NewConnection::new("tk", ChannelKind::Takealot, "Takealot", key("a1"))).await.unwrap();
    assert_eq!(back.state, ConnectionState::Connected);
    assert!(
        f.connections.verify_webhook(&sid("tk"), &WebhookRequest::new("{}").header("x-signature", "a1")).await.is_ok()
    );
}

#[tokio::test]
async fn disconnecting_other_platforms_removes_only_what_is_theirs() {
    let f = fixture();
    f.world.add_key("s", "shop-1");
    f.world.add_key("w", "https://woo.example");
    f.world.set_listings("shop", vec![Listing::new("s1", "SHARED", 1)]);
    f.world.set_listings("woo", vec![Listing::new("w1", "SHARED", 1), Listing::new("w2", "ONLY-WOO", 1)]);
    for (id, ch, k) in [("shop", ChannelKind::Shopify, "s"), ("woo", ChannelKind::Woocommerce, "w")] {
        f.connections.add(NewConnection::new(id, ch, id, key(k))).await.unwrap();
        let listings = f.world.listings(id);
        f.connections.observe_listings(&sid(id), &listings).await.unwrap();
    }
    let now = sync_engine::testing::t0();
    let mut batch = WriteBatch::new();
    for s in ["SHARED", "ONLY-WOO"] {
        batch.push(WriteOp::PutProduct(ProductRecord::simple(sku(s), now)));
    }
    let sale =
        OrderLineRecord::new(sid("woo"), channel_core::OrderId::new("9"), "1", 1, channel_core::OrderStatus::Open, now);
    batch.push(WriteOp::PutOrderLine(sale));
    f.store.commit(batch).await.unwrap();

    let Disconnected::Removed(report) = f.connections.disconnect(&sid("woo")).await.unwrap() else {
        panic!("WooCommerce is removed")
    };
    assert_eq!(report.products, vec![sku("ONLY-WOO")]);
    assert_eq!((report.listings, report.order_lines), (2, 1));
    assert!(f.store.connection(&sid("woo")).await.unwrap().is_none());
    assert!(f.store.product(&sku("SHARED")).await.unwrap().is_some());
    assert_eq!(
        f.store.listings(&ListingFilter::sku(sku("SHARED"))).await.unwrap().len(),
        1,
        "the other store's listing stays"
    );
    let audit = f.store.audit(&AuditFilter::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.store == sid("woo") && a.reason.starts_with("disconnected")));
}

#[tokio::test]
async fn stores_of_the_source_platform_may_not_share_skus() {
    let f = fixture();
    for (k, a) in [("t1", "seller-1"), ("t2", "seller-2"), ("t3", "seller-3"), ("s1", "shop-1"), ("s2", "shop-2")] {
        f.world.add_key(k, a);
    }
    f.world.set_listings("tk1", vec![Listing::new("o1", "MUG", 5), Listing::new("o2", "TEA", 5)]);
    f.world.set_listings("tk2", vec![Listing::new("o9", "MUG", 5)]);
    f.world.set_listings("tk3", vec![Listing::new("o8", "BOWL", 5)]);
    f.world.set_listings("shop1", vec![Listing::new("v1", "MUG", 5)]);
    f.world.set_listings("shop2", vec![Listing::new("v2", "MUG", 5)]);
    f.connections
        .add(NewConnection::new("tk1", ChannelKind::Takealot, "Takealot 1", key("t1")).source_of_truth(true))
        .await
        .unwrap();
    let listings = f.world.listings("tk1");
    f.connections.observe_listings(&sid("tk1"), &listings).await.unwrap();

    let err = f
        .connections
        .add(NewConnection::new("tk2", ChannelKind::Takealot, "Takealot 2", key("t2")))
        .await
        .expect_err("shares MUG with the source platform's store");
    assert!(
        matches!(&err, Error::SharedSkuWithSourceOfTruth { sku: s, stores, .. } if s.as_str() == "MUG" && stores.len() == 2)
    );
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(err.to_string().contains("source of truth"));
    f.connections
        .add(NewConnection::new("tk3", ChannelKind::Takealot, "Takealot 3", key("t3")))
        .await
        .expect("no shared SKU");

    // Shopify is not the source: its stores may share SKUs.
    for (id, k) in [("shop1", "s1"), ("shop2", "s2")] {
        f.connections.add(NewConnection::new(id, ChannelKind::Shopify, id, key(k))).await.unwrap();
        let listings = f.world.listings(id);
        f.connections.observe_listings(&sid(id), &listings).await.unwrap();
    }
    let taken = f.connections.update(&sid("shop1"), ConnectionUpdate::new().with_source_of_truth(true)).await;
    assert!(matches!(taken, Err(Error::SourceOfTruthTaken { existing }) if existing == sid("tk1")));
    f.connections.update(&sid("tk1"), ConnectionUpdate::new().with_source_of_truth(false)).await.unwrap();
    let shared = f.connections.update(&sid("shop1"), ConnectionUpdate::new().with_source_of_truth(true)).await;
    assert!(matches!(shared, Err(Error::SharedSkuWithSourceOfTruth { channel: ChannelKind::Shopify, .. })));
    assert!(!f.connections.get(&sid("shop1")).await.unwrap().source_of_truth, "nothing changed");
}

#[tokio::test]
async fn a_changed_sku_on_a_linked_listing_is_held_back_not_linked_anew() {
    let f = fixture();
    f.world.add_key("k", "shop-1");
    f.connections.add(NewConnection::new("shop", ChannelKind::Shopify, "Shop", key("k"))).await.unwrap();
    f.store
        .commit(WriteOp::PutProduct(ProductRecord::simple(sku("MUG"), sync_engine::testing::t0())).into())
        .await
        .unwrap();
    let first = f.connections.observe_listings(&sid("shop"), &[Listing::new("1", "MUG", 3)]).await.unwrap();
    assert_eq!((first.added, first.sku_changes.len()), (1, 0));
    let linked = f.store.listing(&sid("shop"), &ListingId::new("1")).await.unwrap().unwrap();
    assert_eq!(linked.sku, Some(sku("MUG")));
    assert!(linked.is_syncable());

    let changed = f.connections.observe_listings(&sid("shop"), &[Listing::new("1", "MUG-V2", 2)]).await.unwrap();
    assert_eq!(changed.sku_changes.len(), 1, "reported as a SKU change");
    let row = f.store.listing(&sid("shop"), &ListingId::new("1")).await.unwrap().unwrap();
    assert_eq!(row.sku, Some(sku("MUG")), "still linked to the old product");
    assert_eq!(row.sku_change.as_ref().map(|c| c.to.as_str()), Some("MUG-V2"));
    assert_eq!(row.seen_quantity, Some(2));
    assert!(!row.is_syncable(), "not synced until resolved");
    assert!(f.store.product(&sku("MUG-V2")).await.unwrap().is_none(), "never a silent new product");
    f.world.set_listings("shop", vec![Listing::new("1", "MUG-V2", 2)]);
    let report = f.connections.check_skus(&sid("shop")).await.unwrap();
    assert_eq!(report.of_kind("sku_changed").count(), 1);

    // Seen again: still one audit entry for the change.
    f.connections.observe_listings(&sid("shop"), &[Listing::new("1", "MUG-V2", 2)]).await.unwrap();
    let audits = f.store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(audits.iter().filter(|a| a.field == "sku").count(), 1);

    // The seller puts the old SKU back: the hold clears.
    f.connections.observe_listings(&sid("shop"), &[Listing::new("1", "MUG", 2)]).await.unwrap();
    assert!(f.store.listing(&sid("shop"), &ListingId::new("1")).await.unwrap().unwrap().is_syncable());

    // Or accepts the new one: relinked on purpose.
    f.connections.observe_listings(&sid("shop"), &[Listing::new("1", "MUG-V2", 2)]).await.unwrap();
    let row = f.connections.accept_sku_change(&sid("shop"), &ListingId::new("1")).await.unwrap();
    assert_eq!((row.sku.clone(), row.channel_sku.as_str()), (Some(sku("MUG-V2")), "MUG-V2"));
    assert!(row.is_syncable());
    assert!(f.connections.accept_sku_change(&sid("shop"), &ListingId::new("1")).await.is_err());
}

#[tokio::test]
async fn sku_hygiene_before_the_first_sync() {
    let f = fixture();
    f.world.add_key("k", "amz-1");
    let settings = serde_json::json!({"sku_rules": [{"suffix": "-FBA", "fulfilment": "channel"}], "marketplace": "A1"});
    f.connections
        .add(NewConnection::new("amz", ChannelKind::Amazon, "Amazon", key("k")).with_settings(settings))
        .await
        .unwrap();
    let now = sync_engine::testing::t0();
    let mut batch = WriteBatch::new();
    for s in ["MUG-RED", "TEA"] {
        batch.push(WriteOp::PutProduct(ProductRecord::simple(sku(s), now)));
    }
    f.store.commit(batch).await.unwrap();
    f.world.set_listings(
        "amz",
        vec![
            Listing::new("A", "MUG-RED", 1),
            Listing::new("B", "MUG-RED-FBA", 1).with_fulfilment(Fulfilment::Channel),
            Listing::new("C", "mug-red", 1),
            Listing::new("D", "BOWL", 1),
            Listing::new("E", "TEA", 1),
            Listing::new("F", "TEA", 1),
        ],
    );
    let report = f.connections.check_skus(&sid("amz")).await.unwrap();
    assert_eq!(report.listings, 6);
    assert_eq!(report.of_kind("near_miss").count(), 1);
    assert_eq!(report.of_kind("unknown").count(), 1);
    assert_eq!(report.of_kind("duplicate").count(), 1, "{report:#?}");
    assert_eq!(report.issues.len(), 3);
    let mut engine: Vec<&str> = report.engine.iter().map(|d| d.kind.as_str()).collect();
    engine.sort_unstable();
    assert_eq!(
        engine,
        ["duplicate_sku", "near_miss", "unknown_sku"],
        "the reconcile engine agrees: {:#?}",
        report.engine
    );
    let listings = f.world.listings("amz");
    let observed = f.connections.observe_listings(&sid("amz"), &listings).await.unwrap();
    assert_eq!(observed.added, 6);
    let fba = f.store.listing(&sid("amz"), &ListingId::new("B")).await.unwrap().unwrap();
    assert_eq!((fba.sku.clone(), fba.fulfilment), (Some(sku("MUG-RED")), Fulfilment::Channel), "rules map the SKU");
    assert!(!fba.is_syncable(), "channel-held stock is never pushed");
}

#[tokio::test]
async fn list_and_filter_connections() {
    let f = fixture();
    for (k, a) in [("a", "1"), ("b", "2"), ("c", "3")] {
        f.world.add_key(k, a);
    }
    f.connections
        .add(
            NewConnection::new("acme-shop", ChannelKind::Shopify, "Acme Shopify", key("a"))
                .with_warehouse(WarehouseId::new("jhb")),
        )
        .await
        .unwrap();
    f.connections.add(NewConnection::new("beta-woo", ChannelKind::Woocommerce, "Beta Woo", key("b"))).await.unwrap();
    let operator = Connections::operator(
        Arc::clone(&f.store),
        Arc::new(FakeFactory(Arc::clone(&f.world))),
        CredentialCipher::new(&[42; 32]),
        Arc::clone(&f.clock) as Arc<dyn Clock>,
    );
    operator
        .add(
            NewConnection::new("tk", ChannelKind::Takealot, "Group Takealot", key("c"))
                .with_scope(Scope::Global)
                .with_sync_mode(SyncMode::Daily),
        )
        .await
        .unwrap();
    let names = |v: Vec<ConnectionRecord>| v.into_iter().map(|c| c.store.to_string()).collect::<Vec<_>>();
    let mut filter = ConnectionFilter::all();
    // A connection added without a scope is a client connection of the manager's company; the view
    // lists those and the global ones.
    filter.client = Some(ClientId::default_company());
    assert_eq!(names(f.connections.list(&filter).await.unwrap()), ["acme-shop", "beta-woo", "tk"]);
    let acme = f.connections.get(&sid("acme-shop")).await.unwrap();
    assert_eq!(acme.scope, Scope::Client(ClientId::default_company()));
    let mut filter = ConnectionFilter::all();
    filter.scope = Some(Scope::Global);
    assert_eq!(names(f.connections.list(&filter).await.unwrap()), ["tk"]);
    let mut filter = ConnectionFilter::all();
    filter.warehouse = Some(WarehouseId::new("jhb"));
    assert_eq!(names(f.connections.list(&filter).await.unwrap()), ["acme-shop"]);
    let mut filter = ConnectionFilter::all();
    filter.search = Some("woo".into());
    assert_eq!(names(f.connections.list(&filter).await.unwrap()), ["beta-woo"]);
    let mut filter = ConnectionFilter::all();
    filter.channel = Some(ChannelKind::Takealot);
    let tk = f.connections.list(&filter).await.unwrap();
    assert_eq!(tk[0].sync_mode, SyncMode::Daily);

    f.clock.advance(jiff::SignedDuration::from_secs(3600));
    let updated = operator
        .update(
            &sid("tk"),
            ConnectionUpdate::new().with_name("Takealot ZA").with_warehouse(Some(WarehouseId::new("cpt"))),
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "Takealot ZA");
    assert!(updated.updated_at > updated.created_at);
    assert_eq!(updated.version, 2);
    f.connections.record_sync(&sid("tk")).await.unwrap();
    let h = f.connections.get(&sid("tk")).await.unwrap().health;
    assert_eq!(h.last_sync_at, Some(updated.updated_at));

    // Other platforms may move to another account (audited); Takealot may not (see above).
    f.world.add_key("b2", "other-site");
    let moved = f.connections.update_credentials(&sid("beta-woo"), key("b2")).await.unwrap();
    assert_eq!(moved.account.unwrap().account_id, "other-site");
}

#[tokio::test]
async fn works_over_sqlite_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(sync_engine::SqliteStore::open(dir.path().join("s.db")).await.unwrap());
    let f = fixture_with(std::sync::Arc::clone(&store) as std::sync::Arc<dyn sync_engine::Store>);
    f.world.add_key("secret-key-value", "seller-9");
    f.connections
        .add(NewConnection::new("tk", ChannelKind::Takealot, "Takealot", key("secret-key-value")))
        .await
        .unwrap();
    assert_eq!(f.connections.test(&sid("tk")).await.unwrap().account_id, "seller-9");
    store.close().await;
    let mut bytes = std::fs::read(dir.path().join("s.db")).unwrap();
    if let Ok(wal) = std::fs::read(dir.path().join("s.db-wal")) {
        bytes.extend(wal);
    }
    let hay = String::from_utf8_lossy(&bytes);
    assert!(hay.contains("seller-9"), "the file holds the connection");
    assert!(!hay.contains("secret-key-value"), "but never the credentials in plain text");
}
