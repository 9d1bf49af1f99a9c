//! `POST /oauth2/token` at the emulator's origin: the OAuth token endpoint, as
//! far as it authenticates clients. Real Cloudflare serves it at
//! `https://dash.cloudflare.com/oauth2/token`; the emulator serves it beside its
//! API, where clientops looks for it for any base URL other than Cloudflare's.
//!
//! It authenticates the client the way Ory Hydra does (Cloudflare's OAuth
//! endpoints have Hydra's names and shapes; that it behaves like Hydra is a
//! guess): by the current secret or the rotated one not yet deleted, with the
//! client's registered `token_endpoint_auth_method` only (`client_secret_basic`:
//! HTTP Basic with the id and secret form-encoded; `client_secret_post`: form
//! fields; `none`: `client_id` alone), every failure `401 invalid_client`. Only
//! then does it look at the grant. The emulator has no authorization endpoint,
//! so it never issues a code or a refresh token: a grant a client may use fails
//! with `400 invalid_grant`, any other with `unauthorized_client` or
//! `unsupported_grant_type`. Errors are OAuth's `{"error", "error_description"}`.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::Emulator;
use crate::emulator::core::oauth::{basic_credentials, oauth_error};

/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/oauth2/token";

/// `application/x-www-form-urlencoded` decoding of one value (`+` is a space).
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The id and secret of an `Authorization: Basic` header, form-decoded.
/// `Some(None)`: a Basic header that cannot be read.
fn basic(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    Some(
        basic_credentials(headers)?
            .and_then(|(id, secret)| Some((form_decode(&id)?, form_decode(&secret)?))),
    )
}

/// The token endpoint (see the module documentation).
pub async fn token(
    State(em): State<Emulator>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body could not be read.",
        );
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let field = |k: &str| {
        form.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let Some(grant) = field("grant_type").filter(|g| !g.is_empty()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request is missing a required parameter: grant_type.",
        );
    };
    let basic = basic(&headers);
    let unauthenticated = |why: &str| {
        let mut resp = oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            &format!("Client authentication failed: {why}"),
        );
        if basic.is_some() {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth2\""),
            );
        }
        resp
    };
    let (id, secret, method) = match (&basic, field("client_secret")) {
        (Some(_), Some(_)) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "The client used more than one authentication method.",
            );
        }
        (Some(None), None) => return unauthenticated("the Authorization header is malformed"),
        (Some(Some((id, secret))), None) => {
            (id.clone(), Some(secret.clone()), "client_secret_basic")
        }
        (None, Some(secret)) => match field("client_id") {
            Some(id) => (id, Some(secret), "client_secret_post"),
            None => return unauthenticated("no client_id"),
        },
        (None, None) => match field("client_id") {
            Some(id) => (id, None, "none"),
            None => return unauthenticated("no client credentials"),
        },
    };
    let Some(client) = em.read(|st| st.find_client(&id).map(|(_, c)| c.clone())) else {
        return unauthenticated("unknown client");
    };
    if client.token_endpoint_auth_method != method {
        return unauthenticated(&format!(
            "the client authenticates with '{}', but '{method}' was used",
            client.token_endpoint_auth_method
        ));
    }
    if let Some(secret) = &secret
        && (secret.is_empty() || !client.secret_matches(secret))
    {
        return unauthenticated("the client secret does not match");
    }
    let allowed = client.grant_types.contains(&grant);
    match grant.as_str() {
        "authorization_code" | "refresh_token" if allowed => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "The provided authorization grant or refresh token is invalid, expired or \
             revoked (the emulator issues none).",
        ),
        "authorization_code" | "refresh_token" | "client_credentials" => oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            &format!("The client is not allowed to use the grant type '{grant}'."),
        ),
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The authorization grant type is not supported by the authorization server.",
        ),
    }
}

/// Any method but POST.
pub async fn method_not_allowed() -> Response {
    oauth_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        "The token endpoint accepts only POST.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_decode() {
        assert_eq!(form_decode("a%2Bb+c").as_deref(), Some("a+b c"));
        assert_eq!(form_decode("plain").as_deref(), Some("plain"));
        assert_eq!(form_decode("bad%2"), None);
        assert_eq!(form_decode("bad%zz"), None);
        assert_eq!(form_decode("bad%+1"), None);
    }
}
