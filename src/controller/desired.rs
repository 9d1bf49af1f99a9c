//! The desired state of one OAuthClient, derived from its spec in two steps: the
//! provider-neutral part (defaults applied, durations parsed, the Secret's shape),
//! then the rules and own fields of the provider it uses (its [`Kind`]; the CRD
//! checks them only when the manifest has the provider's own block).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::api::client::{DeletionPolicy, OAuthClient, TokenEndpointAuthMethod};
use crate::api::common::parse_duration;
use crate::provider::model::ClientFields;
use crate::provider::registry::{self, Kind};
pub use crate::secret::shape::SecretShape;

/// Default grace period for the previous secret after a rotation.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 3600);

/// What the spec asks for, ready for planning.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub fields: ClientFields,
    pub secret: SecretShape,
    pub deletion_policy: DeletionPolicy,
    pub import: Option<Import>,
    pub rotation_every: Option<Duration>,
    pub grace: Duration,
    /// `tokenEndpointAuthMethod: none`: the provider issues no secret.
    pub public_client: bool,
}

/// `spec.import`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    pub client_id: String,
    /// `(secret name, key)` of a secret the user already holds.
    pub secret_ref: Option<(String, String)>,
}

pub use crate::api::common::SpecError;

fn spec_err(field: &str, message: impl Into<String>) -> SpecError {
    SpecError::new(field, message)
}

/// The desired state of `obj` served by a provider of `kind`.
pub fn desired(obj: &OAuthClient, kind: &dyn Kind) -> Result<Desired, SpecError> {
    desired_for(obj, Some(kind))
}

/// The desired state in its two steps: what holds for every provider (the shared
/// fields with their defaults, the Secret's shape, the deletion policy, the
/// rotation), then, when the provider resolved (`kind`), its own block, defaults
/// and rules. Without a provider (missing, not admitted, unreadable credentials)
/// the first step is enough to write conditions and to honour `deletionPolicy`,
/// never enough to act at a provider.
pub fn desired_for(obj: &OAuthClient, kind: Option<&dyn Kind>) -> Result<Desired, SpecError> {
    let mut d = common(obj)?;
    if let Some(kind) = kind {
        for_provider(&mut d, obj, kind)?;
    }
    Ok(d)
}

/// The provider's step: its block must be the one the spec sets (if any), and its
/// own fields, defaults and rules apply.
pub fn for_provider(d: &mut Desired, obj: &OAuthClient, kind: &dyn Kind) -> Result<(), SpecError> {
    if let Some(block) = registry::kind_of_client(&obj.spec)?
        && block.provider_type() != kind.provider_type()
    {
        return Err(spec_err(
            block.block(),
            format!(
                "this block is for {} but providerRef names a {} provider; remove it or use the {} block",
                block.title(),
                kind.title(),
                kind.block()
            ),
        ));
    }
    kind.desire(&obj.spec, &mut d.fields)
}

