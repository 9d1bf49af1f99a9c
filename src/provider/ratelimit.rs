//! Client-side rate limiting: one limiter per provider account and scope, shared by
//! every caller of that account (design rule 3, "be kind to the provider").
//!
//! The limiter is a token bucket of `requests` tokens in which each spent token
//! comes back exactly `period` after it was spent. Unlike a bucket that refills at a
//! constant rate (which lets `2 × requests` through in one period after a burst),
//! this never lets more than `requests` calls start in any window of length
//! `period`, which is what Cloudflare counts ("1200 requests per 5 minutes"). Spent
//! tokens are kept in at most about a thousand time slots, whatever the limit, so
//! memory stays small; coalescing only ever returns a token slightly later, never
//! earlier.
//!
//! Waiters are served fairly across tenants (the namespace of the reconcile, from
//! [`budget::tenant`]): one FIFO queue per tenant, the queues served round robin, so
//! one namespace's 500 pending calls delay another's single call by at most one
//! grant per busy tenant, and a tenant alone gets every token.
//!
//! When a provider answers 429 anyway (the budget is shared with the dashboard and
//! other tools), [`RateLimiter::block_until`] stops every caller of the account
//! until the provider's Retry-After has passed.
//!
//! Limiters are keyed by scope as well as account ([`LimiterKey::scope`]): a
//! tenant's namespaced provider never shares (or reconfigures) the limiter of the
//! admin's ClusterOAuthProvider for the same account. Limiters nobody holds whose
//! tokens have all come back are dropped ([`RateLimiterRegistry::evict_idle`]).
//!
//! Waits are observable: the registry's [`WaitHook`] is called with the account and
//! the time a caller spent waiting (the controller turns it into a metric).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
// Tokio's clock, so tests with a paused clock drive the limiter.
use tokio::time::Instant;

use super::budget;

/// At most `requests` calls per `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Calls allowed per period (the bucket size); at least 1.
    pub requests: u32,
    /// The period; at least 1 ms.
    pub period: Duration,
}

impl RateLimitConfig {
    /// Cloudflare's documented global limit: 1,200 requests per 5 minutes.
    pub const CLOUDFLARE_DEFAULT: Self = Self {
        requests: 1200,
        period: Duration::from_secs(300),
    };

    /// A limit of `requests` per `period`, clamped to at least 1 per 1 ms and a
    /// period of at most [`MAX_PERIOD`].
    pub fn new(requests: u32, period: Duration) -> Self {
        Self {
            requests: requests.max(1),
            period: period.clamp(Duration::from_millis(1), MAX_PERIOD),
        }
    }
}

/// The longest period a limit may have (a week); longer ones are cut to it.
pub const MAX_PERIOD: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest a provider's Retry-After blocks an account (a day): a bogus huge
/// value must not stop an account for ever.
pub const MAX_BLOCK: Duration = Duration::from_secs(24 * 3600);

/// Called with the limiter's key and how long a caller waited for a token.
pub type WaitHook = Arc<dyn Fn(&LimiterKey, Duration) + Send + Sync>;

/// Identifies one limiter: the scope it belongs to, the normalized base URL and the
/// account id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LimiterKey {
    /// Who owns the limiter: empty for the cluster scope (ClusterOAuthProviders,
    /// set by the admin); otherwise one namespaced provider object and its
    /// credentials (see [`RateLimiterRegistry::scoped`]).
    pub scope: String,
    /// The API base URL, without a trailing slash, scheme and host lower-cased.
    pub base_url: String,
    /// The account (Cloudflare account id, CSP org id, ...).
    pub account: String,
}

impl LimiterKey {
    /// The cluster-scope key for `base_url` and `account`; equivalent spellings of
    /// one URL (trailing slash, upper-case host, default port) give the same key.
    pub fn new(base_url: &str, account: &str) -> Self {
        Self::scoped("", base_url, account)
    }

    /// The key for `base_url` and `account` in `scope` (empty: the cluster scope).
    pub fn scoped(scope: &str, base_url: &str, account: &str) -> Self {
        let base_url = match url::Url::parse(base_url.trim()) {
            Ok(u) => u.as_str().trim_end_matches('/').to_string(),
            Err(_) => base_url.trim().trim_end_matches('/').to_ascii_lowercase(),
        };
        Self {
            scope: scope.to_string(),
            base_url,
            account: account.trim().to_string(),
        }
    }
}

