//! Companies through the public API: two companies selling the same SKU on their own stores stay
//! isolated; a global store serves each company the listings and order lines of the SKUs it alone owns;
//! a company bound to a Takealot account at creation stays bound; deleting a company purges it alone.
//! One `MemoryStore`, channel-testkit's `FakePlatform` behind the connections (as `tests/connections.rs`).

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use channel_core::{ChannelKind, ErrorKind, Listing, ListingId, Sku};
use channel_testkit::fake::FakeChannel;
use support::{FakeFactory, FakePlatform, key, sid};
use sync_engine::hygiene::SkuIssue;
use sync_engine::store::{AuditFilter, CompanyId, ProductRecord, Scope, WriteBatch, WriteOp};
use sync_engine::{
    Clock, Companies, CredentialCipher, Disconnected, Error, ManualClock, MemoryStore, NewCompany, NewConnection,
    Store, SyncEngine,
};

fn cid(s: &str) -> CompanyId {
    CompanyId::new(s)
}

fn sku(s: &str) -> Sku {
    Sku::new(s).unwrap()
}

/// A service: one database, the fake platforms, the company manager.
struct World {
    platform: Arc<FakePlatform>,
    root: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    companies: Companies,
}

fn world() -> World {
    let platform = FakePlatform::new();
    let root: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(sync_engine::testing::t0()));
    let companies = Companies::new(
        Arc::clone(&root),
        Arc::new(FakeFactory(Arc::clone(&platform))),
        CredentialCipher::new(&[7; 32]),
        Arc::clone(&clock) as Arc<dyn Clock>,
    );
    World { platform, root, clock, companies }
}

impl World {
    /// Connect `store` (`kind`, signed in with key `k` of `account`) to `company`, showing `listings`
    /// (id, SKU, quantity).
    async fn connect(
        &self,
        company: &str,
        store: &str,
        kind: ChannelKind,
        account: &str,
        listings: &[(&str, &str, i64)],
    ) {
        self.connect_scoped(company, store, kind, account, listings, false, None).await;
    }

    #[expect(clippy::too_many_arguments, reason = "a test helper: everything a connection is made of")]
    async fn connect_scoped(
        &self,
        company: &str,
        store: &str,
        kind: ChannelKind,
        account: &str,
        listings: &[(&str, &str, i64)],
        source: bool,
        scope: Option<Scope>,
    ) {
        let k = format!("key-{store}");
        self.platform.add_key(&k, account);
        self.platform.set_listings(store, listings.iter().map(|(id, s, q)| Listing::new(*id, *s, *q)).collect());
        let mut new = NewConnection::new(store, kind, store, key(&k)).source_of_truth(source);
        if let Some(scope) = scope {
            new = new.with_scope(scope);
        }
        self.companies.connections(&cid(company)).await.unwrap().add(new).await.unwrap();
    }

    /// The platform's side of `store`: sells, signs webhooks.
    fn platform_side(&self, store: &str, kind: ChannelKind) -> FakeChannel {
        self.platform.channel(kind, store, &format!("key-{store}"))
    }

    /// `company`'s engine over its view of the database, its channels built by its connections, synced.
    async fn engine(&self, company: &str) -> SyncEngine {
        let engine = SyncEngine::builder(self.root.for_company(&cid(company)))
            .clock(Arc::clone(&self.clock) as Arc<dyn Clock>)
            .connections(self.companies.connections(&cid(company)).await.unwrap())
            .build()
            .await
            .unwrap();
        engine.full_sync(None, None, &AtomicBool::new(false)).await.unwrap();
        engine
    }

    fn shows(&self, store: &str, listing: &str) -> Option<i64> {
        self.platform.listings(store).iter().find(|l| l.id.as_str() == listing).and_then(Listing::quantity)
    }

    /// Give `company` products of `skus` (its catalog, as a host importing it would).
    async fn catalog(&self, company: &str, skus: &[&str]) {
        let mut batch = WriteBatch::new();
        for s in skus {
            batch.push(WriteOp::PutProduct(ProductRecord::simple(sku(s), sync_engine::testing::t0())));
        }
        self.root.for_company(&cid(company)).commit(batch).await.unwrap();
    }

    async fn audit_reasons(&self, company: &str) -> Vec<String> {
        let view = self.root.for_company(&cid(company));
        view.audit(&AuditFilter::default()).await.unwrap().into_iter().map(|a| a.reason).collect()
    }
}

