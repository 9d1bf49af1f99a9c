//! Request validation for create and update, as a pure function of the request
//! body, the stored client, the scope catalogue and the time.
//!
//! Bodies are read as untyped JSON so every field error can be reported at once,
//! each with its `source.pointer`, the way Cloudflare's API reports validation
//! errors. Unknown fields are ignored. The rules Cloudflare documents are
//! enforced; the limits it does not document (lengths, counts, URI forms) are our
//! guesses and are listed in docs/emulator-cloudflare.md.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use url::Url;

use super::envelope::{code, field_message};
use super::scopes::{Catalogue, SIMPLE_IDENTITY_SCOPES};
use super::store::{StoredClient, new_verification};
use crate::provider::cloudflare::wire::{ApiMessage, PROTOCOL_SCOPES};

/// Allowed `grant_types`.
pub const GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];
/// Allowed `response_types`.
pub const RESPONSE_TYPES: [&str; 3] = ["token", "id_token", "code"];
/// Allowed `token_endpoint_auth_method` values.
pub const AUTH_METHODS: [&str; 3] = ["none", "client_secret_basic", "client_secret_post"];
/// Scopes that may never be optional.
pub const NEVER_OPTIONAL: [&str; 3] = ["openid", "offline", "offline_access"];

/// Longest accepted `client_name`, in characters (guess).
pub const MAX_NAME_CHARS: usize = 255;
/// Longest accepted URI, in bytes (guess).
pub const MAX_URI_LEN: usize = 2048;
/// Most entries accepted in any list field (guess).
pub const MAX_LIST_LEN: usize = 100;

/// A body's fields after type checks. Outer `None`: absent (or `null`).
/// For the optional URI strings, `Some(None)` is an empty string: "clear it".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientInput {
    pub client_name: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub allowed_cors_origins: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub optional_scopes: Option<Vec<String>>,
    pub client_uri: Option<Option<String>>,
    pub logo_uri: Option<Option<String>>,
    pub policy_uri: Option<Option<String>>,
    pub tos_uri: Option<Option<String>>,
    pub visibility: Option<String>,
}

type Errors = Vec<ApiMessage>;

fn err(errors: &mut Errors, pointer: String, text: impl Into<String>) {
    errors.push(field_message(code::INVALID_FIELD, pointer, text));
}

/// Which URI form a field takes.
#[derive(Clone, Copy)]
enum UriKind {
    /// Absolute URI, any scheme, no fragment (redirect URIs; native apps use custom schemes).
    Redirect,
    /// Absolute `http(s)` URL.
    Web,
    /// An origin: `http(s)://host[:port]`, nothing after it.
    Origin,
}

fn check_uri(s: &str, kind: UriKind) -> Result<(), String> {
    if s.len() > MAX_URI_LEN {
        return Err(format!("must be at most {MAX_URI_LEN} characters"));
    }
    let u = Url::parse(s).map_err(|e| format!("{s:?} is not an absolute URI: {e}"))?;
    match kind {
        UriKind::Redirect => {
            if u.fragment().is_some() {
                return Err(format!("{s:?} must not contain a fragment"));
            }
        }
        UriKind::Web => {
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
                return Err(format!("{s:?} must be an http or https URL"));
            }
        }
        UriKind::Origin => {
            let bare = u.path() == "/"
                && !s.ends_with('/')
                && u.query().is_none()
                && u.fragment().is_none();
            if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() || !bare {
                return Err(format!(
                    "{s:?} must be an origin: scheme, host and optional port, e.g. https://app.example.com"
                ));
            }
        }
    }
    Ok(())
}

struct Reader<'a> {
    body: &'a Map<String, Value>,
    errors: Errors,
}

