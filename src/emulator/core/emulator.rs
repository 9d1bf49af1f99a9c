//! One emulator instance, whatever provider it emulates: its configuration, its
//! persisted state ([`Store`]), the shared [`Core`], the whole HTTP application,
//! and serving it ([`RunningEmulator`]).
//!
//! A provider's emulator is a type implementing [`Emulated`]: its configuration,
//! state and error types, its API routes, its own admin routes and how it
//! authenticates a caller. The core adds fault injection and the request log
//! around the API, the shared admin API (index, reset, credential check, faults,
//! clock, request counters), the 404 for unknown paths, authentication plus
//! rate limiting ([`gate`]) for the routes that ask for it, and persistence.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use super::faults::{FaultLayer, fault_middleware};
use super::reqlog::{LogLayer, log_middleware};
use super::store::{StateFile, Store};
use super::{Core, FaultKind, RateLimit, RunningServer, admin, server};

/// The error answers the core gives; each provider renders them in its own
/// error format (`From<CoreError>` for its error type).
#[derive(Debug)]
pub enum CoreError {
    /// 500, as an injected fault shows it.
    Internal,
    /// 500: a change could not be written to the state file.
    NotSaved,
    /// 503, as an injected fault shows it.
    Unavailable,
    /// 429 carrying these headers (`Retry-After` and the rate-limit headers).
    Throttled(HeaderMap),
    /// 404 for a path the emulator does not serve.
    NoRoute,
    /// 405 for a method a path does not take.
    MethodNotAllowed,
}

/// A provider's error answer, which can say what the core has to say.
pub trait ApiError: IntoResponse + From<CoreError> + Send + 'static {}

impl<E: IntoResponse + From<CoreError> + Send + 'static> ApiError for E {}

/// An authenticated caller, as the rate limiter counts it. Its `Debug` (logged
/// when it is throttled) must not show the credential.
pub trait RateLimited: fmt::Debug {
    /// The caller's rate-limit bucket (may contain the credential: never logged).
    fn bucket_key(&self) -> &str;
}

/// What one provider's emulator plugs into the core.
pub trait Emulated: Sized + Send + Sync + 'static {
    /// How it is set up (its `clientops emulate <provider>` flags).
    type Config: Send + Sync + 'static;
    /// What `--state` persists.
    type State: StateFile;
    /// Its error answers.
    type Error: ApiError;
    /// An authenticated caller.
    type Caller: RateLimited;
    /// What it keeps in memory only, beside the state (e.g. access tokens).
    type Transient: Default + Send + Sync + 'static;

    /// The provider's name in the admin index.
    const NAME: &'static str;
    /// The path prefix of the API, for the admin index.
    const API_PREFIX: &'static str;
    /// What a client's base URL adds to `http://ADDR`.
    const BASE_PATH: &'static str;
    /// The admin endpoints the index lists before the ones every emulator has
    /// (reset, faults, clock, requests), as `"METHOD /__emulator/..."`.
    const ADMIN_ENDPOINTS: &'static [&'static str];

    /// Refuse a configuration that cannot work (the error names the flag).
    fn check(cfg: &Self::Config) -> anyhow::Result<()>;
    /// The `--state` file, if any.
    fn state_file(cfg: &Self::Config) -> Option<&Path>;
    /// The per-caller rate limit; `None`: unlimited.
    fn rate_limit(cfg: &Self::Config) -> Option<RateLimit>;
    /// Add to `state` what the configuration says exists from the start; runs
    /// at start and after every admin reset.
    fn seed(cfg: &Self::Config, state: &mut Self::State);
    /// Forget the [`Emulated::Transient`] part on an admin reset.
    fn reset_transient(transient: &Self::Transient);

    /// Who sends a request, or the error that refuses it ([`gate`]).
    fn authenticate(em: &Emulator<Self>, headers: &HeaderMap) -> Result<Self::Caller, Self::Error>;
    /// Names the operation of a request, for the request log.
    fn classify(method: &Method, path: &str) -> &'static str;
    /// Whether `client_id` with `secret` would authenticate at the provider now
    /// (`POST /__emulator/credentials/check`).
    fn credentials_valid(em: &Emulator<Self>, client_id: &str, secret: &str) -> bool;

    /// The API's routes, without faults and request log (the core adds them).
    fn api(em: Emulator<Self>) -> Router;
    /// The provider's own admin routes under `/__emulator/`.
    fn admin(em: Emulator<Self>) -> Router;
}

/// How an injected fault looks: the provider's error with the fault's status.
pub fn render_fault<E: ApiError>(kind: FaultKind) -> Response {
    let e = match kind {
        FaultKind::InternalError => CoreError::Internal,
        FaultKind::Unavailable => CoreError::Unavailable,
        FaultKind::Throttled => {
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, HeaderValue::from(1u32));
            CoreError::Throttled(h)
        }
    };
    E::from(e).into_response()
}

/// A handler answering 404 in the provider's format (a router's fallback).
pub async fn no_route<E: ApiError>() -> E {
    CoreError::NoRoute.into()
}

