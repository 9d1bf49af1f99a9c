//! Clients of the provider APIs, one folder per provider.

pub mod cloudflare;
