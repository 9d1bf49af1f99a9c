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
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::provider::error::ProviderError;
use crate::provider::model::RemoteClient;
use crate::provider::scoped::ScopedProvider;

#[derive(Default)]
struct Snapshot {
    fetched: Option<Instant>,
    clients: HashMap<String, RemoteClient>,
}

/// One account's snapshot and when anyone last asked for it.
struct Entry {
    snapshot: Arc<Mutex<Snapshot>>,
    used: Instant,
}

/// Per-account snapshots, keyed by the provider's scoped account key (the
/// provider object's scope, a digest of its credentials, URL and account: see
/// [`crate::provider::scoped`]), so no provider object reads another's listing.
#[derive(Default)]
pub struct AccountCache {
    accounts: Mutex<HashMap<String, Entry>>,
}

/// Wait for an account's snapshot lock no longer than the running reconcile's
/// deadline allows: a LIST that hangs holds it, and must not hold its waiters past
/// their own deadlines too.
async fn lock_within_deadline(
    snapshot: &Mutex<Snapshot>,
) -> Result<tokio::sync::MutexGuard<'_, Snapshot>, ProviderError> {
    match crate::provider::budget::deadline() {
        None => Ok(snapshot.lock().await),
        Some(deadline) => tokio::time::timeout_at(deadline, snapshot.lock())
            .await
            .map_err(|_| ProviderError::DeadlineExceeded {
                operation: crate::provider::error::Operation::List,
                waiting_for: "another reconcile's LIST of this account",
            }),
    }
}

impl AccountCache {
    async fn entry(&self, key: &str) -> Arc<Mutex<Snapshot>> {
        let mut accounts = self.accounts.lock().await;
        let e = accounts.entry(key.to_string()).or_insert_with(|| Entry {
            snapshot: Arc::default(),
            used: Instant::now(),
        });
        e.used = Instant::now();
        e.snapshot.clone()
    }

    /// Drop the snapshots nobody asked for in `max_idle` and nobody holds now;
    /// returns how many were dropped.
    pub async fn evict_idle(&self, max_idle: Duration) -> usize {
        let mut accounts = self.accounts.lock().await;
        let before = accounts.len();
        accounts.retain(|_, e| e.used.elapsed() < max_idle || Arc::strong_count(&e.snapshot) > 1);
        before - accounts.len()
    }

    /// How many accounts have a snapshot.
    #[cfg(test)]
    async fn len(&self) -> usize {
        self.accounts.lock().await.len()
    }

    /// Every client of the account, from a snapshot no older than `max_age`
    /// (`Duration::ZERO` forces a LIST).
    pub async fn list(
        &self,
        provider: &ScopedProvider,
        max_age: Duration,
    ) -> Result<Vec<RemoteClient>, ProviderError> {
        let entry = self.entry(provider.account_key()).await;
        let mut snap = lock_within_deadline(&entry).await?;
        Self::refresh(&mut snap, provider, max_age).await?;
        Ok(snap.clients.values().cloned().collect())
    }

    /// LIST the account unless the snapshot is younger than `max_age`.
    async fn refresh(
        snap: &mut Snapshot,
        provider: &ScopedProvider,
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
        provider: &ScopedProvider,
        id: &str,
        max_age: Duration,
        force: bool,
    ) -> Result<Option<RemoteClient>, ProviderError> {
        if !force {
            // Look the one client up in the snapshot: never copy the whole account.
            let entry = self.entry(provider.account_key()).await;
            let mut snap = lock_within_deadline(&entry).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::budget::{CallScope, scoped};
    use crate::provider::model::{ClientFields, Creation, Field, Provider, Secrets};
    use async_trait::async_trait;

    /// An account whose LIST never answers (or answers at once, when `hangs` is
    /// false). Only the reads are asked of it.
    struct Account {
        key: String,
        hangs: bool,
    }

    fn account(key: &str, hangs: bool) -> ScopedProvider {
        let inner = Account {
            key: key.into(),
            hangs,
        };
        ScopedProvider::new(Box::new(inner), "", "", false)
    }

    #[async_trait]
    impl Provider for Account {
        fn kind(&self) -> &'static str {
            "test"
        }
        fn account(&self) -> &str {
            &self.key
        }
        async fn check_credentials(&self) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError> {
            if self.hangs {
                futures::future::pending::<()>().await;
            }
            Ok(vec![])
        }
        async fn get(&self, _: &str) -> Result<Option<RemoteClient>, ProviderError> {
            Ok(None)
        }
        async fn update(
            &self,
            _: &str,
            _: &ClientFields,
            _: &[Field],
        ) -> Result<RemoteClient, ProviderError> {
            unreachable!()
        }
        async fn delete(&self, _: &str) -> Result<(), ProviderError> {
            unreachable!()
        }
        fn creation(&self) -> Creation<'_> {
            unreachable!()
        }
        fn secrets(&self) -> Secrets<'_> {
            unreachable!()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_list_holds_its_waiters_no_longer_than_their_deadline() {
        let cache = Arc::new(AccountCache::default());
        let hung = Arc::new(account("a", true));
        // The first reconcile's LIST never ends (its own HTTP deadline is the HTTP
        // layer's business); it holds the account's lock.
        let (c, p) = (cache.clone(), hung.clone());
        tokio::spawn(async move {
            let _ = c.list(p.as_ref(), Duration::ZERO).await;
        });
        tokio::task::yield_now().await;
        // A second reconcile of the same account waits for the lock until its
        // deadline, then fails cleanly and transiently.
        let waited = scoped(
            CallScope::new("team-a", Some(Duration::from_secs(5))),
            cache.list(hung.as_ref(), Duration::from_secs(60)),
        )
        .await;
        let err = waited.expect_err("the lock is held");
        assert_eq!(err.kind(), "deadline_exceeded");
        assert!(err.is_retryable());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_listings_are_evicted_and_used_ones_kept() {
        let cache = AccountCache::default();
        let a = account("a", false);
        let b = account("b", false);
        cache.list(&a, Duration::ZERO).await.unwrap();
        cache.list(&b, Duration::ZERO).await.unwrap();
        assert_eq!(cache.len().await, 2);
        tokio::time::advance(Duration::from_secs(50)).await;
        cache.list(&b, Duration::from_secs(3600)).await.unwrap();
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(cache.evict_idle(Duration::from_secs(60)).await, 1);
        assert_eq!(cache.len().await, 1, "b was used 20 s ago: kept");
    }
}