impl fmt::Display for LimiterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} account {}", self.base_url, self.account)?;
        if !self.scope.is_empty() {
            write!(f, " (scope {})", self.scope)?;
        }
        Ok(())
    }
}

/// How many slots the spent tokens of one period are coalesced into.
const SLOTS_PER_PERIOD: u32 = 1024;

/// Tokens spent in one slot.
#[derive(Clone, Copy, Debug)]
struct Spent {
    first: Instant,
    last: Instant,
    count: u32,
}

/// The pure bucket: all time is passed in, so it is tested without sleeping.
#[derive(Debug)]
pub struct TokenBucket {
    config: RateLimitConfig,
    slot: Duration,
    spent: VecDeque<Spent>,
    in_use: u32,
    blocked_until: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(config: RateLimitConfig) -> Self {
        let config = RateLimitConfig::new(config.requests, config.period);
        Self {
            config,
            slot: config.period / SLOTS_PER_PERIOD,
            spent: VecDeque::new(),
            in_use: 0,
            blocked_until: None,
        }
    }

    /// The limit in force.
    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// Change the limit; tokens already spent stay spent.
    pub fn reconfigure(&mut self, config: RateLimitConfig) {
        let config = RateLimitConfig::new(config.requests, config.period);
        self.config = config;
        self.slot = config.period / SLOTS_PER_PERIOD;
    }

    fn refill(&mut self, now: Instant) {
        while let Some(front) = self.spent.front() {
            if front.last + self.config.period <= now {
                self.in_use -= front.count;
                self.spent.pop_front();
            } else {
                break;
            }
        }
        if self.blocked_until.is_some_and(|t| t <= now) {
            self.blocked_until = None;
        }
    }

    /// Tokens available at `now`.
    pub fn available(&mut self, now: Instant) -> u32 {
        self.refill(now);
        if self.blocked_until.is_some() {
            return 0;
        }
        self.config.requests.saturating_sub(self.in_use)
    }

    /// Take one token at `now`, or say how long until one is available.
    pub fn try_take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if let Some(until) = self.blocked_until {
            return Err(until.saturating_duration_since(now));
        }
        if self.in_use >= self.config.requests {
            // Tokens come back in order; find when enough have returned.
            let excess = self.in_use - self.config.requests + 1;
            let mut returned = 0u32;
            for s in &self.spent {
                returned += s.count;
                if returned >= excess {
                    return Err((s.last + self.config.period).saturating_duration_since(now));
                }
            }
            // Unreachable by construction; be safe rather than spin.
            return Err(self.config.period);
        }
        self.in_use += 1;
        match self.spent.back_mut() {
            Some(back) if now >= back.first && now.duration_since(back.first) < self.slot => {
                back.last = back.last.max(now);
                back.count += 1;
            }
            _ => self.spent.push_back(Spent {
                first: now,
                last: now,
                count: 1,
            }),
        }
        Ok(())
    }

    /// How long from `now` until the `n`-th next token (1 = the next one) can be
    /// taken, when each earlier one is taken as soon as it is free: the wait of the
    /// caller with `n - 1` others ahead of it.
    pub fn wait_for(&mut self, n: usize, now: Instant) -> Duration {
        self.refill(now);
        let start = self.blocked_until.map_or(now, |b| b.max(now));
        let requests = u64::from(self.config.requests);
        let n = n.max(1) as u64;
        // The token taken `requests` places later is the same one, a period later.
        let cycles = (n - 1) / requests;
        let place = n - cycles * requests;
        // `place` is free once this many of the tokens out now have come back.
        let returns = (place + u64::from(self.in_use)).saturating_sub(requests);
        let mut free_at = start;
        if returns > 0 {
            let mut returned = 0u64;
            for s in &self.spent {
                returned += u64::from(s.count);
                if returned >= returns {
                    free_at = free_at.max(s.last + self.config.period);
                    break;
                }
            }
        }
        let cycles = u32::try_from(cycles).unwrap_or(u32::MAX);
        free_at
            .saturating_duration_since(now)
            .saturating_add(self.config.period.saturating_mul(cycles))
    }

    /// Whether every spent token has come back and no block is in force at `now`:
    /// a fresh bucket would behave the same.
    pub fn is_idle(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.in_use == 0 && self.blocked_until.is_none()
    }

    /// Refuse every token until `until` (the provider said 429 with Retry-After).
    pub fn block_until(&mut self, until: Instant) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |t| t.max(until)));
    }
}

