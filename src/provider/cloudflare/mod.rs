//! Cloudflare account OAuth clients (`/accounts/{account_id}/oauth_clients`).
//!
//! `wire` holds the request and response bodies exactly as Cloudflare sends them;
//! both the client and the emulator (`crate::emulator::cloudflare`) use it.
//! `client` is the typed API client, `auth` its credentials, `fields` the mapping
//! between its clients and the shared model (pure), `adapter` the
//! provider-neutral [`crate::provider::model::Provider`] on top of both.

pub mod adapter;
pub mod auth;
pub mod client;
pub mod fields;
pub mod kind;
pub mod wire;

pub use auth::CloudflareCredentials;
pub use client::{CloudflareClient, CloudflareConfig, Deleted};
