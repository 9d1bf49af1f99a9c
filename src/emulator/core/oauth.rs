//! What an emulated OAuth token endpoint answers with, shared by the emulators:
//! RFC 6749 error bodies (never cached) and the credentials of an
//! `Authorization: Basic` header.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

/// An OAuth error answer: `{error, error_description}`, `Cache-Control: no-store`.
pub fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// The id and secret of an `Authorization: Basic` header, as sent (not
/// form-decoded). `None`: no Basic header; `Some(None)`: one that cannot be read.
pub fn basic_credentials(headers: &HeaderMap) -> Option<Option<(String, String)>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok());
    Some(decoded.and_then(|text| {
        let (id, secret) = text.split_once(':')?;
        Some((id.to_string(), secret.to_string()))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_as_sent() {
        let mut h = HeaderMap::new();
        assert_eq!(basic_credentials(&h), None);
        let b64 = base64::engine::general_purpose::STANDARD.encode("id:se%2Bc:ret");
        h.insert(
            header::AUTHORIZATION,
            format!("Basic {b64}").parse().unwrap(),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(Some(("id".into(), "se%2Bc:ret".into())))
        );
        h.insert(header::AUTHORIZATION, "basic !!!".parse().unwrap());
        assert_eq!(basic_credentials(&h), Some(None));
        h.insert(header::AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_credentials(&h), None);
    }
}
