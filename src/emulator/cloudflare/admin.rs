//! The Cloudflare-specific admin endpoints under `/__emulator/` (the shared ones,
//! index, reset, credential check, faults, clock and request log, are in
//! [`crate::emulator::core::admin`]):
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `GET /__emulator/clients` | | `{"clients": [...]}`: every client of every account, no secrets |
//! | `GET /__emulator/clients/{client_id}` | | one client |
//! | `POST /__emulator/clients/{client_id}/uri_verification` | `{"status": "verified"}` | the client |
//! | `GET /__emulator/accounts` | | `{"accounts": [...]}` |
//!
//! Each listed client is the API's client object plus `account_id` and
//! `secret_count` (0, 1 or 2).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Emulator;
use super::store::StoredClient;
use crate::emulator::core::admin::{AdminError, parse_body};

/// The verification states an admin may set.
pub const VERIFICATION_STATES: [&str; 4] = ["pending", "in_progress", "verified", "failed"];

fn admin_view(account_id: &str, c: &StoredClient) -> Value {
    let mut v = serde_json::to_value(c.to_wire()).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("account_id".into(), json!(account_id));
        let n = usize::from(c.secret.is_some()) + usize::from(c.previous_secret.is_some());
        o.insert("secret_count".into(), json!(n));
    }
    v
}

async fn list_clients(State(em): State<Emulator>) -> Response {
    let mut all: Vec<(u64, Value)> = em.read(|st| {
        st.accounts
            .iter()
            .flat_map(|(a, acct)| {
                acct.clients
                    .values()
                    .map(move |c| (c.seq, admin_view(a, c)))
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
    em.read(|st| st.find_client(&id).map(|(a, c)| admin_view(a, c)))
        .map(|v| axum::Json(v).into_response())
        .ok_or_else(|| AdminError::not_found(format!("no OAuth client {id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetVerification {
    status: String,
}

async fn set_verification(
    State(em): State<Emulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let req: SetVerification = parse_body(&body)?;
    if !VERIFICATION_STATES.contains(&req.status.as_str()) {
        return Err(AdminError::bad_request(format!(
            "status must be one of {}",
            VERIFICATION_STATES.join(", ")
        )));
    }
    let now = em.core().clock.now();
    let result = em.mutate(|st| {
        let Some(c) = st.find_client_mut(&id) else {
            return Ok(Err(AdminError::not_found(format!("no OAuth client {id}"))));
        };
        let Some(v) = c.client_uri_verification.as_mut() else {
            return Ok(Err(AdminError::bad_request(format!(
                "OAuth client {id} has no client_uri to verify"
            ))));
        };
        v.status = Some(req.status.clone());
        c.updated_at = now;
        Ok(Ok(()))
    });
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) => return Ok(e.into_response()),
    }
    tracing::info!(client_id = %id, status = %req.status, "client URI verification set");
    get_client(State(em), Path(id)).await
}

/// Whether the pair would authenticate right now: the current secret, or the
/// previous one until it is deleted. A client without secrets (`none`) is valid
/// with no or an empty secret.
pub fn credentials_valid(em: &Emulator, client_id: &str, secret: &str) -> bool {
    em.read(|st| match st.find_client(client_id) {
        None => false,
        Some((_, c)) if c.token_endpoint_auth_method == "none" => secret.is_empty(),
        Some((_, c)) => !secret.is_empty() && c.secret_matches(secret),
    })
}

async fn list_accounts(State(em): State<Emulator>) -> Response {
    let accounts: Vec<String> = em.read(|st| st.accounts.keys().cloned().collect());
    axum::Json(json!({ "accounts": accounts })).into_response()
}

/// The admin index's list, in front of the endpoints every emulator has.
pub const ENDPOINTS: &[&str] = &[
    "GET /__emulator/clients",
    "GET /__emulator/clients/{client_id}",
    "POST /__emulator/clients/{client_id}/uri_verification",
    "POST /__emulator/credentials/check",
    "GET /__emulator/accounts",
];

/// The Cloudflare admin routes.
pub fn router(em: Emulator) -> Router {
    Router::new()
        .route("/__emulator/clients", get(list_clients))
        .route("/__emulator/clients/{client_id}", get(get_client))
        .route(
            "/__emulator/clients/{client_id}/uri_verification",
            post(set_verification),
        )
        .route("/__emulator/accounts", get(list_accounts))
        .with_state(em)
}
