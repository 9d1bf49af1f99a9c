//! Request validation for create and update, as pure functions of the body, the
//! stored app and the time.
//!
//! Bodies are read as untyped JSON so every problem can be reported at once (one
//! 400 whose message lists them, `;`-separated: `CspErrorResponse` has a single
//! message). Unknown fields are ignored. The documented rules are enforced; the
//! undocumented limits (lengths, URI forms, the redirect URI rule of the
//! authorization code grant) are guesses, listed in docs/emulator-csp.md.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use url::Url;

use super::errors::CspError;
use super::store::StoredApp;
use crate::provider::csp::wire::{
    AllowedScopes, DEFAULT_ACCESS_TOKEN_TTL_SECS, DEFAULT_REFRESH_TOKEN_TTL_SECS, GRANT_TYPES,
    SERVICE_ORG_GRANT_TYPES, check_client_id, check_secret,
};
use crate::secret::ClientSecret;

/// Longest `displayName` (guess).
pub const MAX_NAME_CHARS: usize = 255;
/// Longest `description` (guess).
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// Longest URI (guess).
pub const MAX_URI_LEN: usize = 2048;
/// Most entries of a list field (guess).
pub const MAX_LIST_LEN: usize = 100;
/// Longest refresh token TTL with `client_delegate`: 14 days.
pub const MAX_DELEGATE_REFRESH_TTL: i64 = 14 * 24 * 3600;

type Errors = Vec<String>;

fn present<'a>(body: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    body.get(key).filter(|v| !v.is_null())
}

fn string(body: &Map<String, Value>, key: &str, errors: &mut Errors) -> Option<String> {
    match present(body, key) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(format!("{key} must be a string"));
            None
        }
    }
}

fn boolean(body: &Map<String, Value>, key: &str, errors: &mut Errors) -> Option<bool> {
    match present(body, key) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            errors.push(format!("{key} must be true or false"));
            None
        }
    }
}

fn int32(body: &Map<String, Value>, key: &str, min: i64, errors: &mut Errors) -> Option<i64> {
    match present(body, key) {
        None => None,
        Some(v) => match v.as_i64() {
            Some(n) if (min..=i64::from(i32::MAX)).contains(&n) => Some(n),
            _ => {
                errors.push(format!(
                    "{key} must be an integer from {min} to {}",
                    i32::MAX
                ));
                None
            }
        },
    }
}

fn strings(body: &Map<String, Value>, key: &str, errors: &mut Errors) -> Option<Vec<String>> {
    match present(body, key) {
        None => None,
        Some(Value::Array(items)) => {
            if items.len() > MAX_LIST_LEN {
                errors.push(format!("{key} may hold at most {MAX_LIST_LEN} entries"));
                return None;
            }
            let out: Option<Vec<String>> =
                items.iter().map(|v| v.as_str().map(String::from)).collect();
            if out.is_none() {
                errors.push(format!("{key} must be an array of strings"));
            }
            out
        }
        Some(_) => {
            errors.push(format!("{key} must be an array of strings"));
            None
        }
    }
}

fn check_name(name: &str, errors: &mut Errors) {
    let n = name.chars().count();
    if name.trim().is_empty() {
        errors.push("displayName must not be empty".into());
    } else if n > MAX_NAME_CHARS {
        errors.push(format!(
            "displayName must be at most {MAX_NAME_CHARS} characters"
        ));
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || " -_.`':@&".contains(*c)))
    {
        errors.push(format!(
            "displayName may contain letters, digits, spaces and -_.`':@& only, not {c:?}"
        ));
    }
}

fn check_description(d: &str, errors: &mut Errors) {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        errors.push(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        ));
    }
}

fn check_grants(grants: &[String], errors: &mut Errors) {
    if grants.is_empty() {
        errors.push("grantTypes must not be empty".into());
    }
    for g in grants {
        if SERVICE_ORG_GRANT_TYPES.contains(&g.as_str()) {
            errors.push(format!(
                "grantTypes: {g} is only available to service organizations"
            ));
        } else if !GRANT_TYPES.contains(&g.as_str()) {
            errors.push(format!(
                "grantTypes: {g:?} is not one of {}",
                GRANT_TYPES.join(", ")
            ));
        }
    }
}