/// Companies `a` and `b`, each with its own Takealot source and Shopify store, both selling `TS-001`
/// (a: 10 on hand, b: 50).
async fn two_sellers() -> World {
    let w = world();
    for (c, on_hand) in [("a", 10), ("b", 50)] {
        w.companies.create(NewCompany::new(c, format!("Seller {c}"))).await.unwrap();
        let tk = format!("{c}-tk");
        let shop = format!("{c}-shop");
        w.connect_scoped(
            c,
            &tk,
            ChannelKind::Takealot,
            &format!("{c}-seller"),
            &[("T1", "TS-001", on_hand)],
            true,
            None,
        )
        .await;
        w.connect(c, &shop, ChannelKind::Shopify, &format!("{c}-shopify"), &[("S1", "TS-001", 0)]).await;
    }
    w
}

#[tokio::test]
async fn a_sale_moves_only_its_own_company_even_with_the_same_sku() {
    let w = two_sellers().await;
    let (a, b) = (w.engine("a").await, w.engine("b").await);
    assert_eq!((w.shows("a-shop", "S1"), w.shows("b-shop", "S1")), (Some(10), Some(50)), "each follows its own source");
    let b_writes = (w.platform.write_calls("b-tk").len(), w.platform.write_calls("b-shop").len());

    let side = w.platform_side("a-shop", ChannelKind::Shopify);
    let order = side.sell("o-1", "S1", 3, w.clock.now());
    let report = a.ingest_order(&sid("a-shop"), &order).await.unwrap();
    assert_eq!(report.new_lines, 1);
    a.run_outbox_once().await.unwrap();

    assert_eq!(a.on_hand(&sku("TS-001")).await.unwrap(), Some(7));
    assert_eq!(w.shows("a-tk", "T1"), Some(7), "pushed to a's other store");
    assert_eq!(b.on_hand(&sku("TS-001")).await.unwrap(), Some(50), "b's TS-001 did not move");
    assert_eq!(w.shows("b-tk", "T1"), Some(50));
    assert_eq!(w.shows("b-shop", "S1"), Some(50));
    b.run_outbox_once().await.unwrap();
    assert_eq!(
        (w.platform.write_calls("b-tk").len(), w.platform.write_calls("b-shop").len()),
        b_writes,
        "nothing was pushed to b's stores"
    );
    let b_view = w.root.for_company(&cid("b"));
    assert!(b_view.order_line(&sid("a-shop"), &order.id, "1").await.unwrap().is_none(), "b keeps no trace of a's sale");

    // a's sale, delivered to b's engine as a webhook, is refused there: b has no such store.
    let refused = b.handle_webhook(&sid("a-shop"), &side.order_webhook("d-1", &order)).await;
    assert_eq!(refused.http_status(), 404, "{refused:?}");
    assert!(b.ingest_order(&sid("a-shop"), &order).await.is_err());
    assert_eq!(b.on_hand(&sku("TS-001")).await.unwrap(), Some(50));
}

#[tokio::test]
async fn a_company_cannot_see_test_or_disconnect_another_companys_store() {
    let w = two_sellers().await;
    let a = w.companies.connections(&cid("a")).await.unwrap();
    let names: Vec<String> = a
        .list(&sync_engine::store::ConnectionFilter::all())
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.store.to_string())
        .collect();
    assert_eq!(names, ["a-shop", "a-tk"]);
    let seen = a.get(&sid("b-tk")).await.expect_err("b's store is invisible to a");
    assert_eq!(seen.kind(), ErrorKind::NotFound);
    assert_eq!(a.test(&sid("b-tk")).await.expect_err("not testable").kind(), ErrorKind::NotFound);
    assert_eq!(a.disconnect(&sid("b-shop")).await.expect_err("not removable").kind(), ErrorKind::NotFound);
    assert!(w.root.locate_store(&sid("b-shop")).await.unwrap().is_some(), "b's store is still there");

    // Store ids are unique across companies: a cannot take b's.
    w.platform.add_key("another", "a-other-shopify");
    let taken = a
        .add(NewConnection::new("b-shop", ChannelKind::Shopify, "mine", key("another")))
        .await
        .expect_err("b-shop is b's");
    assert!(
        matches!(&taken, Error::StoreTaken { store, company: Some(c) } if store.as_str() == "b-shop" && c.as_str() == "b")
    );
    assert_eq!(taken.kind(), ErrorKind::Conflict);
    // And a connection of b is added through b's manager, not a's.
    let wrong = a
        .add(NewConnection::new("x", ChannelKind::Shopify, "x", key("another")).with_scope(Scope::Client(cid("b"))))
        .await
        .expect_err("not a's to add");
    assert_eq!(wrong.kind(), ErrorKind::Validation);
    assert_eq!(w.companies.connections(&cid("nope")).await.expect_err("unknown company").kind(), ErrorKind::NotFound);
}

