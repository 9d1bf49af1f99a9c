//! Clients of the provider APIs, one folder per provider, and the provider-neutral
//! pieces they share: the typed error ([`error`]), the per-account rate limiter
//! ([`ratelimit`]), the retry policy ([`retry`]) and the HTTP layer ([`http`]).

#[cfg(test)]
pub mod arbitrary;
pub mod budget;
pub mod cloudflare;
pub mod csp;
pub mod dns;
pub mod endpoints;
pub mod entra;
pub mod error;
pub mod federated_token;
pub mod http;
pub mod hydra;
pub mod keycloak;
pub mod list_budget;
pub mod model;
pub mod oauth_probe;
pub mod ratelimit;
pub mod registry;
pub mod rest;
pub mod retry;
pub mod scoped;
pub mod token_source;
pub mod transport;
pub mod url_policy;

pub use error::{Operation, ProviderError, ProviderMessage};
pub use ratelimit::{RateLimitConfig, RateLimiter, RateLimiterRegistry};
pub use retry::RetryPolicy;
