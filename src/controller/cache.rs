//! Reads that every reconcile used to make of the apiserver, cached: the provider
//! object, the labels of the client's namespace (admission) and the provider's
//! credentials Secret. With a thousand clients of one provider these are the same
//! three objects a thousand times.
//!
//! - **Provider objects** stay cached until the controller's own watch of them
//!   reports a change: the watch's mapper calls [`ReadCache::invalidate_providers`]
//!   before it queues the affected clients, so the reconciles it triggers read the
//!   new version. A read that started before an invalidation is not stored (an
//!   epoch counter), so a slow GET can never put an old version back. A TTL of
//!   [`ReadCache::ttl`] bounds the age anyway (a watch that is down).
//! - **Namespace labels** and **credentials Secrets** are not watched (watching
//!   every Secret of the cluster would cost far more memory than it saves): they
//!   are kept for the TTL, by default half the resync period and at most 30 s. A
//!   label removed from a namespace, or a rotated API token, is seen within that
//!   time.
//!
//! Objects are kept as `slim.rs` makes them: what clientops reads of them only.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;

use crate::api::{ClusterOAuthProvider, OAuthProvider};

/// The longest time a namespace's labels or a credentials Secret are reused.
pub const MAX_TTL: Duration = Duration::from_secs(30);

struct Entry<V> {
    value: V,
    at: Instant,
}

struct Map<K, V> {
    entries: HashMap<K, Entry<V>>,
}

impl<K, V> Default for Map<K, V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn get(&self, k: &K, ttl: Duration) -> Option<V> {
        self.entries
            .get(k)
            .filter(|e| e.at.elapsed() < ttl)
            .map(|e| e.value.clone())
    }

    fn put(&mut self, k: K, value: V, at: Instant) {
        // Bounded by the number of providers, namespaces and credentials Secrets in
        // use; expired entries are dropped now and then all the same.
        if self.entries.len() > 4096 {
            self.entries.retain(|_, e| e.at.elapsed() < MAX_TTL * 4);
        }
        self.entries.insert(k, Entry { value, at });
    }
}

#[derive(Default)]
struct Inner {
    /// Bumped by every provider invalidation.
    epoch: u64,
    cluster_providers: Map<String, Option<ClusterOAuthProvider>>,
    providers: Map<(String, String), Option<OAuthProvider>>,
    namespaces: Map<String, BTreeMap<String, String>>,
    secrets: Map<(String, String), Option<Secret>>,
}

/// The cache; one per controller, in [`super::context::Context`].
pub struct ReadCache {
    inner: Mutex<Inner>,
    ttl: Duration,
}

impl Default for ReadCache {
    fn default() -> Self {
        Self::new(MAX_TTL)
    }
}

