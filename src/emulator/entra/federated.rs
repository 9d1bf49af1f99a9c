//! Federated identity credentials of an application (facts doc §9):
//! `GET|POST /applications/{id}/federatedIdentityCredentials`,
//! `GET|PATCH|DELETE .../federatedIdentityCredentials/{id}` or `(name='…')`, and
//! the upsert `PATCH .../federatedIdentityCredentials(name='…')` with
//! `Prefer: create-if-missing` (201/204).
//!
//! Rules: `name` 3–120 of `[A-Za-z0-9_-]` starting with a letter or digit,
//! unique in the application and immutable; `issuer` and `subject` required,
//! at most 600 characters, no wildcard; `audiences` exactly one value of at
//! most 600; `issuer` + `subject` unique in the application; at most 20 per
//! application. Refusals are 400 `Request_BadRequest`.

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::{Map, Value};

use super::errors::GraphError;
use super::routes::{AppKey, Ctx, Res, entity, keyed, object, readable_app, writable_app};
use super::store::{StoredFic, new_guid};

/// Most federated identity credentials per application.
pub const MAX_PER_APP: usize = 20;

/// The path segment.
pub const SEGMENT: &str = "federatedIdentityCredentials";

fn valid_name(n: &str) -> bool {
    (3..=120).contains(&n.len())
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn text(body: &Map<String, Value>, k: &str, required: bool) -> Result<Option<String>, GraphError> {
    match body.get(k) {
        None | Some(Value::Null) if !required => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 600 && !s.contains('*') => {
            Ok(Some(s.clone()))
        }
        _ => Err(GraphError::invalid_value(
            k,
            format!("{k} is a string of 1 to 600 characters without wildcards"),
        )),
    }
}

/// Apply a body to `fic` (None: a create). Returns the credential.
fn build(
    body: &Map<String, Value>,
    current: Option<&StoredFic>,
    name_key: Option<&str>,
) -> Result<StoredFic, GraphError> {
    for k in body.keys() {
        if !matches!(
            k.as_str(),
            "name" | "issuer" | "subject" | "audiences" | "description" | "@odata.type" | "id"
        ) {
            return Err(GraphError::bad_request(format!(
                "Property '{k}' does not exist as a declared property or extension property."
            )));
        }
    }
    let mut f = current.cloned().unwrap_or(StoredFic {
        id: new_guid(),
        name: String::new(),
        issuer: String::new(),
        subject: String::new(),
        audiences: vec![],
        description: None,
    });
    match (body.get("name").and_then(Value::as_str), current, name_key) {
        (Some(n), Some(c), _) if n != c.name => {
            return Err(GraphError::bad_request(
                "Property 'name' is read-only and cannot be changed.",
            ));
        }
        (Some(n), None, Some(k)) if n != k => {
            return Err(GraphError::bad_request(
                "The name in the body differs from the name in the URL.",
            ));
        }
        (Some(n), None, _) => f.name = n.to_string(),
        (None, None, Some(k)) => f.name = k.to_string(),
        (None, None, None) => {
            return Err(GraphError::bad_request("The property 'name' is required."));
        }
        _ => {}
    }
    if current.is_none() && !valid_name(&f.name) {
        return Err(GraphError::invalid_value(
            "name",
            "3 to 120 of A-Z a-z 0-9 - _, starting with a letter or digit",
        ));
    }
    let required = current.is_none();
    if let Some(i) = text(body, "issuer", required)? {
        f.issuer = i;
    }
    if let Some(s) = text(body, "subject", required)? {
        f.subject = s;
    }
    if body.contains_key("description") {
        f.description = text(body, "description", false)?;
    }
    match body.get("audiences") {
        None if !required => {}
        Some(Value::Array(a))
            if a.len() == 1
                && a[0]
                    .as_str()
                    .is_some_and(|s| !s.is_empty() && s.chars().count() <= 600) =>
        {
            f.audiences = vec![a[0].as_str().unwrap_or_default().to_string()];
        }
        _ => {
            return Err(GraphError::invalid_value(
                "audiences",
                "audiences holds exactly one value of at most 600 characters",
            ));
        }
    }
    Ok(f)
}

fn check_unique(all: &[StoredFic], f: &StoredFic) -> Result<(), GraphError> {
    let others = all.iter().filter(|o| o.id != f.id);
    for o in others {
        if o.name.eq_ignore_ascii_case(&f.name) {
            return Err(GraphError::bad_request(format!(
                "A federated identity credential named '{}' already exists on the application.",
                f.name
            )));
        }
        if o.issuer == f.issuer && o.subject == f.subject {
            return Err(GraphError::bad_request(
                "A federated identity credential with the same issuer and subject already exists on the application.",
            ));
        }
    }
    if all.len() >= MAX_PER_APP && !all.iter().any(|o| o.id == f.id) {
        return Err(GraphError::bad_request(format!(
            "An application holds at most {MAX_PER_APP} federated identity credentials."
        )));
    }
    Ok(())
}

fn save(ctx: &Ctx, app_object: &str, f: StoredFic) -> Result<StoredFic, GraphError> {
    let id = app_object.to_string();
    ctx.mutate_tenant(|t, _| {
        let a = t
            .apps
            .get_mut(&id)
            .ok_or_else(|| GraphError::not_found(&id))?;
        check_unique(&a.federated, &f)?;
        match a.federated.iter_mut().find(|o| o.id == f.id) {
            Some(o) => *o = f.clone(),
            None => a.federated.push(f.clone()),
        }
        Ok(f)
    })
}

fn wants_create(ctx: &Ctx) -> bool {
    ctx.headers.get_all("prefer").iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("create-if-missing"))
        })
    })
}

