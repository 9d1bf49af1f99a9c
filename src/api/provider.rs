//! `ClusterOAuthProvider` and `OAuthProvider`: how to reach one provider account.
//!
//! The Issuer / ClusterIssuer pattern of cert-manager: a namespaced `OAuthProvider`
//! serves only its own namespace and reads credentials only from it; a
//! `ClusterOAuthProvider` serves the namespaces its `namespaceSelector` admits.

// kube's `printcolumn(...)` repeats `type_ = ...`, which clippy mistakes for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::DURATION_PATTERN;
// Each provider's blocks live in its own module (`api/<name>.rs`).
use super::cloudflare::CloudflareAccount;
use super::csp::CspOrganization;
use super::entra::EntraTenant;
use super::hydra::HydraServer;
use super::keycloak::KeycloakServer;

/// A cluster-wide provider account that OAuthClients in admitted namespaces may use.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "clientops.dev",
    version = "v1alpha1",
    kind = "ClusterOAuthProvider",
    plural = "clusteroauthproviders",
    status = "OAuthProviderStatus",
    category = "clientops",
    doc = "How to reach one OAuth provider account (Cloudflare, VMware CSP, Ory Hydra, Keycloak or Microsoft Entra ID), for OAuthClients in the namespaces that namespaceSelector admits.",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".status.providerType",
        description = "Which provider block is set"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = cluster_provider_rules)]
pub struct ClusterOAuthProviderSpec {
    #[serde(flatten)]
    pub provider: ProviderBlocks,
    /// Which namespaces may reference this provider from an OAuthClient. Absent: only
    /// the operator's own namespace is admitted, so that nobody who may create an
    /// OAuthClient elsewhere can mint clients in this account until an admin says so.
    /// An empty selector (`{}`) admits every namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// What OAuthClients of admitted namespaces may ask for (redirect URI hosts,
    /// grant types, scopes, public clients, the longest rotation period and token
    /// lifetimes, unproven imports, ...). Absent: no limits beyond the provider's
    /// own, and no unproven import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<super::policy::ClientPolicy>,
}

/// A provider account usable only by OAuthClients in its own namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "clientops.dev",
    version = "v1alpha1",
    kind = "OAuthProvider",
    plural = "oauthproviders",
    namespaced,
    status = "OAuthProviderStatus",
    category = "clientops",
    doc = "How to reach one OAuth provider account (Cloudflare, VMware CSP, Ory Hydra, Keycloak or Microsoft Entra ID), for OAuthClients in this namespace only.",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = ".status.providerType",
        description = "Which provider block is set"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = namespaced_provider_rules)]
pub struct OAuthProviderSpec {
    #[serde(flatten)]
    pub provider: ProviderBlocks,
    /// Let OAuthClients of this namespace import a client (`spec.import`) without
    /// proving that they own it. Default false: an import must prove ownership
    /// (`spec.import.secretRef` holding a secret the provider accepts, or the client
    /// carrying the OAuthClient's marker). Whoever holds this provider's credentials
    /// can change any client of the account anyway; an id another OAuthClient holds
    /// is refused in every case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unproven_import: bool,
}

/// The provider blocks; exactly one is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderBlocks {
    /// A Cloudflare account's OAuth clients (`/accounts/{accountId}/oauth_clients`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudflare: Option<CloudflareAccount>,
    /// A VMware Cloud Services Platform organisation's OAuth apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vmware_csp: Option<CspOrganization>,
    /// An Ory Hydra server's admin API (`/admin/clients`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hydra: Option<HydraServer>,
    /// A Keycloak realm's clients (`/admin/realms/{realm}/clients`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keycloak: Option<KeycloakServer>,
    /// A Microsoft Entra ID tenant's app registrations (Microsoft Graph
    /// `/applications`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entra: Option<EntraTenant>,
    /// Client-side rate limit shared by every OAuthClient of this provider account.
    /// Absent: the provider's documented default (Cloudflare: 1200 requests per 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

