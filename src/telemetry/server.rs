//! The telemetry HTTP server of `clientops run` (`--metrics-addr`):
//!
//! - `/metrics`: Prometheus metrics (OpenMetrics text), for a scraper the
//!   apiserver authenticates and authorises when `--metrics-auth` asks for it
//!   ([`super::auth`]);
//! - `/healthz`: 200 while the process serves HTTP (liveness);
//! - `/readyz`: 200 when this instance is doing what it should: as the leader (or
//!   without leader election), once the OAuthClient watch has listed everything;
//!   as a standby, while the apiserver answers its Lease reads. 503 with the reason
//!   otherwise.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::Metrics;
use super::auth::{MetricsAuth, Verdict};

/// Says whether the instance is ready, and why not.
pub type ReadyCheck = Arc<dyn Fn() -> Result<String, String> + Send + Sync>;
/// Brings scrape-time gauges up to date.
pub type Refresh = Arc<dyn Fn() + Send + Sync>;

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    refresh: Refresh,
    ready: ReadyCheck,
    auth: Option<Arc<MetricsAuth>>,
}

/// The router, for tests and for [`serve`]; `auth`: who may read `/metrics`
/// (`None`: anyone who reaches the port).
pub fn router(
    metrics: Arc<Metrics>,
    refresh: Refresh,
    ready: ReadyCheck,
    auth: Option<Arc<MetricsAuth>>,
) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            metrics,
            refresh,
            ready,
            auth,
        })
}

async fn metrics_handler(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> axum::response::Response {
    if let Some(auth) = &s.auth {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match auth.check(authorization).await {
            Verdict::Allowed => {}
            Verdict::Unauthenticated => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "a bearer token the Kubernetes API authenticates is required\n",
                )
                    .into_response();
            }
            Verdict::Forbidden => {
                return (
                    StatusCode::FORBIDDEN,
                    "not allowed to get /metrics (bind ClusterRole clientops-metrics-reader)\n",
                )
                    .into_response();
            }
            Verdict::Unavailable => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the Kubernetes API could not check the token\n",
                )
                    .into_response();
            }
        }
    }
    (s.refresh)();
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match (s.ready)() {
        Ok(why) => (StatusCode::OK, format!("ok: {why}\n")),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Bind `addr` and serve in the background; returns the bound address (port 0
/// picks a free port, which the log line reports).
pub async fn serve(addr: SocketAddr, app: Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("--metrics-addr {addr}: cannot listen: {e}"))?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, "serving /metrics, /healthz and /readyz");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the telemetry server stopped");
        }
    });
    Ok(bound)
}
