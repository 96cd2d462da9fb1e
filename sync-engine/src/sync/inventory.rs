//! Inventory changes: a webhook's snapshot of a listing's quantity, the re-read of listings webhooks said
//! changed, and manual stock adjustments. What a change means is decided in `state/inventory.rs`.

use std::collections::{HashMap, HashSet};

use channel_core::{Channel, InventoryChange, ListingId, Sku, StoreId};
use futures::StreamExt;

use super::commit::{WRITE_ATTEMPTS, is_stale};
use super::engine::loaded;
use super::state::{InventoryDecision, InventoryInput, Reread, reported_quantity};
use super::{IngestReport, SyncEngine, WebhookOutcome};
use crate::store::{ProductRecord, WriteBatch};
use crate::{Error, Result};

impl SyncEngine {
    /// Queue listings for the next [`SyncEngine::refresh_changed_listings`].
    pub(crate) fn queue_reread(&self, store: &StoreId, listings: impl IntoIterator<Item = ListingId>) {
        self.inner
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(store.clone())
            .or_default()
            .extend(listings);
    }

    /// What the rows of `ids` were before they are re-read: their cached version, and whether a push to
    /// them was queued or in flight.
    async fn reread_marks(&self, store: &StoreId, ids: &HashSet<ListingId>) -> Result<HashMap<ListingId, Reread>> {
        let busy: HashSet<ListingId> =
            self.listings_in_outbox(Some(store)).await?.into_iter().map(|(_, listing)| listing).collect();
        let guard = self.state().await?;
        let Some(state) = guard.as_ref() else { return Ok(HashMap::new()) };
        Ok(ids
            .iter()
            .map(|id| {
                let version = state.listings.get(&(store.clone(), id.clone())).map(|r| r.version);
                (id.clone(), Reread { version, busy: busy.contains(id) })
            })
            .collect())
    }

    /// How many listings of a store the cached state holds (the size of a full read of it).
    async fn cached_listing_count(&self, store: &StoreId) -> Result<usize> {
        let guard = self.state().await?;
        Ok(guard.as_ref().map_or(0, |state| state.listings.keys().filter(|(s, _)| s == store).count()))
    }

