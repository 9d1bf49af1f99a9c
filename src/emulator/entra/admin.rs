//! The Entra-specific admin endpoints under `/__emulator/` (the shared ones,
//! index, reset, credential check, faults, clock and request log, are in
//! [`crate::emulator::core::admin`]):
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `POST /__emulator/tenants` | `{"tenantId"?, "domain"?, "operator"?: {"roles"?, "appId"?, "clientSecret"?}}` | 201 `{tenantId, domain, tokenPath, operator: {id, appId, clientSecret, roles}}`: a tenant and its operator identity (roles default `["Application.ReadWrite.OwnedBy"]`) |
//! | `GET /__emulator/tenants` | | `{"tenants": [{tenantId, domain, applications, deletedApplications, servicePrincipals}]}` |
//! | `POST /__emulator/tenants/{tenant}/operators` | `{"roles"?, "appId"?, "clientSecret"?}` | 201 another operator of the tenant |
//! | `GET /__emulator/tenants/{tenant}/applications` | | `{"applications": [...]}`: every live and deleted application as Graph shows it plus `owners`, `roles`, `deleted` and `validPasswords` (never a secret) |
//! | `GET` or `PUT /__emulator/consistency` | `{"add_password_not_found": N, "service_principal_not_ready": N}` | the replication-lag fault for applications created from then on ([`super::consistency`]) |
//! | `GET` or `PUT /__emulator/issuers` | `{"issuer": URL, "jwks": {"keys": [...]}}` | the signing keys federated assertions from that issuer are checked with (the emulator fetches nothing) |
//! | `POST /__emulator/tokens/expire` | | `{"expired": n}`: every access token stops working now |
//!
//! An operator is an application with a password, a service principal and
//! Graph application roles; nobody owns it, so an `OwnedBy` caller never sees it.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Emulator;
use super::consistency::LagConfig;
use super::store::{
    OWNED_BY, PasswordCheck, ROLES, State as EntraState, StoredApp, StoredPassword, StoredSp,
    generate_secret, is_guid, new_guid,
};
use crate::emulator::core::admin::{AdminError, parse_body};
use crate::secret::ClientSecret;

/// The display name of operator applications.
pub const OPERATOR_NAME: &str = "clientops-emulator operator";

/// The tenant exists (created with `domain` or `<id prefix>.onmicrosoft.com`).
pub fn ensure_tenant(st: &mut EntraState, id: &str, domain: Option<&str>) {
    let id = id.to_ascii_lowercase();
    let t = st.tenants.entry(id.clone()).or_default();
    if t.domain.is_empty() {
        t.domain = domain
            .map(str::to_string)
            .unwrap_or_else(|| format!("emulated{}.onmicrosoft.com", &id[..8.min(id.len())]));
    }
}

/// The operator `app_id` exists in tenant `tenant` with `secret` among its
/// passwords, these roles and a service principal. Returns its object id.
pub fn ensure_operator(
    st: &mut EntraState,
    tenant: &str,
    app_id: &str,
    secret: &ClientSecret,
    roles: &[String],
    display_name: Option<&str>,
    now: DateTime<Utc>,
) -> String {
    let tenant = tenant.to_ascii_lowercase();
    let seq = st.seq();
    let sp_seq = st.seq();
    let Some(t) = st.tenants.get_mut(&tenant) else {
        return String::new();
    };
    let password = StoredPassword {
        key_id: new_guid(),
        display_name: Some("operator".into()),
        hint: secret.expose().chars().take(3).collect(),
        start: now - chrono::Duration::minutes(5),
        end: now + chrono::Duration::days(3650),
        secret: secret.clone(),
    };
    let id = match t
        .apps
        .values_mut()
        .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
    {
        Some(a) => {
            if a.password_matches(secret.expose(), now) != PasswordCheck::Valid {
                a.passwords.push(password);
            }
            a.roles = roles.to_vec();
            a.id.clone()
        }
        None => {
            let a = StoredApp {
                id: new_guid(),
                app_id: app_id.to_ascii_lowercase(),
                seq,
                unique_name: None,
                display_name: display_name.unwrap_or(OPERATOR_NAME).to_string(),
                sign_in_audience: "AzureADMyOrg".into(),
                props: Default::default(),
                passwords: vec![password],
                key_credentials: vec![],
                owners: vec![],
                roles: roles.to_vec(),
                created: now,
                federated: vec![],
            };
            let id = a.id.clone();
            t.apps.insert(id.clone(), a);
            id
        }
    };
    if t.sp_by_app_id(app_id).is_none() {
        let sp = StoredSp {
            id: new_guid(),
            app_id: app_id.to_ascii_lowercase(),
            seq: sp_seq,
            created: now,
            owners: vec![],
        };
        t.service_principals.insert(sp.id.clone(), sp);
    }
    id
}

