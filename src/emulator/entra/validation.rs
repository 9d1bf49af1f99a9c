//! What a create or update body may say, as pure functions: each property is
//! checked and normalised (complex values merged over their defaults), and the
//! result is an [`AppChange`] the routes apply.
//!
//! Rules (facts doc §3 and §8; docs/providers/entra-emulator.md lists the
//! guesses): `displayName` 1–120 characters and required on create;
//! `signInAudience` one of four; tags 1–256 characters, no whitespace, no
//! duplicates; redirect URIs at most 256 characters, `https` (or `http` for
//! `localhost`/`127.0.0.1` only; public-client URIs may use a custom scheme),
//! none of `! $ ' ( ) , ;`, no wildcard or query when personal accounts may
//! sign in, at most 256 (100 with personal accounts) across `web`, `spa` and
//! `publicClient`; `requiredResourceAccess` at most 50 resources and 400
//! permissions (30 with personal accounts); app roles with GUID ids, unique
//! values without whitespace, and an enabled role cannot be removed;
//! `passwordCredentials` cannot be set; read-only properties cannot be set.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::assertion;
use super::errors::GraphError;
use super::store::{StoredApp, default_props, graph_time, is_guid, new_guid};

/// The sign-in audiences Graph knows.
pub const AUDIENCES: [&str; 4] = [
    "AzureADMyOrg",
    "AzureADMultipleOrgs",
    "AzureADandPersonalMicrosoftAccount",
    "PersonalMicrosoftAccount",
];

/// The default sign-in audience (the 2026 docs; facts doc §8).
pub const DEFAULT_AUDIENCE: &str = "AzureADMyOrg";

/// Longest `displayName` (a guess between Graph's 256 and the portal's 120).
pub const MAX_DISPLAY_NAME: usize = 120;

/// Longest `notes` (a guess).
pub const MAX_NOTES: usize = 1024;

/// Longest `uniqueName` and its characters (a guess, facts doc §2).
pub const MAX_UNIQUE_NAME: usize = 64;

/// Properties a body may not set.
const READ_ONLY: [&str; 9] = [
    "id",
    "appId",
    "createdDateTime",
    "deletedDateTime",
    "publisherDomain",
    "verifiedPublisher",
    "certification",
    "disabledByMicrosoftStatus",
    "applicationTemplateId",
];

/// Properties stored as given (objects merged over their defaults), unchecked.
const PASSTHROUGH: [&str; 12] = [
    "addIns",
    "api",
    "defaultRedirectUri",
    "description",
    "groupMembershipClaims",
    "identifierUris",
    "info",
    "isDeviceOnlyAuthSupported",
    "isFallbackPublicClient",
    "parentalControlSettings",
    "samlMetadataUrl",
    "serviceManagementReference",
];

/// True when personal Microsoft accounts may sign in.
pub fn allows_personal(audience: &str) -> bool {
    matches!(
        audience,
        "AzureADandPersonalMicrosoftAccount" | "PersonalMicrosoftAccount"
    )
}

