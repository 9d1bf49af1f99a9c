//! Fair use of what tenants share: the workers of this controller and the rate
//! budget of a shared provider account.
//!
//! Two rules, each checked before any I/O; a reconcile turned away gives its
//! worker back at once (no write, no provider call) and comes back later:
//!
//! - [`Workers`]: one namespace may hold all workers but two, and the last free
//!   worker goes only to a namespace that holds none, so a namespace whose
//!   provider hangs cannot hold every worker until its calls time out.
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

/// Reconciles in flight per namespace, against the number of workers. One
/// namespace may hold all but two of them; the last free worker goes only to a
/// namespace that holds none. So a namespace whose provider hangs (or two such
/// namespaces) cannot hold every worker until their calls time out, and a
/// namespace alone still gets most of them. A tenant with many namespaces holds
/// one worker per namespace at least: the reconcile deadline bounds how long.
pub struct Workers {
    workers: usize,
    by_namespace: Tally<String>,
}

/// A worker held by a namespace, given back on drop.
pub type WorkerSlot = Held<String>;

impl Workers {
    /// `workers` reconciles run at a time.
    pub fn new(workers: usize) -> Self {
        Self {
            workers: workers.max(1),
            by_namespace: Tally::default(),
        }
    }

    /// A worker for a reconcile of `namespace`, or how long to wait first.
    pub fn admit(&self, namespace: &str) -> Result<WorkerSlot, Duration> {
        let workers = self.workers;
        let per_namespace = workers.saturating_sub(2).max(1);
        self.by_namespace
            .take(namespace.to_string(), |held, total| {
                let last = total + 1 >= workers;
                let full = total >= workers;
                if full || (last && held > 0) || held >= per_namespace {
                    use rand::Rng;
                    return Err(Duration::from_millis(rand::rng().random_range(500..1000)));
                }
                Ok(())
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

    #[test]
    fn the_last_worker_goes_to_a_namespace_that_holds_none() {
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
