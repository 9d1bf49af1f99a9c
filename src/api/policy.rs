//! `spec.policy` of a ClusterOAuthProvider: what OAuthClients of the namespaces it
//! admits may ask for. The admin writes it; the controller enforces it (a client
//! that breaks a rule is `Stalled`, reason `PolicyViolation`), and the optional
//! ValidatingAdmissionPolicy in `deploy/` refuses such a manifest at admission.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::DURATION_PATTERN;

/// Guardrails for the OAuthClients that use a ClusterOAuthProvider. An absent rule
/// allows anything; an empty list allows nothing.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientPolicy {
    /// Hosts that `redirectUris` and `postLogoutRedirectUris` may point at: an exact
    /// host name (`grafana.example.com`), or `*.` and a domain for any host below it
    /// (`*.apps.example.com` allows `a.apps.example.com` and `a.b.apps.example.com`,
    /// not `apps.example.com` itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 253)))]
    pub redirect_uri_hosts: Option<Vec<String>>,
    /// Grant types a client may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 128)))]
    pub grant_types: Option<Vec<String>>,
    /// Scopes a client may ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), inner(length(min = 1, max = 256)))]
    pub scopes: Option<Vec<String>>,
    /// Whether public clients (`tokenEndpointAuthMethod: none`, no secret) may be
    /// made. Default: true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_public_clients: Option<bool>,
    /// The longest `spec.rotation.every` a client may have. When set, every client
    /// must rotate at least this often (a client without `rotation.every` breaks it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub max_rotation_every: Option<String>,
    /// The longest lifetime a client may give its tokens: every token lifetime
    /// field of the client (`vmwareCsp.accessTokenTtl`, `hydra.tokenLifespans.*`,
    /// `keycloak.accessTokenLifespan`), and its refresh tokens too unless
    /// `maxRefreshTokenLifetime` is set. A field the client leaves unset takes the
    /// provider's default, which passes, except VMware CSP's fixed defaults (10m,
    /// 2160h), which are checked. Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub max_token_lifetime: Option<String>,
    /// The longest lifetime a client may give its refresh tokens
    /// (`vmwareCsp.refreshTokenTtl`, `hydra.tokenLifespans.*RefreshToken`), in
    /// place of `maxTokenLifetime`: refresh tokens usually live far longer than
    /// access tokens. Absent: `maxTokenLifetime` bounds them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub max_refresh_token_lifetime: Option<String>,
    /// Hosts that the pages a client shows users may point at: `clientUri`,
    /// `logoUri`, `policyUri`, `tosUri`. Same patterns as `redirectUriHosts`.
    /// Absent: `redirectUriHosts` bounds them too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 253)))]
    pub display_uri_hosts: Option<Vec<String>>,
    /// Whether `allowedCorsOrigins` may hold a wildcard (an entry with `*`), which
    /// lets any web site call the provider with the client. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_wildcard_cors_origins: Option<bool>,
    /// Whether a Cloudflare client may be made public (`cloudflare.visibility:
    /// public`: usable by any Cloudflare user, and never private again). Default:
    /// false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_public_visibility: Option<bool>,
    /// Whether a VMware CSP client may have `allOrganizationRoles: true` (every
    /// role of the organisation). Default: allowed only when `scopes` is absent
    /// (every scope and role allowed); listed roles are bounded by `scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_all_organization_roles: Option<bool>,
    /// Audiences an Ory Hydra client may ask tokens for (`hydra.audience`).
    /// Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 2048)))]
    pub audiences: Option<Vec<String>>,
    /// Whether an Ory Hydra client may skip the consent screen
    /// (`hydra.skipConsent: true`). Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_skip_consent: Option<bool>,
    /// Whether a Keycloak client may put every realm role in its tokens
    /// (`keycloak.fullScopeAllowed: true`, Keycloak's default when the field is
    /// not set). Default: false, so Keycloak clients must set
    /// `fullScopeAllowed: false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_full_scope: Option<bool>,
    /// Keys of `keycloak.attributes` a client may set beyond those clientops knows:
    /// attributes that switch on a grant are bounded by `grantTypes`, display-only
    /// ones are always allowed, and any other key is refused unless listed here.
    /// Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 255)))]
    pub keycloak_attributes: Option<Vec<String>>,
    /// Sign-in audiences a Microsoft Entra ID client may have
    /// (`entra.signInAudience`). Absent: only `AzureADMyOrg` (accounts of the
    /// tenant itself, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4))]
    pub sign_in_audiences: Option<Vec<super::entra::SignInAudience>>,
    /// API permissions a Microsoft Entra ID client may ask for
    /// (`entra.requiredResourceAccess`), each `<resourceAppId>/<permission id>`,
    /// e.g. `00000003-0000-0000-c000-000000000000/e1fe6dd8-ba31-4d61-89e7-88639da4683d`
    /// (Microsoft Graph's `User.Read`); compared without regard to case.
    /// Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100), inner(length(min = 3, max = 160)))]
    pub api_permissions: Option<Vec<String>>,
    /// Namespaces whose OAuthClients may import a client (`spec.import`) without
    /// proving that they own it. Absent: none. Every other import must prove
    /// ownership: `spec.import.secretRef` holding a secret the provider accepts, or
    /// the client carrying this OAuthClient's marker. An id another OAuthClient holds
    /// is refused in every case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unproven_import_namespace_selector: Option<LabelSelector>,
}
