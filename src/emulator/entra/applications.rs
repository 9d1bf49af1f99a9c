//! The application endpoints: list, get, create (`POST /applications`),
//! update, upsert by uniqueName (`PATCH /applications(uniqueName='…')` with
//! `Prefer: create-if-missing`: 201 with the application when created, 204
//! when updated, 404 without the header when it does not exist), and delete
//! (to deleted items; the uniqueName stays taken until the item is restored,
//! purged, or 30 days pass on the emulator's clock).

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};

use super::errors::GraphError;
use super::query::{self, next_link, page, project};
use super::routes::{
    AppKey, Ctx, Res, any_role, entity, may_create, object, personal_write, readable_app, visible,
    writable, writable_app,
};
use super::store::{DeletedApp, StoredApp, new_guid};
use super::validation::{self, AppChange, DEFAULT_AUDIENCE, is_unique_name};

/// The properties `$filter` may use on applications.
pub const FILTERABLE: [&str; 5] = ["appId", "displayName", "id", "signInAudience", "tags"];

/// 400 for a uniqueName held by another (live or deleted) application
/// (observed wording, facts doc §7).
pub fn name_taken() -> GraphError {
    GraphError::bad_request(
        "Another object with the same value for property uniqueName already exists.",
    )
}

fn select_of(ctx: &Ctx) -> Option<Vec<String>> {
    url::form_urlencoded::parse(ctx.query.as_deref().unwrap_or_default().as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case("$select"))
        .map(|(_, v)| query::select_list(&v))
}

/// The `@odata.context` set name with a `$select`.
pub fn context_set(set: &str, select: Option<&[String]>) -> String {
    match select {
        Some(s) => format!("{set}({})", s.join(",")),
        None => set.to_string(),
    }
}

/// A list answer: `value`, `@odata.nextLink` while more remain, and
/// `@odata.count` when asked for with `ConsistencyLevel: eventual`.
pub fn list_answer(
    ctx: &Ctx,
    set: &str,
    items: Vec<(u64, Map<String, Value>)>,
    q: &query::ListQuery,
    resource: &str,
) -> Res {
    let (items, next, total) = page(items, q);
    let value = items
        .into_iter()
        .map(|i| project(i, q.select.as_deref(), resource).map(Value::Object))
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Map::new();
    out.insert(
        "@odata.context".into(),
        Value::String(ctx.context(&context_set(set, q.select.as_deref()))),
    );
    // Graph gives the count on the first page only.
    if q.count && q.after.is_none() {
        out.insert("@odata.count".into(), json!(total));
    }
    if let Some(after) = next {
        out.insert(
            "@odata.nextLink".into(),
            Value::String(next_link(&ctx.origin, &ctx.path, q, after)),
        );
    }
    out.insert("value".into(), Value::Array(value));
    Ok(axum::Json(Value::Object(out)).into_response())
}

/// `GET /applications`: the applications the caller sees, creation order.
pub fn list(ctx: &Ctx) -> Res {
    any_role(&ctx.caller)?;
    let q = query::parse(
        ctx.query.as_deref(),
        &ctx.headers,
        &FILTERABLE,
        "Application",
    )?;
    let mut apps: Vec<StoredApp> = ctx.tenant(|t| {
        t.apps
            .values()
            .filter(|a| visible(&ctx.caller, &a.owners))
            .cloned()
            .collect()
    });
    apps.sort_by_key(|a| a.seq);
    let domain = ctx.domain();
    let items = apps
        .iter()
        .map(|a| (a.seq, a.to_json(&domain, None)))
        .collect();
    list_answer(ctx, "applications", items, &q, "application")
}

/// The application as an entity answer (with `$select`).
fn app_entity(ctx: &Ctx, status: StatusCode, app: &StoredApp) -> Res {
    let select = select_of(ctx);
    let m = project(
        app.to_json(&ctx.domain(), None),
        select.as_deref(),
        "application",
    )?;
    Ok(entity(
        status,
        ctx.context(&format!(
            "{}/$entity",
            context_set("applications", select.as_deref())
        )),
        m,
    ))
}

/// `GET /applications/{id}`, `(appId='…')`, `(uniqueName='…')`.
pub fn get(ctx: &Ctx, key: &AppKey) -> Res {
    let app = readable_app(ctx, key)?;
    app_entity(ctx, StatusCode::OK, &app)
}

fn apply(app: &mut StoredApp, change: AppChange) {
    if let Some(n) = change.display_name {
        app.display_name = n;
    }
    if let Some(a) = change.sign_in_audience {
        app.sign_in_audience = a;
    }
    app.props.extend(change.props);
    if let Some(k) = change.key_credentials {
        app.key_credentials = k;
    }
}

