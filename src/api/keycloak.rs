//! The Keycloak blocks: `spec.keycloak` of a provider object (which server, which
//! realm, which admin credentials) and `spec.keycloak` of an `OAuthClient` (the
//! settings only Keycloak has).
//!
//! How the shared client fields map onto Keycloak's client representation is in
//! `crate::provider::keycloak::fields` and `docs/providers/keycloak.md`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, SecretKeyRef};

/// The client attributes clientops manages through typed fields (or itself): an
/// entry in `spec.keycloak.attributes` with one of these keys is refused, naming
/// the field to use instead.
pub const MANAGED_ATTRIBUTES: &[(&str, &str)] = &[
    ("post.logout.redirect.uris", "spec.postLogoutRedirectUris"),
    ("pkce.code.challenge.method", "spec.keycloak.pkceMethod"),
    ("use.refresh.tokens", "spec.grantTypes (refresh_token)"),
    (
        "oauth2.device.authorization.grant.enabled",
        "spec.grantTypes (urn:ietf:params:oauth:grant-type:device_code)",
    ),
    (
        "frontchannel.logout.url",
        "spec.keycloak.frontChannelLogoutUrl",
    ),
    (
        "backchannel.logout.url",
        "spec.keycloak.backChannelLogoutUrl",
    ),
    ("access.token.lifespan", "spec.keycloak.accessTokenLifespan"),
    ("logoUri", "spec.logoUri"),
    ("policyUri", "spec.policyUri"),
    ("tosUri", "spec.tosUri"),
];

/// Client attributes that switch a grant on when their value is `true` (as
/// Keycloak reads a boolean: case-insensitive), with the grant type each enables.
/// Under a ClusterOAuthProvider's policy they are bounded by its `grantTypes`.
pub const GRANT_ATTRIBUTES: &[(&str, &str)] = &[
    (
        "oidc.ciba.grant.enabled",
        "urn:openid:params:grant-type:ciba",
    ),
    (
        "standard.token.exchange.enabled",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ),
    ("client_credentials.use_refresh_token", "refresh_token"),
];

/// Client attributes that change only what users are shown, never what the client
/// may do or reach: allowed under every policy.
pub const DISPLAY_ATTRIBUTES: &[&str] = &[
    "display.on.consent.screen",
    "consent.screen.text",
    "login_theme",
];

/// The optional client scopes a new realm gives a client whose create does not
/// name its own (`optionalClientScopes` absent).
pub const REALM_DEFAULT_OPTIONAL_SCOPES: [&str; 5] = [
    "offline_access",
    "address",
    "phone",
    "microprofile-jwt",
    "organization",
];

/// A Keycloak server and the realm whose clients clientops manages.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakServer {
    /// Base URL of Keycloak, e.g. `https://sso.example.com` (clientops adds
    /// `/admin/realms/...` and `/realms/...`; a path prefix such as `/auth` is
    /// kept). Plain `http://` is accepted because Keycloak often sits inside the
    /// cluster network.
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isURL(self) && url(self).getScheme() in ['http', 'https'] && !self.contains('?') && !self.contains('#')",
        "message": "spec.keycloak.url must be the http:// or https:// base URL of Keycloak without query or fragment, e.g. https://sso.example.com"
    }]))]
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// The realm whose clients are managed, e.g. `apps`.
    #[schemars(length(min = 1, max = 255))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.contains('/') && self != '.' && self != '..'",
        "message": "spec.keycloak.realm must be a realm name (no '/'), e.g. apps"
    }]))]
    pub realm: String,
    /// The realm of the admin credentials (where clientops obtains its token).
    /// Default: `realm`. Set `master` for an administrator of the master realm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.contains('/') && self != '.' && self != '..'",
        "message": "spec.keycloak.authRealm must be a realm name (no '/'), e.g. master"
    }]))]
    pub auth_realm: Option<String>,
    /// How clientops authenticates to the admin API.
    pub auth: KeycloakAuth,
}

impl KeycloakServer {
    /// The realm where the admin credentials are checked.
    pub fn auth_realm(&self) -> &str {
        self.auth_realm.as_deref().unwrap_or(&self.realm)
    }
}

/// Admin credentials: a confidential client with the `realm-management` roles
/// `manage-clients` and `view-clients` (recommended; its token comes from the
/// `client_credentials` grant), or a user's name and password (the `password`
/// grant, through a public client such as `admin-cli`). Set exactly one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.clientCredentials) != has(self.password)",
    "message": "spec.keycloak.auth: set exactly one of clientCredentials (recommended: a confidential client with the realm-management roles manage-clients and view-clients) or password"
}]))]
pub struct KeycloakAuth {
    /// A confidential client of `authRealm` with a service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_credentials: Option<KeycloakClientCredentials>,
    /// A user of `authRealm`, with the password grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<KeycloakPasswordAuth>,
}

/// The `client_credentials` grant of a confidential admin client.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakClientCredentials {
    /// The admin client's client id, e.g. `clientops`.
    #[schemars(length(min = 1, max = 255))]
    pub client_id: String,
    /// The Secret key holding the admin client's secret.
    pub secret_ref: SecretKeyRef,
}

