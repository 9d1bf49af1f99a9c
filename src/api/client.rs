//! `OAuthClient`: one OAuth client at a provider, and the Secret that holds its
//! credentials.
//!
//! Fields every provider understands sit at the top of `spec`; fields only one
//! provider has live under `spec.cloudflare`, `spec.vmwareCsp`, `spec.hydra`, `spec.keycloak` or `spec.entra`.

// kube's `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, LocalSecretKeyRef, SECRET_KEY_PATTERN};

use super::cloudflare::CloudflareClientFields;
use super::csp::CspClientFields;
use super::hydra::HydraClientFields;
use super::provider::{block_names, blocks_set_cel, prepend_rule};

/// The desired state of one OAuth client.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "clientops.dev",
    version = "v1alpha1",
    kind = "OAuthClient",
    plural = "oauthclients",
    namespaced,
    status = "OAuthClientStatus",
    shortname = "oac",
    category = "clientops",
    doc = "An OAuth client that clientops creates and keeps in sync at a provider, with its credentials in a Secret.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Client ID", type_ = "string", json_path = ".status.clientId"),
    printcolumn(
        name = "Rotation",
        type_ = "string",
        json_path = ".status.rotation.phase"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = at_most_one_block)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.cloudflare) || (has(self.grantTypes) && 'authorization_code' in self.grantTypes && self.grantTypes.all(g, g in ['authorization_code', 'refresh_token']))",
        "message": "spec.grantTypes: Cloudflare requires authorization_code and accepts only authorization_code and refresh_token; set grantTypes: [authorization_code] or [authorization_code, refresh_token]",
        "fieldPath": ".grantTypes"
    },
    {
        "rule": "!has(self.cloudflare) || !has(self.scopes) || self.scopes.all(s, !s.contains(':'))",
        "message": "spec.scopes: Cloudflare rejects colon-delimited scopes such as account:read; use the dot form from GET /oauth/scopes, such as account.read",
        "fieldPath": ".scopes"
    },
    {
        "rule": "!has(self.cloudflare) || (has(self.redirectUris) && size(self.redirectUris) > 0)",
        "message": "spec.redirectUris: Cloudflare requires at least one redirect URI; add the callback URL of your application",
        "fieldPath": ".redirectUris"
    },
    {
        "rule": "!has(self.cloudflare) || !has(self.cloudflare.optionalScopes) || self.cloudflare.optionalScopes.all(s, has(self.scopes) && s in self.scopes)",
        "message": "spec.cloudflare.optionalScopes: every optional scope must also be listed in spec.scopes; add it to spec.scopes or remove it here",
        "fieldPath": ".cloudflare.optionalScopes"
    },
    {
        "rule": "!has(self.vmwareCsp) || !has(self.grantTypes) || self.grantTypes.all(g, g in ['authorization_code', 'refresh_token', 'client_credentials', 'client_delegate', 'audience_exchange', 'context_switch'])",
        "message": "spec.grantTypes: VMware CSP accepts authorization_code, refresh_token, client_credentials (service organisations also client_delegate, audience_exchange, context_switch)",
        "fieldPath": ".grantTypes"
    },
    {
        "rule": "has(self.__import__) == has(oldSelf.__import__) && (!has(self.__import__) || self.__import__.clientId == oldSelf.__import__.clientId)",
        "message": "spec.import.clientId cannot be added, changed or removed after creation; create a new OAuthClient to adopt another client (delete this one with deletionPolicy: Orphan to keep its remote client)",
        "fieldPath": ".import"
    }
]))]
pub struct OAuthClientSpec {
    /// The provider object that says which account the client lives in. Cannot change
    /// after creation: moving a client between accounts means a new client.
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self == oldSelf",
        "message": "spec.providerRef cannot change after creation; create a new OAuthClient for the other provider (use deletionPolicy: Orphan on this one to keep its remote client)"
    }]))]
    pub provider_ref: ProviderRef,

    /// The client's display name at the provider. Default: `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub client_name: Option<String>,

    /// Where the provider may send users back after authorization. `https://` URLs,
    /// or `http://` only for loopback hosts (localhost, 127.0.0.1, [::1]) during
    /// development.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 2048)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(u, isURL(u) && (url(u).getScheme() != 'http' || url(u).getHostname() in ['localhost', '127.0.0.1', '::1']))",
        "message": "spec.redirectUris: each entry must be an absolute URL, and http:// is allowed only for loopback hosts (localhost, 127.0.0.1, [::1]); use https://"
    }]))]
    pub redirect_uris: Vec<String>,

    /// Where the provider may send users after logout. Same URL rules as
    /// `redirectUris`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 2048)))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(u, isURL(u) && (url(u).getScheme() != 'http' || url(u).getHostname() in ['localhost', '127.0.0.1', '::1']))",
        "message": "spec.postLogoutRedirectUris: each entry must be an absolute URL, and http:// is allowed only for loopback hosts (localhost, 127.0.0.1, [::1]); use https://"
    }]))]
    pub post_logout_redirect_uris: Vec<String>,

    /// OAuth grant types, e.g. `[authorization_code, refresh_token]`. Default:
    /// `[authorization_code]`. Each provider accepts its own subset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), inner(length(min = 1, max = 128)))]
    pub grant_types: Option<Vec<String>>,

    /// OAuth response types. Default: `[code]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 3))]
    pub response_types: Option<Vec<ResponseType>>,

    /// Scopes the client may request. Compared with the provider's as a set; protocol
    /// scopes a provider adds by itself (`openid`, `offline_access` at Cloudflare) are
    /// not drift.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 200), inner(length(min = 1, max = 256)))]
    pub scopes: Option<Vec<String>>,

    /// How the client authenticates at the token endpoint. Default:
    /// `client_secret_basic`. `none` makes a public (PKCE) client without a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,

    /// Origins allowed to call the token endpoint from a browser.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 2048)))]
    pub allowed_cors_origins: Vec<String>,

    /// The application's home page, shown on the consent screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isURL(self)", "message": "spec.clientUri must be an absolute URL such as https://example.com"}]))]
    pub client_uri: Option<String>,

    /// URL of the application's logo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isURL(self)", "message": "spec.logoUri must be an absolute URL such as https://example.com/logo.png"}]))]
    pub logo_uri: Option<String>,

    /// URL of the application's privacy policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isURL(self)", "message": "spec.policyUri must be an absolute URL such as https://example.com/privacy"}]))]
    pub policy_uri: Option<String>,

    /// URL of the application's terms of service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "isURL(self)", "message": "spec.tosUri must be an absolute URL such as https://example.com/terms"}]))]
    pub tos_uri: Option<String>,

    /// Fields only Cloudflare has. Set only with a Cloudflare provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudflare: Option<CloudflareClientFields>,

    /// Fields only VMware CSP has. Set only with a CSP provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmware_csp: Option<CspClientFields>,

    /// Fields only Ory Hydra has. Set only with a Hydra provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hydra: Option<HydraClientFields>,

    /// Fields only Keycloak has. Set only with a Keycloak provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keycloak: Option<super::keycloak::KeycloakClientFields>,

    /// Fields only Microsoft Entra ID has. Set only with an Entra provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entra: Option<super::entra::EntraClientFields>,

    /// The Secret clientops writes the credentials into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretTemplate>,

    /// Scheduled secret rotation with a grace period for the previous secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationPolicy>,

    /// What happens to the remote client when this object is deleted: `Delete` (the
    /// default) deletes it; `Orphan` leaves the remote client and the Secret in place.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Adopt an existing remote client instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import: Option<ImportSpec>,
}

