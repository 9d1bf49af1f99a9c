//! `CspErrorResponse` answers and the error codes the emulator uses.
//!
//! CSP documents the body's shape (`cspErrorCode`, `errorCode`, `message`,
//! `moduleCode`, `requestId`, `statusCode`) but not its codes: every `errorCode`
//! here is a guess, listed in docs/emulator-csp.md. `statusCode` repeats the
//! HTTP status and `requestId` is fresh for each answer.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::store::random_hex;
use crate::emulator::core::CoreError;
use crate::provider::csp::wire::CspErrorResponse;

/// The `moduleCode` of every answer (a guess).
pub const MODULE_CODE: i32 = 410;

/// The emulator's `errorCode`s (all guesses).
pub mod code {
    pub const INVALID_REQUEST: &str = "invalid.request";
    pub const INVALID_GRANT: &str = "invalid_grant";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const NOT_FOUND: &str = "not.found";
    pub const ORG_NOT_FOUND: &str = "org.not.found";
    pub const CONFLICT: &str = "conflict";
    pub const DELETION_IN_PROGRESS: &str = "deletion.in.progress";
    pub const ROTATION_IN_PROGRESS: &str = "secret.rotation.in.progress";
    pub const NO_ROTATION: &str = "secret.rotation.not.in.progress";
    pub const METHOD_NOT_ALLOWED: &str = "method.not.allowed";
    pub const TOO_MANY_REQUESTS: &str = "too.many.requests";
    pub const INTERNAL: &str = "internal.error";
    pub const UNAVAILABLE: &str = "service.unavailable";
}

/// An error answer: status, `errorCode`, message, extra headers.
#[derive(Debug)]
pub struct CspError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub headers: Box<HeaderMap>,
}

impl CspError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            headers: Box::default(),
        }
    }

    /// 400 for a request CSP refuses.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::INVALID_REQUEST, message)
    }

    /// 401: no, a malformed, an unknown or an expired access token.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, message)
    }

    /// 404 for an unknown app.
    pub fn app_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            format!("OAuth app {id} not found"),
        )
    }

    /// 404 for an unknown path.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, code::NOT_FOUND, "No such API")
    }

    /// 429 with the rate-limit headers.
    pub fn throttled(headers: HeaderMap) -> Self {
        Self {
            headers: Box::new(headers),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                code::TOO_MANY_REQUESTS,
                "Too many requests",
            )
        }
    }

    /// The body.
    pub fn body(&self) -> CspErrorResponse {
        CspErrorResponse {
            csp_error_code: Some(format!("{MODULE_CODE}.{}", self.status.as_u16())),
            error_code: Some(self.code.to_string()),
            message: Some(self.message.clone()),
            module_code: Some(MODULE_CODE),
            request_id: Some(random_hex(8)),
            status_code: Some(i32::from(self.status.as_u16())),
        }
    }
}

impl IntoResponse for CspError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().extend(*self.headers);
        resp
    }
}

impl From<CoreError> for CspError {
    fn from(e: CoreError) -> Self {
        let (status, code, text) = match e {
            CoreError::Throttled(headers) => return Self::throttled(headers),
            CoreError::NoRoute => return Self::no_route(),
            CoreError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "Unexpected error",
            ),
            CoreError::NotSaved => (
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "Unexpected error: the emulator could not persist its state",
            ),
            CoreError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "Service temporarily unavailable",
            ),
            CoreError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                code::METHOD_NOT_ALLOWED,
                "Method not allowed",
            ),
        };
        Self::new(status, code, text)
    }
}
