//! The CSP endpoints under `/csp/gateway/am/api`.
//!
//! Every request passes, outermost first: the request log and fault injection;
//! the organisation endpoints then authentication (an access token) and the
//! per-API-token rate limit; then the handler. The two token endpoints take
//! their credentials in the request itself.

use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::auth::{self, Caller};
use super::errors::{CspError, code};
use super::store::{Org, StoredApp};
use super::{API_PREFIX, Csp, Emulator, is_org_id, validation};
use crate::emulator::core::emulator::{gate, method_not_allowed, no_route};
use crate::emulator::core::oauth::{basic_credentials, oauth_error};
use crate::provider::csp::wire::{
    AccessTokenResponse, ClientIdAndSecret, DEFAULT_ROTATION_EXPIRY_SECS, MAX_DELETE_IDS, OAuthApp,
    Paged, PartialSuccess, check_secret, generate_secret,
};
use crate::secret::ClientSecret;

type Res = Result<Response, CspError>;

/// Apps per page when `pageLimit` is absent, and the most a page holds (guess).
pub const PAGE_LIMIT: u64 = 200;

/// Names the operation of a request, for the request log.
pub fn classify(method: &Method, path: &str) -> &'static str {
    let rest = path.strip_prefix(API_PREFIX).unwrap_or(path);
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    match (method.as_str(), segs.as_slice()) {
        ("POST", ["auth", "api-tokens", "authorize"]) => "authenticate",
        ("POST", ["auth", "token"]) => "client_token",
        ("GET", ["orgs", _, "oauth-apps"]) => "list",
        ("POST", ["orgs", _, "oauth-apps"]) => "create",
        ("DELETE", ["orgs", _, "oauth-apps"]) => "delete",
        ("GET", ["orgs", _, "oauth-apps", _]) => "get",
        ("PATCH", ["orgs", _, "oauth-apps", _]) => "update",
        ("POST", ["orgs", _, "oauth-apps", _, "secret"]) => "rotate_secret",
        ("DELETE", ["orgs", _, "oauth-apps", _, "secret"]) => "delete_rotated_secret",
        ("PUT", ["orgs", _, "oauth-apps", _, "secret"]) => "regenerate_secret",
        _ => "other",
    }
}

/// The API router (`/csp/gateway/am/api/...`): the organisation endpoints
/// authenticated and rate limited, the two token endpoints open.
pub fn router(em: Emulator) -> Router {
    let apps = "/orgs/{org_id}/oauth-apps";
    let app = "/orgs/{org_id}/oauth-apps/{app_id}";
    let secret = "/orgs/{org_id}/oauth-apps/{app_id}/secret";
    let protected = Router::new()
        .route(
            apps,
            get(list)
                .post(create)
                .delete(delete_apps)
                .fallback(method_not_allowed::<CspError>),
        )
        .route(
            app,
            get(get_app)
                .patch(update)
                .fallback(method_not_allowed::<CspError>),
        )
        .route(
            secret,
            post(rotate_secret)
                .delete(delete_old_secret)
                .put(regenerate_secret)
                .fallback(method_not_allowed::<CspError>),
        )
        .layer(middleware::from_fn_with_state(em.clone(), gate::<Csp>));
    let api = Router::new()
        .route(
            "/auth/api-tokens/authorize",
            post(authorize).fallback(method_not_allowed::<CspError>),
        )
        .route(
            "/auth/token",
            post(client_token).fallback(method_not_allowed::<CspError>),
        )
        .merge(protected)
        .fallback(no_route::<CspError>)
        .with_state(em.clone());
    Router::new().nest(API_PREFIX, api)
}

fn now(em: &Emulator) -> DateTime<Utc> {
    em.core().clock.now()
}

