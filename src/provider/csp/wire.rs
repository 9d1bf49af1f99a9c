//! VMware CSP bodies for organisation OAuth apps, field for field
//! (`provider-contracts.md` B.2 to B.5), and the id and secret rules both the
//! client and the emulator (`crate::emulator::csp`) apply.
//!
//! Every response field is optional except the app's `id`: CSP documents almost
//! nothing as required, and a response with a field newer than this code must
//! still parse (unknown fields are ignored). Secrets are [`ClientSecret`]s, so no
//! `Debug` output ever shows one.

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::secret::ClientSecret;

/// Every API path starts with this.
pub const API_PREFIX: &str = "/csp/gateway/am/api";
/// API token → access token exchange (form field `api_token`).
pub const AUTHORIZE_PATH: &str = "/csp/gateway/am/api/auth/api-tokens/authorize";
/// OAuth token endpoint of the apps themselves (client credentials).
pub const TOKEN_PATH: &str = "/csp/gateway/am/api/auth/token";
/// At most this many ids per bulk delete.
pub const MAX_DELETE_IDS: usize = 15;
/// Default overlap of the old secret after `POST .../secret`: 48 hours.
pub const DEFAULT_ROTATION_EXPIRY_SECS: i64 = 48 * 3600;
/// Default access token TTL of a new app: 10 minutes.
pub const DEFAULT_ACCESS_TOKEN_TTL_SECS: i64 = 600;
/// Default refresh token TTL of a new app: 90 days.
pub const DEFAULT_REFRESH_TOKEN_TTL_SECS: i64 = 90 * 24 * 3600;
/// Grant types every organisation may use.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];
/// Grant types only service organisations may use.
pub const SERVICE_ORG_GRANT_TYPES: [&str; 3] =
    ["client_delegate", "audience_exchange", "context_switch"];
/// Shortest and longest client id.
pub const CLIENT_ID_LEN: std::ops::RangeInclusive<usize> = 5..=256;
/// Shortest client secret.
pub const MIN_SECRET_LEN: usize = 8;
/// Longest client secret the emulator accepts (a guess; CSP documents none).
pub const MAX_SECRET_LEN: usize = 256;
/// Length of the secrets clientops generates.
pub const GENERATED_SECRET_LEN: usize = 48;

/// `CspErrorResponse`: every documented error body; all fields optional.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CspErrorResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csp_error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Repeats the HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
}

/// The answer of the API token exchange (and of the OAuth token endpoint).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AccessTokenResponse {
    /// The bearer token for the management API.
    pub access_token: ClientSecret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Seconds until the access token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<ClientSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<ClientSecret>,
}

/// One role of `organizationScopes.roles`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RoleRef {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// `allowedScopes.organizationScopes`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationScopes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_roles: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_permissions: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kept_in_token: Option<Vec<String>>,
    /// `[{permissionId, resources[]}]`, kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<RoleRef>>,
    /// The older form of `roles`, still sent by some clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_names: Option<Vec<String>>,
}

