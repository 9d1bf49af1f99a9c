//! Cloudflare v4 API bodies for OAuth clients, field for field
//! (`provider-contracts.md` A.2 to A.5).
//!
//! Enumerated values stay strings here: a response with a value newer than this code
//! must still parse, and the emulator validates requests itself so it can answer
//! with Cloudflare's own error envelope.

use serde::{Deserialize, Serialize};

use crate::secret::ClientSecret;

/// The v4 envelope: `{success, errors, messages, result}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Envelope<T> {
    /// Whether the call succeeded. An error is any non-2xx status *or* `false` here.
    pub success: bool,
    /// Errors; empty on success.
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
    /// Informational messages.
    #[serde(default)]
    pub messages: Vec<ApiMessage>,
    /// The payload; `null` on error.
    #[serde(default = "Option::default")]
    pub result: Option<T>,
}

/// One item of `errors` or `messages`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ApiMessage {
    /// Cloudflare's numeric code, e.g. 10000 (authentication), 971 (throttled).
    pub code: i64,
    /// Human-readable text.
    pub message: String,
    /// Link to documentation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    /// Which part of the request the error is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ErrorSource>,
    /// Nested errors (seen in real responses, e.g. 6003 with 6111 inside).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_chain: Vec<ApiMessage>,
}

/// `source` of an error.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ErrorSource {
    /// JSON pointer into the request body, e.g. `/grant_types`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

/// Client URI domain verification.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientUriVerification {
    /// `pending`, `in_progress`, `verified` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The DNS TXT value to publish (starts with `cloudflare_oauth_client_publisher=`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An OAuth client as list, get, create and update return it. Only create adds
/// `client_secret`, see [`CreatedOAuthClient`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct OAuthClient {
    /// The client's id.
    pub client_id: String,
    /// `private` or `public`.
    pub visibility: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_cors_origins: Option<Vec<String>>,
    /// May include protocol scopes the server added (`openid`, `offline_access`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri_verification: Option<ClientUriVerification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// True while an old secret is still valid after a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_rotated_secret: Option<bool>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// RFC 3339; when the client became public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promoted_at: Option<String>,
}

/// The create response: the client plus its secret, returned this once. No secret
/// for `token_endpoint_auth_method: none`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CreatedOAuthClient {
    #[serde(flatten)]
    pub client: OAuthClient,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
}

/// `POST /accounts/{account_id}/oauth_clients` body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct CreateOAuthClient {
    pub client_name: String,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub response_types: Vec<String>,
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_cors_origins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
}

/// `PATCH /accounts/{account_id}/oauth_clients/{id}` body: only the fields to change.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct UpdateOAuthClient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_cors_origins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Only `public` is accepted; promotion is permanent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
}

impl UpdateOAuthClient {
    /// True when the patch changes nothing (no request needs to be sent).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// delete and delete_rotated_secret result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct IdResult {
    pub id: String,
}

/// rotate_secret result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RotatedSecret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
}

/// One entry of the scope catalogue `GET /oauth/scopes`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    /// The value to put in `scopes`, e.g. `account.read`.
    pub id: String,
    /// Display name.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Underlying resource scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// The protocol scopes Cloudflare adds and removes by itself from the grant and
/// response types; they are never drift.
pub const PROTOCOL_SCOPES: [&str; 2] = ["openid", "offline_access"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_client_parses_and_hides_its_secret_in_debug() {
        let body = r#"{"success":true,"errors":[],"messages":[],"result":{
            "client_id":"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4","visibility":"private",
            "client_name":"Grafana","scopes":["account.read","offline_access"],
            "client_secret":"s3cr3t-value","future_field":1}}"#;
        let env: Envelope<CreatedOAuthClient> = serde_json::from_str(body).unwrap();
        let created = env.result.unwrap();
        assert_eq!(created.client.client_name.as_deref(), Some("Grafana"));
        assert_eq!(
            created.client_secret.as_ref().unwrap().expose(),
            "s3cr3t-value"
        );
        assert!(!format!("{created:?}").contains("s3cr3t"));
    }
}