/// Create an application owned by the caller.
fn insert_new(
    ctx: &Ctx,
    change: AppChange,
    unique_name: Option<String>,
) -> Result<StoredApp, GraphError> {
    let now = ctx.now;
    let owner = ctx.caller.app_id.clone();
    let app = ctx.mutate_tenant(|t, seq| {
        t.expire_deleted(now);
        if let Some(n) = &unique_name
            && t.unique_name_taken(n, now)
        {
            return Err(name_taken());
        }
        let mut app = StoredApp {
            id: new_guid(),
            app_id: new_guid(),
            seq: *seq,
            unique_name,
            display_name: String::new(),
            sign_in_audience: DEFAULT_AUDIENCE.to_string(),
            props: Default::default(),
            passwords: vec![],
            key_credentials: vec![],
            owners: vec![owner],
            roles: vec![],
            created: now,
            federated: vec![],
        };
        *seq += 1;
        apply(&mut app, change);
        t.apps.insert(app.id.clone(), app.clone());
        Ok(app)
    })?;
    ctx.em.lag().created(&app.app_id);
    tracing::info!(tenant = %ctx.caller.tenant, app_id = %app.app_id, unique_name = ?app.unique_name, "application created");
    Ok(app)
}

/// `POST /applications`.
pub fn create(ctx: &Ctx, body: &Bytes) -> Res {
    any_role(&ctx.caller)?;
    if !may_create(&ctx.caller) {
        return Err(GraphError::denied());
    }
    let body = object(body)?;
    let unique_name = match body.get("uniqueName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_unique_name(s) => Some(s.clone()),
        Some(_) => {
            return Err(GraphError::invalid_value(
                "uniqueName",
                "1 to 64 of A-Z a-z 0-9 . _ -",
            ));
        }
    };
    let change = validation::check(&body, None, unique_name.as_deref(), ctx.now)?;
    personal_write(ctx, audience_of(&change, None))?;
    let app = insert_new(ctx, change, unique_name)?;
    app_entity(ctx, StatusCode::CREATED, &app)
}

fn wants_create(ctx: &Ctx) -> bool {
    ctx.headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("create-if-missing"))
        })
    })
}

/// The audience an application has after `change`.
fn audience_of<'a>(change: &'a AppChange, app: Option<&'a StoredApp>) -> &'a str {
    change
        .sign_in_audience
        .as_deref()
        .or(app.map(|a| a.sign_in_audience.as_str()))
        .unwrap_or(DEFAULT_AUDIENCE)
}

fn update_existing(ctx: &Ctx, app: &StoredApp, body: &Map<String, Value>) -> Res {
    let change = validation::check(body, Some(app), None, ctx.now)?;
    personal_write(ctx, &app.sign_in_audience)?;
    if app.sign_in_audience != audience_of(&change, Some(app)) {
        personal_write(ctx, audience_of(&change, Some(app)))?;
    }
    let id = app.id.clone();
    ctx.mutate_tenant(|t, _| {
        let a = t
            .apps
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found(&id))?;
        apply(a, change);
        Ok(())
    })?;
    tracing::info!(tenant = %ctx.caller.tenant, app_id = %app.app_id, "application updated");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH` an application; by uniqueName with `Prefer: create-if-missing`, an upsert.
pub fn update(ctx: &Ctx, key: &AppKey, body: &Bytes) -> Res {
    let body = object(body)?;
    let AppKey::UniqueName(name) = key else {
        let app = writable_app(ctx, key)?;
        return update_existing(ctx, &app, &body);
    };
    any_role(&ctx.caller)?;
    if !is_unique_name(name) {
        return Err(GraphError::invalid_value(
            "uniqueName",
            "1 to 64 of A-Z a-z 0-9 . _ -",
        ));
    }
    let create = wants_create(ctx);
    let now = ctx.now;
    let (live, taken) = ctx.tenant(|t| (key.find(t).cloned(), t.unique_name_taken(name, now)));
    match live {
        Some(app) if visible(&ctx.caller, &app.owners) => {
            if !writable(&ctx.caller, &app.owners) {
                return Err(GraphError::denied());
            }
            update_existing(ctx, &app, &body)
        }
        Some(_) if create => Err(name_taken()),
        None if create && taken => Err(name_taken()),
        None if create => {
            if !may_create(&ctx.caller) {
                return Err(GraphError::denied());
            }
            let change = validation::check(&body, None, Some(name), ctx.now)?;
            personal_write(ctx, audience_of(&change, None))?;
            let app = insert_new(ctx, change, Some(name.clone()))?;
            app_entity(ctx, StatusCode::CREATED, &app)
        }
        _ => Err(GraphError::not_found(&key.describe())),
    }
}

/// `DELETE /applications/{id}`: to deleted items; its service principal is deleted.
pub fn delete(ctx: &Ctx, key: &AppKey) -> Res {
    let app = writable_app(ctx, key)?;
    personal_write(ctx, &app.sign_in_audience)?;
    let now = ctx.now;
    ctx.mutate_tenant(|t, _| {
        let a = t
            .apps
            .remove(&app.id)
            .ok_or_else(|| GraphError::not_found(&app.id))?;
        t.service_principals
            .retain(|_, sp| !sp.app_id.eq_ignore_ascii_case(&a.app_id));
        t.deleted.insert(
            a.id.clone(),
            DeletedApp {
                app: a,
                deleted_at: now,
            },
        );
        Ok(())
    })?;
    tracing::info!(tenant = %ctx.caller.tenant, app_id = %app.app_id, "application deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}