/// Whom a waiter waits for: the namespace of its reconcile, or `None` for a call
/// outside any scope (the CLI, tests), which is a tenant of its own.
type Tenant = Option<Arc<str>>;

/// One queued caller.
struct Waiter {
    id: u64,
    wake: Arc<Notify>,
}

/// The callers waiting for a token: a FIFO queue per tenant, the tenants served
/// round robin. Only the head (the first waiter of the tenant at the front of the
/// ring) takes tokens; every grant moves its tenant to the back of the ring.
#[derive(Default)]
struct FairQueue {
    queues: HashMap<Tenant, VecDeque<Waiter>>,
    /// Tenants with waiters, in the order they are served; the front is next.
    ring: VecDeque<Tenant>,
    len: usize,
}

impl FairQueue {
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn len_of(&self, tenant: &Tenant) -> usize {
        self.queues.get(tenant).map_or(0, VecDeque::len)
    }

    fn waiting(&self, tenant: &str) -> usize {
        self.queues
            .iter()
            .find(|(t, _)| t.as_deref() == Some(tenant))
            .map_or(0, |(_, q)| q.len())
    }

    /// How many grants go to others before the waiter at `index` of `tenant`'s
    /// queue (`index` = the queue's length: a caller that joins now). Round `r` of
    /// the ring serves the `r`-th waiter of every tenant that has one, in ring
    /// order; a tenant not in the ring joins at its back.
    fn grants_before(&self, tenant: &Tenant, index: usize) -> usize {
        let mut before = 0;
        let mut passed_own = false;
        for t in &self.ring {
            if t == tenant {
                passed_own = true;
                before += index;
                continue;
            }
            let queued = self.queues.get(t).map_or(0, VecDeque::len);
            before += queued.min(index) + usize::from(!passed_own && queued > index);
        }
        before
    }

    fn push(&mut self, tenant: Tenant, waiter: Waiter) {
        let queue = self.queues.entry(tenant.clone()).or_default();
        if queue.is_empty() {
            self.ring.push_back(tenant);
        }
        queue.push_back(waiter);
        self.len += 1;
    }

    fn head(&self) -> Option<&Waiter> {
        self.ring
            .front()
            .and_then(|t| self.queues.get(t))
            .and_then(VecDeque::front)
    }

    fn is_head(&self, id: u64) -> bool {
        self.head().is_some_and(|w| w.id == id)
    }

    /// Wake the head, so it takes a token or sleeps until the next one.
    fn wake_head(&self) {
        if let Some(head) = self.head() {
            head.wake.notify_one();
        }
    }

    /// The head took a token: it leaves, its tenant's turn ends.
    fn pop_head(&mut self) {
        let Some(tenant) = self.ring.pop_front() else {
            return;
        };
        if let Some(queue) = self.queues.get_mut(&tenant) {
            queue.pop_front();
            self.len -= 1;
            if queue.is_empty() {
                self.queues.remove(&tenant);
            } else {
                self.ring.push_back(tenant);
            }
        }
    }

    /// Remove waiter `id` of `tenant` (it gave up or was dropped); a tenant that
    /// had only this waiter leaves the ring, one with more keeps its turn.
    fn remove(&mut self, tenant: &Tenant, id: u64) {
        let Some(queue) = self.queues.get_mut(tenant) else {
            return;
        };
        let Some(at) = queue.iter().position(|w| w.id == id) else {
            return;
        };
        queue.remove(at);
        self.len -= 1;
        if queue.is_empty() {
            self.queues.remove(tenant);
            self.ring.retain(|t| t != tenant);
        }
    }

    /// The place of waiter `id` of `tenant` in its queue.
    fn index_of(&self, tenant: &Tenant, id: u64) -> Option<usize> {
        self.queues.get(tenant)?.iter().position(|w| w.id == id)
    }
}

/// A limiter's mutable state, behind one lock.
struct State {
    bucket: TokenBucket,
    queue: FairQueue,
    next_id: u64,
}

/// The limiter of one provider account, shared through [`RateLimiterRegistry`].
pub struct RateLimiter {
    key: LimiterKey,
    state: Mutex<State>,
    hook: Option<WaitHook>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("RateLimiter")
            .field("key", &self.key)
            .field("config", &state.bucket.config())
            .field("waiting", &state.queue.len)
            .finish()
    }
}