/// The client's rule: at most one provider block, the one of its provider.
fn at_most_one_block(schema: &mut schemars::Schema) {
    prepend_rule(
        schema,
        format!("{} <= 1", blocks_set_cel()),
        format!(
            "spec: set at most one provider-specific block ({}), the one of the provider that providerRef names",
            block_names()
        ),
    );
}

/// Which provider object an OAuthClient uses.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRef {
    /// `ClusterOAuthProvider` or `OAuthProvider` (which must be in this namespace).
    pub kind: ProviderKind,
    /// Name of the provider object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The two provider kinds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum ProviderKind {
    /// A cluster-scoped provider admitted to this namespace by its namespaceSelector.
    ClusterOAuthProvider,
    /// A provider in the same namespace as the OAuthClient.
    OAuthProvider,
}

/// An OAuth response type.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// Authorization code.
    Code,
    /// Access token (implicit flow).
    Token,
    /// OpenID Connect ID token.
    IdToken,
}

/// Token endpoint authentication method.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// Public client (PKCE): no secret is issued.
    None,
    /// Client id and secret in HTTP Basic authentication.
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
}

/// The Secret that receives the credentials.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = secret_keys_distinct)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "!has(self.labels) || !('clientops.dev/client' in self.labels)",
        "message": "spec.secret.labels: clientops.dev/client is set by clientops; remove it from labels",
        "fieldPath": ".labels"
    },
    {
        "rule": "!has(self.extraData) || !has(self.keys) || ((!has(self.keys.clientId) || !(self.keys.clientId in self.extraData)) && (!has(self.keys.clientSecret) || !(self.keys.clientSecret in self.extraData)) && (!has(self.keys.clientSecretPrevious) || !(self.keys.clientSecretPrevious in self.extraData)))",
        "message": "spec.secret.extraData: a key collides with a credential key name from spec.secret.keys; rename one of them",
        "fieldPath": ".extraData"
    },
    {
        "rule": "!has(self.extraData) || (has(self.keys) && has(self.keys.clientId)) || !('client_id' in self.extraData)",
        "message": "spec.secret.extraData: client_id is the credential key; rename the extra key",
        "fieldPath": ".extraData"
    },
    {
        "rule": "!has(self.extraData) || (has(self.keys) && has(self.keys.clientSecret)) || !('client_secret' in self.extraData)",
        "message": "spec.secret.extraData: client_secret is the credential key; rename the extra key",
        "fieldPath": ".extraData"
    },
    {
        "rule": "!has(self.extraData) || (has(self.keys) && has(self.keys.clientSecretPrevious)) || !('client_secret_previous' in self.extraData)",
        "message": "spec.secret.extraData: client_secret_previous is the credential key; rename the extra key",
        "fieldPath": ".extraData"
    }
]))]
pub struct SecretTemplate {
    /// Name of the Secret, in this namespace. Default: `metadata.name`. clientops
    /// never overwrites a Secret it does not own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",
        "message": "spec.secret.name must be a valid Secret name (DNS-1123 subdomain): lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
    }]))]
    pub name: Option<String>,
    /// Labels copied onto the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    pub labels: Option<BTreeMap<String, String>>,
    /// Annotations copied onto the Secret (e.g. for Reloader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Rename the credential keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<SecretKeys>,
    /// Static extra keys written into the Secret, e.g. `issuer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(k, k.matches('^[-._a-zA-Z0-9]+$'))",
        "message": "spec.secret.extraData: keys may contain only letters, digits, '-', '_' and '.'"
    }]))]
    #[schemars(extend("maxProperties" = 64))]
    pub extra_data: Option<BTreeMap<String, String>>,
    /// Whether the previous secret is published as `client_secret_previous` while a
    /// rotation's grace period runs. Default true. Set false when a tool such as
    /// Stakater Reloader restarts workloads on every Secret change and one rollout
    /// per rotation is wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publish_previous: Option<bool>,
    /// The provider's endpoints, each under the key name given, e.g.
    /// `{issuer: ISSUER_URL, tokenUrl: TOKEN_URL}`. They follow the provider
    /// object when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<SecretEndpoints>,
    /// Keys rendered from templates: key name → template text (Jinja syntax,
    /// minijinja). Variables: `clientId`, `clientSecret`, `previousClientSecret`
    /// (during a grace period, else none), `endpoints.<name>` (the names of
    /// `endpoints` above) and `extraData.<key>`. Filters such as `tojson` and
    /// `urlencode` escape values for JSON and URLs. A template that cannot render
    /// stalls the OAuthClient with reason `InvalidTemplate`, naming the key, line
    /// and column. Rotation rewrites every rendered key in the same write as
    /// the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 16))]
    #[schemars(extend("additionalProperties" = {"type": "string", "maxLength": 8192}))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "self.all(k, k.matches('^[-._a-zA-Z0-9]+$') && size(k) <= 253 && k != '.' && k != '..' && !k.startsWith('clientops.'))",
        "message": "spec.secret.template: keys may contain only letters, digits, '-', '_' and '.' (at most 253), may not be '.' or '..', and may not start with 'clientops.'"
    }]))]
    pub template: Option<BTreeMap<String, String>>,
}

