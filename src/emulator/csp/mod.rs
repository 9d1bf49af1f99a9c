//! The VMware CSP organisation OAuth apps emulator (`clientops emulate csp`).
//!
//! Serves `/csp/gateway/am/api/orgs/{orgId}/oauth-apps/...`, the API token
//! exchange `/csp/gateway/am/api/auth/api-tokens/authorize` and the apps' own
//! token endpoint `/csp/gateway/am/api/auth/token` with CSP's paths, shapes,
//! rules, status codes and `CspErrorResponse` bodies (`provider-contracts.md`
//! part B), plus the admin API under `/__emulator/` (see [`admin`] and
//! [`crate::emulator::core::admin`]). [`Csp`] plugs these into the emulator core
//! ([`crate::emulator::core::emulator`]).
//!
//! Modules: the endpoints, authentication and rate limiting ([`routes`]); the
//! create/update rules as pure functions ([`validation`]); organisations, apps,
//! secrets and pending deletions, persisted with `--state` ([`store`]); API and
//! access tokens ([`auth`]); error bodies ([`errors`]); the CSP-specific admin
//! endpoints ([`admin`]).

pub mod admin;
pub mod auth;
pub mod errors;
pub mod routes;
pub mod store;
pub mod validation;

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, Method};

use self::auth::{AccessTokens, AuthConfig, Caller};
use self::errors::CspError;
use self::store::State;
use crate::emulator::core::{self, Emulated, RateLimit};

pub use crate::provider::csp::wire::API_PREFIX;

/// The default listen address (the Cloudflare emulator's port plus one).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8788";

/// How the emulator is set up (the `emulate csp` flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Accepted API tokens; empty: any non-empty one.
    pub auth: AuthConfig,
    /// Organisations that exist from the start.
    pub orgs: Vec<String>,
    /// Refuse organisations not given with `--org` (404) instead of creating them
    /// on first use.
    pub strict_orgs: bool,
    /// Per-API-token limit; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Where the state is persisted, if anywhere.
    pub state_file: Option<PathBuf>,
    /// Lifetime of the access tokens the exchange hands out.
    pub access_token_ttl: Duration,
    /// How long a bulk-deleted app's id stays reserved (create with it: 409).
    pub deletion_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            auth: AuthConfig::default(),
            orgs: Vec::new(),
            strict_orgs: false,
            rate_limit: Some(RateLimit::default()),
            state_file: None,
            access_token_ttl: Duration::from_secs(30 * 60),
            deletion_delay: Duration::from_secs(2),
        }
    }
}

/// True for a well-formed organisation id in a path: 1 to 64 of `[A-Za-z0-9-]`
/// (real ones are GUIDs).
pub fn is_org_id(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// True for a GUID (`--org` takes only these).
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The CSP emulator, as the emulator core sees it.
pub struct Csp;

/// One CSP emulator instance.
pub type Emulator = core::Emulator<Csp>;

/// A running CSP emulator; its base URL is its origin (CSP's paths start with
/// `/csp/...`, as at `https://console.cloud.vmware.com`).
pub type RunningEmulator = core::RunningEmulator<Csp>;

impl Emulator {
    /// The access tokens handed out.
    pub fn tokens(&self) -> &AccessTokens {
        self.transient()
    }
}

impl Emulated for Csp {
    type Config = Config;
    type State = State;
    type Error = CspError;
    type Caller = Caller;
    type Transient = AccessTokens;

    const NAME: &'static str = "vmwareCsp";
    const API_PREFIX: &'static str = API_PREFIX;
    const BASE_PATH: &'static str = "";
    const ADMIN_ENDPOINTS: &'static [&'static str] = admin::ENDPOINTS;

    fn check(cfg: &Config) -> anyhow::Result<()> {
        if let Some(bad) = cfg.orgs.iter().find(|o| !is_org_id(o)) {
            anyhow::bail!("--org {bad:?}: an organisation id is a GUID");
        }
        Ok(())
    }

    fn state_file(cfg: &Config) -> Option<&Path> {
        cfg.state_file.as_deref()
    }

    fn rate_limit(cfg: &Config) -> Option<RateLimit> {
        cfg.rate_limit
    }

    /// The `--org`s exist.
    fn seed(cfg: &Config, state: &mut State) {
        for o in &cfg.orgs {
            state.orgs.entry(o.to_ascii_lowercase()).or_default();
        }
    }

    fn reset_transient(tokens: &AccessTokens) {
        tokens.clear();
    }

    /// An access token handed out by the exchange and not yet expired.
    fn authenticate(em: &Emulator, headers: &HeaderMap) -> Result<Caller, CspError> {
        let now = em.core().clock.now();
        auth::access_token(headers).and_then(|t| em.tokens().check(&t, now))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_ids() {
        assert!(is_guid("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
        assert!(!is_guid("3fa85f64-5717-4562-b3fc-2c963f66afa"));
        assert!(!is_guid("3fa85f64571745623fc2c963f66afa6"));
        assert!(is_org_id("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
        assert!(!is_org_id("a/b"));
        assert!(!is_org_id(""));
    }
}