/// A caller's place in the queue; leaving it (a grant, giving up, or the future
/// being dropped) takes it out, and wakes the next head if it was the head.
struct Place<'a> {
    limiter: &'a RateLimiter,
    tenant: Tenant,
    id: u64,
    queued: bool,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if self.queued {
            let mut state = self.limiter.lock();
            let was_head = state.queue.is_head(self.id);
            state.queue.remove(&self.tenant, self.id);
            if was_head {
                state.queue.wake_head();
            }
        }
    }
}

/// How long a waiter sleeps at least, so a wait rounded to zero cannot spin.
const MIN_SLEEP: Duration = Duration::from_millis(1);

impl RateLimiter {
    /// A stand-alone limiter (use the registry to share one per account).
    pub fn new(key: LimiterKey, config: RateLimitConfig, hook: Option<WaitHook>) -> Self {
        Self {
            key,
            state: Mutex::new(State {
                bucket: TokenBucket::new(config),
                queue: FairQueue::default(),
                next_id: 0,
            }),
            hook,
        }
    }

    /// The account this limiter guards.
    pub fn key(&self) -> &LimiterKey {
        &self.key
    }

    /// The limit in force.
    pub fn config(&self) -> RateLimitConfig {
        self.lock().bucket.config()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is changed only in short sections that do not panic halfway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tokens available now.
    pub fn available(&self) -> u32 {
        self.lock().bucket.available(Instant::now())
    }

    /// How many callers of `tenant` (a namespace) wait for a token.
    pub fn waiting(&self, tenant: &str) -> usize {
        self.lock().queue.waiting(tenant)
    }

    /// Whether a new caller would have to wait: someone is waiting, or no token is
    /// free (spent, or blocked by a provider's Retry-After).
    pub fn is_saturated(&self) -> bool {
        let mut state = self.lock();
        !state.queue.is_empty() || state.bucket.available(Instant::now()) == 0
    }

    /// Whether nothing distinguishes this limiter from a fresh one: nobody waits,
    /// every token has come back, no block is in force.
    fn is_idle(&self) -> bool {
        let mut state = self.lock();
        state.queue.is_empty() && state.bucket.is_idle(Instant::now())
    }

    /// Wait for a token, however long that takes. Returns the time waited.
    pub async fn acquire(&self) -> Duration {
        match self.acquire_within(Duration::MAX).await {
            Ok(waited) | Err(waited) => waited,
        }
    }

    /// Wait for a token, but not past `max_wait` in total. When this caller's turn
    /// (its place in the fair order, and any block) is further away, return
    /// `Err(expected wait)` at once without taking a token or queueing, so the
    /// caller can requeue instead of holding a worker; a caller whose turn is later
    /// than expected (others came first in the round robin) gives up at `max_wait`
    /// with `Err(expected rest of the wait)`. `Ok(time waited)` otherwise.
    ///
    /// Callers of one tenant ([`budget::tenant`]) are served in arrival order;
    /// tenants take turns.
    pub async fn acquire_within(&self, max_wait: Duration) -> Result<Duration, Duration> {
        let start = Instant::now();
        let tenant: Tenant = budget::tenant();
        let wake = Arc::new(Notify::new());
        let place = {
            let mut state = self.lock();
            let state = &mut *state;
            let now = Instant::now();
            let wait = if state.queue.is_empty() {
                match state.bucket.try_take(now) {
                    Ok(()) => return Ok(Duration::ZERO),
                    Err(wait) => wait,
                }
            } else {
                let ahead = state.queue.grants_before(&tenant, state.queue.len_of(&tenant));
                state.bucket.wait_for(ahead + 1, now)
            };
            if wait > max_wait {
                return Err(wait);
            }
            let id = state.next_id;
            state.next_id += 1;
            state.queue.push(
                tenant.clone(),
                Waiter {
                    id,
                    wake: wake.clone(),
                },
            );
            Place {
                limiter: self,
                tenant,
                id,
                queued: true,
            }
        };
        let mut place = place;
        let give_up_at = start.checked_add(max_wait);
        let result = loop {
            // The head takes a token or learns when the next one is free; the
            // others wait to be woken (the head moved on, or a limit changed).
            let head_wait = {
                let mut state = self.lock();
                if state.queue.is_head(place.id) {
                    match state.bucket.try_take(Instant::now()) {
                        Ok(()) => {
                            state.queue.pop_head();
                            place.queued = false;
                            state.queue.wake_head();
                            break Ok(start.elapsed());
                        }
                        Err(wait) => Some(wait.max(MIN_SLEEP)),
                    }
                } else {
                    None
                }
            };
            match head_wait {
                Some(wait) => {
                    let at = Instant::now() + wait;
                    if give_up_at.is_some_and(|g| at > g) {
                        break Err(wait);
                    }
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = wake.notified() => {}
                    }
                }
                None => match give_up_at {
                    None => wake.notified().await,
                    Some(g) => {
                        if tokio::time::timeout_at(g, wake.notified()).await.is_err() {
                            break Err(self.expected_wait(&place));
                        }
                    }
                },
            }
        };
        drop(place);
        let waited = start.elapsed();
        tracing::debug!(limiter = %self.key, waited_ms = waited.as_millis() as u64, granted = result.is_ok(), "rate limiter wait");
        if let Some(hook) = &self.hook {
            hook(&self.key, waited);
        }
        result
    }