/// The provider types, one line each: the variant, its block's name (in both CRDs
/// and in `status.providerType`, the one place a provider's name is written), and
/// the Rust field of that block on [`ProviderBlocks`] and `OAuthClientSpec`.
/// Everything that goes by provider type is generated from this list: the enum,
/// [`ProviderType::ALL`], the names and spec paths, [`ProviderBlocks::has`] and
/// `OAuthClientSpec::has_block`, and the CEL rules of both CRDs.
macro_rules! provider_types {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $field:ident; )+) => {
        /// Which provider a provider object describes.
        #[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
        pub enum ProviderType {
            $( $(#[$doc])* #[serde(rename = $name)] $variant, )+
        }

        impl ProviderType {
            /// Every provider type.
            pub const ALL: [ProviderType; [$($name),+].len()] = [$(ProviderType::$variant),+];

            /// Its block's name in both CRDs, as in `status.providerType`.
            pub const fn block_name(self) -> &'static str {
                match self { $(ProviderType::$variant => $name,)+ }
            }

            /// The spec path of its block, e.g. `spec.hydra`.
            pub const fn spec_path(self) -> &'static str {
                match self { $(ProviderType::$variant => concat!("spec.", $name),)+ }
            }
        }

        impl ProviderBlocks {
            /// Whether the block of provider `t` is set.
            pub fn has(&self, t: ProviderType) -> bool {
                match t { $(ProviderType::$variant => self.$field.is_some(),)+ }
            }
        }

        impl super::client::OAuthClientSpec {
            /// Whether the client block of provider `t` is set.
            pub fn has_block(&self, t: ProviderType) -> bool {
                match t { $(ProviderType::$variant => self.$field.is_some(),)+ }
            }
        }
    };
}

provider_types! {
    /// Cloudflare account OAuth clients.
    Cloudflare = "cloudflare", cloudflare;
    /// VMware Cloud Services Platform OAuth apps.
    VmwareCsp = "vmwareCsp", vmware_csp;
    /// Ory Hydra.
    Hydra = "hydra", hydra;
    /// Keycloak.
    Keycloak = "keycloak", keycloak;
    /// Microsoft Entra ID.
    Entra = "entra", entra;
}

impl ProviderBlocks {
    /// The one provider block that is set, or `None` when zero or several are (which
    /// admission rejects, but an older apiserver without CEL would let through).
    pub fn provider_type(&self) -> Option<ProviderType> {
        let mut set = ProviderType::ALL.into_iter().filter(|t| self.has(*t));
        match (set.next(), set.next()) {
            (Some(t), None) => Some(t),
            _ => None,
        }
    }
}

/// CEL: how many provider blocks `self` sets, for every [`ProviderType`].
pub(crate) fn blocks_set_cel() -> String {
    let has: Vec<String> = ProviderType::ALL
        .iter()
        .map(|t| format!("has(self.{})", t.block_name()))
        .collect();
    format!("[{}].filter(x, x).size()", has.join(", "))
}

/// The block names for a message: `cloudflare, vmwareCsp or hydra`.
pub(crate) fn block_names() -> String {
    let names: Vec<&str> = ProviderType::ALL.iter().map(|t| t.block_name()).collect();
    let (last, rest) = names.split_last().expect("at least one provider");
    format!("{} or {last}", rest.join(", "))
}

/// Put a CEL rule first in a schema's `x-kubernetes-validations`.
pub(crate) fn prepend_rule(schema: &mut schemars::Schema, rule: String, message: String) {
    let rules = schema
        .ensure_object()
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(vec![]));
    if let Some(rules) = rules.as_array_mut() {
        rules.insert(0, serde_json::json!({"rule": rule, "message": message}));
    }
}

/// The provider objects' rule: exactly one provider block.
fn exactly_one_block(schema: &mut schemars::Schema) {
    prepend_rule(
        schema,
        format!("{} == 1", blocks_set_cel()),
        format!("spec: set exactly one provider block: {}", block_names()),
    );
}

/// `ClusterOAuthProvider`'s rules: exactly one block, and every credentials
/// Secret ref of every block names its namespace.
fn cluster_provider_rules(schema: &mut schemars::Schema) {
    exactly_one_block(schema);
    append_credential_rules(schema, Scope::Cluster);
}

/// `OAuthProvider`'s rules: exactly one block, and no credentials Secret ref
/// names a namespace (it reads only its own).
fn namespaced_provider_rules(schema: &mut schemars::Schema) {
    exactly_one_block(schema);
    append_credential_rules(schema, Scope::Namespaced);
    append_operator_identity_rules(schema);
}

/// The name of a block's field that asks for the operator's own identity
/// (workload identity federation: its projected service-account token).
pub const OPERATOR_IDENTITY_FIELD: &str = "workloadIdentity";

