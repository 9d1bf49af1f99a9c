//! The desired state of one OAuthClient, derived from its spec: defaults applied,
//! durations parsed, and the rules of the provider it uses checked (the CRD checks
//! them only when the manifest has the provider's own block).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::api::client::{DeletionPolicy, OAuthClient, TokenEndpointAuthMethod};
use crate::api::provider::ProviderType;
use crate::provider::model::ClientFields;
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

/// A spec the controller cannot act on: the field and the fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

fn spec_err(field: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        field: field.into(),
        message: message.into(),
    }
}

/// Parse a Go-style duration (`2160h`, `1h30m`, `90s`, `1.5h`) as the CRD accepts it.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * unit;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// Derive the desired state for an OAuthClient served by a provider of `provider`.
pub fn desired(obj: &OAuthClient, provider: ProviderType) -> Result<Desired, SpecError> {
    desired_for(obj, Some(provider))
}

/// Derive the desired state; `None`: the provider did not resolve (missing, not
/// admitted, unreadable credentials), so only what holds for every provider is
/// checked and applied (the Secret's shape, the deletion policy, the rotation):
/// enough to write conditions and to honour `deletionPolicy`, never enough to act
/// at a provider. The provider's own rules are checked once it resolves.
pub fn desired_for(
    obj: &OAuthClient,
    provider: Option<ProviderType>,
) -> Result<Desired, SpecError> {
    let spec = &obj.spec;
    let name = obj.metadata.name.clone().unwrap_or_default();

    let block_provider = match (&spec.cloudflare, &spec.vmware_csp, &spec.hydra) {
        (Some(_), None, None) => Some(ProviderType::Cloudflare),
        (None, Some(_), None) => Some(ProviderType::VmwareCsp),
        (None, None, Some(_)) => Some(ProviderType::Hydra),
        (None, None, None) => None,
        _ => return Err(spec_err("spec", "set at most one provider-specific block")),
    };
    if let (Some(block), Some(provider)) = (block_provider, provider)
        && block != provider
    {
        return Err(spec_err(
            block_field(block),
            format!(
                "this block is for {} but providerRef names a {} provider; remove it or use the {} block",
                block_name(block),
                block_name(provider),
                block_field(provider)
            ),
        ));
    }

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
    let cf = spec.cloudflare.clone().unwrap_or_default();
    let optional_scopes: BTreeSet<String> = cf
        .optional_scopes
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();

    let mut fields = ClientFields {
        name: spec.client_name.clone().unwrap_or_else(|| name.clone()),
        redirect_uris: spec.redirect_uris.clone(),
        post_logout_redirect_uris: spec.post_logout_redirect_uris.clone(),
        grant_types,
        response_types,
        scopes,
        optional_scopes,
        token_endpoint_auth_method: auth_str,
        allowed_cors_origins: spec.allowed_cors_origins.iter().cloned().collect(),
        client_uri: spec.client_uri.clone(),
        logo_uri: spec.logo_uri.clone(),
        policy_uri: spec.policy_uri.clone(),
        tos_uri: spec.tos_uri.clone(),
        public: cf
            .visibility
            .map(|v| v == crate::api::client::Visibility::Public),
        csp: spec.vmware_csp.clone(),
        hydra: spec.hydra.clone(),
    };

    if provider == Some(ProviderType::Cloudflare) {
        check_cloudflare_rules(&fields)?;
    }

    let rotation = spec.rotation.clone().unwrap_or_default();
    if provider == Some(ProviderType::Hydra) {
        use crate::provider::hydra::adapter as hydra;
        // Hydra's defaults in the desired state (no scopes: Hydra's default scope),
        // so they are never drift; what Hydra cannot represent is refused by field.
        hydra::apply_defaults(&mut fields);
        if let Some((field, message)) = hydra::unsupported(&fields).into_iter().next() {
            return Err(spec_err(&field, message));
        }
        hydra::check_grace(rotation.grace_period.as_deref())
            .map_err(|(field, message)| spec_err(&field, message))?;
    }
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

/// Cloudflare's own rules (provider-contracts.md A.3), for manifests without a
/// `spec.cloudflare` block (with it, the CRD's CEL rules already enforced them).
fn check_cloudflare_rules(f: &ClientFields) -> Result<(), SpecError> {
    if !f.grant_types.contains("authorization_code")
        || f.grant_types
            .iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return Err(spec_err(
            "spec.grantTypes",
            "Cloudflare requires authorization_code and accepts only authorization_code and refresh_token; set grantTypes: [authorization_code] or [authorization_code, refresh_token]",
        ));
    }
    if let Some(s) = f.scopes.iter().find(|s| s.contains(':')) {
        return Err(spec_err(
            "spec.scopes",
            format!(
                "Cloudflare rejects colon-delimited scopes such as {s:?}; use the dot form from GET /oauth/scopes, such as account.read"
            ),
        ));
    }
    if f.redirect_uris.is_empty() {
        return Err(spec_err(
            "spec.redirectUris",
            "Cloudflare requires at least one redirect URI; add the callback URL of your application",
        ));
    }
    if let Some(s) = f.optional_scopes.iter().find(|s| !f.scopes.contains(*s)) {
        return Err(spec_err(
            "spec.cloudflare.optionalScopes",
            format!("{s:?} must also be listed in spec.scopes; add it there or remove it here"),
        ));
    }
    Ok(())
}