/// Check the organisation of a request: malformed, or unknown under
/// `--strict-orgs` → 404. Returns the normalized (lower-case) id.
fn org(em: &Emulator, id: &str) -> Result<String, CspError> {
    let id = id.to_ascii_lowercase();
    if !is_org_id(&id) || (em.config().strict_orgs && !em.read(|st| st.orgs.contains_key(&id))) {
        return Err(CspError::new(
            StatusCode::NOT_FOUND,
            code::ORG_NOT_FOUND,
            format!("Organization {id} not found"),
        ));
    }
    Ok(id)
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, CspError> {
    p.map(|Path(t)| t).map_err(|_| CspError::no_route())
}

/// The body as a JSON object.
fn object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, CspError> {
    let body = body.map_err(|e| {
        CspError::new(
            e.status(),
            code::INVALID_REQUEST,
            format!("Invalid request body: {e}"),
        )
    })?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(CspError::bad_request(
            "Invalid request body: expected a JSON object",
        )),
        Err(_) => Err(CspError::bad_request(
            "Invalid request body: malformed JSON",
        )),
    }
}

fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn find<'a>(org: Option<&'a Org>, id: &str) -> Result<&'a StoredApp, CspError> {
    org.and_then(|o| o.apps.get(id))
        .ok_or_else(|| CspError::app_not_found(id))
}

fn find_mut<'a>(
    st: &'a mut super::store::State,
    org: &str,
    id: &str,
) -> Result<&'a mut StoredApp, CspError> {
    st.orgs
        .get_mut(org)
        .and_then(|o| o.apps.get_mut(id))
        .ok_or_else(|| CspError::app_not_found(id))
}

fn ok_empty() -> Response {
    StatusCode::OK.into_response()
}

// ----- token endpoints -------------------------------------------------------

/// `POST /auth/api-tokens/authorize`: API token → access token.
async fn authorize(
    State(em): State<Emulator>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let body = body.map_err(|e| CspError::bad_request(format!("Invalid request body: {e}")))?;
    let query = form_pairs(query.unwrap_or_default().as_bytes());
    let Some(token) = auth::api_token_of(&form_pairs(&body), &query) else {
        return Err(CspError::bad_request(
            "api_token is required (form field, Content-Type: application/x-www-form-urlencoded)",
        ));
    };
    if !em.config().auth.accepts(&token) {
        return Err(auth::invalid_grant());
    }
    let caller = Caller::for_api_token(&token);
    let headers = em.rate_limit(&caller)?;
    let ttl = em.config().access_token_ttl;
    let access = em.tokens().issue(caller, now(&em), ttl);
    let mut resp = axum::Json(AccessTokenResponse {
        access_token: access,
        token_type: Some("bearer".into()),
        expires_in: Some(ttl.as_secs() as i64),
        scope: Some(String::new()),
        id_token: None,
        refresh_token: None,
    })
    .into_response();
    resp.headers_mut().extend(headers);
    Ok(resp)
}

/// Client credentials from HTTP Basic, else from the form.
fn client_credentials(headers: &HeaderMap, form: &[(String, String)]) -> Option<(String, String)> {
    if let Some(basic) = basic_credentials(headers) {
        return basic;
    }
    let get = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    Some((get("client_id")?, get("client_secret").unwrap_or_default()))
}

/// `POST /auth/token`: the apps' own OAuth token endpoint, client credentials
/// grant only. Errors are OAuth's `{error, error_description}`.
async fn client_token(
    State(em): State<Emulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unreadable body",
        );
    };
    let form = form_pairs(&body);
    let invalid_client = || {
        oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    };
    let Some((id, secret)) = client_credentials(&headers, &form) else {
        return invalid_client();
    };
    let now = now(&em);
    let app = em.read(|st| st.find_app(&id).map(|(_, a)| a.clone()));
    let Some(app) = app else {
        return invalid_client();
    };
    if app.public_client || secret.is_empty() || !app.secret_matches(&secret, now) {
        return invalid_client();
    }
    let grant = form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str());
    if grant != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only grant_type=client_credentials is supported by the emulator",
        );
    }
    if !app.grant_types.iter().any(|g| g == "client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "the app may not use the client_credentials grant",
        );
    }
    let _ = em.mutate(|st| {
        if let Some(a) = st.find_app_mut(&id) {
            a.last_used_at = Some(now);
        }
        Ok(())
    });
    let ttl = Duration::from_secs(app.access_token_ttl.max(0) as u64);
    axum::Json(json!({
        "access_token": super::store::random_hex(32),
        "token_type": "bearer",
        "expires_in": ttl.as_secs(),
        "scope": app.allowed_scopes.general_scopes.clone().unwrap_or_default().join(" "),
    }))
    .into_response()
}

// ----- organisation apps -----------------------------------------------------

