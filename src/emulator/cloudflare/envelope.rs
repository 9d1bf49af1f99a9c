//! Cloudflare v4 envelopes and the error codes the emulator answers with.
//!
//! Errors always carry a 4xx/5xx status: the Python SDK decides success from the
//! status alone and would return `None` for `200 + success:false`. Codes marked
//! *guess* are not documented anywhere we could find (docs/emulator-cloudflare.md).

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::emulator::core::CoreError;
use crate::provider::cloudflare::wire::{ApiMessage, Envelope, ErrorSource};

/// Cloudflare's numeric error codes used by the emulator.
pub mod code {
    /// Malformed request headers (with 6111/6102/6103 in `error_chain`).
    pub const INVALID_HEADERS: i64 = 6003;
    /// Bad `X-Auth-Email` format.
    pub const INVALID_EMAIL_HEADER: i64 = 6102;
    /// Bad `X-Auth-Key` format.
    pub const INVALID_KEY_HEADER: i64 = 6103;
    /// Bad `Authorization` header format.
    pub const INVALID_AUTHORIZATION_HEADER: i64 = 6111;
    /// No credentials at all.
    pub const MISSING_AUTH_HEADERS: i64 = 9106;
    /// Unknown API key / email pair (*guess* for this API).
    pub const UNKNOWN_API_KEY: i64 = 9103;
    /// Authentication error: unknown token, or no access to the account.
    pub const AUTHENTICATION_ERROR: i64 = 10000;
    /// No route for that URI.
    pub const NO_ROUTE: i64 = 7000;
    /// Method not allowed on this route (*guess*).
    pub const METHOD_NOT_ALLOWED: i64 = 7001;
    /// Could not route, identifier invalid.
    pub const COULD_NOT_ROUTE: i64 = 7003;
    /// Throttled.
    pub const THROTTLED: i64 = 971;
    /// Request body is not a JSON object (*guess*).
    pub const INVALID_BODY: i64 = 1001;
    /// A field failed validation; `source.pointer` names it (*guess*).
    pub const INVALID_FIELD: i64 = 1002;
    /// Unknown OAuth client (*guess*).
    pub const CLIENT_NOT_FOUND: i64 = 1003;
    /// Rotation refused: an old secret is still valid (*guess*).
    pub const ROTATION_PENDING: i64 = 1004;
    /// delete_rotated_secret without a rotated secret (*guess*).
    pub const NO_ROTATED_SECRET: i64 = 1005;
    /// rotate_secret on a client without secrets (`none`) (*guess*).
    pub const NO_SECRET_CLIENT: i64 = 1006;
    /// Internal error (injected fault).
    pub const INTERNAL: i64 = 10001;
    /// Service unavailable (injected fault) (*guess*).
    pub const UNAVAILABLE: i64 = 10503;
}

/// Build one message.
pub fn message(code: i64, text: impl Into<String>) -> ApiMessage {
    ApiMessage {
        code,
        message: text.into(),
        documentation_url: None,
        source: None,
        error_chain: Vec::new(),
    }
}

/// Build one message about a request field.
pub fn field_message(code: i64, pointer: impl Into<String>, text: impl Into<String>) -> ApiMessage {
    ApiMessage {
        source: Some(ErrorSource {
            pointer: Some(pointer.into()),
        }),
        ..message(code, text)
    }
}

/// An error answer: status, errors, extra headers.
#[derive(Debug)]
pub struct CfError {
    pub status: StatusCode,
    pub errors: Vec<ApiMessage>,
    /// Extra headers (boxed: errors travel in `Result`s and should stay small).
    pub headers: Box<HeaderMap>,
}

impl CfError {
    /// One error with a status.
    pub fn new(status: StatusCode, code: i64, text: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![message(code, text)],
            headers: Box::default(),
        }
    }

    /// 400 for the listed field errors.
    pub fn validation(errors: Vec<ApiMessage>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            errors,
            headers: Box::default(),
        }
    }

    /// 404 for an unknown client.
    pub fn client_not_found(client_id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::CLIENT_NOT_FOUND,
            format!("OAuth client {client_id} not found"),
        )
    }

    /// 400 `6003` with one reason in `error_chain`.
    pub fn invalid_headers(chain_code: i64, text: &str) -> Self {
        let mut m = message(code::INVALID_HEADERS, "Invalid request headers");
        m.error_chain.push(message(chain_code, text));
        Self {
            status: StatusCode::BAD_REQUEST,
            errors: vec![m],
            headers: Box::default(),
        }
    }

    /// `7003` + `7000` for a path that cannot be routed.
    pub fn could_not_route(path: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            errors: vec![
                message(
                    code::COULD_NOT_ROUTE,
                    format!(
                        "Could not route to {path}, perhaps your object identifier is invalid?"
                    ),
                ),
                message(code::NO_ROUTE, "No route for that URI"),
            ],
            headers: Box::default(),
        }
    }

    /// 404 `7000` for an unknown path.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NO_ROUTE,
            "No route for that URI",
        )
    }

    /// 429 `971`.
    pub fn throttled(headers: HeaderMap) -> Self {
        Self {
            headers: Box::new(headers),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                code::THROTTLED,
                "Please wait and consider throttling your request speed",
            )
        }
    }
}

impl IntoResponse for CfError {
    fn into_response(self) -> Response {
        let body: Envelope<()> = Envelope {
            success: false,
            errors: self.errors,
            messages: Vec::new(),
            result: None,
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.headers_mut().extend(*self.headers);
        resp
    }
}

/// A success envelope around `result`, status 200.
pub fn ok<T: Serialize>(result: T) -> Response {
    axum::Json(Envelope {
        success: true,
        errors: Vec::new(),
        messages: Vec::new(),
        result: Some(result),
    })
    .into_response()
}

impl From<CoreError> for CfError {
    fn from(e: CoreError) -> Self {
        let (status, code, text) = match e {
            CoreError::Throttled(headers) => return Self::throttled(headers),
            CoreError::NoRoute => return Self::no_route(),
            CoreError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "Internal server error",
            ),
            CoreError::NotSaved => (
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "Internal server error: the emulator could not persist its state",
            ),
            CoreError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "Service temporarily unavailable",
            ),
            CoreError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                code::METHOD_NOT_ALLOWED,
                "Method not allowed for this route",
            ),
        };
        Self::new(status, code, text)
    }
}
