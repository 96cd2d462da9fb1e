//! The root-level [`Store`](crate::Store) methods on SQL, which ignore the view's company (except
//! [`Store::inbox`](crate::Store::inbox) and [`Store::inbox_done`](crate::Store::inbox_done)): the
//! companies, where a store lives, who owns a SKU, company leases, worker heartbeats and the inbox.

use std::collections::BTreeMap;

use channel_core::{ChannelKind, Sku, StoreId};
use jiff::Timestamp;

use super::dialect::Dialect;
use super::rows::{self, Cols, json, ms, ojson, sql_version};
use super::{Session, SqlStore, sql};
use crate::store::{CompanyId, CompanyLease, CompanyRecord, ConnectionRecord, InboxItem, StoreError, WorkerRecord};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How many SKUs one [`SqlStore::sku_owners`] statement asks about (well under both drivers' bind limits).
const SKUS_PER_STATEMENT: usize = 500;

/// Insert (version 0) or update (the version read) a company.
pub(super) async fn put_company<D: Dialect>(tx: &mut Session<D>, c: &CompanyRecord) -> Result<()> {
    let what = || format!("company {}", c.id);
    let text = if c.version == 0 {
        "INSERT INTO companies (name, requires, bound_account, created_at, id, version)
         VALUES ($1, $2, $3, $4, $5, $6 + 1) ON CONFLICT (id) DO NOTHING"
    } else {
        "UPDATE companies SET name = $1, requires = $2, bound_account = $3, created_at = $4, version = version + 1
         WHERE id = $5 AND version = $6"
    };
    let q = sql(text)
        .bind(&c.name)
        .bind(c.requires.map(ChannelKind::as_str))
        .bind(ojson(c.bound_account.as_ref())?)
        .bind(ms(c.created_at))
        .bind(c.id.as_str())
        .bind(sql_version(c.version)?);
    if tx.execute(q).await? == 1 {
        return Ok(());
    }
    if c.version == 0 {
        return Err(StoreError::AlreadyExists(what()));
    }
    let q = sql("SELECT version FROM companies WHERE id = $1").bind(c.id.as_str());
    let found = tx.fetch_optional(q).await?.map(|r| Cols::<D>(&r).version()).transpose()?;
    Err(StoreError::conflict(what(), c.version, found))
}

impl<D: Dialect> SqlStore<D> {
    pub(crate) async fn company_record(&self, id: &CompanyId) -> Result<Option<CompanyRecord>> {
        self.read_one(sql("SELECT * FROM companies WHERE id = $1").bind(id.as_str()), rows::company::<D>).await
    }

    pub(crate) async fn companies(&self) -> Result<Vec<CompanyRecord>> {
        self.read_all(sql(format!("SELECT * FROM companies ORDER BY id{}", D::BYTE_ORDER)), rows::company::<D>).await
    }

    pub(crate) async fn purge_company(&self, id: &CompanyId) -> Result<Option<crate::store::PurgeReport>> {
        super::purge::purge_company(self, id).await
    }

    pub(crate) async fn locate_store(&self, store: &StoreId) -> Result<Option<ConnectionRecord>> {
        self.read_one(sql("SELECT * FROM connections WHERE store = $1").bind(store.as_str()), rows::connection::<D>)
            .await
    }

    /// The companies owning each SKU: one statement per few hundred SKUs.
    pub(crate) async fn sku_owners(&self, skus: &[Sku]) -> Result<BTreeMap<Sku, Vec<CompanyId>>> {
        let mut owners: BTreeMap<Sku, Vec<CompanyId>> = BTreeMap::new();
        let mut read = self.read().await?;
        for chunk in skus.chunks(SKUS_PER_STATEMENT) {
            let list: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let mut q = sql(format!(
                "SELECT sku, company FROM products WHERE sku IN ({}) ORDER BY sku{b}, company{b}",
                list.join(", "),
                b = D::BYTE_ORDER
            ));
            for sku in chunk {
                q = q.bind(sku.as_str());
            }
            for row in read.fetch_all(q).await? {
                let r = Cols::<D>(&row);
                owners.entry(r.sku("sku")?).or_default().push(CompanyId::new(r.text("company")?));
            }
        }
        Ok(owners)
    }

    /// Record a heartbeat, forget the workers whose heartbeat ran out, and list the live ones.
    pub(crate) async fn worker_heartbeat(
        &self,
        worker: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<Vec<WorkerRecord>> {
        let mut tx = self.write().await?;
        tx.execute(sql("DELETE FROM workers WHERE until <= $1 AND worker <> $2").bind(ms(now)).bind(worker)).await?;
        let q = sql("INSERT INTO workers (worker, until) VALUES ($1, $2)
             ON CONFLICT (worker) DO UPDATE SET until = excluded.until")
        .bind(worker)
        .bind(ms(until));
        tx.execute(q).await?;
        let q = sql(format!("SELECT worker, until FROM workers ORDER BY worker{}", D::BYTE_ORDER));
        let live = tx.fetch_all(q).await?.iter().map(rows::worker::<D>).collect::<Result<Vec<_>>>()?;
        tx.commit().await?;
        Ok(live)
    }

    pub(crate) async fn worker_gone(&self, worker: &str) -> Result<()> {
        self.read().await?.execute(sql("DELETE FROM workers WHERE worker = $1").bind(worker)).await?;
        Ok(())
    }

    /// Take or renew a company's lease (free, expired at `now`, or already `holder`'s).
    pub(crate) async fn acquire_company_lease(
        &self,
        company: &CompanyId,
        holder: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let q = sql("INSERT INTO company_leases (company, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (company) DO UPDATE SET holder = excluded.holder, until = excluded.until
             WHERE company_leases.holder = excluded.holder OR company_leases.until <= $4")
        .bind(company.as_str())
        .bind(holder)
        .bind(ms(until))
        .bind(ms(now));
        Ok(self.read().await?.execute(q).await? == 1)
    }

    pub(crate) async fn release_company_lease(&self, company: &CompanyId, holder: &str) -> Result<bool> {
        let q =
            sql("DELETE FROM company_leases WHERE company = $1 AND holder = $2").bind(company.as_str()).bind(holder);
        Ok(self.read().await?.execute(q).await? == 1)
    }

    pub(crate) async fn company_leases(&self) -> Result<Vec<CompanyLease>> {
        let q = sql(format!("SELECT company, holder, until FROM company_leases ORDER BY company{}", D::BYTE_ORDER));
        self.read_all(q, rows::company_lease::<D>).await
    }

    /// Record a delivery for its company's holder: `false` when the same one is there already.
    pub(crate) async fn inbox_put(&self, item: InboxItem) -> Result<bool> {
        let q = sql("INSERT INTO inbox (company, store, delivery_id, topic, request, received_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (company, store, delivery_id) DO NOTHING")
        .bind(item.company.as_str())
        .bind(item.store.as_str())
        .bind(&item.delivery_id)
        .bind(&item.topic)
        .bind(json(&item.request)?)
        .bind(ms(item.received_at));
        Ok(self.read().await?.execute(q).await? == 1)
    }

    pub(crate) async fn inbox(&self, limit: usize) -> Result<Vec<InboxItem>> {
        let q = sql("SELECT * FROM inbox WHERE company = $1 ORDER BY received_at, id LIMIT $2")
            .bind(self.co())
            .bind(D::limit(Some(limit)));
        self.read_all(q, rows::inbox_item::<D>).await
    }

    pub(crate) async fn inbox_done(&self, id: i64) -> Result<bool> {
        let q = sql("DELETE FROM inbox WHERE company = $1 AND id = $2").bind(self.co()).bind(id);
        Ok(self.read().await?.execute(q).await? == 1)
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use std::sync::Arc;

    use channel_core::StoreId;
    use jiff::Timestamp;

    use crate::store::{CompanyId, InboxItem, SqliteStore, Store};

    fn item(company: &str, delivery: &str, at: i64) -> InboxItem {
        InboxItem {
            id: 0,
            company: CompanyId::new(company),
            store: StoreId::new("shop"),
            delivery_id: delivery.to_owned(),
            topic: "orders/create".to_owned(),
            request: serde_json::json!({"body": delivery}),
            received_at: Timestamp::from_second(at).unwrap(),
        }
    }

    #[tokio::test]
    async fn the_inbox_keeps_each_company_its_own_deliveries_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("inbox.db")).await.unwrap();
        let a: Arc<dyn Store> = store.for_company(&CompanyId::new("a"));
        let b: Arc<dyn Store> = store.for_company(&CompanyId::new("b"));
        assert!(a.inbox_put(item("a", "d1", 1)).await.unwrap());
        assert!(!b.inbox_put(item("a", "d1", 2)).await.unwrap(), "once per (company, store, delivery)");
        assert!(a.inbox_put(item("b", "d1", 3)).await.unwrap(), "the same delivery for another company");
        assert!(a.inbox_put(item("a", "d2", 4)).await.unwrap());
        assert!(a.inbox_put(item("a", "d0", 0)).await.unwrap(), "received first, recorded last");

        let mine = a.inbox(10).await.unwrap();
        let seen: Vec<_> = mine.iter().map(|i| (i.company.as_str(), i.delivery_id.as_str())).collect();
        assert_eq!(seen, vec![("a", "d0"), ("a", "d1"), ("a", "d2")], "the view's company, oldest first");
        assert_eq!(mine[0].request, serde_json::json!({"body": "d0"}));
        assert_eq!(a.inbox(1).await.unwrap().len(), 1);
        assert!(!b.inbox_done(mine[0].id).await.unwrap(), "not b's item");
        assert!(a.inbox_done(mine[0].id).await.unwrap());
        assert!(!a.inbox_done(mine[0].id).await.unwrap(), "gone");
        assert_eq!(b.inbox(10).await.unwrap().len(), 1);
    }
}
