//! Connection changes reaching a running engine: every tick the engine compares the store's connection
//! rows with what it last saw, and takes in what changed (a store removed, disconnected, disabled, given
//! new credentials, added); and the push hold, logged and recorded on the stores' health when it begins
//! and ends.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError};

use channel_core::{ErrorKind, StoreId};

use super::SyncEngine;
use crate::Result;
use crate::store::{
    ConnectionFilter, ConnectionRecord, ConnectionState, CredentialStatus, HealthEvent, SyncMode, SyncRequest,
    WriteBatch, WriteOp,
};

/// What the engine compares of a connection row to tell it changed: its version (every configuration,
/// credential or state change writes the row), its state, whether it has credentials, and whether they
/// need re-authentication (health is written without a version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    version: u64,
    connected: bool,
    credentials: bool,
    needs_reauth: bool,
}

impl Mark {
    fn of(c: &ConnectionRecord) -> Self {
        Self {
            version: c.version,
            connected: c.state == ConnectionState::Connected,
            credentials: c.credentials.is_some(),
            needs_reauth: c.health.credentials == CredentialStatus::NeedsReauth,
        }
    }
}

/// A connection the engine may use: connected, with credentials.
fn usable(c: &ConnectionRecord) -> bool {
    c.state == ConnectionState::Connected && c.credentials.is_some()
}

/// What changed of a store's connection, for the log.
fn change(before: Option<&Mark>, now: Option<&ConnectionRecord>) -> &'static str {
    match (before, now) {
        (_, None) => "removed: no longer polled, pushed to or accepted",
        (_, Some(c)) if !usable(c) => "disconnected: no longer polled, pushed to or accepted",
        (None, Some(_)) => "added: served from now on",
        (_, Some(c)) if c.sync_mode == SyncMode::Disabled => "disabled: no longer polled, pushed to or accepted",
        (_, Some(c)) if c.health.credentials == CredentialStatus::NeedsReauth => "needs re-authentication",
        (Some(b), Some(_)) if b.needs_reauth => "re-authenticated: pushes resume",
        (Some(_), Some(_)) => "changed: taken in",
    }
}

impl SyncEngine {
    /// Note the connection rows as they are at start and, with a connection manager, build the channel
    /// of every connected store the host gave none.
    pub(crate) async fn open_connections(&self) -> Result<()> {
        let rows = self.inner.store.connections(&ConnectionFilter::all()).await?;
        if let Some(manager) = &self.inner.manager {
            for c in rows.iter().filter(|c| usable(c)) {
                if self.channel(&c.store).is_some() {
                    continue;
                }
                match manager.channel(&c.store).await {
                    Ok(channel) => self.set_channel(c.store.clone(), channel),
                    // The host learns it from `SyncEngine::channel` being `None` and says it its own way
                    // (the CLI prints one line); a later change to the row is logged by the refresh.
                    Err(e) => tracing::debug!(store = %c.store, error = %e, "no channel: the store is not synced"),
                }
            }
        }
        *self.inner.seen.lock().unwrap_or_else(PoisonError::into_inner) =
            rows.iter().map(|c| (c.store.clone(), Mark::of(c))).collect();
        Ok(())
    }