fn query_u64(pairs: &[(String, String)], key: &str) -> Result<Option<u64>, CspError> {
    match pairs.iter().find(|(k, _)| k == key) {
        None => Ok(None),
        Some((_, v)) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| CspError::bad_request(format!("{key} must be a non-negative integer"))),
    }
}

/// `GET /orgs/{orgId}/oauth-apps?pageStart=&pageLimit=&searchTerm=`: 0-based
/// `pageStart`, at most [`PAGE_LIMIT`] per page, creation order; `nextLink` and
/// `prevLink` as relative URLs.
async fn list(
    State(em): State<Emulator>,
    RawQuery(query): RawQuery,
    p: Result<Path<String>, PathRejection>,
) -> Res {
    let org_id = org(&em, &path(p)?)?;
    let pairs = form_pairs(query.unwrap_or_default().as_bytes());
    let start = query_u64(&pairs, "pageStart")?.unwrap_or(0);
    let limit = query_u64(&pairs, "pageLimit")?.unwrap_or(PAGE_LIMIT);
    if limit == 0 {
        return Err(CspError::bad_request("pageLimit must be at least 1"));
    }
    let limit = limit.min(PAGE_LIMIT);
    let search = pairs
        .iter()
        .find(|(k, _)| k == "searchTerm")
        .map(|(_, v)| v.to_lowercase())
        .filter(|s| !s.is_empty());
    let now = now(&em);
    let mut apps: Vec<StoredApp> = em.read(|st| {
        st.orgs
            .get(&org_id)
            .map(|o| o.apps.values().cloned().collect())
            .unwrap_or_default()
    });
    apps.retain(|a| {
        search.as_ref().is_none_or(|s| {
            a.display_name.to_lowercase().contains(s) || a.id.to_lowercase().contains(s)
        })
    });
    apps.sort_by_key(|a| a.seq);
    let total = apps.len() as u64;
    let results: Vec<OAuthApp> = apps
        .iter()
        .skip(start.min(total) as usize)
        .take(limit as usize)
        .map(|a| a.to_wire(&org_id, now))
        .collect();
    let link = |s: u64| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("pageStart", &s.to_string())
            .append_pair("pageLimit", &limit.to_string());
        if let Some(term) = &search {
            q.append_pair("searchTerm", term);
        }
        format!("{API_PREFIX}/orgs/{org_id}/oauth-apps?{}", q.finish())
    };
    let page = Paged {
        results,
        total_results: Some(total as i64),
        next_link: (start + limit < total).then(|| link(start + limit)),
        prev_link: (start > 0).then(|| link(start.saturating_sub(limit))),
    };
    Ok(axum::Json(page).into_response())
}

/// `POST /orgs/{orgId}/oauth-apps`: `{clientId, clientSecret}`.
async fn create(
    State(em): State<Emulator>,
    p: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let org_id = org(&em, &path(p)?)?;
    let body = object(body)?;
    let now = now(&em);
    let (new, requested_id) = validation::build_create(&body, now)?;
    let created = em.mutate(|st| {
        for o in st.orgs.values_mut() {
            o.finish_deletions(now);
        }
        let id = match requested_id {
            Some(id) => {
                if st.orgs.values().any(|o| o.deleting.contains_key(&id)) {
                    return Err(CspError::new(
                        StatusCode::CONFLICT,
                        code::DELETION_IN_PROGRESS,
                        format!(
                            "The deletion of OAuth app {id} is still in progress; try again later"
                        ),
                    ));
                }
                if st.id_in_use(&id) {
                    return Err(CspError::new(
                        StatusCode::CONFLICT,
                        code::CONFLICT,
                        format!("An OAuth app with id {id} already exists"),
                    ));
                }
                id
            }
            None => st.new_app_id(),
        };
        let mut app = new;
        app.id = id.clone();
        app.seq = st.next_seq;
        st.next_seq += 1;
        if !app.public_client && app.secret.is_none() {
            app.secret = Some(generate_secret());
        }
        st.orgs
            .entry(org_id.clone())
            .or_default()
            .apps
            .insert(id, app.clone());
        Ok(app)
    })?;
    tracing::info!(org = %org_id, client_id = %created.id, "created OAuth app");
    Ok(axum::Json(ClientIdAndSecret {
        client_id: Some(created.id.clone()),
        client_secret: created.secret.clone(),
    })
    .into_response())
}

