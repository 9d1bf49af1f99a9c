//! The CSP-specific admin endpoints under `/__emulator/` (the shared ones, index,
//! reset, credential check, faults, clock and request log, are in
//! [`crate::emulator::core::admin`]):
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `GET /__emulator/clients` | | `{"clients": [...]}`: every app of every organisation, no secrets |
//! | `GET /__emulator/clients/{client_id}` | | one app |
//! | `POST /__emulator/clients/{client_id}/immutable` | `{"immutable": true}` | the app (an immutable app cannot be deleted: bulk delete lists it under `failed`) |
//! | `GET /__emulator/orgs` | | `{"orgs": [...]}` |
//! | `GET /__emulator/deleting` | | `{"deleting": [{org_id, client_id, completes_at}]}` |
//! | `POST /__emulator/tokens/expire` | | `{"expired": n}`: every access token stops working now |
//!
//! Each listed app is the API's `OrgOAuthAppResponse` plus `secret_count` (how many
//! secrets work now: 0, 1 or 2) and `previous_secret_expires_at` (RFC 3339, while
//! an old secret is valid).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Emulator;
use super::store::StoredApp;
use crate::emulator::core::admin::{AdminError, parse_body};

fn admin_view(org_id: &str, a: &StoredApp, now: DateTime<Utc>) -> Value {
    let mut v = serde_json::to_value(a.to_wire(org_id, now)).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("secret_count".into(), json!(a.secret_count(now)));
        let until = a
            .live_previous(now)
            .and(a.previous_expires_at)
            .map(|t| t.to_rfc3339());
        o.insert("previous_secret_expires_at".into(), json!(until));
    }
    v
}

async fn list_clients(State(em): State<Emulator>) -> Response {
    let now = em.core().clock.now();
    let mut all: Vec<(u64, Value)> = em.read(|st| {
        st.orgs
            .iter()
            .flat_map(|(o, org)| {
                org.apps
                    .values()
                    .map(move |a| (a.seq, admin_view(o, a, now)))
            })
            .collect()
    });
    all.sort_by_key(|(seq, _)| *seq);
    let clients: Vec<Value> = all.into_iter().map(|(_, v)| v).collect();
    axum::Json(json!({ "clients": clients })).into_response()
}

async fn get_client(
    State(em): State<Emulator>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let now = em.core().clock.now();
    em.read(|st| st.find_app(&id).map(|(o, a)| admin_view(o, a, now)))
        .map(|v| axum::Json(v).into_response())
        .ok_or_else(|| AdminError::not_found(format!("no OAuth app {id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetImmutable {
    immutable: bool,
}

async fn set_immutable(
    State(em): State<Emulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let req: SetImmutable = parse_body(&body)?;
    let result = em.mutate(|st| {
        Ok(match st.find_app_mut(&id) {
            Some(a) => {
                a.immutable = req.immutable;
                true
            }
            None => false,
        })
    });
    match result {
        Ok(true) => {}
        Ok(false) => return Err(AdminError::not_found(format!("no OAuth app {id}"))),
        Err(e) => return Ok(e.into_response()),
    }
    tracing::info!(client_id = %id, immutable = req.immutable, "OAuth app immutability set");
    get_client(State(em), Path(id)).await
}

/// Whether the pair would authenticate right now: the current secret, or the
/// old one until it expires or is deleted. A public app is valid with no or an
/// empty secret.
pub fn credentials_valid(em: &Emulator, client_id: &str, secret: &str) -> bool {
    let now = em.core().clock.now();
    em.read(|st| match st.find_app(client_id) {
        None => false,
        Some((_, a)) if a.public_client => secret.is_empty(),
        Some((_, a)) => !secret.is_empty() && a.secret_matches(secret, now),
    })
}

async fn list_orgs(State(em): State<Emulator>) -> Response {
    let orgs: Vec<String> = em.read(|st| st.orgs.keys().cloned().collect());
    axum::Json(json!({ "orgs": orgs })).into_response()
}

async fn list_deleting(State(em): State<Emulator>) -> Response {
    let now = em.core().clock.now();
    let deleting: Vec<Value> = em.read(|st| {
        st.orgs
            .iter()
            .flat_map(|(o, org)| {
                org.deleting
                    .iter()
                    .filter(move |(_, until)| now < **until)
                    .map(move |(id, until)| {
                        json!({"org_id": o, "client_id": id, "completes_at": until.to_rfc3339()})
                    })
            })
            .collect()
    });
    axum::Json(json!({ "deleting": deleting })).into_response()
}

async fn expire_tokens(State(em): State<Emulator>) -> Response {
    let n = em.tokens().live(em.core().clock.now());
    em.tokens().clear();
    tracing::info!(expired = n, "expired every access token");
    axum::Json(json!({ "expired": n })).into_response()
}

/// The admin index's list, in front of the endpoints every emulator has.
pub const ENDPOINTS: &[&str] = &[
    "GET /__emulator/clients",
    "GET /__emulator/clients/{client_id}",
    "POST /__emulator/clients/{client_id}/immutable",
    "POST /__emulator/credentials/check",
    "GET /__emulator/orgs",
    "GET /__emulator/deleting",
    "POST /__emulator/tokens/expire",
];

/// The CSP admin routes.
pub fn router(em: Emulator) -> Router {
    Router::new()
        .route("/__emulator/clients", get(list_clients))
        .route("/__emulator/clients/{client_id}", get(get_client))
        .route(
            "/__emulator/clients/{client_id}/immutable",
            post(set_immutable),
        )
        .route("/__emulator/orgs", get(list_orgs))
        .route("/__emulator/deleting", get(list_deleting))
        .route("/__emulator/tokens/expire", post(expire_tokens))
        .with_state(em)
}