/// The provider-neutral step (see [`desired_for`]).
pub fn common(obj: &OAuthClient) -> Result<Desired, SpecError> {
    let spec = &obj.spec;
    let name = obj.metadata.name.clone().unwrap_or_default();
    // At most one provider block, whichever provider it names.
    registry::kind_of_client(spec)?;

    let grant_types: BTreeSet<String> = spec
        .grant_types
        .clone()
        .unwrap_or_else(|| vec!["authorization_code".into()])
        .into_iter()
        .collect();
    let response_types: BTreeSet<String> = spec
        .response_types
        .clone()
        .unwrap_or_else(|| vec![crate::api::client::ResponseType::Code])
        .into_iter()
        .map(|r| {
            serde_json::to_value(r)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default()
        })
        .collect();
    let auth = spec
        .token_endpoint_auth_method
        .unwrap_or(TokenEndpointAuthMethod::ClientSecretBasic);
    let auth_str = serde_json::to_value(auth)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let scopes: BTreeSet<String> = spec
        .scopes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let fields = ClientFields {
        name: spec.client_name.clone().unwrap_or_else(|| name.clone()),
        redirect_uris: spec.redirect_uris.clone(),
        post_logout_redirect_uris: spec.post_logout_redirect_uris.clone(),
        grant_types,
        response_types,
        scopes,
        token_endpoint_auth_method: auth_str,
        allowed_cors_origins: spec.allowed_cors_origins.iter().cloned().collect(),
        client_uri: spec.client_uri.clone(),
        logo_uri: spec.logo_uri.clone(),
        policy_uri: spec.policy_uri.clone(),
        tos_uri: spec.tos_uri.clone(),
        own: Default::default(),
    };

    let rotation = spec.rotation.clone().unwrap_or_default();
    let rotation_every = match &rotation.every {
        Some(s) => Some(
            parse_duration(s)
                .ok_or_else(|| spec_err("spec.rotation.every", "not a duration; use e.g. 2160h"))?,
        ),
        None => None,
    };
    let grace = match &rotation.grace_period {
        Some(s) => parse_duration(s)
            .ok_or_else(|| spec_err("spec.rotation.gracePeriod", "not a duration; use e.g. 24h"))?,
        None => DEFAULT_GRACE,
    };

    let tmpl = spec.secret.clone().unwrap_or_default();
    let keys = tmpl.keys.clone().unwrap_or_default();
    let secret = SecretShape {
        name: tmpl.name.clone().unwrap_or_else(|| name.clone()),
        labels: tmpl.labels.clone().unwrap_or_default(),
        annotations: tmpl.annotations.clone().unwrap_or_default(),
        key_client_id: keys.client_id.unwrap_or_else(|| "client_id".into()),
        key_client_secret: keys.client_secret.unwrap_or_else(|| "client_secret".into()),
        key_previous: keys
            .client_secret_previous
            .unwrap_or_else(|| "client_secret_previous".into()),
        extra_data: tmpl.extra_data.clone().unwrap_or_default(),
        publish_previous: tmpl.publish_previous.unwrap_or(true),
        endpoint_keys: tmpl
            .endpoints
            .as_ref()
            .map(|e| {
                e.requested()
                    .into_iter()
                    .map(|(name, key)| (key.to_string(), name.to_string()))
                    .collect()
            })
            .unwrap_or_default(),
        templates: tmpl.template.clone().unwrap_or_default(),
        // The provider's, once it resolves (`SecretShape::publish_endpoints`).
        endpoints: None,
    };

    Ok(Desired {
        fields,
        secret,
        deletion_policy: spec.deletion_policy,
        import: spec.import.as_ref().map(|i| Import {
            client_id: i.client_id.clone(),
            secret_ref: i
                .secret_ref
                .as_ref()
                .map(|r| (r.name.clone(), r.key.clone())),
        }),
        rotation_every,
        grace,
        public_client: auth == TokenEndpointAuthMethod::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::client::{OAuthClientSpec, ProviderKind, ProviderRef};
    use crate::api::provider::ProviderType;
    use crate::provider::registry::kind;

    fn client(patch: serde_json::Value) -> OAuthClient {
        let mut spec = serde_json::json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "cf"},
            "redirectUris": ["https://app.example.com/cb"],
            "scopes": ["user-details.read"],
        });
        for (k, v) in patch.as_object().unwrap() {
            spec[k] = v.clone();
        }
        let spec: OAuthClientSpec = serde_json::from_value(spec).unwrap();
        assert_eq!(
            spec.provider_ref,
            ProviderRef {
                kind: ProviderKind::ClusterOAuthProvider,
                name: "cf".into()
            }
        );
        let mut o = OAuthClient::new("web", spec);
        o.metadata.namespace = Some("team".into());
        o
    }

    #[test]
    fn without_a_provider_only_the_common_rules_apply() {
        // Issue 17: a Cloudflare block with a provider that does not resolve is not
        // judged as if the provider were another kind.
        let o = client(serde_json::json!({
            "cloudflare": {"optionalScopes": ["user-details.read"]},
            "deletionPolicy": "Orphan",
            "grantTypes": ["client_credentials"],
        }));
        let d = desired_for(&o, None).expect("no provider rule applies yet");
        assert_eq!(d.deletion_policy, DeletionPolicy::Orphan);
        // Once it resolves, the provider's rules do.
        assert!(desired_for(&o, Some(kind(ProviderType::Cloudflare))).is_err());
        assert!(desired_for(&o, Some(kind(ProviderType::Hydra))).is_err());
        // A spec broken for every provider stays refused.
        let bad = client(serde_json::json!({"rotation": {"every": "soon"}}));
        assert_eq!(
            desired_for(&bad, None).unwrap_err().field,
            "spec.rotation.every"
        );
    }

    #[test]
    fn defaults_are_applied() {
        let d = desired(
            &client(serde_json::json!({})),
            kind(ProviderType::Cloudflare),
        )
        .unwrap();
        assert_eq!(d.fields.name, "web");
        assert_eq!(
            d.fields.grant_types,
            BTreeSet::from(["authorization_code".to_string()])
        );
        assert_eq!(
            d.fields.response_types,
            BTreeSet::from(["code".to_string()])
        );
        assert_eq!(d.fields.token_endpoint_auth_method, "client_secret_basic");
        assert_eq!(d.secret.name, "web");
        assert_eq!(d.secret.key_client_id, "client_id");
        assert!(d.secret.publish_previous);
        assert_eq!(d.grace, DEFAULT_GRACE);
        assert_eq!(d.deletion_policy, DeletionPolicy::Delete);
        assert!(!d.public_client);
    }

    #[test]
    fn cloudflare_rules_are_checked_without_the_block() {
        let e = desired(
            &client(serde_json::json!({"grantTypes": ["refresh_token"]})),
            kind(ProviderType::Cloudflare),
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.grantTypes");
        let e = desired(
            &client(serde_json::json!({"scopes": ["account:read"]})),
            kind(ProviderType::Cloudflare),
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.scopes");
        assert!(e.to_string().contains("account.read"));
        let e = desired(
            &client(serde_json::json!({"redirectUris": []})),
            kind(ProviderType::Cloudflare),
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.redirectUris");
        // The same manifest is fine for a provider without those rules.
        assert!(
            desired(
                &client(serde_json::json!({"grantTypes": ["client_credentials"]})),
                kind(ProviderType::Hydra)
            )
            .is_ok()
        );
    }

    #[test]
    fn a_block_of_another_provider_is_refused() {
        let e = desired(
            &client(serde_json::json!({"hydra": {"skipConsent": true}})),
            kind(ProviderType::Cloudflare),
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.hydra");
        assert!(e.message.contains("Cloudflare"));
    }

    #[test]
    fn hydra_defaults_and_limits_are_applied() {
        let d = desired(
            &client(serde_json::json!({"scopes": []})),
            kind(ProviderType::Hydra),
        )
        .unwrap();
        assert_eq!(
            d.fields.scopes,
            BTreeSet::from(["offline".into(), "offline_access".into(), "openid".into()]),
            "no scopes: Hydra's default scope, so it is not drift"
        );
        let e = desired(
            &client(serde_json::json!({"rotation": {"gracePeriod": "24h"}})),
            kind(ProviderType::Hydra),
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.rotation.gracePeriod");
        assert!(e.message.contains("impossible"), "{e}");
        let e = desired(
            &client(serde_json::json!({"scopes": ["a b"]})),
            kind(ProviderType::Hydra),
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.scopes");
        let e = desired(
            &client(serde_json::json!({"hydra": {"metadata": {"clientops.dev/uid": "x"}}})),
            kind(ProviderType::Hydra),
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.hydra.metadata");
    }

    #[test]
    fn the_csp_example_manifest_maps_without_drift() {
        use crate::provider::csp::fields as csp;
        let text = include_str!("../../examples/50-csp.yaml");
        use serde::Deserialize;
        let doc = serde_yaml_ng::Deserializer::from_str(text)
            .map(|d| serde_yaml_ng::Value::deserialize(d).unwrap())
            .find(|v| v["kind"] == "OAuthClient")
            .expect("an OAuthClient in the example");
        let obj: crate::api::OAuthClient = serde_yaml_ng::from_value(doc).unwrap();
        let d = desired(&obj, kind(ProviderType::VmwareCsp)).unwrap();
        let body = csp::create_body(&d.fields, Some("clientops-uid"), None).unwrap();
        assert_eq!(body.description, "Exports billing data every hour");
        assert_eq!(body.access_token_ttl, Some(1800));
        let remote = csp::to_remote(&csp::app_from(&body));
        assert_eq!(d.fields.diff(&remote.fields), vec![]);
    }
}
