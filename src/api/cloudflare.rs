//! Cloudflare's CRD blocks: `spec.cloudflare` of a provider object (the account
//! and its credentials) and of an OAuthClient (Cloudflare-only client fields).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::SecretKeyRef;

/// Default base URL of the Cloudflare API.
pub const CLOUDFLARE_DEFAULT_BASE_URL: &str = "https://api.cloudflare.com/client/v4";

/// A Cloudflare account.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudflareAccount {
    /// The account id: 32 lower-case hexadecimal characters, as shown in the
    /// dashboard URL (`dash.cloudflare.com/<accountId>`).
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[0-9a-f]{32}$')",
        "message": "spec.cloudflare.accountId must be 32 lower-case hexadecimal characters (the id in dash.cloudflare.com/<accountId>)"
    }]))]
    #[schemars(length(max = 64))]
    pub account_id: String,
    /// Base URL of the Cloudflare API. Default `https://api.cloudflare.com/client/v4`;
    /// point it at `clientops emulate cloudflare` in development. `http://` is accepted
    /// only for loopback hosts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "isURL(self) && (url(self).getScheme() == 'https' || (url(self).getScheme() == 'http' && url(self).getHostname() in ['localhost', '127.0.0.1', '::1']))",
        "message": "spec.cloudflare.baseUrl must be an https:// URL (http:// only for localhost, 127.0.0.1 or [::1])"
    }]))]
    #[schemars(length(max = 2048))]
    pub base_url: Option<String>,
    /// How clientops authenticates to the Cloudflare API.
    pub auth: CloudflareAuth,
}

/// Cloudflare credentials: an API token (preferred) or the legacy global API key with
/// its e-mail address. Set exactly one of `apiTokenSecretRef` and `apiKeySecretRef`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.apiTokenSecretRef) != has(self.apiKeySecretRef)",
        "message": "spec.cloudflare.auth: set exactly one of apiTokenSecretRef (an API token with OAuth Client Read and Write) or apiKeySecretRef with email"
    },
    {
        "rule": "has(self.apiKeySecretRef) == has(self.email)",
        "message": "spec.cloudflare.auth.email: the legacy API key scheme needs both apiKeySecretRef and email (X-Auth-Email); set both, or use apiTokenSecretRef alone"
    }
]))]
pub struct CloudflareAuth {
    /// The Secret key holding an API token, sent as `Authorization: Bearer`. The token
    /// needs the permissions "OAuth Client Read" and "OAuth Client Write".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token_secret_ref: Option<SecretKeyRef>,
    /// The Secret key holding a legacy global API key, sent as `X-Auth-Key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret_ref: Option<SecretKeyRef>,
    /// The account e-mail sent as `X-Auth-Email` with `apiKeySecretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 254))]
    pub email: Option<String>,
}

/// Cloudflare-only client fields.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.optionalScopes) || self.optionalScopes.all(s, !(s in ['openid', 'offline', 'offline_access']))",
        "message": "spec.cloudflare.optionalScopes: openid, offline and offline_access can never be optional; remove them from optionalScopes",
        "fieldPath": ".optionalScopes"
    },
    {
        "rule": "!has(oldSelf.visibility) || oldSelf.visibility != 'public' || (has(self.visibility) && self.visibility == 'public')",
        "message": "spec.cloudflare.visibility: a public Cloudflare client can never become private again; keep visibility: public",
        "fieldPath": ".visibility"
    }
]))]
pub struct CloudflareClientFields {
    /// Scopes users may decline on the consent screen; each must also be in
    /// `spec.scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), inner(length(min = 1, max = 256)))]
    pub optional_scopes: Option<Vec<String>>,
    /// `private` (the default) or `public`. Promotion to public needs a client name,
    /// a logo URI, a verified client URI domain and a non-identity scope, and can
    /// never be undone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
}

/// Cloudflare client visibility.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Usable only by members of the account.
    Private,
    /// Usable by any Cloudflare user; permanent.
    Public,
}