fn block_field(p: ProviderType) -> &'static str {
    match p {
        ProviderType::Cloudflare => "spec.cloudflare",
        ProviderType::VmwareCsp => "spec.vmwareCsp",
        ProviderType::Hydra => "spec.hydra",
    }
}

fn block_name(p: ProviderType) -> &'static str {
    match p {
        ProviderType::Cloudflare => "Cloudflare",
        ProviderType::VmwareCsp => "VMware CSP",
        ProviderType::Hydra => "Ory Hydra",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::client::{OAuthClientSpec, ProviderKind, ProviderRef};

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
        assert!(desired_for(&o, Some(ProviderType::Cloudflare)).is_err());
        assert!(desired_for(&o, Some(ProviderType::Hydra)).is_err());
        // A spec broken for every provider stays refused.
        let bad = client(serde_json::json!({"rotation": {"every": "soon"}}));
        assert_eq!(
            desired_for(&bad, None).unwrap_err().field,
            "spec.rotation.every"
        );
    }

    #[test]
    fn defaults_are_applied() {
        let d = desired(&client(serde_json::json!({})), ProviderType::Cloudflare).unwrap();
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
            ProviderType::Cloudflare,
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.grantTypes");
        let e = desired(
            &client(serde_json::json!({"scopes": ["account:read"]})),
            ProviderType::Cloudflare,
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.scopes");
        assert!(e.to_string().contains("account.read"));
        let e = desired(
            &client(serde_json::json!({"redirectUris": []})),
            ProviderType::Cloudflare,
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.redirectUris");
        // The same manifest is fine for a provider without those rules.
        assert!(
            desired(
                &client(serde_json::json!({"grantTypes": ["client_credentials"]})),
                ProviderType::Hydra
            )
            .is_ok()
        );
    }

    #[test]
    fn a_block_of_another_provider_is_refused() {
        let e = desired(
            &client(serde_json::json!({"hydra": {"skipConsent": true}})),
            ProviderType::Cloudflare,
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.hydra");
        assert!(e.message.contains("Cloudflare"));
    }

    #[test]
    fn hydra_defaults_and_limits_are_applied() {
        let d = desired(
            &client(serde_json::json!({"scopes": []})),
            ProviderType::Hydra,
        )
        .unwrap();
        assert_eq!(
            d.fields.scopes,
            BTreeSet::from(["offline".into(), "offline_access".into(), "openid".into()]),
            "no scopes: Hydra's default scope, so it is not drift"
        );
        let e = desired(
            &client(serde_json::json!({"rotation": {"gracePeriod": "24h"}})),
            ProviderType::Hydra,
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.rotation.gracePeriod");
        assert!(e.message.contains("impossible"), "{e}");
        let e = desired(
            &client(serde_json::json!({"scopes": ["a b"]})),
            ProviderType::Hydra,
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.scopes");
        let e = desired(
            &client(serde_json::json!({"hydra": {"metadata": {"clientops.dev/uid": "x"}}})),
            ProviderType::Hydra,
        )
        .unwrap_err();
        assert_eq!(e.field, "spec.hydra.metadata");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(
            parse_duration("2160h"),
            Some(Duration::from_secs(2160 * 3600))
        );
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        for bad in ["", "90d", "h", "5", "1h-2m", "1 h"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
