//! Fair use of what tenants share: the workers of this controller and the rate
//! budget of a shared provider account.
//!
//! Two rules, each checked before any I/O; a reconcile turned away gives its
//! worker back at once (no write, no provider call) and comes back later:
//!
//! - [`Workers`]: one namespace may hold all workers but two, and the last free
//!   worker goes only to a namespace that holds none; a reconcile that has waited
//!   on its provider for [`SLOW_AFTER`] gives its worker back while it waits, and
//!   namespaces waiting on slow providers share the workers between them. So
//!   however many namespaces' providers hang, they cannot hold every worker
//!   until their calls time out.
//! - [`InFlight`]: the rate limiter serves waiting tenants in turn
//!   ([`crate::provider::ratelimit`]), but a reconcile waiting for a token holds a
//!   worker; so while an account's limiter is saturated, a namespace may hold at
//!   most its share of the reconciles on it, and comes back when its turn at the
//!   limiter is likely. When the limiter has tokens to spare nobody is turned away
//!   by this rule.
//!
//! [`ForcedResyncs`] bounds how often `clientops.dev/reconcile` can force a LIST or
//! GET at the provider: once per interval per object, however fast the value
//! changes.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::provider::ratelimit::RateLimiter;

/// Reconciles in flight, counted by `K`.
struct Tally<K>(Arc<Mutex<HashMap<K, usize>>>);

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

/// One reconcile counted in a [`Tally`], given back on drop.
pub struct Held<K: Eq + Hash> {
    counts: Arc<Mutex<HashMap<K, usize>>>,
    key: K,
}

impl<K: Eq + Hash> Drop for Held<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

impl<K: Eq + Hash + Clone> Tally<K> {
    /// Count one more under `key` if `admit(held under key, held in all)` says
    /// so; otherwise its answer (how long to wait).
    fn take(
        &self,
        key: K,
        admit: impl FnOnce(usize, usize) -> Result<(), Duration>,
    ) -> Result<Held<K>, Duration> {
        let mut counts = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let held = counts.get(&key).copied().unwrap_or(0);
        admit(held, counts.values().sum())?;
        *counts.entry(key.clone()).or_default() += 1;
        Ok(Held {
            counts: self.0.clone(),
            key,
        })
    }
}

/// A reconcile in flight this long is waiting on its provider (a call, a
/// rate-limit wait, the account lock), not working: it no longer counts against
/// the workers, and its namespace counts as waiting on a slow provider.
pub const SLOW_AFTER: Duration = Duration::from_secs(2);
/// A namespace counts as waiting on a slow provider this long after its last slow
/// reconcile ended, so that it comes back at its share, not with a burst.
pub const SLOW_MEMORY: Duration = Duration::from_secs(120);

/// Reconciles in flight per namespace, against the number of workers.
///
/// - A worker is one reconcile *working*: in flight for less than
///   [`SLOW_AFTER`]. A reconcile in flight longer is waiting (on a provider that
///   hangs, at the most) and gives its worker back while it waits; it still
///   counts in its namespace's total.
/// - One namespace may hold all workers but two (working and waiting together),
///   and the last free worker goes only to a namespace that holds none.
/// - A namespace waiting on a slow provider (a reconcile of it is waiting, or
///   was within [`SLOW_MEMORY`]) may hold at most its share of the workers: their
///   number divided by the number of such namespaces, at least one. The more
///   namespaces hang, the less each holds, and a hung reconcile never holds a
///   worker longer than [`SLOW_AFTER`]: however many namespaces hang at once, the
///   others find free workers.
///
/// The waiting reconciles are bounded by these totals per namespace (namespaces are
/// made by the cluster's admin, not by tenants), and each by the reconcile
/// deadline.
pub struct Workers {
    workers: usize,
    pool: Arc<Mutex<Pool>>,
}

#[derive(Default)]
struct Pool {
    next: u64,
    /// namespace → (slot, started) of each reconcile in flight.
    held: HashMap<String, Vec<(u64, Instant)>>,
    /// namespace → when its last slow reconcile ended.
    slow_until: HashMap<String, Instant>,
}

impl Pool {
    fn is_slow(&self, ns: &str, now: Instant) -> bool {
        self.slow_until.get(ns).is_some_and(|t| *t > now)
            || self.held.get(ns).is_some_and(|v| {
                v.iter()
                    .any(|(_, at)| now.saturating_duration_since(*at) >= SLOW_AFTER)
            })
    }
}

/// A worker held by a namespace, given back on drop.
pub struct WorkerSlot {
    pool: Arc<Mutex<Pool>>,
    namespace: String,
    id: u64,
}

impl Drop for WorkerSlot {
    fn drop(&mut self) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let Some(list) = pool.held.get_mut(&self.namespace) else {
            return;
        };
        let Some(i) = list.iter().position(|(id, _)| *id == self.id) else {
            return;
        };
        let (_, started) = list.swap_remove(i);
        if list.is_empty() {
            pool.held.remove(&self.namespace);
        }
        if now.saturating_duration_since(started) >= SLOW_AFTER {
            pool.slow_until
                .insert(self.namespace.clone(), now + SLOW_MEMORY);
        }
    }
}

