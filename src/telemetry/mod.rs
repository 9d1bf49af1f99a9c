//! Telemetry of `clientops run`: Prometheus metrics and the HTTP endpoints
//! `/metrics`, `/healthz` and `/readyz`.

pub mod auth;
pub mod metrics;
pub mod server;

pub use metrics::Metrics;
