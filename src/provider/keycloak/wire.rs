//! The bodies of Keycloak's admin REST API as clientops reads and writes them
//! (Keycloak 26; only the fields clientops uses, every one optional so a partial
//! `PUT` sends exactly what is set).
//!
//! Keycloak returns client secrets in plain text: the client representation
//! carries the current one in `secret` and, after a rotation under the
//! `secret-rotation` client policy, the previous one among its attributes
//! (`client.secret.rotated`). Both are read into [`ClientSecret`] and never reach
//! `Debug`; [`Attributes`] takes the rotated secret out of the map while it is
//! deserialized and never serializes it.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::secret::ClientSecret;

/// The attribute that records which OAuthClient created the client (its UID).
pub const MARKER_KEY: &str = "clientops.dev/marker";
/// The attribute that records the secret a rotation in progress moves to (a
/// SHA-256 prefix of it, see [`secret_fingerprint`]): a repeat of the rotation
/// after a lost answer knows that Keycloak's half of it took effect.
pub const ROTATING_TO_KEY: &str = "clientops.dev/rotating-to";
/// The attribute in which Keycloak keeps the previous secret after a rotation.
pub const ROTATED_SECRET_KEY: &str = "client.secret.rotated";
/// The attribute with the time (epoch seconds) the previous secret expires.
pub const ROTATED_EXPIRATION_KEY: &str = "client.secret.rotated.expiration.time";
/// The separator of Keycloak's list-valued attributes.
pub const LIST_SEPARATOR: &str = "##";
/// The executor of the client policy that keeps a rotated secret.
pub const ROTATION_EXECUTOR: &str = "secret-rotation";

/// A client's attributes, without the rotated secret, which is kept apart in a
/// [`ClientSecret`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Every attribute but `client.secret.rotated` (values as strings).
    pub plain: BTreeMap<String, String>,
    /// `client.secret.rotated`: the previous secret, while Keycloak keeps one.
    pub rotated_secret: Option<ClientSecret>,
}

impl Attributes {
    /// Attributes with these plain entries.
    pub fn from_plain(plain: BTreeMap<String, String>) -> Self {
        Self {
            plain,
            rotated_secret: None,
        }
    }

    /// One plain attribute, empty values as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.plain
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attributes")
            .field("plain", &self.plain)
            .field(
                "rotated_secret",
                &self.rotated_secret.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl Serialize for Attributes {
    /// The plain attributes only: the rotated secret is never sent back.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.plain.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, Value>::deserialize(d)?;
        let mut out = Attributes::default();
        for (k, v) in raw {
            let text = match v {
                Value::String(s) => s,
                Value::Null => continue,
                other => other.to_string(),
            };
            if k == ROTATED_SECRET_KEY {
                out.rotated_secret =
                    Some(ClientSecret::new(text)).filter(|s| !s.expose().is_empty());
            } else {
                out.plain.insert(k, text);
            }
        }
        Ok(out)
    }
}

/// Keycloak's `ClientRepresentation`, the fields clientops uses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRepresentation {
    /// Keycloak's internal id (a UUID), in admin URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The OAuth `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `client-secret` (basic or post), `client-secret-jwt`, `client-jwt`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_authenticator_type: Option<String>,
    /// The current secret (Keycloak returns it to admins in plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ClientSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    /// CORS origins (`+`: the redirect URIs' origins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_origins: Option<Vec<String>>,
    /// The "home URL" (OAuth `client_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_required: Option<bool>,
    /// `authorization_code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_flow_enabled: Option<bool>,
    /// `implicit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub implicit_flow_enabled: Option<bool>,
    /// `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_access_grants_enabled: Option<bool>,
    /// `client_credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_accounts_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scope_allowed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// Honoured by a create only; later changes go through the scope endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_client_scopes: Option<Vec<String>>,
    /// Honoured by a create only; later changes go through the scope endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional_client_scopes: Option<Vec<String>>,
}

impl ClientRepresentation {
    /// The creating OAuthClient's marker, if the client carries one.
    pub fn marker(&self) -> Option<String> {
        self.attribute(MARKER_KEY).map(str::to_string)
    }

    /// One plain attribute (empty values as absent).
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.as_ref().and_then(|a| a.get(key))
    }

    /// The previous secret Keycloak keeps after a rotation.
    pub fn rotated_secret(&self) -> Option<&ClientSecret> {
        self.attributes
            .as_ref()
            .and_then(|a| a.rotated_secret.as_ref())
    }
}

/// The answer of `GET`/`POST .../client-secret` and `GET .../client-secret/rotated`.
#[derive(Clone, Debug, Deserialize)]
pub struct CredentialRepresentation {
    #[serde(default)]
    pub value: Option<ClientSecret>,
}

/// A client scope of the realm.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ClientScope {
    pub id: String,
    pub name: String,
}

/// An OAuth token answer.
#[derive(Clone, Debug, Deserialize)]
pub struct TokenResponse {
    pub access_token: ClientSecret,
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// Keycloak's error bodies: `{errorMessage}` (admin API) or `{error,
/// error_description}` (OAuth, and some admin answers).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default, rename = "errorMessage")]
    pub error_message: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub field: Option<String>,
}

/// `GET .../client-policies/profiles`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientProfiles {
    #[serde(default)]
    pub profiles: Vec<ClientProfile>,
    #[serde(default)]
    pub global_profiles: Vec<ClientProfile>,
}

