//! VMware Cloud Services Platform organisation OAuth apps
//! (`/csp/gateway/am/api/orgs/{orgId}/oauth-apps`).
//!
//! `wire` holds the request and response bodies exactly as CSP sends them, and
//! the client id and secret rules; both the client and the emulator
//! (`crate::emulator::csp`) use it. `auth` exchanges the API token for access
//! tokens, `client` is the typed API client, `fields` the mapping between its
//! apps and the shared model (pure), `adapter` the provider-neutral
//! [`crate::provider::model::Provider`] on top of both.

pub mod adapter;
pub mod auth;
pub mod client;
pub mod fields;
pub mod kind;
pub mod wire;

pub use adapter::CspProvider;
pub use auth::CspCredentials;
pub use client::{BulkDeleted, CspClient, CspConfig, Deleted};
