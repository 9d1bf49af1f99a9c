//! What every provider's HTTP client shares: the transport settings of its
//! config (rate limit, retries, body caps, LIST budget) and their builders, the
//! executor built from them, and the constructors every client has (`standalone`,
//! `with_request_hook`). A client keeps only what is its own: its URLs,
//! credentials and paging.

use std::sync::Arc;

use url::Url;

use super::error::ProviderError;
use super::http::{BodyLimits, Executor, HttpOptions, RequestHook, build_client};
use super::list_budget::ListBudget;
use super::ratelimit::{RateLimitConfig, RateLimiter, RateLimiterRegistry};
use super::retry::RetryPolicy;

/// The transport settings of one provider client's config.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// The account's client-side limit (shared through the limiter registry).
    pub rate_limit: RateLimitConfig,
    /// Retries (only ever of idempotent calls).
    pub retry: RetryPolicy,
    /// Response bodies longer than these are refused (`Decode`).
    pub body_limits: BodyLimits,
    /// What one LIST may read across all its pages.
    pub list_budget: ListBudget,
}

impl TransportConfig {
    /// `rate_limit` (the provider's default), default retries, body caps and LIST
    /// budget.
    pub fn new(rate_limit: RateLimitConfig) -> Self {
        Self {
            rate_limit,
            retry: RetryPolicy::default(),
            body_limits: BodyLimits::default(),
            list_budget: ListBudget::default(),
        }
    }

    /// The executor for the account `scope` at `base`: the limiter shared through
    /// `limiters` (one per base URL and scope), these retries and body caps.
    pub fn open(
        &self,
        http: reqwest::Client,
        limiters: &RateLimiterRegistry,
        base: &Url,
        scope: &str,
    ) -> Transport {
        let limiter = limiters.limiter(base.as_str(), scope, self.rate_limit);
        Transport {
            exec: Executor::new(http, limiter, self.retry).with_body_limits(self.body_limits),
            list_cap: self.body_limits.list,
            list_budget: self.list_budget,
        }
    }
}

/// What [`TransportConfig::open`] gives a client.
pub struct Transport {
    pub exec: Executor,
    /// The body cap of one LIST page.
    pub list_cap: usize,
    pub list_budget: ListBudget,
}

/// A provider client's config: the transport builders every provider has.
pub trait ClientConfig: Sized {
    /// Its transport settings.
    fn transport(&mut self) -> &mut TransportConfig;

    /// Use another client-side rate limit.
    fn with_rate_limit(mut self, rate_limit: RateLimitConfig) -> Self {
        self.transport().rate_limit = rate_limit;
        self
    }

    /// Use another retry policy.
    fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.transport().retry = retry;
        self
    }

    /// Refuse response bodies longer than these.
    fn with_body_limits(mut self, limits: BodyLimits) -> Self {
        self.transport().body_limits = limits;
        self
    }

    /// Use another LIST budget.
    fn with_list_budget(mut self, budget: ListBudget) -> Self {
        self.transport().list_budget = budget;
        self
    }
}

/// A provider's typed HTTP client, built from its config.
pub trait ProviderClient: Sized {
    /// Its config.
    type Config: ClientConfig;

    /// A client that shares `http` (one reqwest client for the whole process) and
    /// the account's limiter from `limiters`. An invalid config is `Config`.
    fn new(
        config: Self::Config,
        http: reqwest::Client,
        limiters: &RateLimiterRegistry,
    ) -> Result<Self, ProviderError>;

    /// The executor every call goes through.
    fn executor(&self) -> &Executor;

    /// Replace the executor (and whatever else holds a copy of it, e.g. a token
    /// source).
    fn set_executor(&mut self, exec: Executor);

    /// A client with its own reqwest client and its own limiter registry (the CLI
    /// and tests; the controller shares both through [`ProviderClient::new`]).
    fn standalone(config: Self::Config) -> Result<Self, ProviderError> {
        let http = build_client(&HttpOptions::default())?;
        Self::new(config, http, &RateLimiterRegistry::new())
    }

    /// Report every attempt to `hook` (request metrics), token requests included.
    fn with_request_hook(mut self, hook: RequestHook) -> Self {
        let exec = self.executor().clone().with_request_hook(hook);
        self.set_executor(exec);
        self
    }

    /// The account's shared rate limiter.
    fn limiter(&self) -> &Arc<RateLimiter> {
        self.executor().limiter()
    }
}
