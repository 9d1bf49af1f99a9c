//! VMware CSP's CRD blocks: `spec.vmwareCsp` of a provider object (the
//! organisation and its credentials) and of an OAuthClient (CSP-only client
//! fields).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, SecretKeyRef};

/// Default base URL of VMware Cloud Services Platform.
pub const CSP_DEFAULT_BASE_URL: &str = "https://console.cloud.vmware.com";

/// A VMware Cloud Services Platform organisation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CspOrganization {
    /// The organisation id (a GUID).
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",
        "message": "spec.vmwareCsp.orgId must be the organisation's GUID, e.g. 3fa85f64-5717-4562-b3fc-2c963f66afa6"
    }]))]
    #[schemars(length(max = 64))]
    pub org_id: String,
    /// Base URL of CSP. Default `https://console.cloud.vmware.com`; point it at
    /// `clientops emulate csp` in development. `http://` only for loopback hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1']))",
        "message": "spec.vmwareCsp.baseUrl must be an https:// URL (http:// only for localhost, 127.0.0.1 or [::1])"
    }]))]
    #[schemars(length(max = 2048))]
    pub base_url: Option<String>,
    /// How clientops authenticates to CSP.
    pub auth: CspAuth,
}

/// CSP credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CspAuth {
    /// The Secret key holding a CSP API token; clientops exchanges it for an access
    /// token and refreshes that before it expires.
    pub api_token_secret_ref: SecretKeyRef,
}

/// The access token lifetime VMware CSP gives an app created without
/// `accessTokenTtl` (CSP's own, not configurable by the org's admin).
pub const CSP_DEFAULT_ACCESS_TOKEN_TTL: &str = "10m";
/// The refresh token lifetime VMware CSP gives an app created without
/// `refreshTokenTtl` (90 days; CSP's own, not configurable by the org's admin).
pub const CSP_DEFAULT_REFRESH_TOKEN_TTL: &str = "2160h";

/// VMware CSP-only client fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.accessTokenTtl) || !has(self.refreshTokenTtl) || !self.accessTokenTtl.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || !self.refreshTokenTtl.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.refreshTokenTtl) > duration(self.accessTokenTtl)",
    "message": "spec.vmwareCsp.refreshTokenTtl must be longer than accessTokenTtl",
    "fieldPath": ".refreshTokenTtl"
}]))]
pub struct CspClientFields {
    /// The app's description (CSP requires one). Default: the client name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
    /// Lifetime of access tokens, e.g. `30m` (CSP default 10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub access_token_ttl: Option<String>,
    /// Lifetime of refresh tokens, e.g. `2160h` (CSP default 90 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub refresh_token_ttl: Option<String>,
    /// Require PKCE for the authorization code flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pkce: Option<bool>,
    /// General scopes the app may request, e.g. `openid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 256)))]
    pub general_scopes: Option<Vec<String>>,
    /// Organisation roles the app may act with, e.g. `org_member`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 256)))]
    pub organization_roles: Option<Vec<String>>,
    /// Whether every organisation role is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_organization_roles: Option<bool>,
    /// Only the app owner may rotate its secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_only_secret_rotation: Option<bool>,
}