/// `OAuthProvider`'s rule for every block with an [`OPERATOR_IDENTITY_FIELD`]
/// (found in the block's schema): a tenant's provider object never uses the
/// operator's own identity, since it chooses where its requests go.
fn append_operator_identity_rules(schema: &mut schemars::Schema) {
    let rules: Vec<serde_json::Value> = ProviderType::ALL
        .iter()
        .filter_map(|t| {
            let block = schema.get("properties")?.get(t.block_name())?;
            let mut at = vec![];
            let path = field_path(block, OPERATOR_IDENTITY_FIELD, &mut at)?;
            let guards: Vec<String> = (1..=path.len())
                .map(|i| format!("has(self.{}.{})", t.block_name(), path[..i].join(".")))
                .collect();
            let field = format!("spec.{}.{}", t.block_name(), path.join("."));
            Some(serde_json::json!({
                "rule": format!("!has(self.{}) || !({})", t.block_name(), guards.join(" && ")),
                "message": format!("{field}: only a ClusterOAuthProvider may use the operator's own identity; an OAuthProvider gives credentials from a Secret in its namespace"),
            }))
        })
        .collect();
    let list = schema
        .ensure_object()
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(vec![]));
    if let Some(list) = list.as_array_mut() {
        list.extend(rules);
    }
}

/// The path from `schema` to its first property named `name`, depth first.
fn field_path(schema: &serde_json::Value, name: &str, at: &mut Vec<String>) -> Option<Vec<String>> {
    let props = schema.get("properties")?.as_object()?;
    if props.contains_key(name) {
        let mut p = at.clone();
        p.push(name.to_string());
        return Some(p);
    }
    props.iter().find_map(|(k, sub)| {
        at.push(k.clone());
        let found = field_path(sub, name, at);
        at.pop();
        found
    })
}

/// Which provider object a credentials rule is for.
#[derive(Clone, Copy)]
enum Scope {
    Cluster,
    Namespaced,
}

/// One rule per provider block with credentials Secret refs, for every
/// [`ProviderType`]: the refs are found in the block's schema (every
/// [`SecretKeyRef`] under it), so a new provider's block gets its rules without
/// writing them.
fn append_credential_rules(schema: &mut schemars::Schema, scope: Scope) {
    let rules: Vec<serde_json::Value> = ProviderType::ALL
        .iter()
        .filter_map(|t| {
            let block = schema.get("properties")?.get(t.block_name())?;
            let mut refs = vec![];
            secret_refs(block, &mut vec![], &mut refs);
            credential_rule(t.block_name(), &refs, scope)
        })
        .collect();
    let list = schema
        .ensure_object()
        .entry("x-kubernetes-validations")
        .or_insert_with(|| serde_json::Value::Array(vec![]));
    if let Some(list) = list.as_array_mut() {
        list.extend(rules);
    }
}

/// A path below a block: each property's name, and whether it may be absent.
type RefPath = Vec<(String, bool)>;

/// Every [`SecretKeyRef`] under `schema` (an object with exactly `name`, `key` and
/// `namespace`), with the path to it from `at`.
fn secret_refs(schema: &serde_json::Value, at: &mut RefPath, out: &mut Vec<RefPath>) {
    let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
        return;
    };
    let mut keys: Vec<&str> = props.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys == ["key", "name", "namespace"] {
        out.push(at.clone());
        return;
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(|r| r.as_array())
        .map(|r| r.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for (name, sub) in props {
        at.push((name.clone(), !required.contains(&name.as_str())));
        secret_refs(sub, at, out);
        at.pop();
    }
}

/// The rule for the refs of block `block`: with the block set, each ref that is
/// there names its namespace (`Cluster`) or does not (`Namespaced`).
fn credential_rule(block: &str, refs: &[RefPath], scope: Scope) -> Option<serde_json::Value> {
    let path = |p: &[(String, bool)]| {
        p.iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(".")
    };
    let clause = |r: &RefPath| {
        let mut terms: Vec<String> = (1..=r.len())
            .filter(|&i| r[i - 1].1)
            .map(|i| format!("!has(self.{block}.{})", path(&r[..i])))
            .collect();
        let named = format!("has(self.{block}.{}.__namespace__)", path(r));
        terms.push(match scope {
            Scope::Cluster => named,
            Scope::Namespaced => format!("!{named}"),
        });
        terms.join(" || ")
    };
    let (field, rule, message) = match refs {
        [] => return None,
        [one] => (
            path(one),
            format!("!has(self.{block}) || {}", clause(one)),
            match scope {
                Scope::Cluster => {
                    "a ClusterOAuthProvider must name the namespace of its credentials Secret; add namespace"
                }
                Scope::Namespaced => {
                    "an OAuthProvider reads credentials only from its own namespace; remove namespace, or use a ClusterOAuthProvider"
                }
            },
        ),
        several => {
            let common = several[0]
                .iter()
                .enumerate()
                .take_while(|(i, seg)| several.iter().all(|r| r.len() > *i + 1 && r[*i] == **seg))
                .count();
            let clauses: Vec<String> = several.iter().map(|r| format!("({})", clause(r))).collect();
            (
                path(&several[0][..common]),
                format!("!has(self.{block}) || ({})", clauses.join(" && ")),
                match scope {
                    Scope::Cluster => {
                        "a ClusterOAuthProvider must name the namespace of its credentials Secret; add namespace to the secret ref"
                    }
                    Scope::Namespaced => {
                        "an OAuthProvider reads credentials only from its own namespace; remove namespace from the secret ref, or use a ClusterOAuthProvider"
                    }
                },
            )
        }
    };
    let shown = if refs.len() == 1 {
        format!("spec.{block}.{field}.namespace")
    } else {
        format!("spec.{block}.{field}")
    };
    Some(serde_json::json!({
        "rule": rule,
        "message": format!("{shown}: {message}"),
        "fieldPath": format!(".{block}.{field}"),
    }))
}

/// A client-side token bucket: at most `requests` per `period`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Requests allowed per period (the bucket size).
    #[schemars(range(min = 1, max = 1_000_000))]
    pub requests: i32,
    /// The period, as a duration such as `5m` or `1h`.
    #[schemars(pattern(DURATION_PATTERN))]
    #[schemars(extend("x-kubernetes-validations" = [{
        "rule": "!self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('1s')",
        "message": "spec.rateLimit.period must be a duration of at least 1s, such as 5m"
    }]))]
    #[schemars(length(max = 32))]
    pub period: String,
}