    /// The rest of the wait of a queued caller, from its place in the fair order.
    fn expected_wait(&self, place: &Place<'_>) -> Duration {
        let mut state = self.lock();
        let state = &mut *state;
        let index = state.queue.index_of(&place.tenant, place.id).unwrap_or(0);
        let ahead = state.queue.grants_before(&place.tenant, index);
        state.bucket.wait_for(ahead + 1, Instant::now())
    }

    /// Refuse every caller for `retry_after` (the provider answered 429), at most
    /// [`MAX_BLOCK`].
    pub fn block_for(&self, retry_after: Duration) {
        let now = Instant::now();
        let until = now
            .checked_add(retry_after.min(MAX_BLOCK))
            .unwrap_or(now + MAX_BLOCK);
        self.block_until(until);
    }

    /// Refuse every caller until `until`.
    pub fn block_until(&self, until: Instant) {
        self.lock().bucket.block_until(until);
    }

    fn reconfigure(&self, config: RateLimitConfig) {
        let mut state = self.lock();
        if state.bucket.config() != config {
            tracing::info!(limiter = %self.key, requests = config.requests, period_s = config.period.as_secs_f64(), "rate limit changed");
            state.bucket.reconfigure(config);
            // A higher limit may free a token sooner than the head expects.
            state.queue.wake_head();
        }
    }
}

/// How often [`RateLimiterRegistry::limiter`] sweeps idle limiters at most.
pub const EVICT_INTERVAL: Duration = Duration::from_secs(60);

/// The limiters of a registry and when they were last swept.
struct Limiters {
    map: HashMap<LimiterKey, Arc<RateLimiter>>,
    last_sweep: Instant,
}

impl Limiters {
    fn evict_idle(&mut self) -> usize {
        let before = self.map.len();
        // A limiter only the map holds cannot be cloned while the map is locked.
        self.map
            .retain(|_, limiter| Arc::strong_count(limiter) > 1 || !limiter.is_idle());
        before - self.map.len()
    }
}

/// Hands out one [`RateLimiter`] per (scope, base URL, account), so every client of
/// an account in one scope shares its budget. Cheap to clone; clones (and
/// [`scoped`](Self::scoped) views) share the limiters.
#[derive(Clone)]
pub struct RateLimiterRegistry {
    limiters: Arc<Mutex<Limiters>>,
    hook: Option<WaitHook>,
    scope: String,
}

impl Default for RateLimiterRegistry {
    fn default() -> Self {
        Self {
            limiters: Arc::new(Mutex::new(Limiters {
                map: HashMap::new(),
                last_sweep: Instant::now(),
            })),
            hook: None,
            scope: String::new(),
        }
    }
}

impl fmt::Debug for RateLimiterRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiterRegistry")
            .field("scope", &self.scope)
            .field("limiters", &self.len())
            .finish()
    }
}

impl RateLimiterRegistry {
    /// An empty registry without a wait hook.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty registry whose limiters report every wait to `hook`.
    pub fn with_wait_hook(hook: WaitHook) -> Self {
        Self {
            hook: Some(hook),
            ..Self::default()
        }
    }

    /// A view of the same limiters (and wait hook) whose [`limiter`](Self::limiter)
    /// hands out the limiters of `scope` (empty: the cluster scope). Limiters of
    /// different scopes are never shared, and a view can reconfigure only its own.
    pub fn scoped(&self, scope: &str) -> Self {
        Self {
            limiters: self.limiters.clone(),
            hook: self.hook.clone(),
            scope: scope.to_string(),
        }
    }

