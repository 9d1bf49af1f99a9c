//! One LIST per provider account per resync period, shared by all its clients.
//!
//! Each account's snapshot is refreshed when it is older than the resync period;
//! concurrent reconciles of the same account wait for one LIST (single flight).
//! Writes through the controller (create, patch, delete) update the snapshot, so a
//! client is never seen as missing just because it is younger than the snapshot;
//! a client absent from the snapshot is confirmed with a GET before it is called
//! missing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::provider::error::ProviderError;
use crate::provider::model::{Provider, RemoteClient};

#[derive(Default)]
struct Snapshot {
    fetched: Option<Instant>,
    clients: HashMap<String, RemoteClient>,
}

/// Per-account snapshots.
#[derive(Default)]
pub struct AccountCache {
    accounts: Mutex<HashMap<String, Arc<Mutex<Snapshot>>>>,
}

impl AccountCache {
    async fn entry(&self, key: &str) -> Arc<Mutex<Snapshot>> {
        self.accounts
            .lock()
            .await
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// Every client of the account, from a snapshot no older than `max_age`
    /// (`Duration::ZERO` forces a LIST).
    pub async fn list(
        &self,
        provider: &dyn Provider,
        max_age: Duration,
    ) -> Result<Vec<RemoteClient>, ProviderError> {
        let entry = self.entry(provider.account_key()).await;
        let mut snap = entry.lock().await;
        Self::refresh(&mut snap, provider, max_age).await?;
        Ok(snap.clients.values().cloned().collect())
    }

    /// LIST the account unless the snapshot is younger than `max_age`.
    async fn refresh(
        snap: &mut Snapshot,
        provider: &dyn Provider,
        max_age: Duration,
    ) -> Result<(), ProviderError> {
        let fresh = snap.fetched.is_some_and(|t| t.elapsed() < max_age);
        if !fresh {
            let started = Instant::now();
            let clients = provider.list().await?;
            // Refill the table in place: no second table beside the old one.
            snap.clients.clear();
            snap.clients
                .extend(clients.into_iter().map(|c| (c.id.clone(), c)));
            snap.fetched = Some(started);
        }
        Ok(())
    }

    /// One client: from a fresh-enough snapshot, else confirmed with a GET.
    /// `Ok(None)` means the provider says it does not exist.
    pub async fn get(
        &self,
        provider: &dyn Provider,
        id: &str,
        max_age: Duration,
        force: bool,
    ) -> Result<Option<RemoteClient>, ProviderError> {
        if !force {
            // Look the one client up in the snapshot: never copy the whole account.
            let entry = self.entry(provider.account_key()).await;
            let mut snap = entry.lock().await;
            Self::refresh(&mut snap, provider, max_age).await?;
            if let Some(c) = snap.clients.get(id) {
                return Ok(Some(c.clone()));
            }
        }
        let got = provider.get(id).await?;
        match &got {
            Some(c) => self.upsert(provider.account_key(), c.clone()).await,
            None => self.remove(provider.account_key(), id).await,
        }
        Ok(got)
    }

    /// Record a client the controller just created or changed.
    pub async fn upsert(&self, account: &str, client: RemoteClient) {
        let entry = self.entry(account).await;
        entry.lock().await.clients.insert(client.id.clone(), client);
    }

    /// Record a client the controller just deleted (or found missing).
    pub async fn remove(&self, account: &str, id: &str) {
        let entry = self.entry(account).await;
        entry.lock().await.clients.remove(id);
    }

    /// Mark a client's rotated-secret flag after a rotate or retire.
    pub async fn set_rotated(&self, account: &str, id: &str, rotated: bool) {
        let entry = self.entry(account).await;
        if let Some(c) = entry.lock().await.clients.get_mut(id) {
            c.has_rotated_secret = rotated;
        }
    }
}
