//! Provider emulators: `clientops emulate cloudflare`, `clientops emulate csp` and
//! `clientops emulate entra`.
//!
//! An emulator is a product feature, not a test double: users run it in their own
//! CI the way they run moto or LocalStack. Each one implements its provider's
//! contract (`provider-contracts.md`) over real HTTP and adds an admin API under
//! `/__emulator/` for fault injection, a controllable clock and inspection.
//!
//! [`core`] is the provider-neutral HTTP core every emulator shares; one folder per
//! provider holds the rest.

pub mod cloudflare;
pub mod core;
pub mod csp;
pub mod entra;
