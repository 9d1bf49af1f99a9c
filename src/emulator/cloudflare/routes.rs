//! The Cloudflare endpoints under `/client/v4`, and the OAuth token endpoint.
//!
//! Every request passes, outermost first: the request log, fault injection (both
//! added by the emulator core), authentication and the per-credential rate limit
//! ([`gate`]), then the handler. The token endpoint has the log and faults, and
//! authenticates OAuth clients instead.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{OriginalUri, Path, State};
use axum::http::{Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::envelope::{self, CfError, code};
use super::store::{StoredClient, new_secret};
use super::{API_PREFIX, Cloudflare, Emulator, auth, is_account_id, validation};
use crate::emulator::core::emulator::{gate, method_not_allowed, no_route};
use crate::provider::cloudflare::wire::{CreatedOAuthClient, IdResult, OAuthClient, RotatedSecret};

type Res = Result<Response, CfError>;

/// Names the operation of a request, for the request log.
pub fn classify(method: &Method, path: &str) -> &'static str {
    if path == super::oauth::TOKEN_PATH {
        return "token";
    }
    let rest = path.strip_prefix(API_PREFIX).unwrap_or(path);
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["oauth", "scopes"]) => "list_scopes",
        ("GET", ["accounts", _, "oauth_clients"]) => "list",
        ("POST", ["accounts", _, "oauth_clients"]) => "create",
        ("GET", ["accounts", _, "oauth_clients", _]) => "get",
        ("PATCH", ["accounts", _, "oauth_clients", _]) => "update",
        ("DELETE", ["accounts", _, "oauth_clients", _]) => "delete",
        ("POST", ["accounts", _, "oauth_clients", _, "rotate_secret"]) => "rotate_secret",
        ("DELETE", ["accounts", _, "oauth_clients", _, "rotate_secret"]) => "delete_rotated_secret",
        _ => "other",
    }
}

/// The API router (`/client/v4/...`, authenticated and rate limited) and the
/// token endpoint.
pub fn router(em: Emulator) -> Router {
    let clients = "/accounts/{account_id}/oauth_clients";
    let client = "/accounts/{account_id}/oauth_clients/{client_id}";
    let rotate = "/accounts/{account_id}/oauth_clients/{client_id}/rotate_secret";
    let api = Router::new()
        .route(
            clients,
            get(list)
                .post(create)
                .fallback(method_not_allowed::<CfError>),
        )
        .route(
            client,
            get(get_client)
                .patch(update)
                .delete(delete)
                .fallback(method_not_allowed::<CfError>),
        )
        .route(
            rotate,
            post(rotate_secret)
                .delete(delete_rotated_secret)
                .fallback(method_not_allowed::<CfError>),
        )
        .route(
            "/oauth/scopes",
            get(list_scopes).fallback(method_not_allowed::<CfError>),
        )
        .fallback(no_route::<CfError>)
        .layer(middleware::from_fn_with_state(
            em.clone(),
            gate::<Cloudflare>,
        ))
        .with_state(em.clone());
    let token = Router::new()
        .route(
            super::oauth::TOKEN_PATH,
            post(super::oauth::token).fallback(super::oauth::method_not_allowed),
        )
        .with_state(em.clone());
    Router::new().nest(API_PREFIX, api).merge(token)
}

/// Check the account id of a request: malformed → 400 `7003`; unknown under
/// `--strict-accounts` → 403 `10000`. Returns the normalized (lower-case) id.
fn account(em: &Emulator, id: &str, uri: &OriginalUri) -> Result<String, CfError> {
    if !is_account_id(id) {
        return Err(CfError::could_not_route(uri.path()));
    }
    let id = id.to_ascii_lowercase();
    if em.config().strict_accounts && !em.read(|st| st.accounts.contains_key(&id)) {
        return Err(auth::no_account_access());
    }
    Ok(id)
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, CfError> {
    p.map(|Path(t)| t).map_err(|_| CfError::no_route())
}

/// The body as a JSON object.
fn object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, CfError> {
    let body = body.map_err(|e| {
        CfError::new(
            e.status(),
            code::INVALID_BODY,
            format!("Invalid request body: {e}"),
        )
    })?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CfError::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_BODY,
            "Invalid request body: expected a JSON object",
        )),
        Err(e) => Err(CfError::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_BODY,
            format!("Invalid request body: malformed JSON: {e}"),
        )),
    }
}

fn find<'a>(
    st: &'a super::store::State,
    account: &str,
    client_id: &str,
) -> Result<&'a StoredClient, CfError> {
    st.accounts
        .get(account)
        .and_then(|a| a.clients.get(client_id))
        .ok_or_else(|| CfError::client_not_found(client_id))
}

fn find_mut<'a>(
    st: &'a mut super::store::State,
    account: &str,
    client_id: &str,
) -> Result<&'a mut StoredClient, CfError> {
    st.accounts
        .get_mut(account)
        .and_then(|a| a.clients.get_mut(client_id))
        .ok_or_else(|| CfError::client_not_found(client_id))
}

/// A whole collection as one page, with `result_info`.
fn single_page<T: serde::Serialize>(items: Vec<T>) -> Response {
    let n = items.len();
    axum::Json(json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result": items,
        "result_info": {"page": 1, "per_page": n, "count": n, "total_count": n, "total_pages": 1},
    }))
    .into_response()
}

async fn list(
    State(em): State<Emulator>,
    uri: OriginalUri,
    p: Result<Path<String>, PathRejection>,
) -> Res {
    let acct = account(&em, &path(p)?, &uri)?;
    let mut clients: Vec<StoredClient> = em.read(|st| {
        st.accounts
            .get(&acct)
            .map(|a| a.clients.values().cloned().collect())
            .unwrap_or_default()
    });
    clients.sort_by_key(|c| c.seq);
    let items: Vec<OAuthClient> = clients.iter().map(StoredClient::to_wire).collect();
    Ok(single_page(items))
}