async fn get_app(
    State(em): State<Emulator>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (o, id) = path(p)?;
    let org_id = org(&em, &o)?;
    let now = now(&em);
    let app = em.read(|st| find(st.orgs.get(&org_id), &id).map(|a| a.to_wire(&org_id, now)))?;
    Ok(axum::Json(app).into_response())
}

/// `PATCH .../{id}`: the changed app (CSP's answer body is undocumented; the
/// emulator sends the app).
async fn update(
    State(em): State<Emulator>,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let (o, id) = path(p)?;
    let org_id = org(&em, &o)?;
    let body = object(body)?;
    let now = now(&em);
    let updated = em.mutate(|st| {
        let app = find_mut(st, &org_id, &id)?;
        let next = validation::apply_update(app, &body, now)?;
        *app = next;
        Ok(app.to_wire(&org_id, now))
    })?;
    tracing::info!(org = %org_id, client_id = %id, "updated OAuth app");
    Ok(axum::Json(updated).into_response())
}

/// `DELETE /orgs/{orgId}/oauth-apps` `{clientIdsToDelete}`: 1 to 15 ids; each
/// existing, deletable app is deleted (its id stays reserved for the deletion
/// delay) and listed under `succeeded`; immutable and unknown ids under `failed`.
/// When none of the ids exists the answer is 404.
async fn delete_apps(
    State(em): State<Emulator>,
    p: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let org_id = org(&em, &path(p)?)?;
    let body = object(body)?;
    let ids: Vec<String> = match body.get("clientIdsToDelete") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                CspError::bad_request("clientIdsToDelete must be an array of strings")
            })?,
        _ => return Err(CspError::bad_request("clientIdsToDelete is required")),
    };
    if ids.is_empty() || ids.len() > MAX_DELETE_IDS {
        return Err(CspError::bad_request(format!(
            "clientIdsToDelete must hold 1 to {MAX_DELETE_IDS} ids"
        )));
    }
    let now = now(&em);
    let delay =
        chrono::Duration::from_std(em.config().deletion_delay).unwrap_or(chrono::Duration::zero());
    let result = em.mutate(|st| {
        let org = st.orgs.entry(org_id.clone()).or_default();
        org.finish_deletions(now);
        let (mut succeeded, mut failed, mut unknown) = (vec![], vec![], 0usize);
        for id in &ids {
            match org.apps.get(id) {
                Some(a) if a.immutable => failed.push(id.clone()),
                Some(_) => {
                    org.apps.remove(id);
                    if delay > chrono::Duration::zero() {
                        org.deleting.insert(id.clone(), now + delay);
                    }
                    succeeded.push(id.clone());
                }
                None => {
                    unknown += 1;
                    failed.push(id.clone());
                }
            }
        }
        if unknown == ids.len() {
            return Err(CspError::new(
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
                format!("OAuth apps not found: {}", ids.join(", ")),
            ));
        }
        Ok(PartialSuccess {
            succeeded: Some(succeeded),
            failed: Some(failed),
        })
    })?;
    tracing::info!(org = %org_id, ?result, "bulk delete of OAuth apps");
    Ok(axum::Json(result).into_response())
}