/// A store keeps its scope: a company's own store does not become the operator's global one (nor the
/// other way round), which would strand the other companies' rows about it.
#[tokio::test]
async fn a_store_keeps_its_scope() {
    let w = with_global_store().await;
    let a = w.companies.connections(&cid("a")).await.unwrap();
    for (store, scope) in [("a-src", Scope::Global), ("amz", Scope::Client(cid("a")))] {
        let refused = a
            .update(&sid(store), sync_engine::ConnectionUpdate::new().with_scope(scope))
            .await
            .expect_err("a store does not change scope");
        assert_eq!(refused.kind(), ErrorKind::Validation, "{refused}");
        assert!(refused.to_string().contains("cannot change scope"), "{refused}");
    }
    assert_eq!(w.root.locate_store(&sid("amz")).await.unwrap().unwrap().scope, Scope::Global);
    assert_eq!(w.root.locate_store(&sid("a-src")).await.unwrap().unwrap().scope, Scope::Client(cid("a")));
}

/// Company `a` owns TS-001, `b` owns TS-002, both own TS-003, nobody owns TS-004; the operator's own
/// Amazon account `amz` is a global connection listing all four.
async fn with_global_store() -> World {
    let w = world();
    for (c, skus) in [("a", ["TS-001", "TS-003"]), ("b", ["TS-002", "TS-003"])] {
        w.companies.create(NewCompany::new(c, format!("Client {c}"))).await.unwrap();
        w.catalog(c, &skus).await;
        let own: Vec<(&str, &str, i64)> = skus.iter().map(|s| (*s, *s, if c == "a" { 10 } else { 20 })).collect();
        w.connect_scoped(c, &format!("{c}-src"), ChannelKind::Shopify, &format!("{c}-shop"), &own, true, None).await;
    }
    let listings = [("G1", "TS-001", 0), ("G2", "TS-002", 0), ("G3", "TS-003", 0), ("G4", "TS-004", 0)];
    w.connect_scoped("a", "amz", ChannelKind::Amazon, "3pl-amazon", &listings, false, Some(Scope::Global)).await;
    w
}

