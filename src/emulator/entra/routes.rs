//! The Graph v1.0 router: authentication and the per-(tenant, app) rate limit
//! for every `/v1.0/...` request, then one dispatcher over the path segments
//! (Graph addresses entities with key segments such as
//! `applications(uniqueName='x')`, which a route pattern cannot express), and
//! the open token endpoint.
//!
//! Access follows Graph application roles (facts doc §9): a caller without any
//! of [`ROLES`](super::store::ROLES) gets 403 `Authorization_RequestDenied`;
//! with `Application.ReadWrite.OwnedBy` it sees and changes only the
//! applications and service principals it owns (others read as 404: the
//! emulator's documented choice); `Application.Read.All` reads all of them and
//! `Application.ReadWrite.All` changes all of them.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::auth::Caller;
use super::errors::GraphError;
use super::store::{OWNED_BY, READ_ALL, READ_WRITE_ALL, StoredApp, Tenant};
use super::{
    Emulated as _, Emulator, Entra, Scheme, applications, deleted, passwords, services, token,
};
use crate::emulator::core::emulator::method_not_allowed;

pub type Res = Result<Response, GraphError>;

/// Everything a Graph handler needs about its request.
pub struct Ctx {
    pub em: Emulator,
    pub caller: Caller,
    /// `scheme://host` as the request addressed the emulator.
    pub origin: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub now: DateTime<Utc>,
}

impl Ctx {
    /// Read the caller's tenant.
    pub fn tenant<R>(&self, f: impl FnOnce(&Tenant) -> R) -> R {
        self.em.read(|st| {
            let t = st.tenants.get(&self.caller.tenant);
            match t {
                Some(t) => f(t),
                None => f(&Tenant::default()),
            }
        })
    }

    /// Change the caller's tenant.
    pub fn mutate_tenant<R>(
        &self,
        f: impl FnOnce(&mut Tenant, &mut u64) -> Result<R, GraphError>,
    ) -> Result<R, GraphError> {
        let tenant = self.caller.tenant.clone();
        self.em.mutate(|st| {
            let mut seq = st.next_seq;
            let t = st.tenants.get_mut(&tenant).ok_or_else(GraphError::denied)?;
            let r = f(t, &mut seq)?;
            st.next_seq = seq;
            Ok(r)
        })
    }

    /// `@odata.context` for `fragment` (e.g. `applications/$entity`).
    pub fn context(&self, fragment: &str) -> String {
        format!("{}/v1.0/$metadata#{fragment}", self.origin)
    }

    /// The caller's tenant's domain.
    pub fn domain(&self) -> String {
        self.tenant(|t| t.domain.clone())
    }
}

/// How a request names an application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppKey {
    Id(String),
    AppId(String),
    UniqueName(String),
}

impl AppKey {
    /// The live application it names.
    pub fn find<'a>(&self, t: &'a Tenant) -> Option<&'a StoredApp> {
        match self {
            AppKey::Id(id) => t.apps.values().find(|a| a.id.eq_ignore_ascii_case(id)),
            AppKey::AppId(id) => t.app_by_app_id(id),
            AppKey::UniqueName(n) => t.app_by_unique_name(n),
        }
    }

    /// How error messages name it.
    pub fn describe(&self) -> String {
        match self {
            AppKey::Id(id) => id.clone(),
            AppKey::AppId(id) => format!("appId='{id}'"),
            AppKey::UniqueName(n) => format!("uniqueName='{n}'"),
        }
    }
}

/// 403 unless the caller holds any Graph application role.
pub fn any_role(c: &Caller) -> Result<(), GraphError> {
    if [OWNED_BY, READ_ALL, READ_WRITE_ALL]
        .iter()
        .any(|r| c.has(r))
    {
        Ok(())
    } else {
        Err(GraphError::denied())
    }
}

/// Whether the caller reads every application.
pub fn reads_all(c: &Caller) -> bool {
    c.has(READ_ALL) || c.has(READ_WRITE_ALL)
}