impl ReadCache {
    /// A cache whose unwatched entries live `ttl` (at most [`MAX_TTL`]).
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: Mutex::default(),
            ttl: ttl.min(MAX_TTL),
        }
    }

    /// The TTL for a controller that resyncs every `resync`.
    pub fn for_resync(resync: Duration) -> Self {
        Self::new(resync / 2)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A provider object changed (or the watch restarted): forget every cached one.
    pub fn invalidate_providers(&self) {
        let mut g = self.lock();
        g.epoch += 1;
        g.cluster_providers = Map::default();
        g.providers = Map::default();
    }

    /// Forget a credentials Secret (e.g. after the provider refused it).
    pub fn invalidate_secret(&self, namespace: &str, name: &str) {
        self.lock()
            .secrets
            .entries
            .remove(&(namespace.to_string(), name.to_string()));
    }

    /// Read through the cache: `pick` finds a fresh entry, `fetch` reads the
    /// apiserver, `store` keeps the result unless `epoch_bound` and an invalidation
    /// came in between. Errors are never cached.
    async fn through<V, E, F>(
        &self,
        pick: impl Fn(&Inner) -> Option<V>,
        fetch: F,
        store: impl FnOnce(&mut Inner, V, Instant),
        epoch_bound: bool,
    ) -> Result<V, E>
    where
        V: Clone,
        F: Future<Output = Result<V, E>>,
    {
        let epoch = {
            let g = self.lock();
            if let Some(v) = pick(&g) {
                return Ok(v);
            }
            g.epoch
        };
        let started = Instant::now();
        let v = fetch.await?;
        let mut g = self.lock();
        if !epoch_bound || g.epoch == epoch {
            store(&mut g, v.clone(), started);
        }
        Ok(v)
    }

    /// A ClusterOAuthProvider, cached until its watch reports a change.
    pub async fn cluster_provider<E>(
        &self,
        name: &str,
        fetch: impl Future<Output = Result<Option<ClusterOAuthProvider>, E>>,
    ) -> Result<Option<ClusterOAuthProvider>, E> {
        let ttl = self.ttl.max(MAX_TTL);
        let key = name.to_string();
        self.through(
            |g| g.cluster_providers.get(&key, ttl),
            slimmed(fetch),
            |g, v, at| g.cluster_providers.put(key.clone(), v, at),
            true,
        )
        .await
    }

    /// An OAuthProvider, cached until its watch reports a change.
    pub async fn provider<E>(
        &self,
        namespace: &str,
        name: &str,
        fetch: impl Future<Output = Result<Option<OAuthProvider>, E>>,
    ) -> Result<Option<OAuthProvider>, E> {
        let ttl = self.ttl.max(MAX_TTL);
        let key = (namespace.to_string(), name.to_string());
        self.through(
            |g| g.providers.get(&key, ttl),
            slimmed(fetch),
            |g, v, at| g.providers.put(key.clone(), v, at),
            true,
        )
        .await
    }

    /// A namespace's labels, for the TTL.
    pub async fn namespace_labels<E>(
        &self,
        name: &str,
        fetch: impl Future<Output = Result<BTreeMap<String, String>, E>>,
    ) -> Result<BTreeMap<String, String>, E> {
        let key = name.to_string();
        self.through(
            |g| g.namespaces.get(&key, self.ttl),
            fetch,
            |g, v, at| g.namespaces.put(key.clone(), v, at),
            false,
        )
        .await
    }

    /// A credentials Secret, for the TTL.
    pub async fn secret<E>(
        &self,
        namespace: &str,
        name: &str,
        fetch: impl Future<Output = Result<Option<Secret>, E>>,
    ) -> Result<Option<Secret>, E> {
        let key = (namespace.to_string(), name.to_string());
        self.through(
            |g| g.secrets.get(&key, self.ttl),
            slimmed(fetch),
            |g, v, at| g.secrets.put(key.clone(), v, at),
            false,
        )
        .await
    }
}

/// `fetch` with the object it reads as the cache keeps it (`slim.rs`: no
/// annotation, label or managedFields; a tenant's OAuthProvider or credentials
/// Secret can carry up to 256 KiB of them).
async fn slimmed<K: kube::Resource, E>(
    fetch: impl Future<Output = Result<Option<K>, E>>,
) -> Result<Option<K>, E> {
    let mut got = fetch.await?;
    if let Some(o) = got.as_mut() {
        super::slim::object(o);
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn provider(name: &str) -> ClusterOAuthProvider {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
            "metadata": {"name": name}, "spec": {},
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn providers_are_read_once_until_invalidated() {
        let cache = ReadCache::new(Duration::from_secs(10));
        let reads = AtomicU32::new(0);
        let fetch = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(Some(provider("p")))
        };
        for _ in 0..3 {
            assert!(
                cache
                    .cluster_provider("p", fetch())
                    .await
                    .unwrap()
                    .is_some()
            );
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        cache.invalidate_providers();
        cache.cluster_provider("p", fetch()).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_read_that_raced_an_invalidation_is_not_kept() {
        let cache = ReadCache::new(Duration::from_secs(10));
        // The GET started, then the watch reported a change, then the GET returned
        // the old version: it must not be cached.
        let slow = async {
            cache.invalidate_providers();
            Ok::<_, ()>(Some(provider("old")))
        };
        cache.cluster_provider("p", slow).await.unwrap();
        let got = cache
            .cluster_provider("p", async { Ok::<_, ()>(Some(provider("new"))) })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.metadata.name.as_deref(), Some("new"));
    }

    #[tokio::test]
    async fn unwatched_entries_expire_and_errors_are_not_cached() {
        let cache = ReadCache::new(Duration::from_millis(30));
        let reads = AtomicU32::new(0);
        let fetch = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            Ok::<_, ()>(BTreeMap::from([("a".to_string(), "b".to_string())]))
        };
        cache.namespace_labels("ns", fetch()).await.unwrap();
        cache.namespace_labels("ns", fetch()).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        cache.namespace_labels("ns", fetch()).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2);

        assert!(
            cache
                .secret("ns", "s", async { Err::<Option<Secret>, _>("down") })
                .await
                .is_err()
        );
        let got = cache
            .secret("ns", "s", async { Ok::<_, &str>(None) })
            .await
            .unwrap();
        assert!(got.is_none());
    }
}

