//! The Cloudflare OAuth clients API emulator (`clientops emulate cloudflare`).
//!
//! Serves `/client/v4/accounts/{account_id}/oauth_clients/...` and
//! `/client/v4/oauth/scopes` with Cloudflare's paths, shapes, validation, status
//! codes and error envelopes (`provider-contracts.md` part A), so the official
//! SDKs work against it with only their base URL changed; the OAuth token
//! endpoint `/oauth2/token`, as far as it authenticates clients ([`oauth`]);
//! plus the admin API under `/__emulator/` (see [`admin`] and
//! [`crate::emulator::core::admin`]).
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

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use axum::Router;
use axum::http::StatusCode;
use tokio::net::TcpListener;

use self::auth::AuthConfig;
use self::envelope::{CfError, code};
use self::scopes::Catalogue;
use self::store::State;
use crate::emulator::core::{self, Core, RateLimit, RunningServer, persist};

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

struct Inner {
    cfg: Config,
    core: Core,
    state: Mutex<State>,
}

/// One emulator instance: configuration, state and the shared core. Cheap to clone.
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl Emulator {
    /// Set up an emulator: load `--state` if it exists and create the
    /// `--account`s.
    pub fn new(cfg: Config) -> anyhow::Result<Self> {
        if let Some(bad) = cfg.accounts.iter().find(|a| !is_account_id(a)) {
            anyhow::bail!("--account {bad:?}: an account id is 32 hexadecimal characters");
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
        for a in &cfg.accounts {
            state.accounts.entry(a.to_ascii_lowercase()).or_default();
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

    /// Read the state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.inner.state.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Change the state: `f` works on a copy, which replaces the state (and the
    /// state file) only when `f` succeeds and the file was written.
    pub fn mutate<R>(
        &self,
        f: impl FnOnce(&mut State) -> Result<R, CfError>,
    ) -> Result<R, CfError> {
        let mut guard = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = guard.clone();
        let out = f(&mut next)?;
        if let Some(p) = &self.inner.cfg.state_file
            && let Err(e) = persist::write_json(p, &next)
        {
            tracing::error!(path = %p.display(), error = %e, "writing the state file failed");
            return Err(CfError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "Internal server error: the emulator could not persist its state",
            ));
        }
        *guard = next;
        Ok(out)
    }

    /// Forget every client, and every account except the `--account`s; clear the
    /// faults, counters, rate-limit buckets and clock offset.
    pub fn reset(&self) -> Result<(), CfError> {
        let accounts = self.inner.cfg.accounts.clone();
        self.mutate(|st| {
            *st = State::default();
            for a in &accounts {
                st.accounts.entry(a.to_ascii_lowercase()).or_default();
            }
            Ok(())
        })?;
        self.inner.core.reset();
        Ok(())
    }

    /// The whole HTTP application: the API under `/client/v4` and the admin API.
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

    /// `http://ADDR/client/v4`: what a client or SDK takes as its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}{API_PREFIX}", self.addr())
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