/// True for a uniqueName the emulator accepts: 1–64 of `[A-Za-z0-9._-]` (a guess).
pub fn is_unique_name(s: &str) -> bool {
    (1..=MAX_UNIQUE_NAME).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// What a body changes.
#[derive(Debug, Default)]
pub struct AppChange {
    pub display_name: Option<String>,
    pub sign_in_audience: Option<String>,
    pub props: BTreeMap<String, Value>,
    pub key_credentials: Option<Vec<Value>>,
}

/// Check a body against `current` (None: a create). `unique_name`: the key a
/// create-by-uniqueName addresses.
pub fn check(
    body: &Map<String, Value>,
    current: Option<&StoredApp>,
    unique_name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AppChange, GraphError> {
    let mut change = AppChange::default();
    for (k, v) in body {
        match k.as_str() {
            "@odata.type" => {
                if v.as_str()
                    .is_none_or(|t| !t.eq_ignore_ascii_case("#microsoft.graph.application"))
                {
                    return Err(GraphError::bad_request(format!(
                        "Invalid @odata.type {v} for an application."
                    )));
                }
            }
            "displayName" => {
                let Some(s) = v.as_str().filter(|s| !s.trim().is_empty()) else {
                    return Err(GraphError::invalid_value(
                        "displayName",
                        "displayName must be a non-empty string",
                    ));
                };
                if s.chars().count() > MAX_DISPLAY_NAME {
                    return Err(GraphError::invalid_value(
                        "displayName",
                        format!("displayName is at most {MAX_DISPLAY_NAME} characters"),
                    ));
                }
                change.display_name = Some(s.to_string());
            }
            "signInAudience" => match v.as_str().filter(|a| AUDIENCES.contains(a)) {
                Some(a) => change.sign_in_audience = Some(a.to_string()),
                None => {
                    return Err(GraphError::invalid_value(
                        "signInAudience",
                        format!("signInAudience must be one of {}", AUDIENCES.join(", ")),
                    ));
                }
            },
            "uniqueName" => {
                let same = match (v.as_str(), current, unique_name) {
                    (Some(s), Some(app), _) => app
                        .unique_name
                        .as_deref()
                        .is_some_and(|u| u.eq_ignore_ascii_case(s)),
                    (Some(s), None, Some(key)) => s.eq_ignore_ascii_case(key),
                    (Some(s), None, None) => is_unique_name(s),
                    _ => false,
                };
                if !same {
                    return Err(GraphError::bad_request(
                        "Property 'uniqueName' is read-only and cannot be changed.",
                    ));
                }
            }
            "passwordCredentials" => {
                return Err(GraphError::bad_request(
                    "Using PATCH to set passwordCredential is not supported. Use the addPassword and removePassword methods.",
                ));
            }
            "keyCredentials" => change.key_credentials = Some(key_credentials(v, current, now)?),
            "tags" => {
                change.props.insert(k.clone(), tags(v)?);
            }
            "notes" => {
                let ok = v.is_null() || v.as_str().is_some_and(|s| s.chars().count() <= MAX_NOTES);
                if !ok {
                    return Err(GraphError::invalid_value(
                        "notes",
                        format!("notes is a string of at most {MAX_NOTES} characters"),
                    ));
                }
                change.props.insert(k.clone(), v.clone());
            }
            "web" | "spa" | "publicClient" => {
                change.props.insert(k.clone(), platform(k, v)?);
            }
            "requiredResourceAccess" => {
                change.props.insert(k.clone(), required_resource_access(v)?);
            }
            "optionalClaims" => {
                change.props.insert(k.clone(), optional_claims(v)?);
            }
            "appRoles" => {
                change.props.insert(k.clone(), app_roles(v, current)?);
            }
            "tokenEncryptionKeyId" => {
                if !(v.is_null() || v.as_str().is_some_and(is_guid)) {
                    return Err(GraphError::invalid_value(
                        "tokenEncryptionKeyId",
                        "a GUID or null",
                    ));
                }
                change.props.insert(k.clone(), v.clone());
            }
            p if PASSTHROUGH.contains(&p) => {
                change.props.insert(k.clone(), merged(p, v));
            }
            p if READ_ONLY.contains(&p) => {
                return Err(GraphError::bad_request(format!(
                    "Property '{p}' is read-only and cannot be set."
                )));
            }
            p => {
                return Err(GraphError::bad_request(format!(
                    "Property '{p}' does not exist as a declared property or extension property."
                )));
            }
        }
    }
    if current.is_none() && change.display_name.is_none() {
        return Err(GraphError::bad_request(
            "The property 'displayName' is required when creating the entity.",
        ));
    }
    check_whole(&change, current)?;
    Ok(change)
}

/// The limits that depend on the audience and several properties at once.
fn check_whole(change: &AppChange, current: Option<&StoredApp>) -> Result<(), GraphError> {
    let audience = change
        .sign_in_audience
        .as_deref()
        .or(current.map(|a| a.sign_in_audience.as_str()))
        .unwrap_or(DEFAULT_AUDIENCE);
    let personal = allows_personal(audience);
    let prop = |name: &str| -> Value {
        change
            .props
            .get(name)
            .cloned()
            .or_else(|| current.and_then(|a| a.props.get(name).cloned()))
            .unwrap_or_else(|| default_props().get(name).cloned().unwrap_or(Value::Null))
    };
    let mut count = 0usize;
    for platform in ["web", "spa", "publicClient"] {
        let uris = prop(platform);
        for u in uris["redirectUris"].as_array().into_iter().flatten() {
            count += 1;
            let u = u.as_str().unwrap_or_default();
            if personal && u.contains('*') {
                return Err(GraphError::invalid_value(
                    &format!("{platform}.redirectUris"),
                    "wildcards are not allowed when personal Microsoft accounts may sign in",
                ));
            }
            if personal && u.contains('?') {
                return Err(GraphError::invalid_value(
                    &format!("{platform}.redirectUris"),
                    "query parameters are not allowed when personal Microsoft accounts may sign in",
                ));
            }
        }
    }
    let max = if personal { 100 } else { 256 };
    if count > max {
        return Err(GraphError::invalid_value(
            "redirectUris",
            format!("at most {max} redirect URIs for signInAudience {audience}"),
        ));
    }
    let rra = prop("requiredResourceAccess");
    let permissions: usize = rra
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["resourceAccess"].as_array().map_or(0, Vec::len))
        .sum();
    let max = if personal { 30 } else { 400 };
    if permissions > max {
        return Err(GraphError::invalid_value(
            "requiredResourceAccess",
            format!("at most {max} permissions for signInAudience {audience}"),
        ));
    }
    if let Some(app) = current
        && personal
        && app.passwords.len() > 2
    {
        return Err(GraphError::invalid_value(
            "signInAudience",
            "an application that personal Microsoft accounts may sign in to has at most 2 client secrets",
        ));
    }
    Ok(())
}

fn merged(name: &str, v: &Value) -> Value {
    match (default_props().get(name), v) {
        (Some(Value::Object(d)), Value::Object(given)) => {
            let mut m = d.clone();
            for (k, x) in given {
                m.insert(k.clone(), x.clone());
            }
            Value::Object(m)
        }
        _ => v.clone(),
    }
}

fn tags(v: &Value) -> Result<Value, GraphError> {
    let bad = |m: &str| GraphError::invalid_value("tags", m.to_string());
    let arr = v
        .as_array()
        .ok_or_else(|| bad("tags is an array of strings"))?;
    let mut seen = BTreeSet::new();
    for t in arr {
        let t = t
            .as_str()
            .ok_or_else(|| bad("tags is an array of strings"))?;
        if !(1..=256).contains(&t.chars().count()) {
            return Err(bad("each tag is 1 to 256 characters"));
        }
        if t.chars().any(char::is_whitespace) {
            return Err(bad("tags may not contain whitespace"));
        }
        if !seen.insert(t) {
            return Err(bad("duplicate tags are not allowed"));
        }
    }
    Ok(v.clone())
}

/// Whether `host` is a loopback name `http` redirect URIs may use.
fn localhost(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1"
}

fn redirect_uri(platform: &str, u: &Value) -> Result<String, GraphError> {
    let target = format!("{platform}.redirectUris");
    let bad = |m: String| GraphError::invalid_value(&target, m);
    let s = u
        .as_str()
        .ok_or_else(|| bad("redirectUris is an array of strings".into()))?;
    if s.chars().count() > 256 {
        return Err(bad(format!("{s:?} is longer than 256 characters")));
    }
    if let Some(c) = s
        .chars()
        .find(|c| "!$'(),;".contains(*c) || c.is_whitespace())
    {
        return Err(bad(format!("{s:?} contains {c:?}")));
    }
    let parsed = url::Url::parse(&s.replace('*', "wildcard"))
        .map_err(|_| bad(format!("{s:?} is not an absolute URI")))?;
    let host = parsed.host_str().unwrap_or_default();
    if host.starts_with('[') {
        return Err(bad(format!(
            "{s:?}: the IPv6 loopback address is not supported"
        )));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if localhost(host) => {}
        "http" => {
            return Err(bad(format!(
                "{s:?}: http is allowed only for localhost; use https"
            )));
        }
        _ if platform == "publicClient" => {}
        other => {
            return Err(bad(format!(
                "{s:?}: scheme {other} is not allowed; use https"
            )));
        }
    }
    Ok(s.to_string())
}

fn platform(name: &str, v: &Value) -> Result<Value, GraphError> {
    let obj = v
        .as_object()
        .ok_or_else(|| GraphError::invalid_value(name, format!("{name} is an object")))?;
    let allowed: &[&str] = match name {
        "web" => &[
            "redirectUris",
            "logoutUrl",
            "homePageUrl",
            "implicitGrantSettings",
            "redirectUriSettings",
        ],
        _ => &["redirectUris"],
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(GraphError::bad_request(format!(
            "Property '{k}' does not exist as a declared property or extension property."
        )));
    }
    let mut out = match default_props().get(name) {
        Some(Value::Object(d)) => d.clone(),
        _ => Map::new(),
    };
    if let Some(uris) = obj.get("redirectUris") {
        let arr = uris.as_array().ok_or_else(|| {
            GraphError::invalid_value(
                &format!("{name}.redirectUris"),
                "redirectUris is an array of strings",
            )
        })?;
        let mut seen = BTreeSet::new();
        let mut list = Vec::new();
        for u in arr {
            let s = redirect_uri(name, u)?;
            if !seen.insert(s.clone()) {
                return Err(GraphError::invalid_value(
                    &format!("{name}.redirectUris"),
                    format!("{s:?} is listed twice"),
                ));
            }
            list.push(Value::String(s));
        }
        out.insert("redirectUris".into(), Value::Array(list));
    }
    if let Some(l) = obj.get("logoutUrl") {
        let ok = l.is_null()
            || l.as_str().is_some_and(|s| {
                s.len() <= 255 && url::Url::parse(s).is_ok_and(|u| u.scheme() == "https")
            });
        if !ok {
            return Err(GraphError::invalid_value(
                "web.logoutUrl",
                "logoutUrl is an https URL of at most 255 characters",
            ));
        }
        out.insert("logoutUrl".into(), l.clone());
    }
    if let Some(h) = obj.get("homePageUrl") {
        if !(h.is_null() || h.is_string()) {
            return Err(GraphError::invalid_value("web.homePageUrl", "a string"));
        }
        out.insert("homePageUrl".into(), h.clone());
    }
    if let Some(g) = obj.get("implicitGrantSettings") {
        let mut settings =
            json!({"enableAccessTokenIssuance": false, "enableIdTokenIssuance": false});
        let Some(go) = g.as_object() else {
            return Err(GraphError::invalid_value(
                "web.implicitGrantSettings",
                "an object",
            ));
        };
        for (k, b) in go {
            if !matches!(
                k.as_str(),
                "enableAccessTokenIssuance" | "enableIdTokenIssuance"
            ) || !b.is_boolean()
            {
                return Err(GraphError::invalid_value(
                    "web.implicitGrantSettings",
                    format!("{k} is not a boolean setting of implicitGrantSettings"),
                ));
            }
            settings[k] = b.clone();
        }
        out.insert("implicitGrantSettings".into(), settings);
    }
    if let Some(r) = obj.get("redirectUriSettings") {
        out.insert("redirectUriSettings".into(), r.clone());
    }
    Ok(Value::Object(out))
}

fn required_resource_access(v: &Value) -> Result<Value, GraphError> {
    let bad = |m: String| GraphError::invalid_value("requiredResourceAccess", m);
    let arr = v.as_array().ok_or_else(|| bad("an array".into()))?;
    if arr.len() > 50 {
        return Err(bad("at most 50 resources".into()));
    }
    let mut out = Vec::new();
    for r in arr {
        let o = r
            .as_object()
            .ok_or_else(|| bad("each entry is an object".into()))?;
        if let Some(k) = o
            .keys()
            .find(|k| !matches!(k.as_str(), "resourceAppId" | "resourceAccess"))
        {
            return Err(bad(format!("unknown property {k}")));
        }
        let app = o
            .get("resourceAppId")
            .and_then(Value::as_str)
            .filter(|s| is_guid(s))
            .ok_or_else(|| bad("resourceAppId is a GUID".into()))?;
        let mut access = Vec::new();
        for a in o
            .get("resourceAccess")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("resourceAccess is an array".into()))?
        {
            let id = a
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| is_guid(s))
                .ok_or_else(|| bad("resourceAccess[].id is a GUID".into()))?;
            let ty = a
                .get("type")
                .and_then(Value::as_str)
                .filter(|t| matches!(*t, "Scope" | "Role"))
                .ok_or_else(|| bad("resourceAccess[].type is Scope or Role".into()))?;
            access.push(json!({"id": id, "type": ty}));
        }
        out.push(json!({"resourceAppId": app, "resourceAccess": access}));
    }
    Ok(Value::Array(out))
}