    /// Take in connection changes made in the store since the engine last looked — by
    /// [`crate::Connections`] in this process, the CLI, or another worker. The running engine calls this
    /// every [`crate::sync::SyncConfig::tick`]; one store read (the connection rows) when nothing changed.
    ///
    /// For each store whose row changed: a store removed, disconnected or disabled is no longer polled,
    /// pushed to or accepted webhooks from (its queued pushes are dropped by the removal, or dead-lettered
    /// as disabled); with a connection manager ([`crate::sync::SyncEngineBuilder::connections`]) its
    /// channel is dropped, and the channel of a store whose row changed otherwise (new credentials, which
    /// clear a needs-re-authentication state; new settings; a reconnect; a new connection) is built again.
    /// A new store never synced gets a "sync now" request. Then the state is reloaded from the store
    /// ([`SyncEngine::reload`]). Returns how many stores' connections changed.
    pub async fn refresh_connections(&self) -> Result<usize> {
        let rows = self.inner.store.connections(&ConnectionFilter::all()).await?;
        let marks: HashMap<StoreId, Mark> = rows.iter().map(|c| (c.store.clone(), Mark::of(c))).collect();
        let changed: Vec<(StoreId, Option<Mark>)> = {
            let seen = self.inner.seen.lock().unwrap_or_else(PoisonError::into_inner);
            let ids: BTreeSet<&StoreId> = seen.keys().chain(marks.keys()).collect();
            ids.into_iter()
                .filter(|id| seen.get(*id) != marks.get(*id))
                .map(|id| (id.clone(), seen.get(id).copied()))
                .collect()
        };
        if changed.is_empty() {
            return Ok(0);
        }
        let mut requests = WriteBatch::new();
        for (store, before) in &changed {
            let row = rows.iter().find(|c| &c.store == store);
            tracing::info!(%store, "connection {}", change(before.as_ref(), row));
            self.rebuild_channel(store, row).await;
            if before.is_some_and(|b| b.needs_reauth)
                && let Some(c) = row.filter(|c| usable(c) && c.health.credentials != CredentialStatus::NeedsReauth)
            {
                // The pushes the auth failure held (`reauth_hold`) are due now: a sale's push that joined one
                // would otherwise wait out the hold while the store shows stock already sold.
                requests.push(WriteOp::ReleaseOutbox { store: c.store.clone(), now: self.inner.clock.now() });
            }
            if before.is_none()
                && let Some(c) = row.filter(|c| usable(c) && c.health.last_sync_at.is_none())
            {
                let request = SyncRequest::new(c.store.clone(), Some("new connection".into()), self.inner.clock.now());
                requests.push(WriteOp::RequestSync(request));
            }
        }
        if !requests.ops.is_empty() {
            self.inner.store.commit(requests).await?;
        }
        self.reload().await?;
        *self.inner.seen.lock().unwrap_or_else(PoisonError::into_inner) = marks;
        Ok(changed.len())
    }

    /// With a connection manager: build a changed store's channel again, or drop it when the store is gone
    /// or cannot be used (or its channel cannot be built). Without one the host's channels stay.
    async fn rebuild_channel(&self, store: &StoreId, row: Option<&ConnectionRecord>) {
        let Some(manager) = &self.inner.manager else { return };
        let built = match row.filter(|c| usable(c)) {
            Some(_) => match manager.channel(store).await {
                Ok(channel) => Some(channel),
                Err(e) => {
                    tracing::warn!(%store, error = %e, "no channel: the store is not synced");
                    None
                }
            },
            None => None,
        };
        let mut channels = self.inner.channels.write().unwrap_or_else(PoisonError::into_inner);
        match built {
            Some(channel) => channels.insert(store.clone(), Arc::clone(&channel)),
            None => channels.remove(store),
        };
    }

    /// Why pushes are held, when they are: the source of truth is disconnected, needs re-authentication or
    /// has no channel. While held the engine queues nothing and sends nothing queued (it never plans from
    /// an on hand it does not have); the stores' health says so, and pushes resume once the source is back.
    pub async fn pushes_held(&self) -> Option<String> {
        self.inner.state.lock().await.as_ref().and_then(|s| s.hold.clone())
    }

    /// Log and record a change of the push hold, once: when pushes become held, a warning and a failure
    /// (`config`, "pushes held: …") on the health of every other connected store; when they resume, a
    /// "sync now" request for every connected store (the source may have changed while it was away).
    pub(crate) async fn note_hold(&self) {
        let (hold, source, stores) = {
            let guard = self.inner.state.lock().await;
            let Some(state) = guard.as_ref() else { return };
            let mut stores: Vec<StoreId> = state.connections.keys().cloned().collect();
            stores.sort();
            (state.hold.clone(), state.source.clone(), stores)
        };
        {
            let mut noted = self.inner.hold_noted.lock().unwrap_or_else(PoisonError::into_inner);
            if *noted == hold {
                return;
            }
            noted.clone_from(&hold);
        }
        let now = self.inner.clock.now();
        let mut batch = WriteBatch::new();
        match &hold {
            Some(reason) => {
                tracing::warn!(%reason, "pushes held until the source of truth is back");
                let message = format!("pushes held: {reason}");
                for store in stores.into_iter().filter(|s| Some(s) != source.as_ref()) {
                    let event = HealthEvent::Failed { kind: ErrorKind::Config, message: message.clone(), at: now };
                    batch.push(WriteOp::RecordHealth { store, event });
                }
            }
            None => {
                tracing::info!("the source of truth is back: pushes resume");
                for store in stores {
                    batch.push(WriteOp::RequestSync(SyncRequest::new(store, Some("source back".into()), now)));
                }
            }
        }
        if !batch.ops.is_empty()
            && let Err(e) = self.inner.store.commit(batch).await
        {
            tracing::warn!(error = %e, "could not record the push hold");
        }
        self.inner.outbox_wake.wake_all();
    }
}
