//! The token endpoint, `POST /{tenant}/oauth2/v2.0/token`: the client
//! credentials grant with a client secret (form fields or HTTP Basic) or a
//! certificate assertion ([`super::assertion`]).
//!
//! Answers as Entra does (facts doc §1): `{token_type, expires_in, ext_expires_in,
//! access_token}` on success; on failure `{error, error_description
//! ("AADSTSnnnn: ... Trace ID ... Correlation ID ... Timestamp ..."), error_codes,
//! timestamp, trace_id, correlation_id, error_uri}`, 401 for `invalid_client`
//! and 400 otherwise. Client authentication is checked before the grant and
//! the scope (a guess, the docs say nothing about the order).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::assertion::{self, JWT_BEARER};
use super::auth::{Subject, TOKEN_LIFETIME_SECS};
use super::store::{PasswordCheck, new_guid};
use super::{Emulator, Scheme};
use crate::emulator::core::oauth::basic_credentials;

/// The scopes that name Microsoft Graph.
pub const GRAPH_SCOPES: [&str; 3] = [
    "https://graph.microsoft.com/.default",
    "https://graph.microsoft.com//.default",
    "00000003-0000-0000-c000-000000000000/.default",
];

/// An Entra token-endpoint error.
pub struct TokenError {
    pub status: StatusCode,
    pub error: &'static str,
    pub aadsts: u32,
    pub description: String,
}

impl TokenError {
    fn new(status: StatusCode, error: &'static str, aadsts: u32, description: String) -> Self {
        Self {
            status,
            error,
            aadsts,
            description,
        }
    }

    fn bad(error: &'static str, aadsts: u32, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, aadsts, description.into())
    }

    fn client(aadsts: u32, description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            aadsts,
            description.into(),
        )
    }

    /// The response at `now`.
    pub fn render(&self, now: DateTime<Utc>) -> Response {
        let (trace, correlation) = (new_guid(), new_guid());
        let stamp = now.format("%Y-%m-%d %H:%M:%SZ").to_string();
        let body = json!({
            "error": self.error,
            "error_description": format!(
                "AADSTS{}: {} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {stamp}",
                self.aadsts, self.description
            ),
            "error_codes": [self.aadsts],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.aadsts),
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        no_store(resp.headers_mut());
        resp
    }
}

