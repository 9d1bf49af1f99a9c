//! The VMware CSP organisation OAuth apps emulator (`clientops emulate csp`).
//!
//! Serves `/csp/gateway/am/api/orgs/{orgId}/oauth-apps/...`, the API token
//! exchange `/csp/gateway/am/api/auth/api-tokens/authorize` and the apps' own
//! token endpoint `/csp/gateway/am/api/auth/token` with CSP's paths, shapes,
//! rules, status codes and `CspErrorResponse` bodies (`provider-contracts.md`
//! part B), plus the admin API under `/__emulator/` (see [`admin`] and
//! [`crate::emulator::core::admin`]).
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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use tokio::net::TcpListener;

use self::auth::{AccessTokens, AuthConfig};
use self::errors::{CspError, code};
use self::store::State;
use crate::emulator::core::{self, Core, RateLimit, RunningServer, persist};

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

struct Inner {
    cfg: Config,
    core: Core,
    state: Mutex<State>,
    tokens: AccessTokens,
}

/// One emulator instance: configuration, state and the shared core. Cheap to clone.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl Emulator {
    /// Set up an emulator: load `--state` if it exists and create the `--org`s.
    pub fn new(cfg: Config) -> anyhow::Result<Self> {
        if let Some(bad) = cfg.orgs.iter().find(|o| !is_org_id(o)) {
            anyhow::bail!("--org {bad:?}: an organisation id is a GUID");
        }
        let mut state = match &cfg.state_file {
            Some(p) => persist::read_json::<State>(p)
                .with_context(|| format!("loading state file {}", p.display()))?
                .unwrap_or_default(),
            None => State::default(),
        };
        if state.version != store::STATE_VERSION {
            anyhow::bail!(
                "state file has format version {}, this emulator reads {}",
                state.version,
                store::STATE_VERSION
            );
        }
        for o in &cfg.orgs {
            state.orgs.entry(o.to_ascii_lowercase()).or_default();
        }
        if let Some(p) = &cfg.state_file {
            persist::write_json(p, &state)
                .with_context(|| format!("writing state file {}", p.display()))?;
        }
        let core = Core::new(cfg.rate_limit);
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                core,
                state: Mutex::new(state),
                tokens: AccessTokens::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    /// The shared core (clock, faults, limiter, request log).
    pub fn core(&self) -> &Core {
        &self.inner.core
    }

    /// The access tokens handed out.
    pub fn tokens(&self) -> &AccessTokens {
        &self.inner.tokens
    }

    /// Read the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.inner.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Change the state: `f` works on a copy, which replaces the state (and the
    /// state file) only when `f` succeeds and the file was written.
    pub fn mutate<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, CspError>,
    ) -> Result<R, CspError> {
        let mut guard = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = guard.clone();
        let out = f(&mut next)?;
        if let Some(p) = &self.inner.cfg.state_file
            && let Err(e) = persist::write_json(p, &next)
        {
            tracing::error!(path = %p.display(), error = %e, "writing the state file failed");
            return Err(CspError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "Unexpected error: the emulator could not persist its state",
            ));
        }
        *guard = next;
        Ok(out)
    }

    /// Forget every app and access token, and every organisation except the
    /// `--org`s; clear the faults, counters, rate-limit buckets and clock offset.
    pub fn reset(&self) -> Result<(), CspError> {
        let orgs = self.inner.cfg.orgs.clone();
        self.mutate(|st| {
            *st = State::default();
            for o in &orgs {
                st.orgs.entry(o.to_ascii_lowercase()).or_default();
            }
            Ok(())
        })?;
        self.inner.tokens.clear();
        self.inner.core.reset();
        Ok(())
    }

    /// The whole HTTP application: the API under `/csp/gateway/am/api` and the
    /// admin API.
    pub fn router(&self) -> Router {
        routes::router(self.clone())
            .merge(core::admin::router(self.inner.core.clone()))
            .merge(admin::router(self.clone()))
            .fallback(routes::outside_api)
    }

    /// Bind `listen` (port 0 picks a free port) and serve in the background.
    pub async fn start(cfg: Config, listen: &str) -> anyhow::Result<RunningEmulator> {
        Self::start_until(cfg, listen, std::future::pending()).await
    }

    /// [`Emulator::start`], stopping when `stop` completes.
    pub async fn start_until(
        cfg: Config,
        listen: &str,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<RunningEmulator> {
        let emulator = Self::new(cfg)?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let server = core::server::serve(listener, emulator.router(), stop)?;
        Ok(RunningEmulator { emulator, server })
    }
}

/// A running emulator.
pub struct RunningEmulator {
    /// The instance (state and core), for in-process inspection.
    pub emulator: Emulator,
    server: RunningServer,
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://ADDR`: what a client takes as its base URL (CSP's paths start with
    /// `/csp/...`, as at `https://console.cloud.vmware.com`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://ADDR/__emulator`.
    pub fn admin_url(&self) -> String {
        format!("http://{}/__emulator", self.addr())
    }

    /// Stop serving and wait for in-flight requests.
    pub async fn shutdown(self) -> std::io::Result<()> {
        self.server.shutdown().await
    }

    /// Wait until the server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        self.server.wait().await
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