/// Key names under which the provider's endpoints are written; each one set is
/// published (a provider that has no such endpoint stalls the OAuthClient with
/// reason `InvalidTemplate`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = endpoint_keys_distinct)]
pub struct SecretEndpoints {
    /// Key for the OIDC issuer identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub issuer: Option<String>,
    /// Key for the authorization endpoint (where users log in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub authorization_url: Option<String>,
    /// Key for the token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub token_url: Option<String>,
    /// Key for the OIDC discovery document (`.well-known/openid-configuration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub discovery_url: Option<String>,
    /// Key for the JSON Web Key Set that signs the provider's tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub jwks_url: Option<String>,
    /// Key for the token revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub revocation_url: Option<String>,
    /// Key for the token introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub introspection_url: Option<String>,
    /// Key for the OIDC userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub userinfo_url: Option<String>,
}

impl SecretEndpoints {
    /// `(endpoint name, key name)` of each endpoint asked for; the names are
    /// [`crate::api::endpoints::Endpoints::NAMES`].
    pub fn requested(&self) -> Vec<(&'static str, &str)> {
        [
            ("issuer", &self.issuer),
            ("authorizationUrl", &self.authorization_url),
            ("tokenUrl", &self.token_url),
            ("discoveryUrl", &self.discovery_url),
            ("jwksUrl", &self.jwks_url),
            ("revocationUrl", &self.revocation_url),
            ("introspectionUrl", &self.introspection_url),
            ("userinfoUrl", &self.userinfo_url),
        ]
        .into_iter()
        .filter_map(|(n, k)| Some((n, k.as_deref()?)))
        .collect()
    }
}