    /// The scope of this view (empty: the cluster scope).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    fn lock(&self) -> MutexGuard<'_, Limiters> {
        self.limiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The limiter of `account` at `base_url` in this view's scope, created with
    /// `config` on first use. A later call with a different `config` changes the
    /// limit (the provider object was edited); spent tokens stay spent. At most
    /// once per [`EVICT_INTERVAL`] this also drops idle limiters
    /// ([`evict_idle`](Self::evict_idle)).
    pub fn limiter(
        &self,
        base_url: &str,
        account: &str,
        config: RateLimitConfig,
    ) -> Arc<RateLimiter> {
        let key = LimiterKey::scoped(&self.scope, base_url, account);
        let mut limiters = self.lock();
        let limiter = match limiters.map.get(&key) {
            Some(existing) => {
                existing.reconfigure(config);
                existing.clone()
            }
            None => {
                let limiter = Arc::new(RateLimiter::new(key.clone(), config, self.hook.clone()));
                limiters.map.insert(key, limiter.clone());
                limiter
            }
        };
        // Swept after the lookup: the limiter handed out is held, so it stays.
        let now = Instant::now();
        if now.saturating_duration_since(limiters.last_sweep) >= EVICT_INTERVAL {
            limiters.last_sweep = now;
            let evicted = limiters.evict_idle();
            if evicted > 0 {
                tracing::debug!(evicted, "idle rate limiters dropped");
            }
        }
        limiter
    }

    /// Drop the limiters (of every scope) that nobody but the registry holds,
    /// whose spent tokens have all come back (the last was spent a period ago or
    /// longer) and that no Retry-After blocks: a fresh limiter made on the next
    /// use behaves the same. A limiter with spent tokens is never dropped (that
    /// would reset the account's budget). Returns how many were dropped.
    pub fn evict_idle(&self) -> usize {
        let mut limiters = self.lock();
        limiters.last_sweep = Instant::now();
        limiters.evict_idle()
    }

