//! The Microsoft Entra ID app registrations emulator (`clientops emulate entra`).
//!
//! Serves Microsoft Graph v1.0 under `/v1.0` (applications, their passwords,
//! service principals, deleted items) and the token endpoint
//! `/{tenant}/oauth2/v2.0/token` (client credentials with a client secret),
//! with Graph's paths, bodies, status codes, error shapes, paging and
//! throttling, plus the admin API under `/__emulator/` (see [`admin`] and
//! [`crate::emulator::core::admin`]). [`Entra`] plugs these into the emulator
//! core. docs/providers/entra-emulator.md lists every behaviour and each guess.
//!
//! Several tenants can live in one emulator; a Graph request acts in the tenant
//! of its token. A tenant's *operators* are applications holding Graph
//! application roles ([`store::ROLES`]); with `Application.ReadWrite.OwnedBy`
//! an operator owns the applications it creates and sees only those.
//!
//! Modules: the Graph endpoints ([`routes`] dispatching to [`applications`], [`services`] for service
//! principals, [`deleted`] for deleted items, [`passwords`], [`owners`]); OData query
//! options and paging ([`query`]); body rules ([`validation`]); the state
//! ([`store`]); the token endpoint ([`token`]), certificate assertions
//! ([`assertion`]), federated assertions ([`federation`]) and access tokens
//! ([`auth`]); federated identity credentials ([`federated`]);
//! error bodies ([`errors`]); the replication-lag fault ([`consistency`]);
//! the admin endpoints ([`admin`]); https on loopback ([`tls`]) and serving
//! http and https together ([`server`]).

pub mod admin;
pub mod applications;
pub mod assertion;
pub mod auth;
pub mod consistency;
pub mod deleted;
pub mod errors;
pub mod federated;
pub mod federation;
pub mod owners;
pub mod passwords;
pub mod query;
pub mod routes;
pub mod server;
pub mod services;
pub mod store;
pub mod tls;
pub mod token;
pub mod validation;

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{HeaderMap, Method};

use self::auth::{AccessTokens, Caller};
use self::consistency::Lag;
use self::errors::GraphError;
use self::store::State;
use crate::emulator::core::{self, Emulated, RateLimit};
use crate::secret::ClientSecret;

/// The default listen address (the CSP emulator's port plus one).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8789";

/// The default rate limit per (tenant, app): Graph's write limit for an app in a
/// tenant, 3,000 requests per 2 min 30 s (facts doc §6).
pub fn default_rate_limit() -> RateLimit {
    RateLimit {
        requests: 3000,
        period: std::time::Duration::from_secs(150),
    }
}

/// An operator identity the configuration creates: an application with a
/// password, a service principal and Graph application roles.
#[derive(Clone, Debug)]
pub struct SeedOperator {
    /// Its appId (client id), a GUID.
    pub app_id: String,
    /// Its client secret.
    pub secret: ClientSecret,
    /// Its Graph application roles.
    pub roles: Vec<String>,
}

/// A tenant the configuration creates.
#[derive(Clone, Debug)]
pub struct SeedTenant {
    /// The tenant id, a GUID.
    pub id: String,
    /// Its initial domain; default `<first 8 of the id>.onmicrosoft.com`.
    pub domain: Option<String>,
    pub operators: Vec<SeedOperator>,
}

/// How the emulator is set up (the `emulate entra` flags).
#[derive(Clone, Debug)]
pub struct Config {
    /// Tenants (and their operators) that exist from the start.
    pub tenants: Vec<SeedTenant>,
    /// Per (tenant, app) limit; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// Where the state is persisted, if anywhere.
    pub state_file: Option<PathBuf>,
    /// Most passwords an application may hold when only work or school accounts
    /// sign in (with personal accounts: 2, as Microsoft documents).
    pub max_passwords: usize,
    /// Writes per (tenant, app) to applications that personal Microsoft
    /// accounts may sign in to (Microsoft: 60 per minute); `None`: unlimited.
    pub personal_write_limit: Option<RateLimit>,
}

/// Microsoft's limit on writes to applications that personal accounts may
/// sign in to: 60 requests per minute (facts doc §6).
pub fn default_personal_write_limit() -> RateLimit {
    RateLimit {
        requests: 60,
        period: std::time::Duration::from_secs(60),
    }
}