fn optional_claims(v: &Value) -> Result<Value, GraphError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let bad = |m: String| GraphError::invalid_value("optionalClaims", m);
    let o = v.as_object().ok_or_else(|| bad("an object".into()))?;
    let mut out = json!({"accessToken": [], "idToken": [], "saml2Token": []});
    for (k, list) in o {
        if !matches!(k.as_str(), "accessToken" | "idToken" | "saml2Token") {
            return Err(bad(format!("unknown token type {k}")));
        }
        let mut claims = Vec::new();
        for c in list
            .as_array()
            .ok_or_else(|| bad(format!("{k} is an array")))?
        {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| bad("each claim has a name".into()))?;
            let additional = c
                .get("additionalProperties")
                .cloned()
                .unwrap_or_else(|| json!([]));
            if !additional
                .as_array()
                .is_some_and(|a| a.iter().all(Value::is_string))
            {
                return Err(bad("additionalProperties is an array of strings".into()));
            }
            claims.push(json!({
                "additionalProperties": additional,
                "essential": c.get("essential").and_then(Value::as_bool).unwrap_or(false),
                "name": name,
                "source": c.get("source").cloned().unwrap_or(Value::Null),
            }));
        }
        out[k] = Value::Array(claims);
    }
    Ok(out)
}

fn app_roles(v: &Value, current: Option<&StoredApp>) -> Result<Value, GraphError> {
    let bad = |m: String| GraphError::invalid_value("appRoles", m);
    let arr = v.as_array().ok_or_else(|| bad("an array".into()))?;
    let mut ids = BTreeSet::new();
    let mut values = BTreeSet::new();
    let mut out = Vec::new();
    for r in arr {
        let id = r
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| is_guid(s))
            .ok_or_else(|| bad("each app role has a GUID id".into()))?;
        if !ids.insert(id.to_ascii_lowercase()) {
            return Err(bad(format!("app role id {id} is used twice")));
        }
        let members = r
            .get("allowedMemberTypes")
            .and_then(Value::as_array)
            .filter(|a| {
                !a.is_empty()
                    && a.iter()
                        .all(|m| matches!(m.as_str(), Some("User" | "Application")))
            })
            .ok_or_else(|| {
                bad("allowedMemberTypes is a non-empty list of User, Application".into())
            })?;
        let value = r.get("value").cloned().unwrap_or(Value::Null);
        if let Some(s) = value.as_str() {
            if s.is_empty() || s.chars().count() > 120 || s.chars().any(char::is_whitespace) {
                return Err(bad(format!(
                    "value {s:?} is 1 to 120 characters without whitespace"
                )));
            }
            if !values.insert(s.to_string()) {
                return Err(bad(format!("value {s:?} is used twice")));
            }
        } else if !value.is_null() {
            return Err(bad("value is a string".into()));
        }
        let text = |k: &str| r.get(k).cloned().unwrap_or(Value::Null);
        out.push(json!({
            "allowedMemberTypes": members,
            "description": text("description"),
            "displayName": text("displayName"),
            "id": id,
            "isEnabled": r.get("isEnabled").and_then(Value::as_bool).unwrap_or(true),
            "origin": "Application",
            "value": value,
        }));
    }
    if let Some(app) = current {
        for old in app
            .props
            .get("appRoles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = old["id"].as_str().unwrap_or_default().to_ascii_lowercase();
            if old["isEnabled"].as_bool() == Some(true) && !ids.contains(&id) {
                return Err(bad(format!(
                    "app role {id} is enabled: to delete a role, first set isEnabled to false"
                )));
            }
        }
    }
    Ok(Value::Array(out))
}

