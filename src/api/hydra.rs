//! Ory Hydra's CRD blocks: `spec.hydra` of a provider object (the admin API and
//! its credentials) and of an OAuthClient (Hydra-only client fields).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, SecretKeyRef};

/// An Ory Hydra server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydraServer {
    /// URL of Hydra's admin API (the listener that serves `/admin/clients`), e.g.
    /// `http://hydra-admin.auth.svc.cluster.local:4445` (names are looked up fully
    /// qualified: the pod's DNS search list is not tried). Plain `http://` is
    /// accepted because the admin port usually sits inside the cluster network.
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isURL(self) && url(self).getScheme() in ['http', 'https']",
        "message": "spec.hydra.adminUrl must be an http:// or https:// URL of Hydra's admin API, e.g. http://hydra-admin.auth.svc.cluster.local:4445"
    }]))]
    #[schemars(length(min = 1, max = 2048))]
    pub admin_url: String,
    /// URL of Hydra's public API (the listener that serves `/oauth2/token`), e.g.
    /// `https://auth.example.com`. Needed to prove ownership of an imported client by
    /// its secret (`spec.import.secretRef` on the OAuthClient).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isURL(self) && url(self).getScheme() in ['http', 'https']",
        "message": "spec.hydra.publicUrl must be an http:// or https:// URL of Hydra's public API, e.g. https://auth.example.com"
    }]))]
    #[schemars(length(min = 1, max = 2048))]
    pub public_url: Option<String>,
    /// Credentials for the admin API when it sits behind an authenticating proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HydraAuth>,
}

/// Credentials for Hydra's admin API.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydraAuth {
    /// The Secret key holding a bearer token sent as `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret_ref: Option<SecretKeyRef>,
}

/// Ory Hydra-only client fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydraClientFields {
    /// Audiences the client may request tokens for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 2048)))]
    pub audience: Option<Vec<String>>,
    /// Skip the consent screen (first-party clients).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_consent: Option<bool>,
    /// Skip the logout consent screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_logout_consent: Option<bool>,
    /// `jwt` or `opaque` access tokens (Hydra's default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_strategy: Option<HydraAccessTokenStrategy>,
    /// Free-form metadata stored with the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    pub metadata: Option<BTreeMap<String, String>>,
    /// Per-grant token lifespans, as durations such as `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_lifespans: Option<HydraTokenLifespans>,
}

/// Hydra access token strategy.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HydraAccessTokenStrategy {
    /// Signed JSON Web Tokens.
    Jwt,
    /// Opaque tokens checked by introspection.
    Opaque,
}

/// Hydra per-grant token lifespans.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HydraTokenLifespans {
    /// Access tokens from the authorization code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub authorization_code_grant_access_token: Option<String>,
    /// ID tokens from the authorization code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub authorization_code_grant_id_token: Option<String>,
    /// Refresh tokens from the authorization code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub authorization_code_grant_refresh_token: Option<String>,
    /// Access tokens from the client credentials grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub client_credentials_grant_access_token: Option<String>,
    /// Access tokens from the refresh token grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub refresh_token_grant_access_token: Option<String>,
    /// Refresh tokens from the refresh token grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub refresh_token_grant_refresh_token: Option<String>,
}