async fn create(
    State(em): State<Emulator>,
    uri: OriginalUri,
    p: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let acct = account(&em, &path(p)?, &uri)?;
    let body = object(body)?;
    let now = em.core().clock.now();
    let new = validation::build_create(&body, &em.config().catalogue, now)
        .map_err(CfError::validation)?;
    let created = em.mutate(|st| {
        let mut c = new;
        c.client_id = st.new_client_id();
        c.seq = st.next_seq;
        st.next_seq += 1;
        if c.token_endpoint_auth_method != "none" {
            c.secret = Some(new_secret());
        }
        st.accounts
            .entry(acct.clone())
            .or_default()
            .clients
            .insert(c.client_id.clone(), c.clone());
        Ok(c)
    })?;
    tracing::info!(account = %acct, client_id = %created.client_id, "created OAuth client");
    Ok(envelope::ok(CreatedOAuthClient {
        client: created.to_wire(),
        client_secret: created.secret.clone(),
    }))
}

async fn get_client(
    State(em): State<Emulator>,
    uri: OriginalUri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (a, id) = path(p)?;
    let acct = account(&em, &a, &uri)?;
    let c = em.read(|st| find(st, &acct, &id).map(StoredClient::to_wire))?;
    Ok(envelope::ok(c))
}

async fn update(
    State(em): State<Emulator>,
    uri: OriginalUri,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let (a, id) = path(p)?;
    let acct = account(&em, &a, &uri)?;
    let body = object(body)?;
    let now = em.core().clock.now();
    let catalogue = &em.config().catalogue;
    let updated = em.mutate(|st| {
        let c = find_mut(st, &acct, &id)?;
        let next =
            validation::apply_update(c, &body, catalogue, now).map_err(CfError::validation)?;
        *c = next;
        Ok(c.to_wire())
    })?;
    tracing::info!(account = %acct, client_id = %id, "updated OAuth client");
    Ok(envelope::ok(updated))
}

async fn delete(
    State(em): State<Emulator>,
    uri: OriginalUri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (a, id) = path(p)?;
    let acct = account(&em, &a, &uri)?;
    em.mutate(|st| {
        st.accounts
            .get_mut(&acct)
            .and_then(|a| a.clients.remove(&id))
            .map(|_| ())
            .ok_or_else(|| CfError::client_not_found(&id))
    })?;
    tracing::info!(account = %acct, client_id = %id, "deleted OAuth client");
    Ok(envelope::ok(IdResult { id }))
}

async fn rotate_secret(
    State(em): State<Emulator>,
    uri: OriginalUri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (a, id) = path(p)?;
    let acct = account(&em, &a, &uri)?;
    let now = em.core().clock.now();
    let secret = em.mutate(|st| {
        let c = find_mut(st, &acct, &id)?;
        if c.token_endpoint_auth_method == "none" {
            return Err(CfError::new(
                StatusCode::BAD_REQUEST,
                code::NO_SECRET_CLIENT,
                "OAuth clients with token_endpoint_auth_method none have no client secret to rotate",
            ));
        }
        if c.previous_secret.is_some() {
            return Err(CfError::new(
                StatusCode::CONFLICT,
                code::ROTATION_PENDING,
                "The client already has a rotated secret; delete it (DELETE .../rotate_secret) before rotating again",
            ));
        }
        let new = new_secret();
        c.previous_secret = c.secret.replace(new.clone());
        c.updated_at = now;
        Ok(new)
    })?;
    tracing::info!(account = %acct, client_id = %id, "rotated OAuth client secret");
    Ok(envelope::ok(RotatedSecret {
        client_secret: Some(secret),
    }))
}

async fn delete_rotated_secret(
    State(em): State<Emulator>,
    uri: OriginalUri,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (a, id) = path(p)?;
    let acct = account(&em, &a, &uri)?;
    let now = em.core().clock.now();
    em.mutate(|st| {
        let c = find_mut(st, &acct, &id)?;
        if c.previous_secret.take().is_none() {
            return Err(CfError::new(
                StatusCode::CONFLICT,
                code::NO_ROTATED_SECRET,
                "The client has no rotated secret to delete",
            ));
        }
        c.updated_at = now;
        Ok(())
    })?;
    tracing::info!(account = %acct, client_id = %id, "deleted rotated OAuth client secret");
    Ok(envelope::ok(IdResult { id }))
}

async fn list_scopes(State(em): State<Emulator>) -> Response {
    single_page(em.config().catalogue.scopes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_operations() {
        let a = "/client/v4/accounts/023e105f4ecef8ad9ca31a8372d0c353/oauth_clients";
        assert_eq!(classify(&Method::GET, a), "list");
        assert_eq!(classify(&Method::POST, a), "create");
        assert_eq!(classify(&Method::PATCH, &format!("{a}/x")), "update");
        assert_eq!(
            classify(&Method::POST, &format!("{a}/x/rotate_secret")),
            "rotate_secret"
        );
        assert_eq!(
            classify(&Method::DELETE, &format!("{a}/x/rotate_secret")),
            "delete_rotated_secret"
        );
        assert_eq!(
            classify(&Method::GET, "/client/v4/oauth/scopes"),
            "list_scopes"
        );
        assert_eq!(classify(&Method::GET, "/client/v4/zones"), "other");
        assert_eq!(classify(&Method::POST, "/oauth2/token"), "token");
    }
}