#[tokio::test]
async fn a_global_store_serves_each_company_the_skus_it_alone_owns() {
    let w = with_global_store().await;
    let b_conns = w.companies.connections(&cid("b")).await.unwrap();
    assert_eq!(b_conns.get(&sid("amz")).await.unwrap().scope, Scope::Global, "every company sees a global store");
    let (a, b) = (w.engine("a").await, w.engine("b").await);

    let a_view = w.root.for_company(&cid("a"));
    let b_view = w.root.for_company(&cid("b"));
    let linked = |view: &Arc<dyn Store>, id: &str| {
        let view = Arc::clone(view);
        let id = ListingId::new(id);
        async move { view.listing(&sid("amz"), &id).await.unwrap().map(|l| l.sku) }
    };
    assert_eq!(linked(&a_view, "G1").await, Some(Some(sku("TS-001"))), "a's SKU is linked in a");
    assert_eq!(linked(&a_view, "G2").await, None, "b's listing is not a's");
    assert_eq!(linked(&b_view, "G2").await, Some(Some(sku("TS-002"))));
    assert_eq!(linked(&b_view, "G1").await, None);
    for view in [&a_view, &b_view] {
        assert_eq!(linked(view, "G3").await, Some(None), "owned by both: never a guess");
        assert_eq!(linked(view, "G4").await, Some(None), "owned by nobody: not linked");
    }
    assert_eq!(
        (w.shows("amz", "G1"), w.shows("amz", "G2"), w.shows("amz", "G3"), w.shows("amz", "G4")),
        (Some(10), Some(20), Some(0), Some(0)),
        "each owner pushes its own on hand; the diagnostics are left alone"
    );
    assert!(a_view.products().await.unwrap().iter().all(|p| p.sku != sku("TS-004")), "no product from a global store");
    let a_audit = w.audit_reasons("a").await;
    assert!(a_audit.iter().any(|r| r.contains("several companies (a, b)")), "{a_audit:?}");
    assert!(a_audit.iter().any(|r| r.contains("owned by no company")), "{a_audit:?}");

    // The SKU report names both diagnostics and leaves b's listing out of a's.
    let report = w.companies.connections(&cid("a")).await.unwrap().check_skus(&sid("amz")).await.unwrap();
    let several: Vec<&SkuIssue> = report.of_kind("several_owners").collect();
    assert!(
        matches!(several.as_slice(), [SkuIssue::SeveralOwners { listing, companies, .. }]
            if listing.as_str() == "G3" && companies == &[cid("a"), cid("b")]),
        "{report:?}"
    );
    assert_eq!(report.of_kind("no_owner").count(), 1, "{report:?}");
    assert_eq!(report.of_kind("unknown").count(), 0, "b's TS-002 is not an unknown SKU of a's: {report:?}");

    // Observing the listings (as a host's listing import does) applies the same rule.
    let a_conns = w.companies.connections(&cid("a")).await.unwrap();
    let observed = a_conns.observe_listings(&sid("amz"), &w.platform.listings("amz")).await.unwrap();
    let kinds: Vec<&str> = observed.ownership.iter().map(SkuIssue::kind).collect();
    assert_eq!((kinds.as_slice(), observed.other_company), (["several_owners", "no_owner"].as_slice(), 1));
    assert_eq!(linked(&a_view, "G2").await, None, "observing does not record b's listing in a");
    assert_eq!(linked(&a_view, "G1").await, Some(Some(sku("TS-001"))));

    // An order line counts in its SKU's owner only.
    let side = w.platform_side("amz", ChannelKind::Amazon);
    let order = side.sell("amz-1", "G1", 2, w.clock.now());
    let in_a = a.ingest_order(&sid("amz"), &order).await.unwrap();
    let in_b = b.ingest_order(&sid("amz"), &order).await.unwrap();
    assert_eq!((in_a.new_lines, in_a.other_company), (1, 0));
    assert_eq!((in_b.new_lines, in_b.other_company, in_b.unknown), (0, 1, 0), "b skips it, not held");
    assert_eq!(a.on_hand(&sku("TS-001")).await.unwrap(), Some(8));
    assert!(b.held_order_lines().await.unwrap().is_empty());
    assert!(b_view.order_line(&sid("amz"), &order.id, "1").await.unwrap().is_none());

    // A line of a SKU both own counts nowhere, and is audited in each.
    let shared = side.sell("amz-2", "G3", 1, w.clock.now());
    for (engine, company) in [(&a, "a"), (&b, "b")] {
        let r = engine.ingest_order(&sid("amz"), &shared).await.unwrap();
        assert_eq!((r.new_lines, r.unowned), (0, 1), "{company}");
        assert_eq!(engine.on_hand(&sku("TS-003")).await.unwrap(), Some(if company == "a" { 10 } else { 20 }));
        let audit = w.audit_reasons(company).await;
        assert!(audit.iter().any(|r| r.contains("amz-2") && r.contains("several companies")), "{audit:?}");
    }
}

