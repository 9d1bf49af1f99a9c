//! Ory Hydra v2 admin API bodies for OAuth 2.0 clients (`/admin/clients`), field
//! for field as Hydra v2.3.0 sends them (`client/client.go`).
//!
//! Only the fields clientops reads or writes are typed; everything else Hydra
//! returns is ignored when reading and never sent (so Hydra keeps its own
//! defaults). Enumerated values stay strings: a newer Hydra must still parse.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::ClientSecret;

/// The key of [`OAuth2Client::metadata`] where clientops stores the UID of the
/// OAuthClient that created the client (the create marker). Never shown as drift,
/// never removed by an update.
pub const MARKER_KEY: &str = "clientops.dev/uid";

/// The scope Hydra fills in when a client is created or updated without one
/// (v2.3.0 `client/validator.go`).
pub const DEFAULT_SCOPE: [&str; 3] = ["offline_access", "offline", "openid"];

/// The token endpoint authentication methods Hydra v2 knows.
pub const AUTH_METHODS: [&str; 4] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "none",
];

/// Secrets Hydra accepts from the caller are at least this long (v2.3.0
/// `client/validator.go`).
pub const MIN_SECRET_LEN: usize = 6;

/// The six per-grant token lifespans, as `(JSON name at Hydra, spec field)`.
pub const LIFESPANS: [(&str, &str); 6] = [
    (
        "authorization_code_grant_access_token_lifespan",
        "authorizationCodeGrantAccessToken",
    ),
    (
        "authorization_code_grant_id_token_lifespan",
        "authorizationCodeGrantIdToken",
    ),
    (
        "authorization_code_grant_refresh_token_lifespan",
        "authorizationCodeGrantRefreshToken",
    ),
    (
        "client_credentials_grant_access_token_lifespan",
        "clientCredentialsGrantAccessToken",
    ),
    (
        "refresh_token_grant_access_token_lifespan",
        "refreshTokenGrantAccessToken",
    ),
    (
        "refresh_token_grant_refresh_token_lifespan",
        "refreshTokenGrantRefreshToken",
    ),
];

/// An OAuth 2.0 client as Hydra's admin API returns it (create, get, list, update,
/// patch) and as clientops sends it to create one. Absent fields are not sent.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct OAuth2Client {
    /// Assigned by Hydra (a UUID) when absent on create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Present only in the answer to a create (or a PATCH/PUT that set it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    /// Space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_cors_origins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Free JSON; clientops writes string values only, plus [`MARKER_KEY`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_consent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_logout_consent: Option<bool>,
    /// `jwt` or `opaque`; empty or absent: the server's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_strategy: Option<String>,
    /// The `*_lifespan` fields ([`LIFESPANS`]), as Go durations (`"1h0m0s"`) or null.
    #[serde(flatten)]
    pub lifespans: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

impl OAuth2Client {
    /// Keep only the lifespan keys of the flattened remainder (the flatten catches
    /// every field not typed above).
    pub fn retain_lifespans(&mut self) {
        self.lifespans
            .retain(|k, _| LIFESPANS.iter().any(|(json, _)| json == k));
    }

    /// The create marker from `metadata`, if any.
    pub fn marker(&self) -> Option<String> {
        self.metadata
            .as_ref()
            .and_then(|m| m.get(MARKER_KEY))
            .and_then(Value::as_str)
            .map(String::from)
    }
}

/// Hydra's error body: `{error, error_description}` (v2 always uses the non-legacy
/// format; `error_hint`, `error_debug` and `status_code` are read when present).
#[derive(Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub error_hint: Option<String>,
    #[serde(default)]
    pub error_debug: Option<String>,
}

/// One RFC 6902 JSON Patch operation, as `PATCH /admin/clients/{id}` takes them.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct PatchOp {
    /// `add` (sets a member whether or not it exists) or `remove`.
    pub op: &'static str,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOp {
    /// `add` at `/<field>`: creates or replaces the member.
    pub fn set(field: &str, value: Value) -> Self {
        Self {
            op: "add",
            path: format!("/{}", escape_pointer(field)),
            value: Some(value),
        }
    }
}

/// Escape one JSON Pointer reference token (RFC 6901): `~` → `~0`, `/` → `~1`.
pub fn escape_pointer(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Parse a Go duration as Hydra prints it (`"1h0m0s"`, `"30m0s"`, `"1.5s"`).
pub fn go_duration(s: &str) -> Option<std::time::Duration> {
    crate::api::common::parse_duration(s)
}

/// A duration as a Go duration string Hydra parses (`time.ParseDuration`): whole
/// seconds (`"3600s"`), or milliseconds when there is a fraction.
pub fn format_duration(d: std::time::Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hydra_client_parses_with_unknown_fields_and_lifespans() {
        let body = serde_json::json!({
            "client_id": "c1",
            "client_name": "G",
            "scope": "offline_access offline openid",
            "grant_types": ["client_credentials"],
            "metadata": {"clientops.dev/uid": "u1", "team": "a"},
            "jwks": {},
            "subject_type": "public",
            "client_credentials_grant_access_token_lifespan": "1h0m0s",
            "refresh_token_grant_access_token_lifespan": null,
            "created_at": "2025-01-01T00:00:00Z"
        });
        let mut c: OAuth2Client = serde_json::from_value(body).unwrap();
        c.retain_lifespans();
        assert_eq!(c.client_id.as_deref(), Some("c1"));
        assert_eq!(c.marker().as_deref(), Some("u1"));
        assert_eq!(c.lifespans.len(), 2);
        assert_eq!(
            c.lifespans["client_credentials_grant_access_token_lifespan"],
            "1h0m0s"
        );
        assert!(c.client_secret.is_none());
    }

    #[test]
    fn pointers_and_durations() {
        assert_eq!(escape_pointer("a/b~c"), "a~1b~0c");
        assert_eq!(
            PatchOp::set("metadata", serde_json::json!({})).path,
            "/metadata"
        );
        assert_eq!(
            format_duration(std::time::Duration::from_secs(3600)),
            "3600s"
        );
        assert_eq!(
            format_duration(std::time::Duration::from_millis(1500)),
            "1500ms"
        );
        assert_eq!(
            go_duration("1h0m0s"),
            Some(std::time::Duration::from_secs(3600))
        );
    }
}