/// CEL: the key names in `spec.secret.endpoints` (as `self`) as a list, `''`
/// for those not set.
fn endpoint_key_list(obj: &str) -> String {
    // The field names of `SecretEndpoints` are the endpoint names.
    let items: Vec<String> = crate::api::endpoints::Endpoints::NAMES
        .iter()
        .map(|f| format!("(has({obj}.{f}) ? {obj}.{f} : '')"))
        .collect();
    format!("[{}].filter(x, x != '')", items.join(", "))
}

/// `spec.secret.endpoints`: no key name twice.
fn endpoint_keys_distinct(schema: &mut schemars::Schema) {
    let list = endpoint_key_list("self");
    add_rule(
        schema,
        format!("{list}.all(x, {list}.filter(y, y == x).size() == 1)"),
        "spec.secret.endpoints: two endpoints have the same key name; give each its own",
        None,
    );
    add_rule(
        schema,
        format!("{list}.all(k, k != '.' && k != '..')"),
        "spec.secret.endpoints: '.' and '..' are not valid Secret keys; choose another key name",
        None,
    );
}

/// `spec.secret`: the credential keys, `extraData`, `endpoints` and `template`
/// never name the same key twice.
fn secret_keys_distinct(schema: &mut schemars::Schema) {
    let credential = |field: &str, default: &str| {
        format!("(has(self.keys) && has(self.keys.{field}) ? self.keys.{field} : '{default}')")
    };
    let credentials = format!(
        "[{}, {}, {}]",
        credential("clientId", "client_id"),
        credential("clientSecret", "client_secret"),
        credential("clientSecretPrevious", "client_secret_previous")
    );
    add_rule(
        schema,
        format!(
            "!has(self.template) || self.template.all(k, !(k in {credentials}) && (!has(self.extraData) || !(k in self.extraData)))"
        ),
        "spec.secret.template: a key collides with a credential key (spec.secret.keys, default client_id, client_secret, client_secret_previous) or a key of extraData; rename one of them",
        Some(".template"),
    );
    let endpoints = endpoint_key_list("self.endpoints");
    add_rule(
        schema,
        format!(
            "!has(self.endpoints) || {endpoints}.all(k, !(k in {credentials}) && (!has(self.extraData) || !(k in self.extraData)) && (!has(self.template) || !(k in self.template)))"
        ),
        "spec.secret.endpoints: a key name collides with a credential key (spec.secret.keys, default client_id, client_secret, client_secret_previous), a key of extraData or of template; rename one of them",
        Some(".endpoints"),
    );
}