fn check_uris(key: &str, uris: &[String], errors: &mut Errors) {
    for u in uris {
        if u.len() > MAX_URI_LEN {
            errors.push(format!(
                "{key}: a URI must be at most {MAX_URI_LEN} characters"
            ));
            continue;
        }
        match Url::parse(u) {
            Ok(p) if p.fragment().is_none() => {}
            Ok(_) => errors.push(format!("{key}: {u:?} must not contain a fragment")),
            Err(e) => errors.push(format!("{key}: {u:?} is not an absolute URI: {e}")),
        }
    }
}

fn allowed_scopes(body: &Map<String, Value>, errors: &mut Errors) -> Option<AllowedScopes> {
    let v = present(body, "allowedScopes")?;
    if !v.is_object() {
        errors.push("allowedScopes must be an object".into());
        return None;
    }
    match serde_json::from_value::<AllowedScopes>(v.clone()) {
        Ok(s) => {
            let general = s.general_scopes.iter().flatten();
            let roles = s
                .organization_scopes
                .iter()
                .flat_map(|o| o.role_names().into_iter());
            if general.map(String::as_str).any(str::is_empty)
                || roles.into_iter().any(|r| r.is_empty())
            {
                errors.push("allowedScopes: scope and role names must not be empty".into());
            }
            Some(s)
        }
        Err(_) => {
            errors.push(
                "allowedScopes must be {generalScopes: [string], organizationScopes: {allRoles, roles: [{name}]}, servicesScopes: [...]}".into(),
            );
            None
        }
    }
}

/// Rules that hold for any app, after create or update.
fn check_app(app: &StoredApp, errors: &mut Errors) {
    if app.refresh_token_ttl <= app.access_token_ttl {
        errors.push("refreshTokenTTL must be longer than accessTokenTTL".into());
    }
    if app.grant_types.iter().any(|g| g == "client_delegate")
        && app.refresh_token_ttl > MAX_DELEGATE_REFRESH_TTL
    {
        errors.push("refreshTokenTTL must be at most 14 days with client_delegate".into());
    }
    if app.public_client && app.grant_types.iter().any(|g| g == "client_credentials") {
        errors.push("a public client cannot use the client_credentials grant".into());
    }
    if app.allow_open_redirect_uris && !app.redirect_uris.is_empty() {
        errors.push("redirectUris must be absent when allowOpenRedirectUris is true".into());
    }
    if app.grant_types.iter().any(|g| g == "authorization_code")
        && app.redirect_uris.is_empty()
        && !app.allow_open_redirect_uris
    {
        errors.push("the authorization_code grant needs at least one redirect URI".into());
    }
}

fn finish<T>(value: T, errors: Errors) -> Result<T, CspError> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(CspError::bad_request(errors.join("; ")))
    }
}

