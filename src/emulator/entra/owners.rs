//! An application's owners, as Graph shows them: service principals.
//! `GET /applications/{id}/owners`, `POST /applications/{id}/owners/$ref
//! {"@odata.id": ".../directoryObjects/{servicePrincipalId}"}` (204; already an
//! owner: 400) and `DELETE /applications/{id}/owners/{servicePrincipalId}/$ref`
//! (204). The emulator keeps owners as the owning applications' appIds, so an
//! owner needs a service principal to be added or listed. Adding an owner is how
//! an application created elsewhere is handed to an `OwnedBy` operator.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value};

use super::errors::{GraphError, code};
use super::routes::{AppKey, Ctx, Res, object, readable_app, writable_app};
use super::services;

/// The path segment.
pub const SEGMENT: &str = "owners";

fn method() -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        code::METHOD,
        "The HTTP method is not supported on this resource.",
    )
}

/// `…/owners…` under an application; `rest` starts with `owners`.
pub fn handle(ctx: &Ctx, m: &str, key: &AppKey, rest: &[&str], body: &Bytes) -> Res {
    match (m, rest) {
        ("GET", [_]) => list(ctx, key),
        ("POST", [_, "$ref"]) => add(ctx, key, body),
        ("DELETE", [_, sp, "$ref"]) => remove(ctx, key, sp),
        _ => Err(method()),
    }
}

fn list(ctx: &Ctx, key: &AppKey) -> Res {
    let app = readable_app(ctx, key)?;
    let tenant = ctx.caller.tenant.clone();
    let value: Vec<Value> = ctx.tenant(|t| {
        app.owners
            .iter()
            .filter_map(|o| t.sp_by_app_id(o))
            .map(|sp| {
                let mut m = Map::new();
                m.insert(
                    "@odata.type".into(),
                    Value::String("#microsoft.graph.servicePrincipal".into()),
                );
                m.extend(services::to_json(sp, t.app_by_app_id(&sp.app_id), &tenant));
                Value::Object(m)
            })
            .collect()
    });
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(ctx.context("directoryObjects")),
    );
    out.insert("value".into(), Value::Array(value));
    Ok(axum::Json(Value::Object(out)).into_response())
}

fn add(ctx: &Ctx, key: &AppKey, body: &Bytes) -> Res {
    let app = writable_app(ctx, key)?;
    let body = object(body)?;
    let Some(reference) = body.get("@odata.id").and_then(Value::as_str) else {
        return Err(GraphError::bad_request(
            "The request body must contain '@odata.id' naming a directory object.",
        ));
    };
    let sp_id = reference
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let id = app.id.clone();
    ctx.mutate_tenant(|t, _| {
        let owner = t
            .service_principals
            .get(&sp_id)
            .map(|sp| sp.app_id.clone())
            .ok_or_else(|| GraphError::not_found(&sp_id))?;
        let a = t
            .apps
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found(&id))?;
        if a.owned_by(&owner) {
            return Err(GraphError::bad_request(
                "One or more added object references already exist for the following modified properties: 'owners'.",
            ));
        }
        a.owners.push(owner);
        Ok(())
    })?;
    tracing::info!(tenant = %ctx.caller.tenant, app_id = %app.app_id, %sp_id, "owner added");
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn remove(ctx: &Ctx, key: &AppKey, sp_id: &str) -> Res {
    let app = writable_app(ctx, key)?;
    let id = app.id.clone();
    ctx.mutate_tenant(|t, _| {
        let owner = t
            .service_principals
            .get(sp_id)
            .map(|sp| sp.app_id.clone())
            .ok_or_else(|| GraphError::not_found(sp_id))?;
        let a = t
            .apps
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found(&id))?;
        if !a.owned_by(&owner) {
            return Err(GraphError::not_found(sp_id));
        }
        a.owners.retain(|o| !o.eq_ignore_ascii_case(&owner));
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