/// A handler answering 405 in the provider's format (a route's fallback).
pub async fn method_not_allowed<E: ApiError>() -> E {
    CoreError::MethodNotAllowed.into()
}

struct Inner<P: Emulated> {
    cfg: P::Config,
    core: Core,
    store: Store<P::State>,
    transient: P::Transient,
}

/// One emulator instance: configuration, state and the shared core. Cheap to clone.
pub struct Emulator<P: Emulated> {
    inner: Arc<Inner<P>>,
}

impl<P: Emulated> Clone for Emulator<P> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<P: Emulated> Emulator<P> {
    /// Set up an emulator: check the configuration, load `--state` if it exists
    /// and add what the configuration says exists from the start.
    pub fn new(cfg: P::Config) -> anyhow::Result<Self> {
        P::check(&cfg)?;
        let store = Store::open(P::state_file(&cfg), |st| P::seed(&cfg, st))?;
        Ok(Self {
            inner: Arc::new(Inner {
                core: Core::new(P::rate_limit(&cfg)),
                cfg,
                store,
                transient: P::Transient::default(),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &P::Config {
        &self.inner.cfg
    }

    /// The shared core (clock, faults, limiter, request log).
    pub fn core(&self) -> &Core {
        &self.inner.core
    }

    /// What the emulator keeps in memory only.
    pub fn transient(&self) -> &P::Transient {
        &self.inner.transient
    }

    /// Read the state.
    pub fn read<R>(&self, f: impl FnOnce(&P::State) -> R) -> R {
        self.inner.store.read(f)
    }

    /// Change the state: `f` works on a copy, which replaces the state (and the
    /// state file) only when `f` succeeds and the file was written.
    pub fn mutate<R>(
        &self,
        f: impl FnOnce(&mut P::State) -> Result<R, P::Error>,
    ) -> Result<R, P::Error> {
        self.inner.store.mutate(f)
    }

    /// Start over: the state the configuration starts with, nothing transient,
    /// no faults, counters, rate-limit buckets or clock offset.
    pub fn reset(&self) -> Result<(), P::Error> {
        let cfg = &self.inner.cfg;
        self.mutate(|st| {
            *st = P::State::default();
            P::seed(cfg, st);
            Ok(())
        })?;
        P::reset_transient(&self.inner.transient);
        self.inner.core.reset();
        Ok(())
    }

    /// Take one token of `caller`'s rate-limit bucket: the rate-limit headers for
    /// the answer, or the 429 that refuses the request.
    pub fn rate_limit(&self, caller: &P::Caller) -> Result<HeaderMap, P::Error> {
        let limiter = &self.inner.core.limiter;
        let decision = limiter.check(caller.bucket_key());
        let headers = limiter.headers(&decision);
        if decision.is_limited() {
            tracing::debug!(?caller, "rate limited");
            return Err(CoreError::Throttled(headers).into());
        }
        Ok(headers)
    }

    /// The whole HTTP application: the API behind the request log and fault
    /// injection, the admin API, and 404 for anything else.
    pub fn router(&self) -> Router {
        let core = self.core();
        P::api(self.clone())
            .layer(middleware::from_fn_with_state(
                FaultLayer {
                    faults: core.faults.clone(),
                    render: render_fault::<P::Error>,
                },
                fault_middleware,
            ))
            .layer(middleware::from_fn_with_state(
                LogLayer {
                    log: core.log.clone(),
                    classify: P::classify,
                },
                log_middleware,
            ))
            .merge(admin::router(core.clone()))
            .merge(admin::emulator_router(self.clone()))
            .merge(P::admin(self.clone()))
            .fallback(no_route::<P::Error>)
    }

    /// Bind `listen` (port 0 picks a free port) and serve in the background.
    pub async fn start(cfg: P::Config, listen: &str) -> anyhow::Result<RunningEmulator<P>> {
        Self::start_until(cfg, listen, std::future::pending()).await
    }

    /// [`Emulator::start`], stopping when `stop` completes.
    pub async fn start_until(
        cfg: P::Config,
        listen: &str,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<RunningEmulator<P>> {
        let emulator = Self::new(cfg)?;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let server = server::serve(listener, emulator.router(), stop)?;
        Ok(RunningEmulator { emulator, server })
    }
}

/// Middleware for the routes that need a caller: authentication, then the rate
/// limit; the rate-limit headers go on every answer.
pub async fn gate<P: Emulated>(
    State(em): State<Emulator<P>>,
    req: Request,
    next: Next,
) -> Response {
    let headers = match P::authenticate(&em, req.headers()).and_then(|c| em.rate_limit(&c)) {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    let mut resp = next.run(req).await;
    resp.headers_mut().extend(headers);
    resp
}

/// A running emulator.
pub struct RunningEmulator<P: Emulated> {
    /// The instance (state and core), for in-process inspection.
    pub emulator: Emulator<P>,
    server: RunningServer,
}

impl<P: Emulated> RunningEmulator<P> {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// `http://ADDR` and [`Emulated::BASE_PATH`]: what a client or SDK takes as
    /// its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr(), P::BASE_PATH)
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
#[path = "emulator_tests.rs"]
mod tests;
