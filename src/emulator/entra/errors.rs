//! Graph error answers: `{"error": {"code", "message", "innerError": {"date",
//! "request-id", "client-request-id"}}}` (facts doc §6), optionally with
//! `details: [{code, message, target}]`.
//!
//! The codes are the directory's: `Request_BadRequest`, `Request_ResourceNotFound`,
//! `Request_UnsupportedQuery`, `Request_MultipleObjectsWithSameKeyValue`,
//! `Authorization_RequestDenied`, `InvalidAuthenticationToken`; the 429 and
//! 5xx codes are guesses (docs/providers/entra-emulator.md).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::store::new_guid;
use crate::emulator::core::CoreError;

/// The error codes the emulator answers with.
pub mod code {
    pub const BAD_REQUEST: &str = "Request_BadRequest";
    pub const NOT_FOUND: &str = "Request_ResourceNotFound";
    pub const UNSUPPORTED_QUERY: &str = "Request_UnsupportedQuery";
    pub const CONFLICT: &str = "Request_MultipleObjectsWithSameKeyValue";
    pub const DENIED: &str = "Authorization_RequestDenied";
    pub const INVALID_TOKEN: &str = "InvalidAuthenticationToken";
    pub const THROTTLED: &str = "Request_ThrottledTemporarily";
    pub const NO_ROUTE: &str = "BadRequest";
    pub const METHOD: &str = "Request_BadRequest";
    pub const INTERNAL: &str = "InternalServerError";
    pub const UNAVAILABLE: &str = "ServiceUnavailable";
    pub const NO_BACKING_APP: &str = "NoBackingApplicationObject";
}

/// One Graph error answer.
#[derive(Debug)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// `details[]` entries: (code, message, target).
    pub details: Vec<(String, String, String)>,
    pub headers: Box<HeaderMap>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            headers: Box::default(),
        }
    }

    /// 400 `Request_BadRequest`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message)
    }

    /// 400 `Request_BadRequest` naming the offending property in `details`.
    pub fn invalid_value(property: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::bad_request(format!(
            "Invalid value specified for property '{property}' of resource 'Application'."
        ));
        e.details
            .push(("InvalidValue".into(), message, property.to_string()));
        e
    }

    /// 400 `Request_UnsupportedQuery`.
    pub fn unsupported_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::UNSUPPORTED_QUERY, message)
    }

    /// 404 `Request_ResourceNotFound` for a resource id or key.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!(
                "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
            ),
        )
    }

    /// 403 `Authorization_RequestDenied`.
    pub fn denied() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            code::DENIED,
            "Insufficient privileges to complete the operation.",
        )
    }

    /// 401 `InvalidAuthenticationToken`.
    pub fn invalid_token(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, code::INVALID_TOKEN, message);
        e.headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"\", error=\"invalid_token\""),
        );
        e
    }

    /// 429 with `Retry-After` and the rate-limit headers.
    pub fn throttled(headers: HeaderMap) -> Self {
        let after = headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("1")
            .to_string();
        Self {
            headers: Box::new(headers),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                code::THROTTLED,
                format!("Your request is throttled temporarily. Please try after {after} seconds."),
            )
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        let mut error = json!({
            "code": self.code,
            "message": self.message,
            "innerError": {
                "date": Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string(),
                "request-id": new_guid(),
                "client-request-id": new_guid(),
            },
        });
        if !self.details.is_empty() {
            error["details"] = self
                .details
                .iter()
                .map(|(c, m, t)| json!({"code": c, "message": m, "target": t}))
                .collect();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().extend(*self.headers);
        resp
    }
}

impl From<CoreError> for GraphError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Throttled(h) => Self::throttled(h),
            CoreError::NoRoute => Self::new(
                StatusCode::BAD_REQUEST,
                code::NO_ROUTE,
                "Resource not found for the segment in the request URL.",
            ),
            CoreError::MethodNotAllowed => Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                code::METHOD,
                "The HTTP method is not supported on this resource.",
            ),
            CoreError::Internal => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "An internal server error occurred.",
            ),
            CoreError::NotSaved => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "An internal server error occurred: the emulator could not persist its state.",
            ),
            CoreError::Unavailable => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "The service is temporarily unavailable.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_graph_shape() {
        let mut e = GraphError::invalid_value("web.redirectUris", "http only for localhost");
        e.status = StatusCode::BAD_REQUEST;
        let b = e.body();
        assert_eq!(b["error"]["code"], "Request_BadRequest");
        assert!(b["error"]["innerError"]["request-id"].is_string());
        assert_eq!(b["error"]["details"][0]["target"], "web.redirectUris");
        let t = GraphError::throttled({
            let mut h = HeaderMap::new();
            h.insert(header::RETRY_AFTER, HeaderValue::from(7u32));
            h
        });
        assert!(t.message.contains("after 7 seconds"));
    }
}