    /// Re-read the listings webhooks said changed (per store, whichever costs fewer calls: the by-id read
    /// [`channel_core::Channel::get_listings`] or one read of the catalog) and take in their
    /// quantities. A re-read is taken as the truth unless a push to the listing was queued or in flight, or
    /// its row changed, while it was read (the read may predate what the engine did meanwhile): then it is
    /// queued again for the next refresh. Returns how many listings were looked at.
    pub async fn refresh_changed_listings(&self) -> Result<usize> {
        let dirty = std::mem::take(&mut *self.inner.dirty.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut seen = 0;
        let mut stores = dirty.into_iter();
        while let Some((store, ids)) = stores.next() {
            let Some(channel) = self.channel(&store) else { continue };
            let result = async {
                let marks = self.reread_marks(&store, &ids).await?;
                let catalog = self.cached_listing_count(&store).await?;
                let listings = match reread(channel.as_ref(), &ids, catalog).await {
                    Ok(listings) => listings,
                    Err(e) => {
                        self.record_failure(&store, &e).await;
                        return Err(Error::from(e));
                    }
                };
                for listing in listings.into_iter().filter(|l| ids.contains(&l.id)) {
                    seen += 1;
                    let change = InventoryChange::new(
                        Some(listing.id.clone()),
                        Some(listing.channel_sku.clone()),
                        listing.quantity(),
                    )
                    .with_fulfilment(listing.fulfilment);
                    let mark = marks.get(&listing.id).copied().unwrap_or(Reread { version: None, busy: true });
                    self.apply_inventory(&store, "listing re-read", &change, Some(mark)).await?;
                }
                Ok(())
            }
            .await;
            if let Err(e) = result {
                // Nothing is lost: this store's listings and the stores not reached are re-read next time.
                self.queue_reread(&store, ids);
                for (store, ids) in stores {
                    self.queue_reread(&store, ids);
                }
                return Err(e);
            }
        }
        Ok(seen)
    }

    /// A listing's quantity changed on its channel: a webhook's snapshot (`reread` is `None`) or a re-read
    /// of the listing. The steps: read which of the store's listings have a push in flight, decide what the
    /// change means from the cached state (`State::decide_inventory`: an echo, a re-read, a rise sent
    /// again or a change taken in), build its batch and commit it, deciding again from refreshed rows when
    /// another worker wrote first.
    pub(crate) async fn apply_inventory(
        &self,
        store: &StoreId,
        topic: &str,
        change: &InventoryChange,
        reread: Option<Reread>,
    ) -> Result<WebhookOutcome> {
        let ignored = |reason: &str| Ok(WebhookOutcome::Ignored { topic: topic.into(), reason: reason.into() });
        let quantity = match reported_quantity(change) {
            Ok(quantity) => quantity,
            Err(reason) => return ignored(reason),
        };
        let now = self.inner.clock.now();
        let in_flight: HashSet<ListingId> =
            self.listings_in_outbox(Some(store)).await?.into_iter().map(|(_, listing)| listing).collect();
        let input = InventoryInput {
            store,
            topic,
            change,
            quantity,
            reread,
            in_flight: &in_flight,
            now,
            quiet: jiff::SignedDuration::try_from(self.inner.config.refresh_interval).unwrap_or_default(),
        };
        let mut guard = self.state().await?;
        let state = loaded(&mut guard)?;
        let mut attempt = 1;
        let pushes = loop {
            let mut batch = WriteBatch::new();
            let pushes = match state.decide_inventory(&input) {
                InventoryDecision::Ignore(reason) => return ignored(reason),
                InventoryDecision::Reread { listing, reason } => {
                    self.queue_reread(store, std::iter::once(listing));
                    return ignored(reason);
                }
                InventoryDecision::SendAgain(again) => state.send_again(&again, input.now, &mut batch),
                InventoryDecision::TakeIn { listing, old, is_source_on_hand } => {
                    state.take_in_quantity(&input, &listing, old, is_source_on_hand, &mut batch)?
                }
            };
            match self.commit_cached(state, batch).await {
                Ok(_) => break pushes,
                // Another worker changed the listing or the on hand: decide again from the fresh rows.
                Err(e) if attempt < WRITE_ATTEMPTS && is_stale(&e) => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        drop(guard);
        if pushes > 0 {
            self.inner.outbox_wake.wake_all();
        }
        Ok(WebhookOutcome::Applied { topic: topic.into(), report: IngestReport { pushes, ..IngestReport::default() } })
    }

    /// Record a manual stock adjustment of a simple SKU (a count, damage, or Takealot DC replenishment taken
    /// from leadtime stock): a ledger movement, the new on hand, and pushes to every store. Returns the
    /// number of pushes queued.
    pub async fn adjust_stock(&self, sku: &Sku, delta: i64, note: &str) -> Result<usize> {
        let now = self.inner.clock.now();
        let pushes = {
            let mut guard = self.state().await?;
            let state = loaded(&mut guard)?;
            if state.products.get(sku).is_none_or(ProductRecord::is_bundle) {
                return Err(Error::Invalid(format!("{sku} is not a simple product of the catalog")));
            }
            if state.source.is_some() && !state.source_listing.contains_key(sku) {
                return Err(Error::Invalid(format!("{sku} is not listed on the source of truth")));
            }
            let mut attempt = 1;
            loop {
                let mut batch = WriteBatch::new();
                let pushes = state.adjust(sku, delta, note, now, &mut batch)?;
                match self.commit_cached(state, batch).await {
                    Ok(_) => break pushes,
                    // Another worker moved the stock meanwhile: the adjustment applies to the fresh on hand.
                    Err(e) if attempt < WRITE_ATTEMPTS && is_stale(&e) => attempt += 1,
                    Err(e) => return Err(e),
                }
            }
        };
        self.inner.outbox_wake.wake_all();
        Ok(pushes)
    }
}

/// Read these listings of a channel the cheaper way: by id ([`Channel::get_listings`], `ceil(ids /
/// listings_by_id_batch)` calls) or in one read of its catalog (`ceil(catalog / listing_page_size)` calls),
/// so a burst of re-reads on a channel whose by-id read takes one call per listing (Takealot) costs no more
/// of its rate limit than reading the catalog.
async fn reread(
    channel: &dyn Channel,
    ids: &HashSet<ListingId>,
    catalog: usize,
) -> channel_core::Result<Vec<channel_core::Listing>> {
    let caps = channel.capabilities();
    let by_id = match caps.listings_by_id_batch {
        0 => usize::MAX,
        batch => ids.len().div_ceil(batch),
    };
    let full = catalog.div_ceil(caps.listing_page_size.max(1)).max(1);
    if by_id <= full {
        let wanted: Vec<ListingId> = ids.iter().cloned().collect();
        return channel.get_listings(&wanted).await;
    }
    let mut found = Vec::new();
    let mut stream = channel.listings();
    while let Some(listing) = stream.next().await {
        let listing = listing?;
        if ids.contains(&listing.id) {
            found.push(listing);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use channel_core::{Capabilities, ChannelKind};
    use channel_testkit::fake::FakeChannel;

    use super::*;

    fn takealot_like() -> FakeChannel {
        // One id per by-id call, 100 listings a page: Takealot's costs.
        let caps = Capabilities::builder().listing_page_size(100).listings_by_id_batch(1);
        let channel = FakeChannel::builder(ChannelKind::Takealot).capabilities(caps).build();
        for i in 0..50 {
            channel.add(&format!("o{i}"), &format!("SKU-{i}"), 5);
        }
        channel
    }

    fn ids(n: usize) -> HashSet<ListingId> {
        (0..n).map(|i| ListingId::new(format!("o{i}"))).collect()
    }

    #[tokio::test]
    async fn a_few_ids_are_read_by_id() {
        let channel = takealot_like();
        let got = reread(&channel, &ids(1), 50).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(channel.get_listings_calls(), [vec![ListingId::new("o0")]]);
    }

    #[tokio::test]
    async fn a_burst_of_ids_reads_the_catalog_once_instead() {
        // 30 ids would take 30 by-id calls; the 50-listing catalog is one page.
        let channel = takealot_like();
        let got = reread(&channel, &ids(30), 50).await.unwrap();
        assert_eq!(got.len(), 30);
        assert!(channel.get_listings_calls().is_empty(), "30 single reads would cost more than one page");
        // A channel with no by-id read always reads the catalog.
        let plain = FakeChannel::builder(ChannelKind::Woocommerce)
            .capabilities(Capabilities::builder().listing_page_size(100))
            .build();
        plain.add("w1", "SKU-1", 1);
        assert_eq!(reread(&plain, &[ListingId::new("w1")].into_iter().collect(), 1).await.unwrap().len(), 1);
        assert!(plain.get_listings_calls().is_empty());
    }
}
