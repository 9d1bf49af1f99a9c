//! The provider-neutral part of the admin API under `/__emulator/`:
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `GET /__emulator/` | | `{provider, api, endpoints}`: what this emulator serves |
//! | `POST /__emulator/reset` | | `{"reset": true}`: the state the flags start with, no faults, counters or clock offset |
//! | `POST /__emulator/credentials/check` | `{"client_id", "client_secret"}` | `{"valid": bool}`: whether the pair would authenticate now |
//! | `GET /__emulator/faults` | | the [`FaultConfig`] in force |
//! | `PUT` or `POST /__emulator/faults` | a [`FaultConfig`] | the new configuration |
//! | `DELETE /__emulator/faults` | | no faults |
//! | `GET /__emulator/clock` | | `{now, offset_seconds}` |
//! | `POST /__emulator/clock/advance` | `{"seconds": 3600}` or `{"duration": "48h"}` | `{now, offset_seconds}` |
//! | `GET /__emulator/requests` | | request counters ([`super::reqlog::Snapshot`]) |
//! | `DELETE /__emulator/requests` | | zeroes the counters |
//!
//! Admin errors are `{"error": "..."}` with status 400 or 404; an unknown
//! `/__emulator/...` path is a 404 that points at the index.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::emulator::{Emulated, Emulator};
use super::ratelimit::parse_duration;
use super::{Core, FaultConfig};

/// The endpoints of this module, as the index lists them after the provider's.
const SHARED_ENDPOINTS: [&str; 5] = [
    "POST /__emulator/reset",
    "GET|PUT|POST|DELETE /__emulator/faults",
    "GET /__emulator/clock",
    "POST /__emulator/clock/advance",
    "GET|DELETE /__emulator/requests",
];

/// An admin API error: `{"error": message}`.
#[derive(Debug)]
pub struct AdminError {
    pub status: StatusCode,
    pub message: String,
}

impl AdminError {
    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// Parse an admin request body; an empty body reads as `{}`.
pub fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, AdminError> {
    let bytes: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(bytes).map_err(|e| AdminError::bad_request(format!("invalid body: {e}")))
}

/// The clock as the admin API shows it.
pub fn clock_json(core: &Core) -> serde_json::Value {
    json!({
        "now": core.clock.now().to_rfc3339(),
        "offset_seconds": core.clock.offset().as_secs_f64(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    #[serde(default)]
    seconds: Option<f64>,
    #[serde(default)]
    duration: Option<String>,
}

async fn get_faults(State(core): State<Core>) -> Response {
    axum::Json(core.faults.get()).into_response()
}

async fn set_faults(State(core): State<Core>, body: Bytes) -> Result<Response, AdminError> {
    let cfg: FaultConfig = parse_body(&body)?;
    core.faults.set(cfg).map_err(AdminError::bad_request)?;
    tracing::info!(faults = ?core.faults.get(), "fault configuration changed");
    Ok(axum::Json(core.faults.get()).into_response())
}

async fn clear_faults(State(core): State<Core>) -> Response {
    core.faults.clear();
    axum::Json(core.faults.get()).into_response()
}

async fn get_clock(State(core): State<Core>) -> Response {
    axum::Json(clock_json(&core)).into_response()
}

async fn advance_clock(State(core): State<Core>, body: Bytes) -> Result<Response, AdminError> {
    let a: Advance = parse_body(&body)?;
    let by = match (a.seconds, a.duration) {
        (Some(s), None) if (0.0..1e10).contains(&s) => Duration::from_secs_f64(s),
        (None, Some(d)) => parse_duration(&d).map_err(AdminError::bad_request)?,
        _ => {
            return Err(AdminError::bad_request(
                "give exactly one of seconds (a non-negative number) or duration (e.g. \"48h\")",
            ));
        }
    };
    core.clock.advance(by);
    Ok(axum::Json(clock_json(&core)).into_response())
}

async fn get_requests(State(core): State<Core>) -> Response {
    axum::Json(core.log.snapshot()).into_response()
}

async fn reset_requests(State(core): State<Core>) -> Response {
    core.log.reset();
    axum::Json(core.log.snapshot()).into_response()
}

/// The shared admin routes, already under `/__emulator`.
pub fn router(core: Core) -> Router {
    Router::new()
        .route(
            "/__emulator/faults",
            get(get_faults)
                .put(set_faults)
                .post(set_faults)
                .delete(clear_faults),
        )
        .route("/__emulator/clock", get(get_clock))
        .route("/__emulator/clock/advance", post(advance_clock))
        .route(
            "/__emulator/requests",
            get(get_requests).delete(reset_requests),
        )
        .with_state(core)
}

async fn index<P: Emulated>() -> Response {
    let endpoints: Vec<&str> = P::ADMIN_ENDPOINTS
        .iter()
        .chain(&SHARED_ENDPOINTS)
        .copied()
        .collect();
    axum::Json(json!({
        "provider": P::NAME,
        "api": P::API_PREFIX,
        "endpoints": endpoints,
    }))
    .into_response()
}

async fn reset<P: Emulated>(State(em): State<Emulator<P>>) -> Response {
    match em.reset() {
        Ok(()) => axum::Json(json!({ "reset": true })).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckCredentials {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

async fn check_credentials<P: Emulated>(
    State(em): State<Emulator<P>>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let req: CheckCredentials = parse_body(&body)?;
    let secret = req.client_secret.unwrap_or_default();
    let valid = P::credentials_valid(&em, &req.client_id, &secret);
    Ok(axum::Json(json!({ "valid": valid })).into_response())
}

async fn unknown() -> AdminError {
    AdminError::not_found("no such admin endpoint; GET /__emulator/ lists them")
}

/// The admin routes every emulator has that need the emulator itself: the
/// index, reset, the credential check, and 404 for any other admin path.
pub fn emulator_router<P: Emulated>(em: Emulator<P>) -> Router {
    Router::new()
        .route("/__emulator", get(index::<P>))
        .route("/__emulator/", get(index::<P>))
        .route("/__emulator/reset", post(reset::<P>))
        .route(
            "/__emulator/credentials/check",
            post(check_credentials::<P>),
        )
        .route("/__emulator/{*rest}", any(unknown))
        .with_state(em)
}
