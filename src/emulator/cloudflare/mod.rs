//! The Cloudflare OAuth clients API emulator (`clientops emulate cloudflare`).
//!
//! Serves `/client/v4/accounts/{account_id}/oauth_clients/...` and
//! `/client/v4/oauth/scopes` with Cloudflare's paths, shapes, validation, status
//! codes and error envelopes (`provider-contracts.md` part A), so the official
//! SDKs work against it with only their base URL changed; the OAuth token
//! endpoint `/oauth2/token`, as far as it authenticates clients ([`oauth`]);
//! plus the admin API under `/__emulator/` (see [`admin`] and
//! [`crate::emulator::core::admin`]). [`Cloudflare`] plugs these into the
//! emulator core ([`crate::emulator::core::emulator`]).
//!
//! Modules: the Cloudflare endpoints, authentication and rate limiting
//! ([`routes`]); the create/update rules as a pure function ([`validation`]);
//! accounts, clients and secrets, persisted with `--state` ([`store`]); the scope
//! catalogue ([`scopes`]); credentials ([`auth`]); the v4 envelope and error codes
//! ([`envelope`]); the Cloudflare-specific admin endpoints ([`admin`]).

pub mod admin;
pub mod auth;
pub mod envelope;
pub mod oauth;
pub mod routes;
pub mod scopes;
pub mod store;
pub mod validation;

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{HeaderMap, Method};

use self::auth::{AuthConfig, Caller};
use self::envelope::CfError;
use self::scopes::Catalogue;
use self::store::State;
use crate::emulator::core::{self, Emulated, RateLimit};

/// The path prefix of the API, as in `https://api.cloudflare.com/client/v4`.
pub const API_PREFIX: &str = "/client/v4";

/// How the emulator is set up (the `emulate cloudflare` flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Accepted credentials; empty: any well-formed credential.
    pub auth: AuthConfig,
    /// Accounts that exist from the start.
    pub accounts: Vec<String>,
    /// Refuse account ids that were not pre-created (403 `10000`), instead of
    /// creating them on first use.
    pub strict_accounts: bool,
    /// The scope catalogue.
    pub catalogue: Catalogue,
    /// Per-credential limit; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Where the state is persisted, if anywhere.
    pub state_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            auth: AuthConfig::default(),
            accounts: Vec::new(),
            strict_accounts: false,
            catalogue: Catalogue::default(),
            rate_limit: Some(RateLimit::default()),
            state_file: None,
        }
    }
}

/// True for a well-formed account id: 32 hexadecimal characters.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The Cloudflare emulator, as the emulator core sees it.
pub struct Cloudflare;

/// One Cloudflare emulator instance.
pub type Emulator = core::Emulator<Cloudflare>;

/// A running Cloudflare emulator; its base URL ends in `/client/v4`.
pub type RunningEmulator = core::RunningEmulator<Cloudflare>;

impl Emulated for Cloudflare {
    type Config = Config;
    type State = State;
    type Error = CfError;
    type Caller = Caller;
    type Transient = ();

    const NAME: &'static str = "cloudflare";
    const API_PREFIX: &'static str = API_PREFIX;
    const BASE_PATH: &'static str = API_PREFIX;
    const ADMIN_ENDPOINTS: &'static [&'static str] = admin::ENDPOINTS;

    fn check(cfg: &Config) -> anyhow::Result<()> {
        if let Some(bad) = cfg.accounts.iter().find(|a| !is_account_id(a)) {
            anyhow::bail!("--account {bad:?}: an account id is 32 hexadecimal characters");
        }
        Ok(())
    }

    fn state_file(cfg: &Config) -> Option<&Path> {
        cfg.state_file.as_deref()
    }

    fn rate_limit(cfg: &Config) -> Option<RateLimit> {
        cfg.rate_limit
    }

    /// The `--account`s exist.
    fn seed(cfg: &Config, state: &mut State) {
        for a in &cfg.accounts {
            state.accounts.entry(a.to_ascii_lowercase()).or_default();
        }
    }

    fn reset_transient(_: &()) {}

    fn authenticate(em: &Emulator, headers: &HeaderMap) -> Result<Caller, CfError> {
        auth::authenticate(&em.config().auth, headers)
    }

    fn classify(method: &Method, path: &str) -> &'static str {
        routes::classify(method, path)
    }

    fn credentials_valid(em: &Emulator, client_id: &str, secret: &str) -> bool {
        admin::credentials_valid(em, client_id, secret)
    }

    fn api(em: Emulator) -> Router {
        routes::router(em)
    }

    fn admin(em: Emulator) -> Router {
        admin::router(em)
    }
}