#[tokio::test]
async fn a_company_requiring_takealot_is_bound_to_its_account_for_good() {
    let w = world();
    w.platform.add_key("k1", "seller-1");
    w.platform.add_key("k2", "seller-2");
    w.platform.add_key("k-shop", "shop-1");
    let bare = w.companies.create(NewCompany::new("s", "Seller").requiring(ChannelKind::Takealot)).await;
    assert_eq!(bare.expect_err("the Takealot connection is required").kind(), ErrorKind::Validation);
    let shop = NewConnection::new("s-shop", ChannelKind::Shopify, "shop", key("k-shop"));
    let wrong =
        w.companies.create(NewCompany::new("s", "Seller").requiring(ChannelKind::Takealot).with_connection(shop)).await;
    assert_eq!(wrong.expect_err("a Shopify connection is not a Takealot account").kind(), ErrorKind::Validation);
    let bad = NewConnection::new("s-tk", ChannelKind::Takealot, "tk", key("nope"));
    let refused =
        w.companies.create(NewCompany::new("s", "Seller").requiring(ChannelKind::Takealot).with_connection(bad)).await;
    assert_eq!(refused.expect_err("bad credentials").kind(), ErrorKind::Auth);
    assert!(w.root.company(&cid("s")).await.unwrap().is_none(), "a failed creation leaves no company");
    assert!(w.root.locate_store(&sid("s-tk")).await.unwrap().is_none(), "…and no connection");

    let good = NewConnection::new("s-tk", ChannelKind::Takealot, "tk", key("k1"));
    let created = w
        .companies
        .create(NewCompany::new("s", "Seller").requiring(ChannelKind::Takealot).with_connection(good))
        .await
        .unwrap();
    assert_eq!(created.bound_account.as_ref().map(|a| a.account_id.as_str()), Some("seller-1"));
    assert_eq!(w.companies.get(&cid("s")).await.unwrap().bound_account, created.bound_account);
    let again = w.companies.create(NewCompany::new("s", "Twice")).await.expect_err("taken");
    assert!(matches!(again, Error::CompanyExists(_)), "{again}");

    let conns = w.companies.connections(&cid("s")).await.unwrap();
    assert_eq!(conns.get(&sid("s-tk")).await.unwrap().scope, Scope::Client(cid("s")));
    // Another Takealot account is refused in this company, under any store id.
    let other = conns.add(NewConnection::new("s-tk2", ChannelKind::Takealot, "tk2", key("k2"))).await;
    assert!(
        matches!(other, Err(Error::CompanyAccountMismatch { ref expected, ref actual, .. })
        if expected == "seller-1" && actual == "seller-2"),
        "{other:?}"
    );
    // The binding survives disconnecting the account; a reconnect must use it.
    assert!(matches!(conns.disconnect(&sid("s-tk")).await.unwrap(), Disconnected::KeptBinding { .. }));
    assert_eq!(w.companies.get(&cid("s")).await.unwrap().bound_account, created.bound_account);
    let reconnect = conns.add(NewConnection::new("s-tk", ChannelKind::Takealot, "tk", key("k2"))).await;
    assert_eq!(reconnect.expect_err("another account").kind(), ErrorKind::Auth);
    let other = conns.add(NewConnection::new("s-tk3", ChannelKind::Takealot, "tk3", key("k2"))).await;
    assert!(matches!(other, Err(Error::CompanyAccountMismatch { .. })), "{other:?}");
    conns.add(NewConnection::new("s-tk", ChannelKind::Takealot, "tk", key("k1"))).await.unwrap();
    assert_eq!(conns.test(&sid("s-tk")).await.unwrap().account_id, "seller-1");
}

#[tokio::test]
async fn deleting_a_company_purges_it_and_leaves_the_others() {
    let w = two_sellers().await;
    let (_a, b) = (w.engine("a").await, w.engine("b").await);
    let a_view = w.root.for_company(&cid("a"));
    assert!(!a_view.products().await.unwrap().is_empty());

    w.companies.delete(&cid("a")).await.unwrap();
    let ids: Vec<String> = w.companies.list().await.unwrap().into_iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids, ["b", CompanyId::DEFAULT], "a is gone (every database has the default company)");
    assert!(matches!(w.companies.get(&cid("a")).await, Err(Error::CompanyNotFound(_))));
    assert!(matches!(w.companies.delete(&cid("a")).await, Err(Error::CompanyNotFound(_))));
    assert!(a_view.products().await.unwrap().is_empty(), "a's catalog is gone");
    assert!(a_view.audit(&AuditFilter::default()).await.unwrap().is_empty(), "a's audit is gone");
    for store in ["a-tk", "a-shop"] {
        assert!(w.root.locate_store(&sid(store)).await.unwrap().is_none(), "{store} and its credentials are gone");
    }

    let b_view = w.root.for_company(&cid("b"));
    assert_eq!(b_view.products().await.unwrap().len(), 1, "b's catalog stays");
    assert!(w.root.locate_store(&sid("b-tk")).await.unwrap().is_some());
    let b_conns = w.companies.connections(&cid("b")).await.unwrap();
    assert_eq!(b_conns.test(&sid("b-tk")).await.unwrap().account_id, "b-seller", "b's credentials still open");
    b.reload().await.unwrap();
    assert_eq!(b.on_hand(&sku("TS-001")).await.unwrap(), Some(50));
}