/// `POST .../{id}/secret` `{newClientSecret, secretRotationExpirationInSeconds?}`:
/// the new secret becomes current; the old one stays valid for the expiry (the
/// request's, else the app's, else 48 h; 0: not at all). Sending the current
/// secret again is a no-op (an idempotent repeat); a different one while an old
/// secret is still valid is 409.
async fn rotate_secret(
    State(em): State<Emulator>,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let (o, id) = path(p)?;
    let org_id = org(&em, &o)?;
    let body = object(body)?;
    let new = match body.get("newClientSecret") {
        Some(Value::String(s)) => {
            check_secret(s).map_err(|m| CspError::bad_request(format!("newClientSecret: {m}")))?;
            ClientSecret::new(s.clone())
        }
        Some(_) => return Err(CspError::bad_request("newClientSecret must be a string")),
        None => return Err(CspError::bad_request("newClientSecret is required")),
    };
    let expiry = match body.get("secretRotationExpirationInSeconds") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if (0..=i64::from(i32::MAX)).contains(&n) => Some(n),
            _ => {
                return Err(CspError::bad_request(format!(
                    "secretRotationExpirationInSeconds must be an integer from 0 to {}",
                    i32::MAX
                )));
            }
        },
    };
    let now = now(&em);
    em.mutate(|st| {
        let app = find_mut(st, &org_id, &id)?;
        if app.public_client {
            return Err(CspError::bad_request(format!(
                "OAuth app {id} is a public client and has no secret"
            )));
        }
        app.expire_previous(now);
        if app.secret.as_ref() == Some(&new) {
            return Ok(());
        }
        if app.previous_secret.is_some() {
            return Err(CspError::new(
                StatusCode::CONFLICT,
                code::ROTATION_IN_PROGRESS,
                format!(
                    "A secret rotation of OAuth app {id} is in progress; delete the old secret first"
                ),
            ));
        }
        let secs = expiry
            .or(app.secret_rotation_expiration_in_seconds)
            .unwrap_or(DEFAULT_ROTATION_EXPIRY_SECS);
        let old = app.secret.replace(new);
        if secs > 0 {
            app.previous_secret = old;
            app.previous_expires_at = Some(now + chrono::Duration::seconds(secs));
        }
        app.secret_set_at = now;
        app.last_updated_at = now;
        Ok(())
    })?;
    tracing::info!(org = %org_id, client_id = %id, "rotated OAuth app secret");
    Ok(ok_empty())
}

/// `DELETE .../{id}/secret`: the old secret stops working now; 400 when no
/// rotation is in progress.
async fn delete_old_secret(
    State(em): State<Emulator>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Res {
    let (o, id) = path(p)?;
    let org_id = org(&em, &o)?;
    let now = now(&em);
    em.mutate(|st| {
        let app = find_mut(st, &org_id, &id)?;
        app.expire_previous(now);
        if app.previous_secret.take().is_none() {
            return Err(CspError::new(
                StatusCode::BAD_REQUEST,
                code::NO_ROTATION,
                format!("No secret rotation is in progress for OAuth app {id}"),
            ));
        }
        app.previous_expires_at = None;
        app.last_updated_at = now;
        Ok(())
    })?;
    tracing::info!(org = %org_id, client_id = %id, "deleted old OAuth app secret");
    Ok(ok_empty())
}

/// `PUT .../{id}/secret` with `{}`: a new generated secret replaces every other
/// at once.
async fn regenerate_secret(
    State(em): State<Emulator>,
    p: Result<Path<(String, String)>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let (o, id) = path(p)?;
    let org_id = org(&em, &o)?;
    object(body)?;
    let now = now(&em);
    let secret = em.mutate(|st| {
        let app = find_mut(st, &org_id, &id)?;
        if app.public_client {
            return Err(CspError::bad_request(format!(
                "OAuth app {id} is a public client and has no secret"
            )));
        }
        let s = generate_secret();
        app.secret = Some(s.clone());
        app.previous_secret = None;
        app.previous_expires_at = None;
        app.secret_set_at = now;
        app.last_updated_at = now;
        Ok(s)
    })?;
    tracing::info!(org = %org_id, client_id = %id, "regenerated OAuth app secret");
    Ok(axum::Json(ClientIdAndSecret {
        client_id: Some(id),
        client_secret: Some(secret),
    })
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_operations() {
        let a = "/csp/gateway/am/api/orgs/o/oauth-apps";
        assert_eq!(classify(&Method::GET, a), "list");
        assert_eq!(classify(&Method::POST, a), "create");
        assert_eq!(classify(&Method::DELETE, a), "delete");
        assert_eq!(classify(&Method::PATCH, &format!("{a}/x")), "update");
        assert_eq!(
            classify(&Method::POST, &format!("{a}/x/secret")),
            "rotate_secret"
        );
        assert_eq!(
            classify(&Method::DELETE, &format!("{a}/x/secret")),
            "delete_rotated_secret"
        );
        assert_eq!(
            classify(
                &Method::POST,
                "/csp/gateway/am/api/auth/api-tokens/authorize"
            ),
            "authenticate"
        );
        assert_eq!(classify(&Method::GET, "/elsewhere"), "other");
    }
}