fn key_credentials(
    v: &Value,
    current: Option<&StoredApp>,
    now: DateTime<Utc>,
) -> Result<Vec<Value>, GraphError> {
    let bad = |m: String| GraphError::invalid_value("keyCredentials", m);
    let arr = v.as_array().ok_or_else(|| bad("an array".into()))?;
    let mut out = Vec::new();
    for k in arr {
        let o = k
            .as_object()
            .ok_or_else(|| bad("each key credential is an object".into()))?;
        let key_id = o.get("keyId").and_then(Value::as_str);
        if let Some(id) = key_id
            && !is_guid(id)
        {
            return Err(bad("keyId is a GUID".into()));
        }
        // An existing key may be sent back without its value (reads return key: null).
        let existing = key_id.and_then(|id| {
            current.and_then(|a| {
                a.key_credentials.iter().find(|c| {
                    c["keyId"]
                        .as_str()
                        .is_some_and(|k| k.eq_ignore_ascii_case(id))
                })
            })
        });
        let key = match o.get("key") {
            Some(Value::String(s)) => s.clone(),
            _ => match existing.and_then(|e| e["key"].as_str()) {
                Some(k) => k.to_string(),
                None => return Err(bad("a new key credential needs its key".into())),
            },
        };
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(&key)
            .map_err(|_| bad("key is Base64".into()))?;
        let ty = o
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| {
                matches!(
                    *t,
                    "AsymmetricX509Cert" | "X509CertAndPassword" | "Symmetric"
                )
            })
            .ok_or_else(|| bad("type is AsymmetricX509Cert".into()))?;
        if ty == "AsymmetricX509Cert" && !assertion::is_certificate(&der) {
            return Err(bad("key is not a DER X.509 certificate".into()));
        }
        let custom = match o.get("customKeyIdentifier") {
            Some(Value::String(c)) => Value::String(c.clone()),
            _ if ty == "AsymmetricX509Cert" => {
                Value::String(assertion::custom_key_identifier(&der))
            }
            _ => Value::Null,
        };
        let usage = o
            .get("usage")
            .and_then(Value::as_str)
            .filter(|u| matches!(*u, "Verify" | "Sign"))
            .ok_or_else(|| bad("usage is Verify or Sign".into()))?;
        let start = o
            .get("startDateTime")
            .cloned()
            .unwrap_or_else(|| Value::String(graph_time(&now)));
        let end = o
            .get("endDateTime")
            .cloned()
            .unwrap_or_else(|| Value::String(graph_time(&(now + chrono::Duration::days(365)))));
        out.push(json!({
            "customKeyIdentifier": custom,
            "displayName": o.get("displayName").cloned().unwrap_or(Value::Null),
            "endDateTime": end,
            "key": key,
            "keyId": key_id.map(str::to_string).unwrap_or_else(new_guid),
            "startDateTime": start,
            "type": ty,
            "usage": usage,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn create_needs_a_display_name_and_refuses_passwords() {
        let now = Utc::now();
        assert!(check(&body(json!({})), None, Some("a"), now).is_err());
        let e = check(
            &body(json!({"displayName": "A", "passwordCredentials": []})),
            None,
            Some("a"),
            now,
        )
        .unwrap_err();
        assert!(e.message.contains("addPassword"));
        let e = check(
            &body(json!({"displayName": "A", "bogus": 1})),
            None,
            None,
            now,
        )
        .unwrap_err();
        assert!(e.message.contains("'bogus'"));
        let ok = check(
            &body(json!({"displayName": "A", "uniqueName": "A", "tags": ["x"]})),
            None,
            Some("a"),
            now,
        )
        .unwrap();
        assert_eq!(ok.display_name.as_deref(), Some("A"));
    }

    #[test]
    fn redirect_uri_rules() {
        let now = Utc::now();
        let with = |v: Value| check(&body(v), None, None, now);
        assert!(
            with(json!({"displayName": "A", "web": {"redirectUris": ["https://a.example/cb"]}}))
                .is_ok()
        );
        assert!(
            with(
                json!({"displayName": "A", "web": {"redirectUris": ["http://localhost:8080/cb"]}})
            )
            .is_ok()
        );
        let e = with(json!({"displayName": "A", "web": {"redirectUris": ["http://a.example/cb"]}}))
            .unwrap_err();
        assert_eq!(e.details[0].2, "web.redirectUris");
        assert!(
            with(json!({"displayName": "A", "spa": {"redirectUris": ["https://a.example/(x)"]}}))
                .is_err()
        );
        assert!(
            with(json!({"displayName": "A", "publicClient": {"redirectUris": ["myapp://cb"]}}))
                .is_ok()
        );
        assert!(with(json!({"displayName": "A", "signInAudience": "PersonalMicrosoftAccount", "web": {"redirectUris": ["https://*.a.example/cb"]}})).is_err());
        assert!(
            with(json!({"displayName": "A", "web": {"redirectUris": ["https://*.a.example/cb"]}}))
                .is_ok()
        );
    }

    #[test]
    fn tags_roles_and_permissions() {
        let now = Utc::now();
        let with = |v: Value| check(&body(v), None, None, now);
        assert!(with(json!({"displayName": "A", "tags": ["a b"]})).is_err());
        assert!(with(json!({"displayName": "A", "tags": ["a", "a"]})).is_err());
        assert!(with(json!({"displayName": "A", "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}]})).is_ok());
        assert!(with(json!({"displayName": "A", "requiredResourceAccess": [{"resourceAppId": "graph", "resourceAccess": []}]})).is_err());
        assert!(with(json!({"displayName": "A", "appRoles": [{"id": new_guid(), "allowedMemberTypes": ["Application"], "value": "a b"}]})).is_err());
        assert!(with(json!({"displayName": "A", "signInAudience": "Everyone"})).is_err());
    }
}
