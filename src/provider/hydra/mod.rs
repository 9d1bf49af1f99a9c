//! Ory Hydra's admin API for OAuth 2.0 clients (`/admin/clients`, Hydra v2).
//!
//! `wire` holds the bodies as Hydra sends them, `client` is the typed admin API
//! client (pagination, error model, optional bearer auth), `fields` the mapping
//! between its client and the shared model (pure), `adapter` the
//! provider-neutral [`crate::provider::model::Provider`] on top of both. Hydra keeps
//! one secret per client: a rotation replaces it at once, without a grace period.

pub mod adapter;
pub mod client;
pub mod fields;
pub mod kind;
pub mod wire;

pub use adapter::HydraProvider;
pub use client::{Deleted, HydraClient, HydraConfig};