/// Observed state of a provider object.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthProviderStatus {
    /// The generation the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` is True once a cheap authenticated call to the provider succeeded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Which provider block is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_type: Option<ProviderType>,
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;

    use super::*;

    fn spec_schema(
        crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ) -> serde_json::Value {
        serde_json::to_value(&crd.spec.versions[0].schema).unwrap()["openAPIV3Schema"]["properties"]
            ["spec"]
            .clone()
    }

    #[test]
    fn each_provider_is_named_once_and_everywhere_alike() {
        let cluster = spec_schema(&ClusterOAuthProvider::crd());
        let client = spec_schema(&super::super::OAuthClient::crd());
        for t in ProviderType::ALL {
            let name = t.block_name();
            assert_eq!(
                serde_json::to_value(t).unwrap(),
                name,
                "status.providerType"
            );
            assert_eq!(t.spec_path(), format!("spec.{name}"));
            assert!(
                cluster["properties"][name].is_object(),
                "provider block {name}"
            );
            assert!(
                client["properties"][name].is_object(),
                "client block {name}"
            );
        }
    }

    #[test]
    fn credentials_rules_guard_every_optional_step_to_the_ref() {
        let hydra = vec![vec![
            ("auth".to_string(), true),
            ("bearerTokenSecretRef".to_string(), true),
        ]];
        let r = credential_rule("hydra", &hydra, Scope::Cluster).unwrap();
        assert_eq!(
            r["rule"],
            "!has(self.hydra) || !has(self.hydra.auth) || !has(self.hydra.auth.bearerTokenSecretRef) || has(self.hydra.auth.bearerTokenSecretRef.__namespace__)"
        );
        assert_eq!(r["fieldPath"], ".hydra.auth.bearerTokenSecretRef");
        let two = vec![
            vec![
                ("auth".to_string(), false),
                ("a".to_string(), true),
                ("secretRef".to_string(), false),
            ],
            vec![("auth".to_string(), false), ("b".to_string(), false)],
        ];
        let r = credential_rule("x", &two, Scope::Namespaced).unwrap();
        assert_eq!(
            r["rule"],
            "!has(self.x) || ((!has(self.x.auth.a) || !has(self.x.auth.a.secretRef.__namespace__)) && (!has(self.x.auth.b.__namespace__)))"
        );
        assert_eq!(r["fieldPath"], ".x.auth");
        assert!(r["message"].as_str().unwrap().starts_with("spec.x.auth: "));
        assert!(credential_rule("x", &[], Scope::Cluster).is_none());
    }

    #[test]
    fn every_secret_ref_of_every_block_has_its_rule() {
        for (crd, scope) in [
            (ClusterOAuthProvider::crd(), "|| has("),
            (OAuthProvider::crd(), "|| !has("),
        ] {
            let spec = spec_schema(&crd);
            let rules = spec["x-kubernetes-validations"].to_string();
            for t in ProviderType::ALL {
                let mut refs = vec![];
                secret_refs(&spec["properties"][t.block_name()], &mut vec![], &mut refs);
                assert!(!refs.is_empty(), "{t:?} has credentials");
                for r in refs {
                    let path: Vec<&str> = r.iter().map(|(n, _)| n.as_str()).collect();
                    let named = format!(
                        "{scope}self.{}.{}.__namespace__)",
                        t.block_name(),
                        path.join(".")
                    );
                    assert!(rules.contains(&named), "{named}");
                }
            }
        }
    }
}
