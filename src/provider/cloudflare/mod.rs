//! Cloudflare account OAuth clients (`/accounts/{account_id}/oauth_clients`).
//!
//! `wire` holds the request and response bodies exactly as Cloudflare sends them;
//! both the client and the emulator (`crate::emulator::cloudflare`) use it.

pub mod wire;