/// One client profile: a named list of executors.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientProfile {
    pub name: String,
    #[serde(default)]
    pub executors: Vec<ProfileExecutor>,
}

/// One executor of a profile with its configuration.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ProfileExecutor {
    pub executor: String,
    #[serde(default)]
    pub configuration: Value,
}

/// `GET .../client-policies/policies`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientPolicies {
    #[serde(default)]
    pub policies: Vec<ClientPolicy>,
    #[serde(default)]
    pub global_policies: Vec<ClientPolicy>,
}

/// One client policy: conditions and the profiles applied when they hold.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ClientPolicy {
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub profiles: Vec<String>,
}

/// A number in an executor's configuration (Keycloak stores them as strings).
pub fn config_seconds(config: &Value, key: &str) -> Option<i64> {
    match config.get(key)? {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The realm's secret rotation as the client policies set it up: the longest
/// time Keycloak keeps a rotated secret (`rotated-expiration-period`) and how
/// long a secret lives (`expiration-period`), of the first enabled policy whose
/// profile has the `secret-rotation` executor. `None` when no enabled policy has
/// one.
pub fn rotation_policy(
    profiles: &ClientProfiles,
    policies: &ClientPolicies,
) -> Option<RotationPolicy> {
    let all_profiles = profiles.profiles.iter().chain(&profiles.global_profiles);
    let executors: BTreeMap<&str, &ProfileExecutor> = all_profiles
        .flat_map(|p| {
            p.executors
                .iter()
                .filter(|e| e.executor == ROTATION_EXECUTOR)
                .map(move |e| (p.name.as_str(), e))
        })
        .collect();
    policies
        .policies
        .iter()
        .chain(&policies.global_policies)
        .filter(|p| p.enabled)
        .flat_map(|p| p.profiles.iter())
        .find_map(|name| executors.get(name.as_str()))
        .map(|e| RotationPolicy {
            // Keycloak's defaults when the configuration leaves them out.
            rotated_expiration_secs: config_seconds(&e.configuration, "rotated-expiration-period")
                .unwrap_or(DEFAULT_ROTATED_EXPIRATION_SECS),
            expiration_secs: config_seconds(&e.configuration, "expiration-period")
                .unwrap_or(DEFAULT_EXPIRATION_SECS),
        })
}

/// Keycloak's default `rotated-expiration-period` (2 days).
pub const DEFAULT_ROTATED_EXPIRATION_SECS: i64 = 2 * 24 * 3600;
/// Keycloak's default `expiration-period` (28 days).
pub const DEFAULT_EXPIRATION_SECS: i64 = 28 * 24 * 3600;

/// What the realm's `secret-rotation` executor is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a rotated secret stays valid (seconds).
    pub rotated_expiration_secs: i64,
    /// How long a secret stays valid before Keycloak refuses it (seconds).
    pub expiration_secs: i64,
}

/// A short fingerprint of a secret (the first 16 hex digits of its SHA-256),
/// for [`ROTATING_TO_KEY`]: tells two secrets apart, reveals nothing usable.
pub fn secret_fingerprint(secret: &ClientSecret) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(secret.expose().as_bytes());
    hex::encode(&digest[..8])
}

/// Split a list-valued attribute (`a##b`).
pub fn split_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(LIST_SEPARATOR)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_rotated_secret_never_reaches_debug_nor_a_request() {
        let c: ClientRepresentation = serde_json::from_value(json!({
            "id": "u1", "clientId": "app", "secret": "current-hunter2",
            "attributes": {
                "client.secret.rotated": "previous-hunter2",
                "client.secret.rotated.expiration.time": "1796000000",
                MARKER_KEY: "uid-1",
                "n": 3,
            },
        }))
        .unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert_eq!(c.rotated_secret().unwrap().expose(), "previous-hunter2");
        assert_eq!(c.marker().as_deref(), Some("uid-1"));
        assert_eq!(c.attribute("n"), Some("3"));
        let mut sent = c.clone();
        sent.secret = None;
        let body = serde_json::to_string(&sent).unwrap();
        assert!(!body.contains("hunter2"), "{body}");
        assert!(body.contains("rotated.expiration"), "{body}");
    }

    #[test]
    fn the_rotation_policy_is_found_through_an_enabled_policy() {
        let profiles: ClientProfiles = serde_json::from_value(json!({"profiles": [
            {"name": "other", "executors": [{"executor": "pkce-enforcer", "configuration": {}}]},
            {"name": "rot", "executors": [{"executor": "secret-rotation", "configuration": {
                "expiration-period": "315360000", "rotated-expiration-period": "2592000"}}]},
        ]}))
        .unwrap();
        let mut policies: ClientPolicies = serde_json::from_value(json!({"policies": [
            {"name": "p", "enabled": false, "profiles": ["rot"]},
        ]}))
        .unwrap();
        assert_eq!(rotation_policy(&profiles, &policies), None);
        policies.policies[0].enabled = true;
        assert_eq!(
            rotation_policy(&profiles, &policies),
            Some(RotationPolicy {
                rotated_expiration_secs: 2_592_000,
                expiration_secs: 315_360_000
            })
        );
    }

    #[test]
    fn fingerprints_and_lists() {
        let a = secret_fingerprint(&ClientSecret::new("a"));
        assert_eq!(a.len(), 16);
        assert_ne!(a, secret_fingerprint(&ClientSecret::new("b")));
        assert_eq!(
            split_list(Some("https://a##https://b##")),
            ["https://a", "https://b"]
        );
        assert!(split_list(None).is_empty());
    }
}