impl Reader<'_> {
    fn string(&mut self, key: &str) -> Option<String> {
        match self.body.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                err(
                    &mut self.errors,
                    format!("/{key}"),
                    format!("{key} must be a string"),
                );
                None
            }
        }
    }

    /// A list of strings, de-duplicated in order; each checked by `check`.
    fn list(
        &mut self,
        key: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let items = match self.body.get(key) {
            None | Some(Value::Null) => return None,
            Some(Value::Array(items)) => items,
            Some(_) => {
                err(
                    &mut self.errors,
                    format!("/{key}"),
                    format!("{key} must be an array of strings"),
                );
                return None;
            }
        };
        if items.len() > MAX_LIST_LEN {
            err(
                &mut self.errors,
                format!("/{key}"),
                format!("{key} must have at most {MAX_LIST_LEN} entries"),
            );
            return None;
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let pointer = format!("/{key}/{i}");
            match item {
                Value::String(s) => match check(s) {
                    Ok(()) => {
                        if !out.contains(s) {
                            out.push(s.clone());
                        }
                    }
                    Err(e) => {
                        ok = false;
                        err(&mut self.errors, pointer, format!("{key}: {e}"));
                    }
                },
                _ => {
                    ok = false;
                    err(
                        &mut self.errors,
                        pointer,
                        format!("{key} must contain only strings"),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn uri(&mut self, key: &str) -> Option<Option<String>> {
        let s = self.string(key)?;
        if s.is_empty() {
            return Some(None);
        }
        match check_uri(&s, UriKind::Web) {
            Ok(()) => Some(Some(s)),
            Err(e) => {
                err(&mut self.errors, format!("/{key}"), format!("{key}: {e}"));
                None
            }
        }
    }
}

fn one_of(allowed: &'static [&'static str]) -> impl Fn(&str) -> Result<(), String> {
    move |s| {
        if allowed.contains(&s) {
            Ok(())
        } else {
            Err(format!("{s:?} is not one of {}", allowed.join(", ")))
        }
    }
}

fn check_scope(catalogue: &Catalogue, s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{s:?} is not a valid scope"));
    }
    if s.contains(':') {
        return Err(format!(
            "colon-delimited scope {s:?} is not accepted; use the dot-delimited form, e.g. account.read"
        ));
    }
    if s.contains('.') {
        if catalogue.contains(s) {
            return Ok(());
        }
        return Err(format!(
            "unknown scope {s:?}; GET /oauth/scopes lists the available scopes"
        ));
    }
    if SIMPLE_IDENTITY_SCOPES.contains(&s) {
        return Ok(());
    }
    Err(format!(
        "unknown scope {s:?}; GET /oauth/scopes lists the available scopes"
    ))
}

/// Type-check a create or update body. `allow_visibility` is true for update.
pub fn read_input(
    body: &Map<String, Value>,
    catalogue: &Catalogue,
    allow_visibility: bool,
) -> (ClientInput, Errors) {
    let mut r = Reader {
        body,
        errors: Vec::new(),
    };
    let redirect = |s: &str| check_uri(s, UriKind::Redirect);
    let input = ClientInput {
        client_name: r.string("client_name"),
        grant_types: r.list("grant_types", one_of(&GRANT_TYPES)),
        response_types: r.list("response_types", one_of(&RESPONSE_TYPES)),
        token_endpoint_auth_method: r.string("token_endpoint_auth_method"),
        redirect_uris: r.list("redirect_uris", redirect),
        post_logout_redirect_uris: r.list("post_logout_redirect_uris", redirect),
        allowed_cors_origins: r.list("allowed_cors_origins", |s| check_uri(s, UriKind::Origin)),
        scopes: r.list("scopes", |s| check_scope(catalogue, s)),
        optional_scopes: r.list("optional_scopes", |s| {
            if NEVER_OPTIONAL.contains(&s) {
                Err(format!("{s:?} can never be optional"))
            } else {
                Ok(())
            }
        }),
        client_uri: r.uri("client_uri"),
        logo_uri: r.uri("logo_uri"),
        policy_uri: r.uri("policy_uri"),
        tos_uri: r.uri("tos_uri"),
        visibility: if allow_visibility {
            r.string("visibility")
        } else {
            None
        },
    };
    if let Some(m) = &input.token_endpoint_auth_method
        && !AUTH_METHODS.contains(&m.as_str())
    {
        err(
            &mut r.errors,
            "/token_endpoint_auth_method".into(),
            format!(
                "token_endpoint_auth_method {m:?} is not one of {}",
                AUTH_METHODS.join(", ")
            ),
        );
    }
    if let Some(v) = &input.visibility
        && v != "public"
    {
        err(
            &mut r.errors,
            "/visibility".into(),
            format!(
                "visibility {v:?} is not accepted: only \"public\" (promotion) is; demotion to private is not supported"
            ),
        );
    }
    (input, r.errors)
}

/// `scopes` with the protocol scopes set by the grant and response types:
/// `offline_access` iff `refresh_token` is granted, `openid` iff `id_token` is a
/// response type.
pub fn with_protocol_scopes(
    scopes: &[String],
    grant_types: &[String],
    response_types: &[String],
) -> Vec<String> {
    let mut out: Vec<String> = scopes
        .iter()
        .filter(|s| !PROTOCOL_SCOPES.contains(&s.as_str()))
        .cloned()
        .collect();
    if grant_types.iter().any(|g| g == "refresh_token") {
        out.push("offline_access".into());
    }
    if response_types.iter().any(|r| r == "id_token") {
        out.push("openid".into());
    }
    out
}

/// The rules that hold for every stored client.
fn check_client(c: &StoredClient, errors: &mut Errors) {
    let name = c.client_name.trim();
    if name.is_empty() {
        err(
            errors,
            "/client_name".into(),
            "client_name must not be empty",
        );
    } else if c.client_name.chars().count() > MAX_NAME_CHARS {
        err(
            errors,
            "/client_name".into(),
            format!("client_name must be at most {MAX_NAME_CHARS} characters"),
        );
    }
    if !c.grant_types.iter().any(|g| g == "authorization_code") {
        err(
            errors,
            "/grant_types".into(),
            "grant_types must include authorization_code",
        );
    }
    if c.response_types.is_empty() {
        err(
            errors,
            "/response_types".into(),
            "response_types must not be empty",
        );
    }
    if c.redirect_uris.is_empty() {
        err(
            errors,
            "/redirect_uris".into(),
            "redirect_uris must contain at least one URI",
        );
    }
    for s in &c.optional_scopes {
        if !c.scopes.contains(s) {
            err(
                errors,
                "/optional_scopes".into(),
                format!("optional scope {s:?} must also be in scopes"),
            );
        }
    }
}

/// Validate a create body into a new private client (id, seq and secret are the
/// caller's).
pub fn build_create(
    body: &Map<String, Value>,
    catalogue: &Catalogue,
    now: DateTime<Utc>,
) -> Result<StoredClient, Errors> {
    let (input, mut errors) = read_input(body, catalogue, false);
    // Report missing required fields together with type errors.
    for key in [
        "client_name",
        "grant_types",
        "redirect_uris",
        "response_types",
        "scopes",
        "token_endpoint_auth_method",
    ] {
        if body.get(key).is_none_or(Value::is_null) {
            err(&mut errors, format!("/{key}"), format!("{key} is required"));
        }
    }
    let grant_types = input.grant_types.unwrap_or_default();
    let response_types = input.response_types.unwrap_or_default();
    let scopes = with_protocol_scopes(
        &input.scopes.unwrap_or_default(),
        &grant_types,
        &response_types,
    );
    let client_uri = input.client_uri.flatten();
    let c = StoredClient {
        client_id: String::new(),
        seq: 0,
        visibility: "private".into(),
        client_name: input.client_name.unwrap_or_default(),
        grant_types,
        response_types,
        token_endpoint_auth_method: input.token_endpoint_auth_method.unwrap_or_default(),
        redirect_uris: input.redirect_uris.unwrap_or_default(),
        post_logout_redirect_uris: input.post_logout_redirect_uris.unwrap_or_default(),
        allowed_cors_origins: input.allowed_cors_origins.unwrap_or_default(),
        scopes,
        optional_scopes: input.optional_scopes.unwrap_or_default(),
        client_uri_verification: client_uri.as_ref().map(|_| new_verification()),
        client_uri,
        logo_uri: input.logo_uri.flatten(),
        policy_uri: input.policy_uri.flatten(),
        tos_uri: input.tos_uri.flatten(),
        created_at: now,
        updated_at: now,
        promoted_at: None,
        secret: None,
        previous_secret: None,
    };
    // The rules about whole fields, except for fields already reported.
    let mut more = Errors::new();
    check_client(&c, &mut more);
    let reported = |m: &ApiMessage| {
        let p = pointer_of(m);
        errors.iter().any(|e| {
            let q = pointer_of(e);
            q.starts_with(p) || (p == "/optional_scopes" && q.starts_with("/scopes"))
        })
    };
    let more: Errors = more.into_iter().filter(|m| !reported(m)).collect();
    errors.extend(more);
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(errors)
    }
}

fn pointer_of(m: &ApiMessage) -> &str {
    m.source
        .as_ref()
        .and_then(|s| s.pointer.as_deref())
        .unwrap_or("")
}

fn host_of(uri: &str) -> Option<String> {
    Url::parse(uri)
        .ok()?
        .host_str()
        .map(str::to_ascii_lowercase)
}

fn status_of(c: &StoredClient) -> Option<&str> {
    c.client_uri_verification.as_ref()?.status.as_deref()
}

/// Validate a PATCH body against `existing` and return the updated client.
/// Secrets are dropped when the auth method becomes `none`.
pub fn apply_update(
    existing: &StoredClient,
    body: &Map<String, Value>,
    catalogue: &Catalogue,
    now: DateTime<Utc>,
) -> Result<StoredClient, Errors> {
    let (input, errors) = read_input(body, catalogue, true);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut errors = Errors::new();
    let mut c = existing.clone();
    if let Some(v) = input.client_name {
        c.client_name = v;
    }
    if let Some(v) = input.grant_types {
        c.grant_types = v;
    }
    if let Some(v) = input.response_types {
        c.response_types = v;
    }
    if let Some(v) = input.token_endpoint_auth_method {
        c.token_endpoint_auth_method = v;
    }
    if let Some(v) = input.redirect_uris {
        c.redirect_uris = v;
    }
    if let Some(v) = input.post_logout_redirect_uris {
        c.post_logout_redirect_uris = v;
    }
    if let Some(v) = input.allowed_cors_origins {
        c.allowed_cors_origins = v;
    }
    if let Some(v) = input.optional_scopes {
        c.optional_scopes = v;
    }
    // Protocol scopes follow the (possibly changed) grant and response types.
    let given = input.scopes.unwrap_or_else(|| existing.scopes.clone());
    c.scopes = with_protocol_scopes(&given, &c.grant_types, &c.response_types);
    for (field, value) in [
        (&mut c.logo_uri, input.logo_uri),
        (&mut c.policy_uri, input.policy_uri),
        (&mut c.tos_uri, input.tos_uri),
    ] {
        if let Some(v) = value {
            *field = v;
        }
    }
    match input.client_uri {
        None => {}
        Some(None) => {
            if c.visibility == "public" {
                err(
                    &mut errors,
                    "/client_uri".into(),
                    "a public client's client_uri cannot be removed",
                );
            }
            c.client_uri = None;
            c.client_uri_verification = None;
        }
        Some(Some(new)) => {
            let verified = status_of(existing) == Some("verified");
            let same_host = existing
                .client_uri
                .as_deref()
                .is_some_and(|old| host_of(old) == host_of(&new));
            if existing.client_uri.as_deref() == Some(new.as_str()) || same_host {
                // Re-sending the URI (or changing only its path) restarts a failed
                // verification; a pending or verified one carries on.
                if status_of(existing) == Some("failed")
                    && let Some(v) = c.client_uri_verification.as_mut()
                {
                    v.status = Some("pending".into());
                }
            } else if verified {
                err(
                    &mut errors,
                    "/client_uri".into(),
                    "the client_uri domain is verified and cannot change; only its path can",
                );
            } else {
                c.client_uri_verification = Some(new_verification());
            }
            c.client_uri = Some(new);
        }
    }
    if c.token_endpoint_auth_method == "none" {
        c.secret = None;
        c.previous_secret = None;
    }
    check_client(&c, &mut errors);
    if c.visibility == "public" {
        if c.logo_uri.is_none() {
            err(
                &mut errors,
                "/logo_uri".into(),
                "a public client's logo_uri cannot be removed",
            );
        }
    } else if input.visibility.is_some() {
        // Promotion: every requirement is reported.
        if c.client_name.trim().is_empty() {
            err(
                &mut errors,
                "/visibility".into(),
                "promotion to public needs a non-empty client_name",
            );
        }
        if c.logo_uri.is_none() {
            err(
                &mut errors,
                "/logo_uri".into(),
                "promotion to public needs a logo_uri",
            );
        }
        if c.client_uri.is_none() {
            err(
                &mut errors,
                "/client_uri".into(),
                "promotion to public needs a client_uri with a verified host",
            );
        } else if status_of(&c) != Some("verified") {
            err(
                &mut errors,
                "/client_uri".into(),
                format!(
                    "promotion to public needs a verified client_uri host; verification is {}",
                    status_of(&c).unwrap_or("missing")
                ),
            );
        }
        if !c.scopes.iter().any(|s| !catalogue.is_identity(s)) {
            err(
                &mut errors,
                "/scopes".into(),
                "promotion to public needs at least one non-identity scope",
            );
        }
        c.visibility = "public".into();
        c.promoted_at = Some(now);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if c != *existing {
        c.updated_at = now;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn valid() -> Value {
        json!({
            "client_name": "Grafana",
            "grant_types": ["authorization_code", "refresh_token"],
            "redirect_uris": ["https://grafana.example.com/cb"],
            "response_types": ["code"],
            "scopes": ["account.read", "user-details.read"],
            "token_endpoint_auth_method": "client_secret_basic"
        })
    }

    fn pointers(e: &Errors) -> Vec<String> {
        e.iter()
            .map(|m| m.source.as_ref().unwrap().pointer.clone().unwrap())
            .collect()
    }

    #[test]
    fn create_adds_protocol_scopes() {
        let c = build_create(&obj(valid()), &Catalogue::default(), Utc::now()).unwrap();
        assert_eq!(
            c.scopes,
            ["account.read", "user-details.read", "offline_access"]
        );
        assert_eq!(c.visibility, "private");
        let mut v = valid();
        v["grant_types"] = json!(["authorization_code"]);
        v["response_types"] = json!(["code", "id_token"]);
        v["scopes"] = json!(["account.read", "offline_access"]);
        let c = build_create(&obj(v), &Catalogue::default(), Utc::now()).unwrap();
        assert_eq!(c.scopes, ["account.read", "openid"]);
    }

    #[test]
    fn create_reports_every_field_error() {
        let body = json!({
            "client_name": 5,
            "grant_types": ["refresh_token", "password"],
            "scopes": ["account:read", "nope.read", "account.read"],
            "optional_scopes": ["openid"],
            "token_endpoint_auth_method": "private_key_jwt",
            "client_uri": "ftp://x"
        });
        let e = build_create(&obj(body), &Catalogue::default(), Utc::now()).unwrap_err();
        let p = pointers(&e);
        for want in [
            "/client_name",
            "/grant_types/1",
            "/scopes/0",
            "/scopes/1",
            "/optional_scopes/0",
            "/token_endpoint_auth_method",
            "/client_uri",
            "/redirect_uris",
            "/response_types",
        ] {
            assert!(p.iter().any(|x| x == want), "{want} missing in {p:?}");
        }
    }

    #[test]
    fn authorization_code_and_optional_subset_are_required() {
        let mut v = valid();
        v["grant_types"] = json!(["refresh_token"]);
        v["optional_scopes"] = json!(["teams.read"]);
        let e = build_create(&obj(v), &Catalogue::default(), Utc::now()).unwrap_err();
        assert_eq!(pointers(&e), ["/grant_types", "/optional_scopes"]);
    }

    #[test]
    fn update_merges_and_recomputes_protocol_scopes() {
        let cat = Catalogue::default();
        let c = build_create(&obj(valid()), &cat, Utc::now()).unwrap();
        let u = apply_update(
            &c,
            &obj(json!({"grant_types": ["authorization_code"]})),
            &cat,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(u.scopes, ["account.read", "user-details.read"]);
        assert_eq!(u.client_name, "Grafana");
        let e =
            apply_update(&c, &obj(json!({"visibility": "private"})), &cat, Utc::now()).unwrap_err();
        assert_eq!(pointers(&e), ["/visibility"]);
    }

    #[test]
    fn promotion_needs_a_verified_uri_logo_and_resource_scope() {
        let cat = Catalogue::default();
        let mut v = valid();
        v["scopes"] = json!(["user-details.read"]);
        v["client_uri"] = json!("https://app.example.com/home");
        let c = build_create(&obj(v), &cat, Utc::now()).unwrap();
        assert_eq!(status_of(&c), Some("pending"));
        let e =
            apply_update(&c, &obj(json!({"visibility": "public"})), &cat, Utc::now()).unwrap_err();
        assert_eq!(pointers(&e), ["/logo_uri", "/client_uri", "/scopes"]);
        let mut verified = c.clone();
        verified.client_uri_verification.as_mut().unwrap().status = Some("verified".into());
        let body = json!({"visibility": "public", "logo_uri": "https://app.example.com/l.png", "scopes": ["account.read"]});
        let p = apply_update(&verified, &obj(body), &cat, Utc::now()).unwrap();
        assert_eq!(p.visibility, "public");
        assert!(p.promoted_at.is_some());
        // the verified host is frozen, its path is not
        let e = apply_update(
            &p,
            &obj(json!({"client_uri": "https://other.example.com/"})),
            &cat,
            Utc::now(),
        )
        .unwrap_err();
        assert_eq!(pointers(&e), ["/client_uri"]);
        let moved = apply_update(
            &p,
            &obj(json!({"client_uri": "https://APP.example.com/new"})),
            &cat,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(status_of(&moved), Some("verified"));
    }

    #[test]
    fn resending_the_uri_restarts_a_failed_verification() {
        let cat = Catalogue::default();
        let mut v = valid();
        v["client_uri"] = json!("https://app.example.com/");
        let mut c = build_create(&obj(v), &cat, Utc::now()).unwrap();
        let text = c.client_uri_verification.as_ref().unwrap().text.clone();
        c.client_uri_verification.as_mut().unwrap().status = Some("failed".into());
        let u = apply_update(
            &c,
            &obj(json!({"client_uri": "https://app.example.com/"})),
            &cat,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(status_of(&u), Some("pending"));
        assert_eq!(u.client_uri_verification.as_ref().unwrap().text, text);
        let n = apply_update(
            &c,
            &obj(json!({"client_uri": "https://new.example.com/"})),
            &cat,
            Utc::now(),
        )
        .unwrap();
        assert_ne!(n.client_uri_verification.as_ref().unwrap().text, text);
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "\\PC{0,12}".prop_map(Value::String),
            prop::sample::select(vec![
                "authorization_code",
                "refresh_token",
                "code",
                "id_token",
                "token",
                "none",
                "client_secret_post",
                "account.read",
                "a:b",
                "openid",
                "offline",
                "public",
                "https://a.example.com/x",
                "https://a.example.com",
                "",
                "user-details.read",
            ])
            .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(3, 32, 6, |inner| {
            let keys = prop::sample::select(vec![
                "client_name",
                "grant_types",
                "redirect_uris",
                "response_types",
                "scopes",
                "token_endpoint_auth_method",
                "optional_scopes",
                "client_uri",
                "logo_uri",
                "allowed_cors_origins",
                "visibility",
                "x",
            ]);
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(keys.prop_map(str::to_owned), inner, 0..10)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any body: no panic, and every error names a field.
        #[test]
        fn validator_never_panics(v in value(), patch in value()) {
            let cat = Catalogue::default();
            let empty = Map::new();
            let body = v.as_object().unwrap_or(&empty);
            match build_create(body, &cat, Utc::now()) {
                Ok(c) => {
                    assert!(c.grant_types.iter().any(|g| g == "authorization_code"));
                    assert!(c.optional_scopes.iter().all(|s| c.scopes.contains(s)));
                }
                Err(e) => {
                    assert!(!e.is_empty());
                    assert!(e.iter().all(|m| m.source.as_ref().and_then(|s| s.pointer.as_deref())
                        .is_some_and(|p| p.starts_with('/'))));
                }
            }
            let base = build_create(&obj(valid()), &cat, Utc::now()).unwrap();
            let patch = patch.as_object().unwrap_or(&empty);
            if let Ok(c) = apply_update(&base, patch, &cat, Utc::now()) {
                assert!(c.grant_types.iter().any(|g| g == "authorization_code"));
                assert_eq!(c.visibility == "public", c.promoted_at.is_some());
            }
        }
    }
}