/// Whether the caller sees `owners`' object.
pub fn visible(c: &Caller, owners: &[String]) -> bool {
    reads_all(c) || (c.has(OWNED_BY) && owners.iter().any(|o| o.eq_ignore_ascii_case(&c.app_id)))
}

/// Whether the caller may change `owners`' object.
pub fn writable(c: &Caller, owners: &[String]) -> bool {
    c.has(READ_WRITE_ALL)
        || (c.has(OWNED_BY) && owners.iter().any(|o| o.eq_ignore_ascii_case(&c.app_id)))
}

/// Whether the caller may create applications.
pub fn may_create(c: &Caller) -> bool {
    c.has(OWNED_BY) || c.has(READ_WRITE_ALL)
}

/// The live application `key` names, if the caller sees it (else 404).
pub fn readable_app(ctx: &Ctx, key: &AppKey) -> Result<StoredApp, GraphError> {
    any_role(&ctx.caller)?;
    ctx.tenant(|t| key.find(t).cloned())
        .filter(|a| visible(&ctx.caller, &a.owners))
        .ok_or_else(|| GraphError::not_found(&key.describe()))
}

/// [`readable_app`], and 403 unless the caller may change it.
pub fn writable_app(ctx: &Ctx, key: &AppKey) -> Result<StoredApp, GraphError> {
    let app = readable_app(ctx, key)?;
    if !writable(&ctx.caller, &app.owners) {
        return Err(GraphError::denied());
    }
    Ok(app)
}

/// Take one write from the caller's personal-account bucket when `audience`
/// lets personal Microsoft accounts sign in (429 when it is empty).
pub fn personal_write(ctx: &Ctx, audience: &str) -> Result<(), GraphError> {
    if !super::validation::allows_personal(audience) {
        return Ok(());
    }
    let limiter = ctx.em.personal_writes();
    let decision = limiter.check(&format!("{}/{}", ctx.caller.tenant, ctx.caller.app_id));
    if decision.is_limited() {
        return Err(GraphError::throttled(limiter.headers(&decision)));
    }
    Ok(())
}

/// The body as a JSON object; empty: `{}`.
pub fn object(body: &Bytes) -> Result<Map<String, Value>, GraphError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(GraphError::bad_request(
            "Invalid request body: expected a JSON object.",
        )),
    }
}

/// A JSON answer with `@odata.context`.
pub fn entity(status: StatusCode, context: String, mut m: Map<String, Value>) -> Response {
    let mut out = Map::new();
    out.insert("@odata.context".into(), Value::String(context));
    out.append(&mut m);
    (status, Json(Value::Object(out))).into_response()
}

/// Names the operation of a request, for the request log.
pub fn classify(method: &Method, path: &str) -> &'static str {
    if path.ends_with("/oauth2/v2.0/token") {
        return "token";
    }
    let Some(rest) = path.strip_prefix("/v1.0/") else {
        return "other";
    };
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let first = segs.first().copied().unwrap_or_default();
    let last = segs.last().copied().unwrap_or_default();
    let m = method.as_str();
    if first.starts_with("applications") {
        if segs
            .iter()
            .any(|s| s.starts_with("federatedIdentityCredentials"))
        {
            return "federated_credential";
        }
        if segs.contains(&"owners") {
            return "owners";
        }
        return match (m, segs.len(), last) {
            ("POST", _, "addPassword") => "add_password",
            ("POST", _, "removePassword") => "remove_password",
            ("GET", 1, "applications") => "list",
            ("POST", 1, "applications") => "create",
            ("GET", _, _) => "get",
            ("PATCH", _, _) if first.contains("(uniqueName=") => "upsert",
            ("PATCH", _, _) => "update",
            ("DELETE", _, _) => "delete",
            _ => "other",
        };
    }
    if first.starts_with("servicePrincipals") {
        return match m {
            "POST" => "create_service_principal",
            "DELETE" => "delete_service_principal",
            "GET" => "get_service_principal",
            _ => "other",
        };
    }
    if first == "directory" {
        return match (m, last) {
            ("GET", _) => "deleted_items",
            ("POST", "restore") => "restore",
            ("DELETE", _) => "purge",
            _ => "other",
        };
    }
    "other"
}