/// The versions of objects the controller wrote itself (OAuthClient status patches
/// and the finalizer; the Secrets it writes), so that their watch events do not
/// trigger another reconcile: the reconcile that wrote them already knows what they
/// hold. Everything else (spec, annotations, deletion, a status edited by someone
/// else, a Secret edited or deleted by someone else) still triggers. An event that
/// arrives before its write is recorded just reconciles once more.
#[derive(Default)]
pub struct OwnWrites {
    /// uid → the resourceVersions written most recently (a few per object).
    written: Mutex<HashMap<String, Vec<String>>>,
}

/// resourceVersions remembered per object.
const OWN_WRITES_KEPT: usize = 8;

impl OwnWrites {
    /// Record a version the controller wrote.
    pub fn record(&self, obj: &impl kube::Resource) {
        let meta = obj.meta();
        let (Some(uid), Some(rv)) = (&meta.uid, &meta.resource_version) else {
            return;
        };
        let mut g = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let list = g.entry(uid.clone()).or_default();
        if list.len() >= OWN_WRITES_KEPT {
            list.remove(0);
        }
        list.push(rv.clone());
    }

    /// Does a watch cache that holds this object at `cached_rv` hold every version
    /// written (and recorded) for it? Yes when the watch has seen them all, or
    /// when the cache holds the latest one itself: its event overtook the
    /// recording of the write, so `is_own` never matched it. That entry is then
    /// dropped; left, it would make the answer "no" for ever (a fresh GET on every
    /// resync of that object).
    pub fn all_seen(&self, uid: &str, cached_rv: Option<&str>) -> bool {
        let mut g = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = g.get(uid) else {
            return true;
        };
        if cached_rv.is_some() && list.last().map(String::as_str) == cached_rv {
            g.remove(uid);
            return true;
        }
        false
    }

    /// Forget the versions written for this object: a fresh read showed the watch
    /// cache holds the latest version.
    pub fn forget(&self, uid: &str) {
        let mut g = self.written.lock().unwrap_or_else(|e| e.into_inner());
        g.remove(uid);
    }

    /// Is this watch event one of our own writes? Each version is matched once.
    pub fn is_own(&self, obj: &impl kube::Resource) -> bool {
        let meta = obj.meta();
        let (Some(uid), Some(rv)) = (&meta.uid, &meta.resource_version) else {
            return false;
        };
        let mut g = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = g.get_mut(uid) else {
            return false;
        };
        let Some(i) = list.iter().position(|v| v == rv) else {
            return false;
        };
        // Versions older than this one will not be seen any more.
        list.drain(..=i);
        if list.is_empty() {
            g.remove(uid);
        }
        true
    }
}

#[cfg(test)]
mod own_writes_tests {
    use super::*;

    fn version(uid: &str, rv: &str) -> crate::api::OAuthClient {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": "a", "namespace": "n", "uid": uid, "resourceVersion": rv},
            "spec": {"providerRef": {"kind": "ClusterOAuthProvider", "name": "p"}},
        }))
        .unwrap()
    }

    #[test]
    fn only_our_own_versions_are_recognised_once() {
        let own = OwnWrites::default();
        own.record(&version("u", "10"));
        own.record(&version("u", "11"));
        assert!(!own.is_own(&version("u", "9")), "someone else's write");
        assert!(!own.is_own(&version("v", "10")), "another object");
        assert!(own.is_own(&version("u", "11")));
        assert!(
            !own.is_own(&version("u", "10")),
            "older versions are forgotten"
        );
        assert!(!own.is_own(&version("u", "11")), "matched once");
    }

    #[test]
    fn all_writes_are_seen_once_the_cache_holds_the_latest() {
        let own = OwnWrites::default();
        assert!(own.all_seen("u", Some("5")), "nothing written");
        own.record(&version("u", "10"));
        own.record(&version("u", "11"));
        assert!(!own.all_seen("u", Some("10")), "11 is not in the cache yet");
        assert!(!own.all_seen("u", None));
        // The event of 11 overtook its recording: is_own never matched it, but
        // the cache holds it.
        assert!(own.all_seen("u", Some("11")));
        assert!(own.all_seen("u", Some("11")), "and stays so");
        own.record(&version("u", "12"));
        assert!(own.is_own(&version("u", "12")));
        assert!(own.all_seen("u", Some("12")));
    }
}