/// The `password` grant of a Keycloak user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakPasswordAuth {
    /// The user's name.
    #[schemars(length(min = 1, max = 255))]
    pub username: String,
    /// The Secret key holding the user's password.
    pub password_secret_ref: SecretKeyRef,
    /// The public client the password grant goes through. Default `admin-cli`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub client_id: Option<String>,
}

impl KeycloakPasswordAuth {
    /// The client the password grant goes through.
    pub fn client_id(&self) -> &str {
        self.client_id.as_deref().unwrap_or("admin-cli")
    }
}

/// PKCE code challenge method a Keycloak client requires.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum PkceMethod {
    /// SHA-256 of the verifier (recommended).
    S256,
    /// The verifier itself.
    #[serde(rename = "plain")]
    Plain,
}

impl PkceMethod {
    /// The value of Keycloak's `pkce.code.challenge.method` attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            PkceMethod::S256 => "S256",
            PkceMethod::Plain => "plain",
        }
    }
}

/// Keycloak-only client settings. Each is managed only when set: a setting left
/// out keeps whatever the realm or an administrator chose.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakClientFields {
    /// Whether the client may be used (log-ins, tokens). Default `true`. Unlike
    /// the settings below it is always managed: a client disabled in the admin
    /// console is enabled again at the next resync unless this says `false`
    /// (set `false` to switch the client off and keep it off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The client's description in the admin console.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255))]
    pub description: Option<String>,
    /// Client scopes the client may request (`scope=` in the authorization
    /// request). `spec.scopes` are its default client scopes (always granted).
    /// Each must exist in the realm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 255)))]
    pub optional_client_scopes: Option<Vec<String>>,
    /// Require PKCE with this method for the authorization code flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_method: Option<PkceMethod>,
    /// Show the consent screen before granting access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_required: Option<bool>,
    /// Log the user out of the client through the browser (front-channel logout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front_channel_logout: Option<bool>,
    /// The client's front-channel logout URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isURL(self)", "message": "spec.keycloak.frontChannelLogoutUrl must be an absolute URL such as https://app.example.com/logout"}]))]
    pub front_channel_logout_url: Option<String>,
    /// The client's back-channel logout URL (Keycloak posts a logout token there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isURL(self)", "message": "spec.keycloak.backChannelLogoutUrl must be an absolute URL such as https://app.example.com/backchannel-logout"}]))]
    pub back_channel_logout_url: Option<String>,
    /// Put every realm role into the client's tokens (`true`) or only the roles
    /// of its scopes (`false`, least privilege).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_scope_allowed: Option<bool>,
    /// Lifetime of the client's access tokens, e.g. `5m` (whole seconds; the
    /// realm's setting when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub access_token_lifespan: Option<String>,
    /// Further client attributes, as Keycloak names them. Only the keys listed
    /// here are managed. Keys that a field above sets, `client.secret.*` and
    /// `clientops.dev/*` are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(k, !k.startsWith('client.secret.') && !k.startsWith('clientops.dev/'))",
        "message": "spec.keycloak.attributes: the keys client.secret.* belong to Keycloak's secret rotation and clientops.dev/* to clientops; remove them"
    }, {
        "rule": "self.all(k, !(k in ['post.logout.redirect.uris', 'pkce.code.challenge.method', 'use.refresh.tokens', 'oauth2.device.authorization.grant.enabled', 'frontchannel.logout.url', 'backchannel.logout.url', 'access.token.lifespan', 'logoUri', 'policyUri', 'tosUri']))",
        "message": "spec.keycloak.attributes: this key is set by a typed field (postLogoutRedirectUris, grantTypes, logoUri, policyUri, tosUri, or pkceMethod, frontChannelLogoutUrl, backChannelLogoutUrl, accessTokenLifespan under spec.keycloak); use that field"
    }]))]
    pub attributes: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_provider_block_reads_as_documented() {
        let s: KeycloakServer = serde_json::from_value(json!({
            "url": "https://sso.example.com",
            "realm": "apps",
            "auth": {"clientCredentials": {"clientId": "clientops",
                "secretRef": {"namespace": "clientops-system", "name": "kc", "key": "secret"}}},
        }))
        .unwrap();
        assert_eq!(s.auth_realm(), "apps");
        let p: KeycloakPasswordAuth = serde_json::from_value(json!({
            "username": "admin",
            "passwordSecretRef": {"name": "kc", "key": "password"},
        }))
        .unwrap();
        assert_eq!(p.client_id(), "admin-cli");
    }

    #[test]
    fn the_cel_list_of_managed_keys_matches_the_table() {
        let schema = serde_json::to_string(&schemars::schema_for!(KeycloakClientFields)).unwrap();
        for (key, _) in MANAGED_ATTRIBUTES {
            assert!(schema.contains(&format!("'{key}'")), "{key} missing");
        }
    }
}
