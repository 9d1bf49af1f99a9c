//! Client-side rate limiting: one limiter per provider account, shared by every
//! caller of that account (design rule 3, "be kind to the provider").
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
//! When a provider answers 429 anyway (the budget is shared with the dashboard and
//! other tools), [`RateLimiter::block_until`] stops every caller of the account
//! until the provider's Retry-After has passed.
//!
//! Waits are observable: the registry's [`WaitHook`] is called with the account and
//! the time a caller spent waiting (the controller turns it into a metric).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

/// Identifies one provider account: normalized base URL and account id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LimiterKey {
    /// The API base URL, without a trailing slash, scheme and host lower-cased.
    pub base_url: String,
    /// The account (Cloudflare account id, CSP org id, ...).
    pub account: String,
}

impl LimiterKey {
    /// The key for `base_url` and `account`; equivalent spellings of one URL
    /// (trailing slash, upper-case host, default port) give the same key.
    pub fn new(base_url: &str, account: &str) -> Self {
        let base_url = match url::Url::parse(base_url.trim()) {
            Ok(u) => u.as_str().trim_end_matches('/').to_string(),
            Err(_) => base_url.trim().trim_end_matches('/').to_ascii_lowercase(),
        };
        Self {
            base_url,
            account: account.trim().to_string(),
        }
    }
}

impl fmt::Display for LimiterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} account {}", self.base_url, self.account)
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

    /// Refuse every token until `until` (the provider said 429 with Retry-After).
    pub fn block_until(&mut self, until: Instant) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |t| t.max(until)));
    }
}

/// The limiter of one provider account, shared through [`RateLimiterRegistry`].
pub struct RateLimiter {
    key: LimiterKey,
    bucket: Mutex<TokenBucket>,
    hook: Option<WaitHook>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("key", &self.key)
            .field("config", &self.lock().config())
            .finish()
    }
}

impl RateLimiter {
    /// A stand-alone limiter (use the registry to share one per account).
    pub fn new(key: LimiterKey, config: RateLimitConfig, hook: Option<WaitHook>) -> Self {
        Self {
            key,
            bucket: Mutex::new(TokenBucket::new(config)),
            hook,
        }
    }

    /// The account this limiter guards.
    pub fn key(&self) -> &LimiterKey {
        &self.key
    }

    /// The limit in force.
    pub fn config(&self) -> RateLimitConfig {
        self.lock().config()
    }

    fn lock(&self) -> MutexGuard<'_, TokenBucket> {
        // The bucket holds no invariant a panic elsewhere could break halfway.
        self.bucket.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tokens available now.
    pub fn available(&self) -> u32 {
        self.lock().available(Instant::now())
    }

    /// Wait for a token, however long that takes. Returns the time waited.
    pub async fn acquire(&self) -> Duration {
        match self.acquire_within(Duration::MAX).await {
            Ok(waited) | Err(waited) => waited,
        }
    }

    /// Wait for a token, but not past `max_wait` in total: when the next token is
    /// further away, return `Err(time until it is available)` at once without
    /// taking one, so the caller can requeue instead of holding a worker.
    /// `Ok(time waited)` otherwise.
    pub async fn acquire_within(&self, max_wait: Duration) -> Result<Duration, Duration> {
        let start = Instant::now();
        let mut slept = false;
        let result = loop {
            let now = Instant::now();
            let wait = match self.lock().try_take(now) {
                Ok(()) => break Ok(start.elapsed()),
                Err(wait) => wait,
            };
            let waited = now.saturating_duration_since(start);
            if waited.saturating_add(wait) > max_wait {
                break Err(wait);
            }
            slept = true;
            // At least 1 ms, so a wait rounded to zero cannot spin.
            tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
        };
        if slept {
            let waited = start.elapsed();
            tracing::debug!(limiter = %self.key, waited_ms = waited.as_millis() as u64, "rate limiter wait");
            if let Some(hook) = &self.hook {
                hook(&self.key, waited);
            }
        }
        result
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
        self.lock().block_until(until);
    }

    fn reconfigure(&self, config: RateLimitConfig) {
        let mut bucket = self.lock();
        if bucket.config() != config {
            tracing::info!(limiter = %self.key, requests = config.requests, period_s = config.period.as_secs_f64(), "rate limit changed");
            bucket.reconfigure(config);
        }
    }
}

/// Hands out one [`RateLimiter`] per (base URL, account), so every client of an
/// account shares its budget. Cheap to clone; clones share the limiters.
#[derive(Clone, Default)]
pub struct RateLimiterRegistry {
    limiters: Arc<Mutex<HashMap<LimiterKey, Arc<RateLimiter>>>>,
    hook: Option<WaitHook>,
}

impl fmt::Debug for RateLimiterRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiterRegistry")
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
            limiters: Arc::default(),
            hook: Some(hook),
        }
    }

    /// The limiter of `account` at `base_url`, created with `config` on first use.
    /// A later call with a different `config` changes the limit (the provider
    /// object was edited); spent tokens stay spent.
    pub fn limiter(
        &self,
        base_url: &str,
        account: &str,
        config: RateLimitConfig,
    ) -> Arc<RateLimiter> {
        let key = LimiterKey::new(base_url, account);
        let mut map = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = map.get(&key) {
            existing.reconfigure(config);
            return existing.clone();
        }
        let limiter = Arc::new(RateLimiter::new(key.clone(), config, self.hook.clone()));
        map.insert(key, limiter.clone());
        limiter
    }

    /// How many accounts have a limiter.
    pub fn len(&self) -> usize {
        self.limiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Whether no limiter was handed out yet.
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