/// The default `max_passwords` (a guess: Microsoft documents "no limit" within
/// about 1,000 items over all of an application's collections).
pub const DEFAULT_MAX_PASSWORDS: usize = 100;

impl Default for Config {
    fn default() -> Self {
        Self {
            tenants: Vec::new(),
            rate_limit: Some(default_rate_limit()),
            state_file: None,
            max_passwords: DEFAULT_MAX_PASSWORDS,
            personal_write_limit: Some(default_personal_write_limit()),
        }
    }
}

/// The scheme a request came in on (the https listener adds `Scheme("https")`);
/// absent: http.
#[derive(Clone, Copy, Debug)]
pub struct Scheme(pub &'static str);

/// What the emulator keeps in memory only.
#[derive(Default)]
pub struct Transient {
    pub tokens: AccessTokens,
    pub lag: Lag,
    /// The buckets of [`Config::personal_write_limit`], made at first use.
    pub personal_writes: std::sync::OnceLock<core::RateLimiter>,
}

/// The Entra emulator, as the emulator core sees it.
pub struct Entra;

/// One Entra emulator instance.
pub type Emulator = core::Emulator<Entra>;

/// A running Entra emulator (plain http).
pub type RunningEmulator = core::RunningEmulator<Entra>;

impl Emulator {
    /// The access tokens handed out.
    pub fn tokens(&self) -> &AccessTokens {
        &self.transient().tokens
    }

    /// The replication-lag fault.
    pub fn lag(&self) -> &Lag {
        &self.transient().lag
    }

    /// The limiter of writes to personal-account applications.
    pub fn personal_writes(&self) -> &core::RateLimiter {
        self.transient().personal_writes.get_or_init(|| {
            core::RateLimiter::new(
                self.config().personal_write_limit,
                self.core().clock.clone(),
            )
        })
    }
}

impl Emulated for Entra {
    type Config = Config;
    type State = State;
    type Error = GraphError;
    type Caller = Caller;
    type Transient = Transient;

    const NAME: &'static str = "entra";
    const API_PREFIX: &'static str = "/v1.0";
    const BASE_PATH: &'static str = "";
    const ADMIN_ENDPOINTS: &'static [&'static str] = admin::ENDPOINTS;

    fn check(cfg: &Config) -> anyhow::Result<()> {
        for t in &cfg.tenants {
            if !store::is_guid(&t.id) {
                anyhow::bail!("--tenant {:?}: a tenant id is a GUID", t.id);
            }
            for o in &t.operators {
                if !store::is_guid(&o.app_id) {
                    anyhow::bail!("--operator {:?}: the client id is a GUID", o.app_id);
                }
                if let Some(r) = o.roles.iter().find(|r| !store::ROLES.contains(&r.as_str())) {
                    anyhow::bail!("--operator-role {r:?}: one of {}", store::ROLES.join(", "));
                }
            }
        }
        if cfg.max_passwords < 2 {
            anyhow::bail!("--max-passwords must be at least 2");
        }
        Ok(())
    }

    fn state_file(cfg: &Config) -> Option<&Path> {
        cfg.state_file.as_deref()
    }

    fn rate_limit(cfg: &Config) -> Option<RateLimit> {
        cfg.rate_limit
    }

    /// The configured tenants and operators exist.
    fn seed(cfg: &Config, state: &mut State) {
        let now = chrono::Utc::now();
        for t in &cfg.tenants {
            admin::ensure_tenant(state, &t.id, t.domain.as_deref());
            for o in &t.operators {
                admin::ensure_operator(state, &t.id, &o.app_id, &o.secret, &o.roles, None, now);
            }
        }
    }

    fn reset_transient(t: &Transient) {
        t.tokens.clear();
        t.lag.clear();
        if let Some(l) = t.personal_writes.get() {
            l.reset();
        }
    }

    /// A Graph token not yet expired; the caller's roles as they are now.
    fn authenticate(em: &Emulator, headers: &HeaderMap) -> Result<Caller, GraphError> {
        let now = em.core().clock.now();
        let token = auth::bearer(headers)?;
        let subject = em.tokens().check(&token, now)?;
        let roles = em.read(|st| {
            st.tenants
                .get(&subject.tenant)
                .and_then(|t| t.app_by_app_id(&subject.app_id))
                .map(|a| a.roles.clone())
                .unwrap_or_default()
        });
        Ok(Caller::new(&subject.tenant, &subject.app_id, roles))
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