    /// How many limiters exist (all scopes).
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no limiter exists.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_full_bucket_allows_a_burst_then_waits_a_period() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimitConfig::new(3, ms(1000)));
        assert_eq!(b.available(t0), 3);
        for _ in 0..3 {
            b.try_take(t0).unwrap();
        }
        assert_eq!(b.try_take(t0), Err(ms(1000)));
        assert_eq!(b.try_take(t0 + ms(400)), Err(ms(600)));
        b.try_take(t0 + ms(1000)).unwrap();
    }

    #[test]
    fn never_more_than_the_limit_in_any_window() {
        // Take greedily at 1 ms steps for 10 periods; count per sliding window.
        let t0 = Instant::now();
        let cfg = RateLimitConfig::new(50, ms(1000));
        let mut b = TokenBucket::new(cfg);
        let mut taken = Vec::new();
        for step in 0..10_000u64 {
            let now = t0 + ms(step);
            while b.try_take(now).is_ok() {
                taken.push(step);
            }
        }
        for (i, &start) in taken.iter().enumerate() {
            let in_window = taken[i..].iter().take_while(|&&t| t < start + 1000).count();
            assert!(
                in_window <= 50,
                "{in_window} calls in the window at {start} ms"
            );
        }
        // ... and the sustained rate is the limit (within the coalescing slack).
        assert!(taken.len() >= 50 * 9, "only {} calls", taken.len());
    }

    #[test]
    fn tokens_return_one_period_after_they_were_spent() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimitConfig::new(2, ms(1000)));
        b.try_take(t0).unwrap();
        b.try_take(t0 + ms(500)).unwrap();
        assert_eq!(b.try_take(t0 + ms(600)), Err(ms(400)));
        b.try_take(t0 + ms(1000)).unwrap();
        assert_eq!(b.try_take(t0 + ms(1000)), Err(ms(500)));
        assert_eq!(b.available(t0 + ms(1500)), 1);
    }

    #[test]
    fn block_until_refuses_every_token_then_lifts() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimitConfig::new(10, ms(1000)));
        b.block_until(t0 + ms(300));
        b.block_until(t0 + ms(200)); // an earlier block does not shorten it
        assert_eq!(b.try_take(t0), Err(ms(300)));
        assert_eq!(b.available(t0 + ms(100)), 0);
        b.try_take(t0 + ms(300)).unwrap();
        assert_eq!(b.available(t0 + ms(300)), 9);
    }

    #[test]
    fn reconfigure_keeps_spent_tokens() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimitConfig::new(2, ms(1000)));
        b.try_take(t0).unwrap();
        b.try_take(t0).unwrap();
        b.reconfigure(RateLimitConfig::new(3, ms(1000)));
        b.try_take(t0).unwrap();
        assert!(b.try_take(t0).is_err());
    }

    #[test]
    fn degenerate_configs_are_clamped() {
        let c = RateLimitConfig::new(0, Duration::ZERO);
        assert_eq!(c.requests, 1);
        assert_eq!(c.period, ms(1));
        assert_eq!(RateLimitConfig::new(5, Duration::MAX).period, MAX_PERIOD);
        let mut huge = TokenBucket::new(RateLimitConfig {
            requests: 1,
            period: Duration::MAX,
        });
        let now = Instant::now();
        huge.try_take(now).unwrap();
        assert_eq!(huge.try_take(now), Err(MAX_PERIOD));
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimitConfig {
            requests: 0,
            period: Duration::ZERO,
        });
        b.try_take(t0).unwrap();
        assert!(b.try_take(t0).is_err());
    }

    #[test]
    fn keys_normalize_equivalent_urls() {
        let a = LimiterKey::new("https://API.cloudflare.com/client/v4/", "acc");
        let b = LimiterKey::new("https://api.cloudflare.com/client/v4", " acc ");
        assert_eq!(a, b);
        assert_ne!(
            a,
            LimiterKey::new("https://api.cloudflare.com/client/v4", "other")
        );
        assert_ne!(a, LimiterKey::new("http://127.0.0.1:9/client/v4", "acc"));
    }

    #[test]
    fn the_registry_shares_one_limiter_per_account() {
        let reg = RateLimiterRegistry::new();
        let a = reg.limiter("http://h/v4/", "acc", RateLimitConfig::new(5, ms(1000)));
        let b = reg
            .clone()
            .limiter("http://h/v4", "acc", RateLimitConfig::new(5, ms(1000)));
        let c = reg.limiter("http://h/v4", "acc2", RateLimitConfig::new(5, ms(1000)));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(reg.len(), 2);
        // A new config for the same account changes the shared limiter.
        let d = reg.limiter("http://h/v4", "acc", RateLimitConfig::new(7, ms(1000)));
        assert!(Arc::ptr_eq(&a, &d));
        assert_eq!(a.config().requests, 7);
    }

    #[tokio::test]
    async fn acquire_waits_and_reports_the_wait() {
        let total = Arc::new(AtomicU64::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let hook: WaitHook = {
            let (total, calls) = (total.clone(), calls.clone());
            Arc::new(move |_key, waited| {
                total.fetch_add(waited.as_millis() as u64, Ordering::SeqCst);
                calls.fetch_add(1, Ordering::SeqCst);
            })
        };
        let reg = RateLimiterRegistry::with_wait_hook(hook);
        let l = reg.limiter("http://h", "a", RateLimitConfig::new(2, ms(200)));
        let start = Instant::now();
        l.acquire().await;
        l.acquire().await;
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "no wait while tokens remain"
        );
        l.acquire().await;
        assert!(start.elapsed() >= ms(200));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(total.load(Ordering::SeqCst) >= 150);
    }

    #[tokio::test]
    async fn acquire_within_refuses_long_waits_without_taking() {
        let l = RateLimiter::new(
            LimiterKey::new("http://h", "a"),
            RateLimitConfig::new(1, Duration::from_secs(60)),
            None,
        );
        assert!(l.acquire_within(ms(10)).await.is_ok());
        let err = l.acquire_within(ms(10)).await.unwrap_err();
        assert!(err > Duration::from_secs(59));
        l.block_for(Duration::from_secs(120));
        let err = l.acquire_within(ms(10)).await.unwrap_err();
        assert!(err > Duration::from_secs(119));
        // A bogus Retry-After neither panics nor blocks for ever.
        l.block_for(Duration::MAX);
        let err = l.acquire_within(ms(10)).await.unwrap_err();
        assert!(err <= MAX_BLOCK && err > MAX_BLOCK - Duration::from_secs(5));
    }
}