fn no_store(h: &mut HeaderMap) {
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn field<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The origin of the real token endpoint, which assertions may name as `aud`.
pub const LOGIN_ORIGIN: &str = "https://login.microsoftonline.com";

/// What a token request asks for, once its client is authenticated. `origin`:
/// `scheme://host` of the request (assertions may name the emulator's URL).
fn issue(
    em: &Emulator,
    origin: &str,
    tenant_key: &str,
    headers: &HeaderMap,
    form: &[(String, String)],
    now: DateTime<Utc>,
) -> Result<(Subject, String), TokenError> {
    // HTTP Basic credentials are form-url-encoded before Base64 (RFC 6749
    // §2.3.1), but many clients skip that: the secret is tried both ways.
    let mut raw_basic_secret = None;
    let (client_id, secret) = match basic_credentials(headers) {
        Some(Some((id, secret))) => {
            let decoded = percent_decode(&secret);
            if decoded != secret {
                raw_basic_secret = Some(secret);
            }
            (percent_decode(&id), Some(decoded))
        }
        Some(None) => {
            return Err(TokenError::bad(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            ));
        }
        None => (
            field(form, "client_id").unwrap_or_default().to_string(),
            field(form, "client_secret").map(str::to_string),
        ),
    };
    if client_id.is_empty() {
        return Err(TokenError::bad(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        ));
    }
    let lookup = em.read(|st| {
        st.tenant_by_key(tenant_key).map(|(tid, t)| {
            let app = t.app_by_app_id(&client_id).cloned();
            let has_sp = t.sp_by_app_id(&client_id).is_some();
            (tid.to_string(), app, has_sp)
        })
    });
    let Some((tenant, app, has_sp)) = lookup else {
        return Err(TokenError::bad(
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant_key}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    };
    let Some(app) = app else {
        return Err(TokenError::bad(
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        ));
    };
    let secret = secret.filter(|s| !s.is_empty());
    let assertion = field(form, "client_assertion").filter(|a| !a.is_empty());
    let check = match (secret, assertion) {
        (Some(secret), _) => match (app.password_matches(&secret, now), raw_basic_secret) {
            (PasswordCheck::Valid, _) => PasswordCheck::Valid,
            (first, Some(raw)) => match app.password_matches(&raw, now) {
                PasswordCheck::Wrong => first,
                other => other,
            },
            (first, None) => first,
        },
        (None, Some(assertion)) => {
            if field(form, "client_assertion_type") != Some(JWT_BEARER) {
                return Err(TokenError::bad(
                    "invalid_request",
                    900144,
                    format!(
                        "The request body must contain the following parameter: 'client_assertion_type' ({JWT_BEARER})."
                    ),
                ));
            }
            let domain = em.read(|st| {
                st.tenants
                    .get(&tenant)
                    .map(|t| t.domain.clone())
                    .unwrap_or_default()
            });
            let audiences: Vec<String> = [LOGIN_ORIGIN, origin]
                .iter()
                .flat_map(|o| [&tenant, &domain].map(|t| format!("{o}/{t}/oauth2/v2.0/token")))
                .collect();
            let issuers = em.read(|st| st.issuers.clone());
            if let Err((code, description)) =
                assertion::verify(&app, assertion, &audiences, &issuers, now)
            {
                return Err(TokenError::client(code, description));
            }
            PasswordCheck::Valid
        }
        (None, None) => {
            return Err(TokenError::client(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        }
    };
    match check {
        PasswordCheck::Valid => {}
        PasswordCheck::Expired => {
            return Err(TokenError::client(
                7000222,
                format!(
                    "The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal to create new keys for your app."
                ),
            ));
        }
        PasswordCheck::Wrong => {
            return Err(TokenError::client(
                7000215,
                format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
                ),
            ));
        }
    }
    if !has_sp {
        return Err(TokenError::client(
            7000229,
            format!(
                "The client application {client_id} is missing service principal in the tenant {tenant}."
            ),
        ));
    }
    match field(form, "grant_type") {
        Some("client_credentials") => {}
        None => {
            return Err(TokenError::bad(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            ));
        }
        Some(other) => {
            return Err(TokenError::bad(
                "unsupported_grant_type",
                70003,
                format!(
                    "The app requested an unsupported grant type '{other}'. (The emulator supports client_credentials.)"
                ),
            ));
        }
    }
    let Some(scope) = field(form, "scope").map(str::trim) else {
        return Err(TokenError::bad(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        ));
    };
    let graph = if GRAPH_SCOPES.iter().any(|s| s.eq_ignore_ascii_case(scope)) {
        true
    } else {
        let resource = scope
            .strip_suffix("/.default")
            .map(|r| r.strip_prefix("api://").unwrap_or(r));
        let known = resource.is_some_and(|r| {
            em.read(|st| {
                st.tenants
                    .get(&tenant)
                    .is_some_and(|t| t.app_by_app_id(r).is_some())
            })
        });
        if !known {
            return Err(TokenError::bad(
                "invalid_scope",
                1002012,
                format!(
                    "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        }
        false
    };
    Ok((
        Subject {
            tenant,
            app_id: app.app_id.clone(),
            graph,
        },
        scope.to_string(),
    ))
}

/// `application/x-www-form-urlencoded` decoding of a Basic credential
/// (RFC 6749 §2.3.1 encodes them before Base64).
fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub async fn token(
    State(em): State<Emulator>,
    Path(tenant): Path<String>,
    scheme: Option<Extension<Scheme>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = em.core().clock.now();
    let Ok(body) = body else {
        return TokenError::bad(
            "invalid_request",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        )
        .render(now);
    };
    let form = form_pairs(&body);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let origin = format!(
        "{}://{host}",
        scheme.map_or("http", |Extension(Scheme(s))| s)
    );
    match issue(&em, &origin, &tenant, &headers, &form, now) {
        Ok((subject, _scope)) => {
            tracing::debug!(tenant = %subject.tenant, app_id = %subject.app_id, "token issued");
            let token = em.tokens().issue(subject, now);
            let mut resp = axum::Json(json!({
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_SECS,
                "ext_expires_in": TOKEN_LIFETIME_SECS,
                "access_token": token.expose(),
            }))
            .into_response();
            no_store(resp.headers_mut());
            resp
        }
        Err(e) => {
            tracing::debug!(error = e.error, aadsts = e.aadsts, "token refused");
            e.render(now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_entra_shaped() {
        let e = TokenError::client(7000215, "Invalid client secret provided.");
        let resp = e.render(Utc::now());
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-store, no-cache");
        assert_eq!(percent_decode("a%2Bb+c"), "a+b c");
    }
}