/// Append a CEL rule (reported at `field_path`, if given) to `schema`'s
/// `x-kubernetes-validations`.
fn add_rule(schema: &mut schemars::Schema, rule: String, message: &str, field_path: Option<&str>) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let rules = obj
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(list) = rules.as_array_mut() {
        let mut entry = serde_json::json!({"rule": rule, "message": message});
        if let Some(path) = field_path {
            entry["fieldPath"] = path.into();
        }
        list.push(entry);
    }
}

/// Key names in the Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "(has(self.clientId) ? self.clientId : 'client_id') != (has(self.clientSecret) ? self.clientSecret : 'client_secret') && (has(self.clientId) ? self.clientId : 'client_id') != (has(self.clientSecretPrevious) ? self.clientSecretPrevious : 'client_secret_previous') && (has(self.clientSecret) ? self.clientSecret : 'client_secret') != (has(self.clientSecretPrevious) ? self.clientSecretPrevious : 'client_secret_previous')",
    "message": "spec.secret.keys: clientId, clientSecret and clientSecretPrevious must be three different key names"
}]))]
pub struct SecretKeys {
    /// Key for the client id. Default `client_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub client_id: Option<String>,
    /// Key for the client secret. Default `client_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub client_secret: Option<String>,
    /// Key for the previous secret during a grace period. Default
    /// `client_secret_previous`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(SECRET_KEY_PATTERN), length(min = 1, max = 253))]
    pub client_secret_previous: Option<String>,
}

/// Scheduled rotation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(self.every) || !has(self.gracePeriod) || !self.every.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || !self.gracePeriod.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self.gracePeriod) <= duration(self.every)",
    "message": "spec.rotation.gracePeriod must not be longer than spec.rotation.every; shorten gracePeriod or lengthen every",
    "fieldPath": ".gracePeriod"
}]))]
pub struct RotationPolicy {
    /// Rotate the secret this long after the last rotation (or creation), e.g.
    /// `2160h` (90 days). At least `1h`. Absent: rotate only on request
    /// (annotation `clientops.dev/rotate`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1h')",
        "message": "spec.rotation.every must be a duration of at least 1h, such as 2160h"
    }]))]
    pub every: Option<String>,
    /// How long the previous secret stays valid after a rotation, so running
    /// workloads can pick up the new one, e.g. `24h`. Then it is retired at the
    /// provider. Default `24h` where the provider supports two secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(DURATION_PATTERN), length(max = 32))]
    pub grace_period: Option<String>,
}

/// What happens to the remote client when the OAuthClient is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the remote client (and with it every grant users gave it).
    #[default]
    Delete,
    /// Leave the remote client and the Secret in place.
    Orphan,
}

/// Adopt an existing remote client.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportSpec {
    /// The id of the existing client at the provider.
    #[schemars(length(min = 1, max = 256))]
    pub client_id: String,
    /// The client secret you already hold, in a Secret in this namespace. Without it,
    /// clientops rotates the secret at once (with the grace period) to obtain one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalSecretKeyRef>,
}