/// Whether the pair would get a token now (in any tenant): a valid password
/// and a service principal.
pub fn credentials_valid(em: &Emulator, client_id: &str, secret: &str) -> bool {
    let now = em.core().clock.now();
    em.read(|st| {
        st.tenants.values().any(|t| {
            t.app_by_app_id(client_id).is_some_and(|a| {
                a.password_matches(secret, now) == PasswordCheck::Valid
                    && t.sp_by_app_id(client_id).is_some()
            })
        })
    })
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewOperator {
    #[serde(default)]
    roles: Option<Vec<String>>,
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewTenant {
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    operator: Option<NewOperator>,
}

fn add_operator(em: &Emulator, tenant: &str, req: NewOperator) -> Result<Value, AdminError> {
    let roles = req.roles.unwrap_or_else(|| vec![OWNED_BY.to_string()]);
    if let Some(r) = roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
        return Err(AdminError::bad_request(format!(
            "unknown role {r:?}: one of {}",
            ROLES.join(", ")
        )));
    }
    let app_id = req.app_id.unwrap_or_else(new_guid).to_ascii_lowercase();
    if !is_guid(&app_id) {
        return Err(AdminError::bad_request("appId is a GUID"));
    }
    let secret = match req.client_secret {
        Some(s) if (16..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic()) => {
            ClientSecret::new(s)
        }
        Some(_) => {
            return Err(AdminError::bad_request(
                "clientSecret is 16 to 64 printable ASCII characters",
            ));
        }
        None => generate_secret(),
    };
    let now = em.core().clock.now();
    let tenant = tenant.to_ascii_lowercase();
    let id = em
        .mutate(|st| {
            if !st.tenants.contains_key(&tenant) {
                return Ok(None);
            }
            Ok(Some(ensure_operator(
                st,
                &tenant,
                &app_id,
                &secret,
                &roles,
                req.display_name.as_deref(),
                now,
            )))
        })
        .map_err(|e| AdminError::bad_request(e.message))?
        .ok_or_else(|| AdminError::not_found(format!("no tenant {tenant}")))?;
    tracing::info!(%tenant, %app_id, ?roles, "operator identity created");
    Ok(json!({
        "id": id,
        "appId": app_id,
        "clientSecret": secret.expose(),
        "roles": roles,
    }))
}

async fn create_tenant(State(em): State<Emulator>, body: Bytes) -> Result<Response, AdminError> {
    let req: NewTenant = parse_body(&body)?;
    let id = req.tenant_id.unwrap_or_else(new_guid).to_ascii_lowercase();
    if !is_guid(&id) {
        return Err(AdminError::bad_request("tenantId is a GUID"));
    }
    if let Some(d) = &req.domain
        && (d.is_empty() || d.contains(['/', ' ']))
    {
        return Err(AdminError::bad_request("domain is a DNS name"));
    }
    em.mutate(|st| {
        ensure_tenant(st, &id, req.domain.as_deref());
        Ok(())
    })
    .map_err(|e| AdminError::bad_request(e.message))?;
    let operator = add_operator(&em, &id, req.operator.unwrap_or_default())?;
    let domain = em.read(|st| st.tenants.get(&id).map(|t| t.domain.clone()));
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({
            "tenantId": id,
            "domain": domain,
            "tokenPath": format!("/{id}/oauth2/v2.0/token"),
            "operator": operator,
        })),
    )
        .into_response())
}

