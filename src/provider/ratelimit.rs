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
        let mut place = {
            let mut state = self.lock();
            let state = &mut *state;
            let now = Instant::now();
            let wait = if state.queue.is_empty() {
                match state.bucket.try_take(now) {
                    Ok(()) => return Ok(Duration::ZERO),
                    Err(wait) => wait,
                }
            } else {
                let ahead = state
                    .queue
                    .grants_before(&tenant, state.queue.len_of(&tenant));
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
    use crate::provider::budget::{CallScope, scoped};
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

    #[tokio::test(start_paused = true)]
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
        assert!(total.load(Ordering::SeqCst) >= 200);
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

    #[test]
    fn wait_for_counts_the_callers_ahead() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(RateLimitConfig::new(3, ms(1000)));
        // Full: three callers go at once, the fourth a period later.
        assert_eq!(b.wait_for(1, t0), Duration::ZERO);
        assert_eq!(b.wait_for(3, t0), Duration::ZERO);
        assert_eq!(b.wait_for(4, t0), ms(1000));
        assert_eq!(b.wait_for(7, t0), ms(2000));
        b.try_take(t0).unwrap();
        b.try_take(t0 + ms(300)).unwrap();
        // One free now; then the tokens spent at 0 and 300 come back.
        assert_eq!(b.wait_for(1, t0 + ms(500)), Duration::ZERO);
        assert_eq!(b.wait_for(2, t0 + ms(500)), ms(500));
        assert_eq!(b.wait_for(3, t0 + ms(500)), ms(800));
        // The fourth is the token taken now, a period later.
        assert_eq!(b.wait_for(4, t0 + ms(500)), ms(1000));
        // A block holds everyone.
        b.block_until(t0 + ms(2000));
        assert_eq!(b.wait_for(1, t0 + ms(500)), ms(1500));
        // A lowered limit: the spent tokens above it come back first.
        let mut b = TokenBucket::new(RateLimitConfig::new(3, ms(1000)));
        for at in [0, 100, 200] {
            b.try_take(t0 + ms(at)).unwrap();
        }
        b.reconfigure(RateLimitConfig::new(1, ms(1000)));
        assert_eq!(b.wait_for(1, t0 + ms(200)), ms(1000));
    }

    #[test]
    fn wait_for_agrees_with_taking_greedily() {
        // From assorted states, the n-th greedy take happens when wait_for(n) says
        // (up to the coalescing slack, which only ever delays).
        let t0 = Instant::now();
        let cfg = RateLimitConfig::new(4, ms(1024));
        for spent in 0..6u64 {
            let fresh = || {
                let mut b = TokenBucket::new(cfg);
                for i in 0..spent {
                    let _ = b.try_take(t0 + ms(i * 150));
                }
                b
            };
            let now = t0 + ms(spent * 150);
            for n in 1..=10usize {
                let predicted = fresh().wait_for(n, now);
                let mut b = fresh();
                let mut t = now;
                for _ in 0..n {
                    while let Err(w) = b.try_take(t) {
                        t += w;
                    }
                }
                let actual = t - now;
                assert!(
                    predicted <= actual && actual <= predicted + ms(10),
                    "spent {spent}, n {n}: predicted {predicted:?}, greedy {actual:?}"
                );
            }
        }
    }

    /// Grants in the order they happened: the caller's label and when.
    type Log = Arc<Mutex<Vec<(String, Instant)>>>;

    /// A task that waits for a token as a caller of `tenant` (`None`: outside any
    /// scope) and logs `label` when it gets one.
    fn waiter(
        limiter: &Arc<RateLimiter>,
        tenant: Option<&str>,
        label: String,
        log: &Log,
    ) -> tokio::task::JoinHandle<()> {
        let (limiter, log, tenant) = (limiter.clone(), log.clone(), tenant.map(str::to_string));
        tokio::spawn(async move {
            let take = async {
                limiter.acquire().await;
                log.lock().unwrap().push((label, Instant::now()));
            };
            match tenant {
                Some(t) => scoped(CallScope::new(&t, None), take).await,
                None => take.await,
            }
        })
    }

    /// Let spawned tasks run until `done` holds (the clock is paused, so none of
    /// them sleeps through a token meanwhile).
    async fn settle_until(done: impl Fn() -> bool) {
        for _ in 0..10_000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the spawned tasks never got there");
    }

    /// Let a just spawned task run until it waits.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    fn labels(log: &Log) -> Vec<String> {
        log.lock().unwrap().iter().map(|(l, _)| l.clone()).collect()
    }

    fn limiter(requests: u32, period: Duration) -> Arc<RateLimiter> {
        Arc::new(RateLimiter::new(
            LimiterKey::new("http://h", "a"),
            RateLimitConfig::new(requests, period),
            None,
        ))
    }

    #[tokio::test(start_paused = true)]
    async fn a_tenant_with_one_call_is_served_within_two_grants_of_one_with_500() {
        let l = limiter(1, ms(100));
        let log = Log::default();
        let mut tasks: Vec<_> = (0..500)
            .map(|i| waiter(&l, Some("team-a"), format!("a{i}"), &log))
            .collect();
        settle_until(|| l.waiting("team-a") == 499).await;
        assert_eq!(log.lock().unwrap().len(), 1, "one free token");
        assert_eq!(l.waiting("team-a"), 499);
        assert!(l.is_saturated());
        // A few grants later, team-b's single call arrives.
        tokio::time::sleep(ms(350)).await;
        let granted_before = log.lock().unwrap().len();
        assert_eq!(granted_before, 4);
        tasks.push(waiter(&l, Some("team-b"), "b".into(), &log));
        settle().await;
        assert_eq!(l.waiting("team-b"), 1);
        for t in tasks {
            t.await.unwrap();
        }
        let order = labels(&log);
        let b_at = order.iter().position(|l| l == "b").unwrap();
        assert!(
            b_at < granted_before + 2,
            "team-b got grant {b_at}, {granted_before} had been granted when it came"
        );
        // team-a was served first come, first served, and lost nothing.
        let a: Vec<_> = order.iter().filter(|l| *l != "b").cloned().collect();
        assert_eq!(a, (0..500).map(|i| format!("a{i}")).collect::<Vec<_>>());
        assert_eq!(l.waiting("team-a"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn tenants_take_turns_and_each_is_served_in_arrival_order() {
        let l = limiter(1, ms(1000));
        l.acquire().await; // spent: everyone below queues
        let log = Log::default();
        let mut tasks = Vec::new();
        for (tenant, label) in [
            (Some("a"), "a1"),
            (Some("a"), "a2"),
            (Some("a"), "a3"),
            (Some("b"), "b1"),
            (None, "x1"),
            (Some("b"), "b2"),
            (Some("c"), "c1"),
            (None, "x2"),
        ] {
            tasks.push(waiter(&l, tenant, label.into(), &log));
            settle().await; // arrival order is the spawn order
        }
        assert_eq!((l.waiting("a"), l.waiting("b"), l.waiting("c")), (3, 2, 1));
        for t in tasks {
            t.await.unwrap();
        }
        // Round robin in order of arrival of the tenants (the scopeless callers
        // are a tenant of their own), FIFO within each.
        assert_eq!(
            labels(&log),
            ["a1", "b1", "x1", "c1", "a2", "b2", "x2", "a3"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_tenant_alone_gets_every_token_as_soon_as_it_is_free() {
        let l = limiter(5, ms(1000));
        let start = Instant::now();
        let log = Log::default();
        let tasks: Vec<_> = (0..20)
            .map(|i| waiter(&l, Some("a"), format!("{i}"), &log))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // 5 at once, then 5 as each period's tokens come back (paused clock; the
        // timer's millisecond resolution is the only slack).
        let log = log.lock().unwrap();
        for (i, (_, at)) in log.iter().enumerate() {
            let due = ms(1000) * (i as u32 / 5);
            let at = *at - start;
            assert!(
                at >= due && at <= due + ms(5),
                "grant {i} at {at:?}, due at {due:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fair_grants_never_exceed_the_limit_in_any_window() {
        let l = limiter(5, ms(1000));
        let log = Log::default();
        let mut tasks = Vec::new();
        for i in 0..20 {
            for tenant in ["a", "b", "c"] {
                tasks.push(waiter(&l, Some(tenant), format!("{tenant}{i}"), &log));
            }
            if i % 7 == 0 {
                tokio::time::sleep(ms(130)).await; // arrivals spread over time
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
        let times: Vec<Instant> = log.lock().unwrap().iter().map(|(_, at)| *at).collect();
        assert_eq!(times.len(), 60);
        for (i, &start) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|&&t| t < start + ms(1000))
                .count();
            assert!(in_window <= 5, "{in_window} grants in the window at {i}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_waiter_neither_loses_nor_leaks_a_token() {
        let l = limiter(1, ms(1000));
        let start = Instant::now();
        l.acquire().await;
        let log = Log::default();
        let mut tasks = Vec::new();
        for (tenant, label) in [("a", "a1"), ("a", "a2"), ("a", "a3"), ("b", "b1")] {
            tasks.push(waiter(&l, Some(tenant), label.into(), &log));
            settle().await;
        }
        assert_eq!(l.waiting("a"), 3);
        // Drop the head (sleeping until the next token) and the last of team-a.
        tasks[0].abort();
        tasks[2].abort();
        settle().await;
        assert_eq!(l.waiting("a"), 1);
        for t in tasks.drain(..) {
            let _ = t.await;
        }
        let log = log.lock().unwrap().clone();
        let order: Vec<_> = log.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(order, ["a2", "b1"]);
        // a2 got the token a1 would have had, on time: nothing stalled.
        assert!(log[0].1 - start <= ms(1005), "a2 at {:?}", log[0].1 - start);
        assert!(log[1].1 - start <= ms(2010), "b1 at {:?}", log[1].1 - start);
        // Nothing was taken for the dropped ones: a period later all is back.
        tokio::time::sleep(ms(1100)).await;
        assert_eq!(l.available(), 1);
        assert!(!l.is_saturated());
        // A waiter dropped by a timeout is gone from the queue too.
        l.acquire().await;
        let timed_out = scoped(
            CallScope::new("a", None),
            tokio::time::timeout(ms(10), l.acquire()),
        )
        .await;
        assert!(timed_out.is_err());
        assert_eq!(l.waiting("a"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_within_judges_the_wait_by_the_callers_place_in_the_fair_order() {
        let l = limiter(1, ms(1000));
        l.acquire().await;
        let log = Log::default();
        let tasks: Vec<_> = (0..5)
            .map(|i| waiter(&l, Some("a"), format!("a{i}"), &log))
            .collect();
        settle().await;
        assert_eq!(l.waiting("a"), 5);
        // A sixth caller of team-a is behind all five: refused at once, not queued.
        let refused = scoped(
            CallScope::new("a", None),
            l.acquire_within(Duration::from_secs(3)),
        )
        .await;
        assert_eq!(refused, Err(ms(6000)));
        assert_eq!(l.waiting("a"), 5);
        // team-b's first caller is second in line: 2 s away, within 3 s.
        let start = Instant::now();
        let b = scoped(
            CallScope::new("b", None),
            l.acquire_within(Duration::from_secs(3)),
        )
        .await;
        assert!(b.is_ok());
        assert!(start.elapsed() <= ms(2010));
        for t in tasks {
            t.await.unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_overtaken_by_new_tenants_gives_up_at_its_max_wait() {
        let l = limiter(1, ms(1000));
        l.acquire().await;
        let log = Log::default();
        let a1 = waiter(&l, Some("a"), "a1".into(), &log);
        settle().await;
        let start = Instant::now();
        let l2 = l.clone();
        // Second in line: 2 s away, allowed 2.5 s.
        let a2 = tokio::spawn(scoped(CallScope::new("a", None), async move {
            l2.acquire_within(ms(2500)).await
        }));
        settle().await;
        assert_eq!(l.waiting("a"), 2);
        // team-b and team-c arrive and are served before a2 (round robin): a2's
        // turn is now at 4 s, so it gives up at 2.5 s and leaves the queue.
        let b1 = waiter(&l, Some("b"), "b1".into(), &log);
        let c1 = waiter(&l, Some("c"), "c1".into(), &log);
        let gave_up = a2.await.unwrap();
        let waited = start.elapsed();
        assert!(
            waited >= ms(2500) && waited <= ms(2510),
            "gave up after {waited:?}"
        );
        // Its expected rest: c1's token at 3 s, then its own at 4 s.
        assert_eq!(gave_up, Err(ms(1500)));
        assert_eq!(l.waiting("a"), 0);
        for t in [a1, b1, c1] {
            t.await.unwrap();
        }
        assert_eq!(labels(&log), ["a1", "b1", "c1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_that_cannot_get_a_token_in_time_gives_up_at_once() {
        let l = limiter(1, ms(1000));
        l.acquire().await;
        let start = Instant::now();
        // A 429 blocks the account for 10 s while a caller waits with 3 s to spare.
        let l2 = l.clone();
        let waiting = tokio::spawn(async move { l2.acquire_within(ms(3000)).await });
        settle().await;
        l.block_for(Duration::from_secs(10));
        let result = waiting.await.unwrap();
        // It learns so when its token would have come (1 s), not at 3 s.
        assert_eq!(start.elapsed(), ms(1000));
        assert_eq!(result, Err(ms(9000)));
    }

    #[tokio::test(start_paused = true)]
    async fn saturation_and_waiting_are_reported() {
        let l = limiter(2, ms(1000));
        assert!(!l.is_saturated());
        l.acquire().await;
        assert!(!l.is_saturated());
        l.acquire().await;
        assert!(l.is_saturated(), "no token free");
        tokio::time::sleep(ms(1000)).await;
        assert!(!l.is_saturated());
        l.block_for(ms(500));
        assert!(l.is_saturated(), "blocked");
        assert_eq!(l.waiting("a"), 0);
    }

    #[test]
    fn scopes_never_share_a_limiter() {
        let reg = RateLimiterRegistry::new();
        let cluster = reg.limiter("http://h/v4", "acc", RateLimitConfig::new(100, ms(1000)));
        let tenant_view = reg.scoped("ns/team-a/cf:3f2a");
        let tenant = tenant_view.limiter("http://h/v4/", "acc", RateLimitConfig::new(1, ms(1000)));
        assert!(!Arc::ptr_eq(&cluster, &tenant));
        assert_eq!(reg.len(), 2);
        // The tenant's limit is its own: the cluster's limiter keeps the admin's.
        assert_eq!(cluster.config().requests, 100);
        assert_eq!(tenant.config().requests, 1);
        tenant_view.limiter("http://h/v4", "acc", RateLimitConfig::new(2, ms(1000)));
        assert_eq!(cluster.config().requests, 100);
        assert_eq!(tenant.config().requests, 2);
        // Spending in one scope leaves the other's budget alone.
        let t = Instant::now();
        tenant.lock().bucket.try_take(t).unwrap();
        tenant.lock().bucket.try_take(t).unwrap();
        assert_eq!(tenant.available(), 0);
        assert_eq!(cluster.available(), 100);
        // Views share the map: the same scope finds the same limiter again.
        let again = reg.scoped("ns/team-a/cf:3f2a").limiter(
            "http://h/v4",
            "acc",
            RateLimitConfig::new(2, ms(1000)),
        );
        assert!(Arc::ptr_eq(&tenant, &again));
        assert_eq!(
            tenant.key().to_string(),
            "http://h/v4 account acc (scope ns/team-a/cf:3f2a)"
        );
        assert_eq!(cluster.key().to_string(), "http://h/v4 account acc");
        assert_eq!(tenant_view.scoped("").scope(), "");
    }

    #[tokio::test(start_paused = true)]
    async fn only_idle_unheld_limiters_are_evicted() {
        let reg = RateLimiterRegistry::new();
        let cfg = RateLimitConfig::new(2, ms(1000));
        // Never used: idle from the start.
        drop(reg.limiter("http://h", "unused", cfg));
        // Spent a token a moment ago.
        reg.limiter("http://h", "spent", cfg).acquire().await;
        // Blocked by a Retry-After.
        reg.limiter("http://h", "blocked", cfg).block_for(ms(5000));
        // Held by a client.
        let held = reg.limiter("http://h", "held", cfg);
        assert_eq!(reg.len(), 4);
        assert_eq!(reg.evict_idle(), 1, "only the unused one");
        assert_eq!(reg.len(), 3);
        // A period later the spent token is back: that one goes too.
        tokio::time::sleep(ms(1000)).await;
        assert_eq!(reg.evict_idle(), 1);
        // The block ends; the held one stays while held.
        tokio::time::sleep(ms(4000)).await;
        assert_eq!(reg.evict_idle(), 1);
        assert_eq!(reg.len(), 1);
        drop(held);
        assert_eq!(reg.evict_idle(), 1);
        assert!(reg.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_limiter_survives_eviction_with_its_budget() {
        let reg = RateLimiterRegistry::new();
        let cfg = RateLimitConfig::new(2, ms(10_000));
        let l = reg.limiter("http://h", "acc", cfg);
        l.acquire().await;
        l.acquire().await;
        drop(l);
        tokio::time::sleep(ms(9000)).await;
        assert_eq!(reg.evict_idle(), 0);
        // The budget is still spent: a fresh limiter would have let this through.
        let l = reg.limiter("http://h", "acc", cfg);
        assert_eq!(l.available(), 0);
        assert!(l.acquire_within(ms(10)).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_sweeps_idle_limiters_at_most_once_an_interval() {
        let reg = RateLimiterRegistry::new();
        let cfg = RateLimitConfig::new(2, ms(1000));
        drop(reg.limiter("http://h", "a", cfg));
        drop(reg.limiter("http://h", "b", cfg));
        assert_eq!(reg.len(), 2, "no sweep before the interval");
        tokio::time::sleep(EVICT_INTERVAL).await;
        // The next lookup sweeps; the limiter it hands out is kept.
        let c = reg.limiter("http://h", "c", cfg);
        assert_eq!(reg.len(), 1);
        drop(c);
        drop(reg.limiter("http://h", "d", cfg));
        assert_eq!(reg.len(), 2, "swept only a moment ago");
    }
}
