//! The HTTP core every emulator shares (axum):
//!
//! - [`emulator`]: one emulator instance, generic over what a provider plugs in
//!   ([`Emulated`]): state, router, serving, reset, authentication and rate
//!   limiting;
//! - [`store`]: the state behind a lock, persisted after every change;
//! - [`server`]: a listener whose connections can be killed from a handler, so a
//!   fault can "apply the change, then drop the connection" without a status line;
//! - [`faults`]: latency, 500/503/429 and drop-after-commit injection;
//! - [`clock`]: a clock tests can advance;
//! - [`ratelimit`]: per-credential token buckets with `Retry-After` and the
//!   `Ratelimit`/`Ratelimit-Policy` headers;
//! - [`persist`]: atomic state files (write to a temporary file, then rename);
//! - [`reqlog`]: per-operation, per-status request counters;
//! - [`tls`]: serving over TLS with the same killable connections;
//! - [`admin`]: the shared part of the `/__emulator/` admin API;
//! - [`oauth`]: OAuth token-endpoint error answers and Basic credentials.

pub mod admin;
pub mod clock;
pub mod emulator;
pub mod faults;
pub mod oauth;
pub mod persist;
pub mod ratelimit;
pub mod reqlog;
pub mod server;
pub mod store;
pub mod tls;

pub use clock::Clock;
pub use emulator::{ApiError, CoreError, Emulated, Emulator, RateLimited, RunningEmulator};
pub use faults::{FaultConfig, FaultKind, Faults};
pub use ratelimit::{RateDecision, RateLimit, RateLimiter};
pub use reqlog::RequestLog;
pub use server::{ConnInfo, RunningServer};
pub use store::StateFile;

use std::sync::Arc;

/// The provider-neutral state an emulator's middleware and admin API share.
#[derive(Clone)]
pub struct Core {
    /// The emulator's notion of "now".
    pub clock: Clock,
    /// The fault configuration in force.
    pub faults: Faults,
    /// Per-credential rate limiting.
    pub limiter: Arc<RateLimiter>,
    /// Request counters and the recent-request log.
    pub log: Arc<RequestLog>,
}

impl Core {
    /// A core with the given rate limit (`None`: unlimited).
    pub fn new(rate_limit: Option<RateLimit>) -> Self {
        let clock = Clock::default();
        Self {
            limiter: Arc::new(RateLimiter::new(rate_limit, clock.clone())),
            log: Arc::new(RequestLog::new(clock.clone())),
            faults: Faults::default(),
            clock,
        }
    }

    /// Forget faults, counters and rate-limit buckets, and reset the clock.
    pub fn reset(&self) {
        self.faults.clear();
        self.log.reset();
        self.limiter.reset();
        self.clock.reset();
    }
}