async fn create_operator(
    State(em): State<Emulator>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Result<Response, AdminError> {
    let req: NewOperator = parse_body(&body)?;
    let op = add_operator(&em, &tenant, req)?;
    Ok((StatusCode::CREATED, axum::Json(op)).into_response())
}

async fn list_tenants(State(em): State<Emulator>) -> Response {
    let tenants: Vec<Value> = em.read(|st| {
        st.tenants
            .iter()
            .map(|(id, t)| {
                json!({
                    "tenantId": id,
                    "domain": t.domain,
                    "applications": t.apps.len(),
                    "deletedApplications": t.deleted.len(),
                    "servicePrincipals": t.service_principals.len(),
                })
            })
            .collect()
    });
    axum::Json(json!({ "tenants": tenants })).into_response()
}

async fn list_applications(
    State(em): State<Emulator>,
    Path(tenant): Path<String>,
) -> Result<Response, AdminError> {
    let now = em.core().clock.now();
    let tenant = tenant.to_ascii_lowercase();
    let apps = em.read(|st| {
        st.tenants.get(&tenant).map(|t| {
            let live = t.apps.values().map(|a| (a, None));
            let dead = t.deleted.values().map(|d| (&d.app, Some(d.deleted_at)));
            let mut all: Vec<(u64, Value)> = live
                .chain(dead)
                .map(|(a, deleted)| {
                    let mut m = a.to_json(&t.domain, deleted);
                    m.insert("owners".into(), json!(a.owners));
                    m.insert("roles".into(), json!(a.roles));
                    m.insert("deleted".into(), json!(deleted.is_some()));
                    m.insert(
                        "validPasswords".into(),
                        json!(a.passwords.iter().filter(|p| p.valid_at(now)).count()),
                    );
                    m.insert(
                        "hasServicePrincipal".into(),
                        json!(t.sp_by_app_id(&a.app_id).is_some()),
                    );
                    (a.seq, Value::Object(m))
                })
                .collect();
            all.sort_by_key(|(s, _)| *s);
            all.into_iter().map(|(_, v)| v).collect::<Vec<_>>()
        })
    });
    let apps = apps.ok_or_else(|| AdminError::not_found(format!("no tenant {tenant}")))?;
    Ok(axum::Json(json!({ "applications": apps })).into_response())
}

async fn get_consistency(State(em): State<Emulator>) -> Response {
    axum::Json(em.lag().get()).into_response()
}

async fn set_consistency(State(em): State<Emulator>, body: Bytes) -> Result<Response, AdminError> {
    let cfg: LagConfig = parse_body(&body)?;
    em.lag().set(cfg);
    tracing::info!(?cfg, "replication-lag fault changed");
    Ok(axum::Json(em.lag().get()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewIssuer {
    issuer: String,
    jwks: Value,
}

/// `PUT /__emulator/issuers`: the signing keys of an external token issuer.
async fn put_issuer(State(em): State<Emulator>, body: Bytes) -> Result<Response, AdminError> {
    let req: NewIssuer = parse_body(&body)?;
    if !(req.issuer.starts_with("https://") || req.issuer.starts_with("http://")) {
        return Err(AdminError::bad_request("issuer is an http(s) URL"));
    }
    let keys = req.jwks["keys"]
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| AdminError::bad_request("jwks is a JSON Web Key Set: {\"keys\": [...]}"))?;
    em.mutate(|st| {
        st.issuers.insert(req.issuer.clone(), req.jwks.clone());
        Ok(())
    })
    .map_err(|e| AdminError::bad_request(e.message))?;
    tracing::info!(issuer = %req.issuer, keys, "issuer keys registered");
    Ok(axum::Json(json!({ "issuer": req.issuer, "keys": keys })).into_response())
}

async fn list_issuers(State(em): State<Emulator>) -> Response {
    let issuers: Vec<Value> = em.read(|st| {
        st.issuers
            .iter()
            .map(|(i, jwks)| json!({"issuer": i, "keys": jwks["keys"].as_array().map_or(0, Vec::len)}))
            .collect()
    });
    axum::Json(json!({ "issuers": issuers })).into_response()
}

async fn expire_tokens(State(em): State<Emulator>) -> Response {
    let n = em.tokens().live(em.core().clock.now());
    em.tokens().clear();
    tracing::info!(expired = n, "expired every access token");
    axum::Json(json!({ "expired": n })).into_response()
}

/// The admin index's list, in front of the endpoints every emulator has.
pub const ENDPOINTS: &[&str] = &[
    "GET|POST /__emulator/tenants",
    "POST /__emulator/tenants/{tenant}/operators",
    "GET /__emulator/tenants/{tenant}/applications",
    "GET|PUT /__emulator/consistency",
    "GET|PUT /__emulator/issuers",
    "POST /__emulator/credentials/check",
    "POST /__emulator/tokens/expire",
];

/// The Entra admin routes.
pub fn router(em: Emulator) -> Router {
    Router::new()
        .route("/__emulator/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/__emulator/tenants/{tenant}/operators",
            post(create_operator),
        )
        .route(
            "/__emulator/tenants/{tenant}/applications",
            get(list_applications),
        )
        .route(
            "/__emulator/consistency",
            get(get_consistency)
                .put(set_consistency)
                .post(set_consistency),
        )
        .route(
            "/__emulator/issuers",
            get(list_issuers).put(put_issuer).post(put_issuer),
        )
        .route("/__emulator/tokens/expire", post(expire_tokens))
        .with_state(em)
}
