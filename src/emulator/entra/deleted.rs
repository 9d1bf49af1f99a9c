//! Deleted items: `GET /directory/deletedItems/microsoft.graph.application`
//! (needs `Application.Read.All` or `Application.ReadWrite.All`, as documented:
//! `OwnedBy` alone gets 403), `GET /directory/deletedItems/{id}` (owners too, a
//! guess), `POST /directory/deletedItems/{id}/restore` (200 with the
//! application; its uniqueName with it) and `DELETE /directory/deletedItems/{id}`
//! (204, permanent; frees the uniqueName, a guess). Items older than 30 days
//! on the emulator's clock are gone.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;

use super::applications::{FILTERABLE, list_answer, name_taken};
use super::errors::GraphError;
use super::query;
use super::routes::{Ctx, Res, any_role, entity, reads_all, visible, writable};
use super::store::DeletedApp;

fn find(ctx: &Ctx, id: &str) -> Result<DeletedApp, GraphError> {
    any_role(&ctx.caller)?;
    let now = ctx.now;
    ctx.tenant(|t| {
        t.deleted
            .values()
            .find(|d| d.app.id.eq_ignore_ascii_case(id))
            .filter(|d| {
                now - d.deleted_at < chrono::Duration::days(super::store::DELETED_RETENTION_DAYS)
            })
            .cloned()
    })
    .filter(|d| visible(&ctx.caller, &d.app.owners))
    .ok_or_else(|| GraphError::not_found(id))
}

/// `GET /directory/deletedItems/microsoft.graph.application`.
pub fn list(ctx: &Ctx) -> Res {
    any_role(&ctx.caller)?;
    if !reads_all(&ctx.caller) {
        return Err(GraphError::denied());
    }
    let q = query::parse(
        ctx.query.as_deref(),
        &ctx.headers,
        &FILTERABLE,
        "Application",
    )?;
    let now = ctx.now;
    let domain = ctx.domain();
    let mut items: Vec<DeletedApp> = ctx.tenant(|t| {
        let mut t = t.clone();
        t.expire_deleted(now);
        t.deleted.into_values().collect()
    });
    items.sort_by_key(|d| d.app.seq);
    let items = items
        .iter()
        .map(|d| (d.app.seq, d.app.to_json(&domain, Some(d.deleted_at))))
        .collect();
    list_answer(
        ctx,
        "directory/deletedItems/microsoft.graph.application",
        items,
        &q,
        "application",
    )
}

fn typed(d: &DeletedApp, domain: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        "@odata.type".into(),
        Value::String("#microsoft.graph.application".into()),
    );
    m.extend(d.app.to_json(domain, Some(d.deleted_at)));
    m
}

/// `GET /directory/deletedItems/{id}`.
pub fn get(ctx: &Ctx, id: &str) -> Res {
    let d = find(ctx, id)?;
    Ok(entity(
        StatusCode::OK,
        ctx.context("directoryObjects/$entity"),
        typed(&d, &ctx.domain()),
    ))
}

/// `POST /directory/deletedItems/{id}/restore`.
pub fn restore(ctx: &Ctx, id: &str) -> Res {
    let d = find(ctx, id)?;
    if !writable(&ctx.caller, &d.app.owners) {
        return Err(GraphError::denied());
    }
    let app_id = d.app.app_id.clone();
    let restored = ctx.mutate_tenant(|t, _| {
        let d = t
            .deleted
            .remove(&d.app.id)
            .ok_or_else(|| GraphError::not_found(id))?;
        if let Some(n) = &d.app.unique_name
            && t.app_by_unique_name(n).is_some()
        {
            return Err(name_taken());
        }
        t.apps.insert(d.app.id.clone(), d.app.clone());
        Ok(d.app)
    })?;
    tracing::info!(tenant = %ctx.caller.tenant, %app_id, "application restored");
    let mut m = serde_json::Map::new();
    m.insert(
        "@odata.type".into(),
        Value::String("#microsoft.graph.application".into()),
    );
    m.extend(restored.to_json(&ctx.domain(), None));
    Ok(entity(
        StatusCode::OK,
        ctx.context("directoryObjects/$entity"),
        m,
    ))
}

/// `DELETE /directory/deletedItems/{id}`.
pub fn purge(ctx: &Ctx, id: &str) -> Res {
    let d = find(ctx, id)?;
    if !writable(&ctx.caller, &d.app.owners) {
        return Err(GraphError::denied());
    }
    ctx.mutate_tenant(|t, _| {
        t.deleted.remove(&d.app.id);
        Ok(())
    })?;
    tracing::info!(tenant = %ctx.caller.tenant, app_id = %d.app.app_id, "deleted application purged");
    Ok(StatusCode::NO_CONTENT.into_response())
}
