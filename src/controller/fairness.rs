//! Fair use of what tenants share: the workers of this controller and the rate
//! budget of a shared provider account.
//!
//! The rate limiter already serves waiting tenants in turn
//! ([`crate::provider::ratelimit`]), but a reconcile waiting for a token holds a
//! worker. With 500 creates of namespace A queued before namespace B's one, A's
//! reconciles would fill every worker while they wait, and B's would not even start
//! until ~500 of A's had. So while an account's limiter is saturated, a namespace
//! may hold at most its share of the workers on it; a reconcile beyond that share
//! gives its worker back at once (no write, no provider call) and comes back when
//! its turn at the limiter is likely. When the limiter has tokens to spare nobody
//! is turned away: one namespace alone still gets every worker.
//!
//! [`ForcedResyncs`] bounds how often `clientops.dev/reconcile` can force a LIST or
//! GET at the provider: once per interval per object, however fast the value
//! changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::provider::ratelimit::RateLimiter;

/// Reconciles in flight per namespace, against the number of workers. One
/// namespace may hold all but two of them; the last free worker goes only to a
/// namespace that holds none. So a namespace whose provider hangs (or two such
/// namespaces) cannot hold every worker until their calls time out, and a
/// namespace alone still gets most of them. A tenant with many namespaces holds
/// one worker per namespace at least: the reconcile deadline bounds how long.
pub struct Workers {
    workers: usize,
    state: Arc<Mutex<WorkerCounts>>,
}

#[derive(Default)]
struct WorkerCounts {
    total: usize,
    by_namespace: HashMap<String, usize>,
}

/// A worker held by a namespace, given back on drop.
pub struct WorkerSlot {
    state: Arc<Mutex<WorkerCounts>>,
    namespace: String,
}

impl Drop for WorkerSlot {
    fn drop(&mut self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.total = st.total.saturating_sub(1);
        if let Some(n) = st.by_namespace.get_mut(&self.namespace) {
            *n -= 1;
            if *n == 0 {
                st.by_namespace.remove(&self.namespace);
            }
        }
    }
}

impl Workers {
    /// `workers` reconciles run at a time.
    pub fn new(workers: usize) -> Self {
        Self {
            workers: workers.max(1),
            state: Arc::default(),
        }
    }

    /// The most one namespace may hold.
    fn per_namespace(&self) -> usize {
        self.workers.saturating_sub(2).max(1)
    }

    /// A worker for a reconcile of `namespace`, or how long to wait first.
    pub fn admit(&self, namespace: &str) -> Result<WorkerSlot, Duration> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let held = st.by_namespace.get(namespace).copied().unwrap_or(0);
        let last = st.total + 1 >= self.workers;
        let full = st.total >= self.workers;
        if full || (last && held > 0) || held >= self.per_namespace() {
            use rand::Rng;
            return Err(Duration::from_millis(rand::rng().random_range(500..1000)));
        }
        st.total += 1;
        *st.by_namespace.entry(namespace.to_string()).or_default() += 1;
        Ok(WorkerSlot {
            state: self.state.clone(),
            namespace: namespace.to_string(),
        })
    }
}

/// Reconciles in flight per (limiter, namespace).
#[derive(Default)]
pub struct InFlight {
    counts: Arc<Mutex<HashMap<(String, String), usize>>>,
}

/// A place in [`InFlight`], given back on drop.
pub struct Slot {
    counts: Arc<Mutex<HashMap<(String, String), usize>>>,
    key: (String, String),
}

impl Drop for Slot {
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
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let held = counts.get(&key).copied().unwrap_or(0);
        if held >= share.max(1) && limiter.is_saturated() {
            return Err(retry_delay(limiter, tenant));
        }
        *counts.entry(key.clone()).or_default() += 1;
        Ok(Slot {
            counts: self.counts.clone(),
            key,
        })
    }

    /// Reconciles of `tenant` in flight on the limiter with key `key`.
    pub fn held(&self, key: &str, tenant: &str) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts
            .get(&(key.to_string(), tenant.to_string()))
            .copied()
            .unwrap_or(0)
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