impl Workers {
    /// `workers` reconciles work at a time.
    pub fn new(workers: usize) -> Self {
        Self {
            workers: workers.max(1),
            pool: Arc::default(),
        }
    }

    /// A worker for a reconcile of `namespace`, or how long to wait first.
    pub fn admit(&self, namespace: &str) -> Result<WorkerSlot, Duration> {
        let workers = self.workers;
        let per_namespace = workers.saturating_sub(2).max(1);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        pool.slow_until.retain(|_, t| *t > now);
        let working = pool
            .held
            .values()
            .flatten()
            .filter(|(_, at)| now.saturating_duration_since(*at) < SLOW_AFTER)
            .count();
        let held = pool.held.get(namespace).map_or(0, Vec::len);
        let full = working >= workers;
        let last = working + 1 >= workers;
        let mut turned_away = full || (last && held > 0) || held >= per_namespace;
        if !turned_away && pool.is_slow(namespace, now) {
            let slow = pool
                .held
                .keys()
                .chain(pool.slow_until.keys())
                .collect::<std::collections::HashSet<_>>()
                .into_iter()
                .filter(|ns| pool.is_slow(ns, now))
                .count();
            turned_away = held >= (workers / slow.max(1)).max(1);
        }
        if turned_away {
            use rand::Rng;
            return Err(Duration::from_millis(rand::rng().random_range(500..1000)));
        }
        pool.next += 1;
        let id = pool.next;
        pool.held
            .entry(namespace.to_string())
            .or_default()
            .push((id, now));
        Ok(WorkerSlot {
            pool: self.pool.clone(),
            namespace: namespace.to_string(),
            id,
        })
    }
}

/// Reconciles in flight per (limiter, namespace).
#[derive(Default)]
pub struct InFlight(Tally<(String, String)>);

/// A place in [`InFlight`], given back on drop.
pub type Slot = Held<(String, String)>;

impl InFlight {
    /// A slot for a reconcile of namespace `tenant` on `limiter`, or how long to wait
    /// before trying again: when the limiter is saturated and the namespace already
    /// holds `share` reconciles on it.
    pub fn admit(
        &self,
        limiter: &RateLimiter,
        tenant: &str,
        share: usize,
    ) -> Result<Slot, Duration> {
        let key = (limiter.key().to_string(), tenant.to_string());
        self.0.take(key, |held, _| {
            if held >= share.max(1) && limiter.is_saturated() {
                return Err(retry_delay(limiter, tenant));
            }
            Ok(())
        })
    }
}

/// When a turned-away reconcile should come back: about when the namespace's
/// queued calls will have had their tokens, at least a second, at most a minute,
/// with jitter so that the turned-away do not return together.
fn retry_delay(limiter: &RateLimiter, tenant: &str) -> Duration {
    use rand::Rng;
    let cfg = limiter.config();
    let per_token = cfg.period / cfg.requests.max(1);
    let queued = limiter.waiting(tenant) as u32 + 1;
    let base = per_token
        .saturating_mul(queued)
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    base + base.mul_f64(rand::rng().random_range(0.0..0.5))
}

/// When each object last forced a provider read through `clientops.dev/reconcile`.
pub struct ForcedResyncs {
    interval: Duration,
    last: Mutex<HashMap<String, Instant>>,
}