impl OrganizationScopes {
    /// Role names from `roles` and `roleNames`, sorted, without duplicates.
    pub fn role_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .roles
            .iter()
            .flatten()
            .map(|r| r.name.clone())
            .chain(self.role_names.iter().flatten().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// `allowedScopes`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AllowedScopes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub general_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_scopes: Option<OrganizationScopes>,
    /// `[{serviceDefinitionId, allRoles, roles, ...}]`, kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services_scopes: Option<Vec<Value>>,
}

/// `OrgOAuthAppRequest`: the create body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreateOAuthApp {
    /// Caller-chosen client id (5–256 of `[A-Za-z0-9_-]`); generated if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Caller-chosen secret (complexity rules, [`check_secret`]); generated if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ClientSecret>,
    pub display_name: String,
    pub description: String,
    pub grant_types: Vec<String>,
    pub allowed_scopes: AllowedScopes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(
        default,
        rename = "accessTokenTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub access_token_ttl: Option<i64>,
    #[serde(
        default,
        rename = "refreshTokenTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token_ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pkce: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_open_redirect_uris: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_only_secret_rotation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_rotation_expiration_in_seconds: Option<i64>,
}

/// `OrgOAuthAppUpdateRequest`: the PATCH body. `displayName`, `description` and
/// `grantTypes` are required; the rest change only when present.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOAuthApp {
    pub display_name: String,
    pub description: String,
    pub grant_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<AllowedScopes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(
        default,
        rename = "accessTokenTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub access_token_ttl: Option<i64>,
    #[serde(
        default,
        rename = "refreshTokenTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token_ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pkce: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_only_secret_rotation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_rotation_expiration_in_seconds: Option<i64>,
}

/// `OrgOAuthAppResponse`: an app as get and list return it. Never a secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OAuthApp {
    /// The client id.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<AllowedScopes>,
    /// `[{id, name, displayName}]`, kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_orgs: Option<Vec<Value>>,
    #[serde(
        default,
        rename = "accessTokenTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub access_token_ttl: Option<i64>,
    #[serde(
        default,
        rename = "refreshTokenTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token_ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pkce: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_client: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_open_redirect_uris: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_only_secret_rotation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_rotation_expiration_in_seconds: Option<i64>,
    /// Age of the current secret (unit undocumented; the emulator sends ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_age: Option<i64>,
    /// Epoch timestamp (unit undocumented; the emulator sends ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_hidden: Option<bool>,
}

/// `PagedResponseOrgOAuthAppResponse`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Paged<T> {
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_results: Option<i64>,
    /// Relative URL of the next page, e.g. `/csp/...?pageStart=15&pageLimit=15`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_link: Option<String>,
}

/// `ClientIdAndSecretResponse`: create and regenerate (PUT) answers.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClientIdAndSecret {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
}

/// `ClientSecretOwnerRotationRequest`: `POST .../secret`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RotateSecretRequest {
    pub new_client_secret: ClientSecret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_rotation_expiration_in_seconds: Option<i64>,
}

/// `DeleteClientsRequest`: the bulk delete body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DeleteClientsRequest {
    pub client_ids_to_delete: Vec<String>,
}

/// `PartialSuccessResponseString`: the bulk delete answer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PartialSuccess {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub succeeded: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<Vec<String>>,
}

/// Check a client id: 5 to 256 characters of `[A-Za-z0-9_-]`.
pub fn check_client_id(id: &str) -> Result<(), String> {
    if !CLIENT_ID_LEN.contains(&id.chars().count()) {
        return Err(format!(
            "the client id must be {} to {} characters long",
            CLIENT_ID_LEN.start(),
            CLIENT_ID_LEN.end()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "the client id may contain only letters, digits, '-' and '_', not {c:?}"
        ));
    }
    Ok(())
}

/// Check a client secret against CSP's password pattern: at least 8 characters
/// with a lower-case letter, an upper-case letter, a digit and a special
/// character (printable ASCII other than a letter or digit); no whitespace or
/// control characters. The message never contains the secret.
pub fn check_secret(secret: &str) -> Result<(), String> {
    let n = secret.chars().count();
    if n < MIN_SECRET_LEN {
        return Err(format!(
            "the client secret must be at least {MIN_SECRET_LEN} characters long"
        ));
    }
    if n > MAX_SECRET_LEN {
        return Err(format!(
            "the client secret must be at most {MAX_SECRET_LEN} characters long"
        ));
    }
    if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the client secret must not contain whitespace or control characters".into());
    }
    let mut missing = vec![];
    if !secret.chars().any(|c| c.is_lowercase()) {
        missing.push("a lower-case letter");
    }
    if !secret.chars().any(|c| c.is_uppercase()) {
        missing.push("an upper-case letter");
    }
    if !secret.chars().any(|c| c.is_ascii_digit()) {
        missing.push("a digit");
    }
    if !secret.chars().any(|c| !c.is_alphanumeric()) {
        missing.push("a special character");
    }
    if !missing.is_empty() {
        return Err(format!(
            "the client secret must contain {}",
            missing.join(", ")
        ));
    }
    Ok(())
}

/// Special characters of generated secrets: safe unescaped in URLs, form bodies,
/// HTTP Basic credentials, shells and YAML.
const SPECIALS: &[u8] = b"-_.~";
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";