/// Authentication and the rate limit; the caller goes into the request.
async fn graph_gate(State(em): State<Emulator>, mut req: Request, next: Next) -> Response {
    let caller = match Entra::authenticate(&em, req.headers()) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let headers = match em.rate_limit(&caller) {
        Ok(h) => h,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(caller);
    let mut resp = next.run(req).await;
    resp.headers_mut().extend(headers);
    resp
}

/// The API router: `/v1.0/...` behind [`graph_gate`], and the token endpoint.
pub fn router(em: Emulator) -> Router {
    let graph = Router::new()
        .route("/v1.0/{*rest}", any(graph))
        .layer(middleware::from_fn_with_state(em.clone(), graph_gate));
    Router::new()
        .route(
            "/{tenant}/oauth2/v2.0/token",
            post(token::token).fallback(method_not_allowed::<GraphError>),
        )
        .merge(graph)
        .with_state(em)
}

fn decode(seg: &str) -> String {
    percent_decode(seg)
}

/// Percent-decoding of a path segment (`+` stays).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// `entity(key='v')` or `entity('v')` → the key; `Some(None)`: the bare set.
pub fn keyed(
    seg: &str,
    set: &str,
    keys: &[&str],
) -> Option<Result<Option<(String, String)>, GraphError>> {
    if seg == set {
        return Some(Ok(None));
    }
    let inner = seg
        .strip_prefix(set)?
        .strip_prefix('(')?
        .strip_suffix(')')?;
    let (name, lit) = match inner.split_once('=') {
        Some((n, l)) => (n.trim().to_string(), l.trim()),
        None => ("id".to_string(), inner.trim()),
    };
    let Some(value) = lit
        .strip_prefix('\'')
        .and_then(|l| l.strip_suffix('\''))
        .map(|v| v.replace("''", "'"))
    else {
        return Some(Err(GraphError::bad_request(format!(
            "Bad Request - Error in query syntax: {seg}"
        ))));
    };
    match keys.iter().find(|k| k.eq_ignore_ascii_case(&name)) {
        Some(k) => Some(Ok(Some((k.to_string(), value)))),
        None => Some(Err(GraphError::bad_request(format!(
            "The key property '{name}' is not an alternate key of '{set}'."
        )))),
    }
}

fn app_key(seg: &str) -> Option<Result<Option<AppKey>, GraphError>> {
    keyed(seg, "applications", &["id", "appId", "uniqueName"]).map(|r| {
        r.map(|k| {
            k.map(|(name, v)| match name.as_str() {
                "appId" => AppKey::AppId(v),
                "uniqueName" => AppKey::UniqueName(v),
                _ => AppKey::Id(v),
            })
        })
    })
}

fn no_segment(seg: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        super::errors::code::NO_ROUTE,
        format!("Resource not found for the segment '{seg}'."),
    )
}

fn wrong_method() -> GraphError {
    GraphError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        super::errors::code::METHOD,
        "The HTTP method is not supported on this resource.",
    )
}