/// Observed state of an OAuthClient.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientStatus {
    /// The generation of the spec that the conditions describe; -1 until the
    /// controller has looked at the object, so kstatus never reports it Current early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// kstatus conditions: `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The provider's id of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The Secret holding the credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// Rotation state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationStatus>,
    /// Cloudflare client URI verification: the DNS TXT record to publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri_verification: Option<ClientUriVerification>,
    /// HMAC-SHA256 of the Secret's data as clientops wrote it: detects tampering and
    /// reveals nothing about the values.
    #[serde(default, rename = "secretMAC", skip_serializing_if = "Option::is_none")]
    pub secret_mac: Option<String>,
    /// The last `clientops.dev/reconcile` annotation value acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile_request: Option<String>,
    /// When the remote client was last compared with the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<String>,
    /// Intent recorded before a create call, so that after a crash the client this
    /// object created is adopted instead of a second one created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_create: Option<PendingOperation>,
    /// Intent recorded before a rotate call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_rotation: Option<PendingOperation>,
    /// Whether the provider accepts the Secret's credentials: when it last said so,
    /// and the repairs tried while it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsStatus>,
}

/// The last proof that the Secret's credentials work at the provider (a check at
/// its token endpoint), and the repairs tried since it last accepted them. Every
/// field is written on every change (a merge patch of this object replaces it).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialsStatus {
    /// What the provider said at the last check.
    #[serde(default)]
    pub result: Option<CredentialsResult>,
    /// When the Secret's credentials were last checked, whatever the answer (RFC 3339).
    #[serde(default)]
    pub checked_at: Option<String>,
    /// When the provider last accepted them (RFC 3339).
    #[serde(default)]
    pub verified_at: Option<String>,
    /// Repairs tried since the provider last accepted them.
    #[serde(default)]
    pub repair_attempts: Option<u32>,
    /// When the last repair was tried (RFC 3339).
    #[serde(default)]
    pub last_repair_at: Option<String>,
    /// Why the credentials cannot be checked (`Unverifiable`); never a secret.
    #[serde(default)]
    pub message: Option<String>,
    /// When the provider said the secret last changed, as seen at the last check
    /// (Keycloak): another value means someone changed it since.
    #[serde(default)]
    pub secret_changed_at: Option<String>,
}

/// What the provider said about the Secret's credentials.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum CredentialsResult {
    /// The provider authenticated the client with the Secret's secret.
    Accepted,
    /// The provider refused it: the workload's credentials do not work.
    Rejected,
    /// The provider (as configured) cannot check it; `message` says why.
    Unverifiable,
}

/// An operation started at the provider whose outcome is not yet recorded.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingOperation {
    /// When the operation was started (RFC 3339).
    pub started_at: String,
    /// What identifies the result at the provider (e.g. the client name marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// `pendingRotation` only (never set on `pendingCreate`): a lost rotation is
    /// being recovered (providers that generate secrets): the secret in the Secret
    /// may already be retired at the provider, so it must not be kept as the
    /// previous secret when the rotation completes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovering: bool,
}

/// Rotation state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RotationStatus {
    /// `Idle`, or `Retiring` while the previous secret's grace period runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RotationPhase>,
    /// When the secret was last rotated (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_rotated_at: Option<String>,
    /// When the previous secret will be retired (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_retires_at: Option<String>,
    /// The last `clientops.dev/rotate` annotation value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request: Option<String>,
    /// The last `clientops.dev/retire-previous` annotation value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_retire_request: Option<String>,
    /// When the current secret expires, as the provider says (RFC 3339); absent
    /// where the provider's secrets do not expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_expires_at: Option<String>,
    /// When clientops rotates the secret next, without a request: the earlier of
    /// `spec.rotation.every` after the last rotation and the time the current
    /// secret must be replaced before it expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_rotation_at: Option<String>,
}

/// Rotation phase.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RotationPhase {
    /// One secret is valid.
    Idle,
    /// The previous secret is still valid until `previousRetiresAt`.
    Retiring,
}

/// Cloudflare client URI verification state.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientUriVerification {
    /// `pending`, `in_progress`, `verified` or `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The exact DNS TXT value to publish on the client URI's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}