/// `…/federatedIdentityCredentials…` under an application; `rest` starts with it.
pub fn handle(ctx: &Ctx, m: &str, key: &AppKey, rest: &[&str], body: &Bytes) -> Res {
    let (head, tail) = rest.split_first().map_or(("", &[][..]), |(h, t)| (*h, t));
    let item: Option<(&str, String)> = match (keyed(head, SEGMENT, &["id", "name"]), tail) {
        (Some(k), []) => k?.map(|(kind, v)| (if kind == "name" { "name" } else { "id" }, v)),
        (Some(Ok(None)), [id]) => Some(("id", id.to_string())),
        _ => {
            return Err(GraphError::bad_request(format!(
                "Resource not found for the segment '{}'.",
                rest.last().copied().unwrap_or_default()
            )));
        }
    };
    let context =
        |ctx: &Ctx, app: &str| ctx.context(&format!("applications('{app}')/{SEGMENT}/$entity"));
    match (m, item) {
        ("GET", None) => {
            let app = readable_app(ctx, key)?;
            let value: Vec<Value> = app
                .federated
                .iter()
                .map(|f| Value::Object(f.to_json()))
                .collect();
            let mut out = Map::new();
            out.insert(
                "@odata.context".into(),
                Value::String(ctx.context(&format!("applications('{}')/{SEGMENT}", app.id))),
            );
            out.insert("value".into(), Value::Array(value));
            Ok(axum::Json(Value::Object(out)).into_response())
        }
        ("POST", None) => {
            let app = writable_app(ctx, key)?;
            let f = build(&object(body)?, None, None)?;
            let f = save(ctx, &app.id, f)?;
            Ok(entity(
                StatusCode::CREATED,
                context(ctx, &app.id),
                f.to_json(),
            ))
        }
        (_, Some((kind, v))) => {
            let app = if m == "GET" {
                readable_app(ctx, key)?
            } else {
                writable_app(ctx, key)?
            };
            let found = app
                .federated
                .iter()
                .find(|f| {
                    if kind == "name" {
                        f.name.eq_ignore_ascii_case(&v)
                    } else {
                        f.id.eq_ignore_ascii_case(&v)
                    }
                })
                .cloned();
            match (m, found) {
                ("GET", Some(f)) => Ok(entity(StatusCode::OK, context(ctx, &app.id), f.to_json())),
                ("PATCH", Some(f)) => {
                    let f = build(&object(body)?, Some(&f), None)?;
                    save(ctx, &app.id, f)?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                ("PATCH", None) if kind == "name" && wants_create(ctx) => {
                    let f = build(&object(body)?, None, Some(&v))?;
                    let f = save(ctx, &app.id, f)?;
                    Ok(entity(
                        StatusCode::CREATED,
                        context(ctx, &app.id),
                        f.to_json(),
                    ))
                }
                ("DELETE", Some(f)) => {
                    let id = app.id.clone();
                    ctx.mutate_tenant(|t, _| {
                        if let Some(a) = t.apps.get_mut(&id) {
                            a.federated.retain(|o| o.id != f.id);
                        }
                        Ok(())
                    })?;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                ("GET" | "PATCH" | "DELETE", None) => Err(GraphError::not_found(&v)),
                _ => Err(GraphError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    super::errors::code::METHOD,
                    "The HTTP method is not supported on this resource.",
                )),
            }
        }
        _ => Err(GraphError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            super::errors::code::METHOD,
            "The HTTP method is not supported on this resource.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn credential_rules() {
        let ok = json!({"name": "k8s-clientops", "issuer": "https://issuer.example", "subject": "system:serviceaccount:ns:sa", "audiences": ["api://AzureADTokenExchange"]});
        let f = build(&body(ok.clone()), None, None).unwrap();
        assert_eq!(f.audiences, ["api://AzureADTokenExchange"]);
        let mut two = ok.clone();
        two["audiences"] = json!(["a", "b"]);
        assert!(build(&body(two), None, None).is_err());
        let mut bad = ok.clone();
        bad["name"] = json!("-x");
        assert!(build(&body(bad), None, None).is_err());
        let mut wild = ok.clone();
        wild["subject"] = json!("system:serviceaccount:ns:*");
        assert!(build(&body(wild), None, None).is_err());
        let renamed = build(&body(json!({"name": "other"})), Some(&f), None);
        assert!(renamed.is_err());
        let mut same = f.clone();
        same.id = "other".into();
        same.name = "another".into();
        assert!(check_unique(&[f], &same).is_err());
    }
}