/// A create request, checked: the new app (without `seq`) and the requested id,
/// if any. A missing secret is generated by the caller of this function.
pub fn build_create(
    body: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<(StoredApp, Option<String>), CspError> {
    let mut errors = Errors::new();
    let name = string(body, "displayName", &mut errors);
    let description = string(body, "description", &mut errors);
    let grants = strings(body, "grantTypes", &mut errors);
    let scopes = allowed_scopes(body, &mut errors);
    for (key, missing) in [
        ("displayName", name.is_none()),
        ("description", description.is_none()),
        ("grantTypes", grants.is_none()),
        ("allowedScopes", scopes.is_none()),
    ] {
        if missing && present(body, key).is_none() {
            errors.push(format!("{key} is required"));
        }
    }
    if let Some(n) = &name {
        check_name(n, &mut errors);
    }
    if let Some(d) = &description {
        check_description(d, &mut errors);
    }
    if let Some(g) = &grants {
        check_grants(g, &mut errors);
    }
    let id = string(body, "id", &mut errors);
    if let Some(id) = &id
        && let Err(m) = check_client_id(id)
    {
        errors.push(format!("id: {m}"));
    }
    let public = boolean(body, "publicClient", &mut errors).unwrap_or(false);
    let secret = string(body, "secret", &mut errors);
    if let Some(s) = &secret {
        if public {
            errors.push("secret: a public client has no secret".into());
        } else if let Err(m) = check_secret(s) {
            errors.push(format!("secret: {m}"));
        }
    }
    let redirect_uris = strings(body, "redirectUris", &mut errors).unwrap_or_default();
    check_uris("redirectUris", &redirect_uris, &mut errors);
    let post_logout = strings(body, "postLogoutRedirectUris", &mut errors).unwrap_or_default();
    check_uris("postLogoutRedirectUris", &post_logout, &mut errors);
    let app = StoredApp {
        id: String::new(),
        seq: 0,
        display_name: name.unwrap_or_default(),
        description: description.unwrap_or_default(),
        grant_types: grants.unwrap_or_default(),
        allowed_scopes: scopes.unwrap_or_default(),
        redirect_uris,
        post_logout_redirect_uris: post_logout,
        access_token_ttl: int32(body, "accessTokenTTL", 1, &mut errors)
            .unwrap_or(DEFAULT_ACCESS_TOKEN_TTL_SECS),
        refresh_token_ttl: int32(body, "refreshTokenTTL", 1, &mut errors)
            .unwrap_or(DEFAULT_REFRESH_TOKEN_TTL_SECS),
        force_pkce: boolean(body, "forcePkce", &mut errors).unwrap_or(false),
        public_client: public,
        allow_open_redirect_uris: boolean(body, "allowOpenRedirectUris", &mut errors)
            .unwrap_or(false),
        owner_only_secret_rotation: boolean(body, "ownerOnlySecretRotation", &mut errors)
            .unwrap_or(false),
        secret_rotation_expiration_in_seconds: int32(
            body,
            "secretRotationExpirationInSeconds",
            0,
            &mut errors,
        ),
        immutable: false,
        created_at: now,
        last_updated_at: now,
        last_used_at: None,
        secret_set_at: now,
        secret: secret.map(ClientSecret::new),
        previous_secret: None,
        previous_expires_at: None,
    };
    if errors.is_empty() {
        check_app(&app, &mut errors);
    }
    finish((app, id), errors)
}

/// A PATCH applied to `app`, checked: the changed app. `displayName`,
/// `description` and `grantTypes` are required; other fields change when present.
/// A `secret` replaces every secret and ends a rotation in progress.
pub fn apply_update(
    app: &StoredApp,
    body: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<StoredApp, CspError> {
    let mut errors = Errors::new();
    let mut next = app.clone();
    for key in ["displayName", "description", "grantTypes"] {
        if present(body, key).is_none() {
            errors.push(format!("{key} is required"));
        }
    }
    if let Some(n) = string(body, "displayName", &mut errors) {
        check_name(&n, &mut errors);
        next.display_name = n;
    }
    if let Some(d) = string(body, "description", &mut errors) {
        check_description(&d, &mut errors);
        next.description = d;
    }
    if let Some(g) = strings(body, "grantTypes", &mut errors) {
        check_grants(&g, &mut errors);
        next.grant_types = g;
    }
    if let Some(id) = string(body, "id", &mut errors)
        && id != app.id
    {
        errors.push("id cannot be changed".into());
    }
    if let Some(open) = boolean(body, "allowOpenRedirectUris", &mut errors)
        && open != app.allow_open_redirect_uris
    {
        errors.push("allowOpenRedirectUris cannot be changed after creation".into());
    }
    if let Some(public) = boolean(body, "publicClient", &mut errors)
        && public != app.public_client
    {
        errors.push("publicClient cannot be changed after creation".into());
    }
    if let Some(s) = allowed_scopes(body, &mut errors) {
        next.allowed_scopes = s;
    }
    if let Some(u) = strings(body, "redirectUris", &mut errors) {
        check_uris("redirectUris", &u, &mut errors);
        next.redirect_uris = u;
    }
    if let Some(u) = strings(body, "postLogoutRedirectUris", &mut errors) {
        check_uris("postLogoutRedirectUris", &u, &mut errors);
        next.post_logout_redirect_uris = u;
    }
    if let Some(t) = int32(body, "accessTokenTTL", 1, &mut errors) {
        next.access_token_ttl = t;
    }
    if let Some(t) = int32(body, "refreshTokenTTL", 1, &mut errors) {
        next.refresh_token_ttl = t;
    }
    if let Some(b) = boolean(body, "forcePkce", &mut errors) {
        next.force_pkce = b;
    }
    if let Some(b) = boolean(body, "ownerOnlySecretRotation", &mut errors) {
        next.owner_only_secret_rotation = b;
    }
    if let Some(s) = int32(body, "secretRotationExpirationInSeconds", 0, &mut errors) {
        next.secret_rotation_expiration_in_seconds = Some(s);
    }
    if let Some(s) = string(body, "secret", &mut errors) {
        if app.public_client {
            errors.push("secret: a public client has no secret".into());
        } else if let Err(m) = check_secret(&s) {
            errors.push(format!("secret: {m}"));
        } else {
            next.secret = Some(ClientSecret::new(s));
            next.secret_set_at = now;
            next.previous_secret = None;
            next.previous_expires_at = None;
        }
    }
    if errors.is_empty() {
        check_app(&next, &mut errors);
    }
    next.last_updated_at = now;
    finish(next, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn create_ok() -> Value {
        json!({
            "displayName": "Billing exporter",
            "description": "Exports billing",
            "grantTypes": ["client_credentials"],
            "allowedScopes": {"organizationScopes": {"roles": [{"name": "org_member"}]}},
        })
    }

    #[test]
    fn a_minimal_create_gets_defaults() {
        let (app, id) = build_create(&obj(create_ok()), Utc::now()).unwrap();
        assert_eq!(id, None);
        assert_eq!(app.access_token_ttl, 600);
        assert_eq!(app.refresh_token_ttl, 90 * 24 * 3600);
        assert!(app.secret.is_none());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let e = build_create(
            &obj(json!({
                "displayName": "bad/name",
                "grantTypes": ["implicit", "client_delegate"],
                "id": "abc",
                "secret": "weak",
                "redirectUris": ["not a uri"],
                "accessTokenTTL": "x",
            })),
            Utc::now(),
        )
        .unwrap_err();
        for part in [
            "description is required",
            "allowedScopes is required",
            "displayName may contain",
            "\"implicit\" is not one of",
            "only available to service organizations",
            "id: the client id must be 5 to 256",
            "secret: the client secret must be at least 8",
            "redirectUris",
            "accessTokenTTL must be an integer",
        ] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
        assert!(!e.message.contains("weak"));
    }

    #[test]
    fn app_rules() {
        let mut b = create_ok();
        b["accessTokenTTL"] = json!(600);
        b["refreshTokenTTL"] = json!(600);
        let e = build_create(&obj(b), Utc::now()).unwrap_err();
        assert!(e.message.contains("refreshTokenTTL must be longer"));
        let mut b = create_ok();
        b["grantTypes"] = json!(["authorization_code"]);
        let e = build_create(&obj(b.clone()), Utc::now()).unwrap_err();
        assert!(e.message.contains("redirect URI"));
        b["allowOpenRedirectUris"] = json!(true);
        assert!(build_create(&obj(b.clone()), Utc::now()).is_ok());
        b["redirectUris"] = json!(["https://a.example/cb"]);
        assert!(build_create(&obj(b), Utc::now()).is_err());
        let mut b = create_ok();
        b["publicClient"] = json!(true);
        assert!(build_create(&obj(b), Utc::now()).is_err());
    }

    #[test]
    fn patches_need_the_three_and_keep_the_rest() {
        let now = Utc::now();
        let mut b = create_ok();
        b["secret"] = json!("Old-Secret-1");
        let (app, _) = build_create(&obj(b), now).unwrap();
        let e = apply_update(&app, &obj(json!({"displayName": "x"})), now).unwrap_err();
        assert!(e.message.contains("description is required"));
        assert!(e.message.contains("grantTypes is required"));
        let next = apply_update(
            &app,
            &obj(json!({"displayName": "New", "description": "d", "grantTypes": ["client_credentials"], "accessTokenTTL": 1200})),
            now,
        )
        .unwrap();
        assert_eq!(next.display_name, "New");
        assert_eq!(next.access_token_ttl, 1200);
        assert_eq!(next.allowed_scopes, app.allowed_scopes);
        let e = apply_update(
            &app,
            &obj(json!({"displayName": "New", "description": "d", "grantTypes": ["client_credentials"], "publicClient": true})),
            now,
        )
        .unwrap_err();
        assert!(e.message.contains("publicClient cannot be changed"));
    }
}
