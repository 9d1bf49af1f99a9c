//! `POST /applications/{id}/addPassword` and `.../removePassword`.
//!
//! addPassword answers 200 with the passwordCredential including `secretText`
//! (the only time it is shown), `keyId`, `hint` (its first three characters),
//! `startDateTime` (default now) and `endDateTime` (default two years later).
//! An application holds at most 2 passwords when personal Microsoft accounts
//! may sign in (documented), else at most `--max-passwords` (a guess);
//! expired passwords count until removed. removePassword `{keyId}` answers 204,
//! 404 `Request_ResourceNotFound` for an unknown keyId (a guess).

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::consistency::Lagging;
use super::errors::GraphError;
use super::routes::{AppKey, Ctx, Res, entity, object, personal_write, writable_app};
use super::store::{StoredPassword, generate_secret, graph_time, is_guid, new_guid};
use super::validation::allows_personal;

/// Longest password displayName (a guess).
pub const MAX_DISPLAY_NAME: usize = 256;

fn date(v: Option<&Value>, name: &str) -> Result<Option<DateTime<Utc>>, GraphError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|d| Some(d.with_timezone(&Utc)))
            .map_err(|_| GraphError::bad_request(format!("Invalid value for '{name}': {s}"))),
        Some(_) => Err(GraphError::bad_request(format!(
            "Invalid value for '{name}'"
        ))),
    }
}

/// The password limit of an application with this audience.
pub fn limit(audience: &str, max_passwords: usize) -> usize {
    if allows_personal(audience) {
        2
    } else {
        max_passwords
    }
}

/// `addPassword`.
pub fn add(ctx: &Ctx, key: &AppKey, body: &Bytes) -> Res {
    let app = writable_app(ctx, key)?;
    personal_write(ctx, &app.sign_in_audience)?;
    if ctx.em.lag().lagging(&app.app_id, Lagging::AddPassword) {
        return Err(GraphError::not_found(&key.describe()));
    }
    let body = object(body)?;
    if let Some(k) = body.keys().find(|k| *k != "passwordCredential") {
        return Err(GraphError::bad_request(format!(
            "Property '{k}' does not exist as a declared property or extension property."
        )));
    }
    let cred = match body.get("passwordCredential") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(GraphError::bad_request("passwordCredential is an object.")),
    };
    for k in cred.keys() {
        if !matches!(
            k.as_str(),
            "displayName" | "startDateTime" | "endDateTime" | "@odata.type"
        ) {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' of passwordCredential cannot be set by addPassword."
            )));
        }
    }
    let display_name = match cred.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= MAX_DISPLAY_NAME => Some(s.clone()),
        Some(_) => {
            return Err(GraphError::bad_request(format!(
                "displayName is a string of at most {MAX_DISPLAY_NAME} characters."
            )));
        }
    };
    let start = date(cred.get("startDateTime"), "startDateTime")?.unwrap_or(ctx.now);
    let end = date(cred.get("endDateTime"), "endDateTime")?
        .unwrap_or(start + chrono::Duration::days(2 * 365));
    if end <= start {
        return Err(GraphError::bad_request(
            "The endDateTime of a password credential must be after its startDateTime.",
        ));
    }
    let secret = generate_secret();
    let password = StoredPassword {
        key_id: new_guid(),
        display_name,
        hint: secret.expose().chars().take(3).collect(),
        start,
        end,
        secret: secret.clone(),
    };
    let max = ctx.em.config().max_passwords;
    let id = app.id.clone();
    let p = password.clone();
    ctx.mutate_tenant(|t, _| {
        let a = t
            .apps
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found(&id))?;
        let n = limit(&a.sign_in_audience, max);
        if a.passwords.len() >= n {
            return Err(GraphError::bad_request(format!(
                "The application already has the maximum number of password credentials ({n}) for signInAudience {}.",
                a.sign_in_audience
            )));
        }
        a.passwords.push(p);
        Ok(())
    })?;
    tracing::info!(tenant = %ctx.caller.tenant, app_id = %app.app_id, key_id = %password.key_id, "password added");
    let mut m = match password.to_json() {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.insert(
        "secretText".into(),
        Value::String(secret.expose().to_string()),
    );
    m.insert("startDateTime".into(), Value::String(graph_time(&start)));
    Ok(entity(
        StatusCode::OK,
        ctx.context("microsoft.graph.passwordCredential"),
        m,
    ))
}

/// `removePassword`.
pub fn remove(ctx: &Ctx, key: &AppKey, body: &Bytes) -> Res {
    let app = writable_app(ctx, key)?;
    personal_write(ctx, &app.sign_in_audience)?;
    let body = object(body)?;
    let Some(key_id) = body.get("keyId").and_then(Value::as_str) else {
        return Err(GraphError::bad_request(
            "The request body must contain the property 'keyId'.",
        ));
    };
    if !is_guid(key_id) {
        return Err(GraphError::bad_request(format!(
            "Invalid value for 'keyId': {key_id} is not a GUID."
        )));
    }
    let id = app.id.clone();
    ctx.mutate_tenant(|t, _| {
        let a = t
            .apps
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found(&id))?;
        let before = a.passwords.len();
        a.passwords
            .retain(|p| !p.key_id.eq_ignore_ascii_case(key_id));
        if a.passwords.len() == before {
            return Err(GraphError::not_found(key_id));
        }
        Ok(())
    })?;
    tracing::info!(tenant = %ctx.caller.tenant, app_id = %app.app_id, %key_id, "password removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