impl ForcedResyncs {
    /// At most one forced read per `interval` per object.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: Mutex::default(),
        }
    }

    /// Whether object `uid` may force a read now (and if so, it is recorded);
    /// otherwise how long until it may.
    pub fn try_force(&self, uid: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = last.get(uid) {
            let since = now.saturating_duration_since(*t);
            if since < self.interval {
                return Err(self.interval - since);
            }
        }
        // Entries older than the interval say nothing: drop them as we go.
        if last.len() > 4096 {
            let interval = self.interval;
            last.retain(|_, t| now.saturating_duration_since(*t) < interval);
        }
        last.insert(uid.to_string(), now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_last_worker_goes_to_a_namespace_that_holds_none() {
        let w = Workers::new(8);
        // Namespace a alone takes all but two workers...
        let a: Vec<_> = (0..6)
            .map(|_| w.admit("a").expect("below the cap"))
            .collect();
        assert!(w.admit("a").is_err(), "a holds its most");
        // ...a second namespace takes one more, but not the last...
        let b = w.admit("b").expect("b holds nothing yet");
        assert!(
            w.admit("b").is_err(),
            "the last worker is not for b, which holds one"
        );
        // ...which a third namespace still gets.
        let c = w.admit("c").expect("c holds nothing");
        assert!(w.admit("d").is_err(), "all eight are busy");
        drop((b, c));
        drop(a);
        // Slots come back on drop.
        let again: Vec<_> = (0..6).map(|_| w.admit("a").expect("freed")).collect();
        assert_eq!(again.len(), 6);
        // One worker: never deadlocks.
        let one = Workers::new(1);
        let s = one.admit("a").expect("first");
        drop(s);
        assert!(one.admit("a").is_ok());
    }

    /// The adversary: more namespaces whose provider hangs than there are
    /// workers, each trying again as soon as it is turned away.
    #[tokio::test(start_paused = true)]
    async fn however_many_namespaces_hang_another_finds_a_worker() {
        let w = Workers::new(4);
        let hanging: Vec<String> = (0..12).map(|i| format!("hang-{i}")).collect();
        let mut hung = Vec::new();
        let mut healthy_admitted = Vec::new();
        for _ in 0..40 {
            // Every hanging namespace takes what it is given, and never lets go.
            for ns in &hanging {
                while let Ok(slot) = w.admit(ns) {
                    hung.push(slot);
                }
            }
            healthy_admitted.push(w.admit("healthy").is_ok());
            tokio::time::advance(Duration::from_millis(500)).await;
        }
        // Until a hanging namespace has waited SLOW_AFTER it looks like any other
        // (its first reconciles work for that long); once each has, the workers
        // are free for the healthy namespace every time it asks, though every
        // hanging namespace still hangs.
        assert!(
            healthy_admitted[20..].iter().all(|ok| *ok),
            "turned away while {} reconciles hang: {healthy_admitted:?}",
            hung.len()
        );
        assert!(hung.len() >= hanging.len(), "every namespace hangs");
        // Waiting namespaces share the workers: each holds about workers /
        // waiting namespaces, at least one, plus what it took before it was
        // known to wait.
        for ns in &hanging {
            let held = w.pool.lock().unwrap().held.get(ns).map_or(0, Vec::len);
            assert!(held <= 2, "{ns} holds {held}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_reconcile_gives_its_worker_back_but_counts_for_its_namespace() {
        let w = Workers::new(4);
        let a: Vec<_> = (0..2)
            .map(|_| w.admit("a").expect("below the cap"))
            .collect();
        assert!(w.admit("a").is_err(), "a holds all but two");
        let b = w.admit("b").expect("b holds none");
        let c = w.admit("c").expect("the last worker, c holds none");
        assert!(w.admit("d").is_err(), "all four work");
        tokio::time::advance(SLOW_AFTER).await;
        // All four wait now: their workers are free, their namespaces' totals not.
        assert!(w.admit("a").is_err(), "a still holds all but two");
        let d = w.admit("d").expect("a free worker");
        // b and c wait on slow providers: three such namespaces (a, b, c) share
        // four workers, one each.
        assert!(w.admit("b").is_err(), "b holds its share");
        drop((a, b, c));
        // b's slow reconcile ended: b comes back at its share, not with a burst.
        let b1 = w.admit("b").expect("b's share");
        assert!(
            w.admit("b").is_err(),
            "b is remembered as waiting on a slow provider"
        );
        // Long after, b is not slow any more.
        drop(b1);
        tokio::time::advance(SLOW_MEMORY).await;
        drop(d);
        let b: Vec<_> = (0..2)
            .map(|_| w.admit("b").expect("b healthy again"))
            .collect();
        assert_eq!(b.len(), 2);
    }

    #[tokio::test]
    async fn on_a_saturated_account_a_namespace_holds_its_share_only() {
        use crate::provider::ratelimit::{LimiterKey, RateLimitConfig};
        let limiter = RateLimiter::new(
            LimiterKey::new("https://api.example.com", "acct"),
            RateLimitConfig::new(1, Duration::from_secs(3600)),
            None,
        );
        let f = InFlight::default();
        // Tokens to spare: nobody is turned away, whatever they hold.
        let a: Vec<_> = (0..3)
            .map(|_| f.admit(&limiter, "a", 2).expect("not saturated"))
            .collect();
        limiter.acquire().await;
        // Saturated: a holds more than its share of 2, b holds none.
        assert!(f.admit(&limiter, "a", 2).is_err());
        let b = f.admit(&limiter, "b", 2).expect("b holds nothing on it");
        drop(a);
        assert!(f.admit(&limiter, "a", 2).is_ok(), "slots come back on drop");
        drop(b);
    }

    #[test]
    fn a_forced_read_is_allowed_once_per_interval() {
        let f = ForcedResyncs::new(Duration::from_secs(3600));
        assert!(f.try_force("a").is_ok());
        let wait = f.try_force("a").unwrap_err();
        assert!(wait > Duration::from_secs(3500));
        assert!(f.try_force("b").is_ok(), "objects are counted apart");
        let f = ForcedResyncs::new(Duration::ZERO);
        assert!(f.try_force("a").is_ok() && f.try_force("a").is_ok());
    }
}