/// Every `/v1.0/...` request.
#[allow(clippy::too_many_arguments)]
async fn graph(
    State(em): State<Emulator>,
    Extension(caller): Extension<Caller>,
    scheme: Option<Extension<Scheme>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Res {
    let body = body.map_err(|e| GraphError::bad_request(format!("Invalid request body: {e}")))?;
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let scheme = scheme.map_or("http", |Extension(Scheme(s))| s);
    let now = em.core().clock.now();
    let path = uri.path().to_string();
    let ctx = Ctx {
        em,
        caller,
        origin: format!("{scheme}://{host}"),
        path: path.clone(),
        query,
        headers,
        now,
    };
    let rest = path.strip_prefix("/v1.0/").unwrap_or_default();
    let segs: Vec<String> = rest.trim_end_matches('/').split('/').map(decode).collect();
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = method.as_str();
    match s.as_slice() {
        [first, tail @ ..] if first.starts_with("applications") => {
            let key = match app_key(first) {
                Some(k) => k?,
                None => return Err(no_segment(first)),
            };
            match (key, tail) {
                (None, []) => match m {
                    "GET" => applications::list(&ctx),
                    "POST" => applications::create(&ctx, &body),
                    _ => Err(wrong_method()),
                },
                (None, [id, more @ ..]) => {
                    app_item(&ctx, m, AppKey::Id(id.to_string()), more, &body)
                }
                (Some(k), more) => app_item(&ctx, m, k, more, &body),
            }
        }
        [first, tail @ ..] if first.starts_with("servicePrincipals") => {
            let key = match keyed(first, "servicePrincipals", &["id", "appId"]) {
                Some(k) => k?,
                None => return Err(no_segment(first)),
            };
            match (key, tail) {
                (None, []) => match m {
                    "GET" => services::list(&ctx),
                    "POST" => services::create(&ctx, &body),
                    _ => Err(wrong_method()),
                },
                (None, [id]) => services::item(&ctx, m, ("id", id)),
                (Some((k, v)), []) => services::item(&ctx, m, (&k, &v)),
                (_, [.., seg]) => Err(no_segment(seg)),
            }
        }
        ["directory", "deletedItems", "microsoft.graph.application"] if m == "GET" => {
            deleted::list(&ctx)
        }
        ["directory", "deletedItems", id] => match m {
            "GET" => deleted::get(&ctx, id),
            "DELETE" => deleted::purge(&ctx, id),
            _ => Err(wrong_method()),
        },
        ["directory", "deletedItems", id, "restore"] if m == "POST" => deleted::restore(&ctx, id),
        ["directory", "deletedItems"] => Err(GraphError::bad_request(
            "The OData cast type is required: GET /directory/deletedItems/microsoft.graph.application.",
        )),
        [.., seg] => Err(no_segment(seg)),
        [] => Err(no_segment("")),
    }
}

fn app_item(ctx: &Ctx, m: &str, key: AppKey, more: &[&str], body: &Bytes) -> Res {
    if more
        .first()
        .is_some_and(|s| s.starts_with(super::federated::SEGMENT))
    {
        return super::federated::handle(ctx, m, &key, more, body);
    }
    if more.first() == Some(&super::owners::SEGMENT) {
        return super::owners::handle(ctx, m, &key, more, body);
    }
    match (m, more) {
        ("GET", []) => applications::get(ctx, &key),
        ("PATCH", []) => applications::update(ctx, &key, body),
        ("DELETE", []) => applications::delete(ctx, &key),
        ("POST", ["addPassword" | "microsoft.graph.addPassword"]) => {
            passwords::add(ctx, &key, body)
        }
        ("POST", ["removePassword" | "microsoft.graph.removePassword"]) => {
            passwords::remove(ctx, &key, body)
        }
        (_, []) => Err(wrong_method()),
        (_, [.., seg]) => Err(no_segment(seg)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_segments() {
        assert_eq!(
            app_key("applications(uniqueName='a''b')").unwrap().unwrap(),
            Some(AppKey::UniqueName("a'b".into()))
        );
        assert_eq!(
            app_key("applications(appId='x')").unwrap().unwrap(),
            Some(AppKey::AppId("x".into()))
        );
        assert_eq!(app_key("applications").unwrap().unwrap(), None);
        assert!(app_key("applications(displayName='x')").unwrap().is_err());
        assert!(app_key("applicationsX").is_none());
        assert_eq!(percent_decode("a%27b%28"), "a'b(");
        assert_eq!(
            classify(&Method::PATCH, "/v1.0/applications(uniqueName='a')"),
            "upsert"
        );
        assert_eq!(classify(&Method::POST, "/t/oauth2/v2.0/token"), "token");
    }
}
