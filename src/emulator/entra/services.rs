//! Service principals: `POST /servicePrincipals {appId}` (201; 409
//! `Request_MultipleObjectsWithSameKeyValue` when the application has one; 400
//! with `NoBackingApplicationObject` for an unknown appId), `GET
//! /servicePrincipals` (with `$filter=appId eq '…'`), `GET
//! /servicePrincipals/{id}` or `(appId='…')`, `DELETE /servicePrincipals/{id}`.
//! A token request needs the application's service principal (AADSTS7000229).
//! Deleting an application deletes its service principal.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::applications::{context_set, list_answer};
use super::consistency::Lagging;
use super::errors::{GraphError, code};
use super::query::{self, project};
use super::routes::{Ctx, Res, any_role, entity, object, visible, writable};
use super::store::{StoredApp, StoredSp, new_guid};

/// The properties `$filter` may use on service principals.
pub const FILTERABLE: [&str; 4] = ["appId", "displayName", "id", "tags"];

/// The service principal as Graph returns it.
pub fn to_json(sp: &StoredSp, app: Option<&StoredApp>, tenant: &str) -> Map<String, Value> {
    let name = app.map(|a| a.display_name.clone());
    let v = json!({
        "id": sp.id,
        "deletedDateTime": null,
        "accountEnabled": true,
        "appDisplayName": name,
        "appId": sp.app_id,
        "appOwnerOrganizationId": tenant,
        "appRoleAssignmentRequired": false,
        "appRoles": [],
        "displayName": name,
        "homepage": null,
        "keyCredentials": [],
        "notes": null,
        "passwordCredentials": [],
        "replyUrls": app.map(|a| a.props.get("web").and_then(|w| w.get("redirectUris")).cloned().unwrap_or_else(|| json!([]))),
        "servicePrincipalNames": [sp.app_id],
        "servicePrincipalType": "Application",
        "signInAudience": app.map(|a| a.sign_in_audience.clone()),
        "tags": app.map(StoredApp::tags).unwrap_or_default(),
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn sp_json(ctx: &Ctx, sp: &StoredSp) -> Map<String, Value> {
    let tenant = ctx.caller.tenant.clone();
    ctx.tenant(|t| to_json(sp, t.app_by_app_id(&sp.app_id), &tenant))
}

/// `GET /servicePrincipals`.
pub fn list(ctx: &Ctx) -> Res {
    any_role(&ctx.caller)?;
    let q = query::parse(
        ctx.query.as_deref(),
        &ctx.headers,
        &FILTERABLE,
        "ServicePrincipal",
    )?;
    let mut sps: Vec<StoredSp> = ctx.tenant(|t| {
        t.service_principals
            .values()
            .filter(|s| visible(&ctx.caller, &s.owners))
            .cloned()
            .collect()
    });
    sps.sort_by_key(|s| s.seq);
    let items = sps.iter().map(|s| (s.seq, sp_json(ctx, s))).collect();
    list_answer(ctx, "servicePrincipals", items, &q, "servicePrincipal")
}

/// `POST /servicePrincipals {appId}`.
pub fn create(ctx: &Ctx, body: &Bytes) -> Res {
    any_role(&ctx.caller)?;
    let body = object(body)?;
    let Some(app_id) = body
        .get("appId")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return Err(GraphError::bad_request(
            "The request body must contain the property 'appId'.",
        ));
    };
    let no_backing = || {
        let mut e = GraphError::bad_request("One or more properties contains invalid values.");
        e.details.push((
            code::NO_BACKING_APP.into(),
            format!("The appId '{app_id}' of the service principal does not reference a valid application object."),
            "appId".into(),
        ));
        e
    };
    let app = ctx.tenant(|t| t.app_by_app_id(&app_id).cloned());
    let Some(app) = app.filter(|a| visible(&ctx.caller, &a.owners)) else {
        return Err(no_backing());
    };
    if !writable(&ctx.caller, &app.owners) {
        return Err(GraphError::denied());
    }
    if ctx.em.lag().lagging(&app.app_id, Lagging::ServicePrincipal) {
        return Err(no_backing());
    }
    let now = ctx.now;
    let owner = ctx.caller.app_id.clone();
    let sp = ctx.mutate_tenant(|t, seq| {
        if t.sp_by_app_id(&app.app_id).is_some() {
            return Err(GraphError::new(
                StatusCode::CONFLICT,
                code::CONFLICT,
                format!(
                    "The service principal cannot be created, updated, or restored because the service principal name {} is already in use.",
                    app.app_id
                ),
            ));
        }
        let sp = StoredSp {
            id: new_guid(),
            app_id: app.app_id.clone(),
            seq: *seq,
            created: now,
            owners: vec![owner],
        };
        *seq += 1;
        t.service_principals.insert(sp.id.clone(), sp.clone());
        Ok(sp)
    })?;
    tracing::info!(tenant = %ctx.caller.tenant, app_id = %app.app_id, "service principal created");
    Ok(entity(
        StatusCode::CREATED,
        ctx.context("servicePrincipals/$entity"),
        sp_json(ctx, &sp),
    ))
}

/// `GET` or `DELETE` one service principal, by `("id", v)` or `("appId", v)`.
pub fn item(ctx: &Ctx, method: &str, (key, value): (&str, &str)) -> Res {
    any_role(&ctx.caller)?;
    let sp = ctx
        .tenant(|t| {
            t.service_principals
                .values()
                .find(|s| {
                    if key == "appId" {
                        s.app_id.eq_ignore_ascii_case(value)
                    } else {
                        s.id.eq_ignore_ascii_case(value)
                    }
                })
                .cloned()
        })
        .filter(|s| visible(&ctx.caller, &s.owners))
        .ok_or_else(|| GraphError::not_found(value))?;
    match method {
        "GET" => {
            let select =
                url::form_urlencoded::parse(ctx.query.as_deref().unwrap_or_default().as_bytes())
                    .find(|(k, _)| k.eq_ignore_ascii_case("$select"))
                    .map(|(_, v)| query::select_list(&v));
            let m = project(sp_json(ctx, &sp), select.as_deref(), "servicePrincipal")?;
            Ok(entity(
                StatusCode::OK,
                ctx.context(&format!(
                    "{}/$entity",
                    context_set("servicePrincipals", select.as_deref())
                )),
                m,
            ))
        }
        "DELETE" => {
            if !writable(&ctx.caller, &sp.owners) {
                return Err(GraphError::denied());
            }
            ctx.mutate_tenant(|t, _| {
                t.service_principals.remove(&sp.id);
                Ok(())
            })?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        _ => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD,
            "The HTTP method is not supported on this resource.",
        )),
    }
}