/// A new client secret from the thread-local CSPRNG (ChaCha12 seeded from the
/// OS): [`GENERATED_SECRET_LEN`] characters of letters, digits and `-_.~`
/// (~290 bits), always meeting [`check_secret`].
pub fn generate_secret() -> ClientSecret {
    let mut rng = rand::rng();
    loop {
        let mut bytes: Vec<u8> = (0..GENERATED_SECRET_LEN)
            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
            .collect();
        // Rare (< 1 in 10^4): a class is missing. Put one of each in random,
        // distinct places rather than biasing every secret.
        let classes: [&[u8]; 4] = [
            b"abcdefghijklmnopqrstuvwxyz",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            b"0123456789",
            SPECIALS,
        ];
        if classes
            .iter()
            .any(|class| !bytes.iter().any(|b| class.contains(b)))
        {
            let mut slots: Vec<usize> = (0..GENERATED_SECRET_LEN).collect();
            for class in classes {
                let i = slots.swap_remove(rng.random_range(0..slots.len()));
                bytes[i] = class[rng.random_range(0..class.len())];
            }
        }
        let s = String::from_utf8(bytes).expect("ASCII");
        if check_secret(&s).is_ok() {
            return ClientSecret::new(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn client_id_rules() {
        for ok in ["abcde", "a-b_c", &"x".repeat(256), "Billing-Exporter_01"] {
            assert!(check_client_id(ok).is_ok(), "{ok}");
        }
        for bad in [
            "abcd",
            "",
            &"x".repeat(257),
            "has space",
            "a/b/c/d",
            "ünïcödé",
        ] {
            assert!(check_client_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_rules_and_messages_never_echo_the_secret() {
        assert!(check_secret("aA1-aaaa").is_ok());
        for (bad, why) in [
            ("aA1-aaa", "at least 8"),
            ("aaaaaaaa1-", "upper-case"),
            ("AAAAAAAA1-", "lower-case"),
            ("aaaaAAAA-", "digit"),
            ("aaaaAAAA1", "special"),
            ("aaaa AAA1-", "whitespace"),
        ] {
            let e = check_secret(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains(bad), "{e}");
        }
    }

    #[test]
    fn generated_secrets_meet_the_rules_and_differ() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let s = generate_secret();
            assert_eq!(s.expose().len(), GENERATED_SECRET_LEN);
            check_secret(s.expose()).unwrap();
            assert!(s.expose().bytes().all(|b| ALPHABET.contains(&b)));
            assert!(seen.insert(s.expose().to_string()));
        }
    }

    #[test]
    fn app_and_request_bodies_use_csp_names() {
        let body = CreateOAuthApp {
            id: Some("billing-exporter".into()),
            secret: Some(ClientSecret::new("aA1-aaaa")),
            display_name: "Billing".into(),
            description: "d".into(),
            grant_types: vec!["client_credentials".into()],
            access_token_ttl: Some(1800),
            ..Default::default()
        };
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["accessTokenTTL"], 1800);
        assert_eq!(v["displayName"], "Billing");
        assert_eq!(v["allowedScopes"], serde_json::json!({}));
        assert!(v.get("refreshTokenTTL").is_none());
        assert!(!format!("{body:?}").contains("aA1-aaaa"));
        let app: OAuthApp = serde_json::from_str(
            r#"{"id":"x","accessTokenTTL":600,"allowedScopes":{"organizationScopes":{"roles":[{"name":"b"}],"roleNames":["a","b"]}},"futureField":true}"#,
        )
        .unwrap();
        assert_eq!(app.access_token_ttl, Some(600));
        let roles = app
            .allowed_scopes
            .unwrap()
            .organization_scopes
            .unwrap()
            .role_names();
        assert_eq!(roles, ["a", "b"]);
    }

    proptest! {
        #[test]
        fn check_secret_never_panics_or_echoes(s in ".{0,300}") {
            if let Err(e) = check_secret(&s) {
                prop_assert!(s.chars().count() < 8 || !e.contains(&s));
            }
        }

        #[test]
        fn check_client_id_accepts_exactly_the_pattern(s in "[A-Za-z0-9_-]{5,256}") {
            prop_assert!(check_client_id(&s).is_ok());
        }
    }
}
