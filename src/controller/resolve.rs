//! From an OAuthClient's `providerRef` to a ready [`Provider`]: the provider object,
//! the namespace rules, the credentials.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;

use super::context::Context;
use super::plan::Unavailable;
use crate::api::client::ProviderKind;
use crate::api::common::SecretKeyRef;
use crate::api::provider::{ProviderBlocks, ProviderType, RateLimit};
use crate::api::{ClusterOAuthProvider, OAuthClient, OAuthProvider};
use crate::controller::desired::parse_duration;
use crate::provider::cloudflare::adapter::CloudflareProvider;
use crate::provider::cloudflare::{CloudflareClient, CloudflareConfig, CloudflareCredentials};
use crate::provider::csp::{CspClient, CspConfig, CspCredentials, CspProvider};
use crate::provider::hydra::{HydraClient, HydraConfig, HydraProvider};
use crate::provider::model::Provider;
use crate::provider::ratelimit::RateLimitConfig;
use crate::secret::ClientSecret;

/// A provider ready to be called.
pub struct Resolved {
    pub provider: Arc<dyn Provider>,
    pub provider_type: ProviderType,
}

fn unavailable(reason: &str, message: impl Into<String>, transient: bool) -> Unavailable {
    Unavailable {
        reason: reason.into(),
        message: message.into(),
        transient,
    }
}

/// Resolve the provider of `obj`.
pub async fn resolve(ctx: &Context, obj: &OAuthClient) -> Result<Resolved, Unavailable> {
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let r = &obj.spec.provider_ref;
    let (blocks, secret_ns) = match r.kind {
        ProviderKind::OAuthProvider => {
            let api: Api<OAuthProvider> = Api::namespaced(ctx.client.clone(), &ns);
            let p = get_provider(
                ctx.cache.provider(&ns, &r.name, api.get_opt(&r.name)).await,
                "OAuthProvider",
                &r.name,
                Some(&ns),
            )?;
            (p.spec.provider, ns.clone())
        }
        ProviderKind::ClusterOAuthProvider => {
            let api: Api<ClusterOAuthProvider> = Api::all(ctx.client.clone());
            let p = get_provider(
                ctx.cache
                    .cluster_provider(&r.name, api.get_opt(&r.name))
                    .await,
                "ClusterOAuthProvider",
                &r.name,
                None,
            )?;
            admitted(ctx, &ns, &r.name, p.spec.namespace_selector.as_ref()).await?;
            (p.spec.provider, ctx.settings.operator_namespace.clone())
        }
    };
    build(ctx, &blocks, &secret_ns).await
}

fn get_provider<K>(
    got: Result<Option<K>, kube::Error>,
    kind: &str,
    name: &str,
    ns: Option<&str>,
) -> Result<K, Unavailable> {
    match got {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(unavailable(
            "ProviderNotFound",
            match ns {
                Some(ns) => format!(
                    "spec.providerRef: {kind} {name:?} does not exist in namespace {ns:?}; create it or fix the name"
                ),
                None => format!(
                    "spec.providerRef: {kind} {name:?} does not exist; create it or fix the name"
                ),
            },
            true,
        )),
        Err(e) => Err(unavailable(
            "ProviderNotReady",
            format!("cannot read {kind} {name:?}: {e}"),
            true,
        )),
    }
}

/// A ClusterOAuthProvider serves a namespace only if its selector admits it; without
/// a selector, only the operator's own namespace.
async fn admitted(
    ctx: &Context,
    ns: &str,
    provider: &str,
    selector: Option<&LabelSelector>,
) -> Result<(), Unavailable> {
    let deny = |why: &str| {
        Err(unavailable(
            "ProviderNotAdmitted",
            format!(
                "ClusterOAuthProvider {provider:?} does not admit namespace {ns:?} ({why}); an administrator must add a namespaceSelector that matches it"
            ),
            false,
        ))
    };
    let Some(selector) = selector else {
        return if ns == ctx.settings.operator_namespace {
            Ok(())
        } else {
            deny("it has no namespaceSelector")
        };
    };
    let api = Api::<Namespace>::all(ctx.client.clone());
    let labels = ctx
        .cache
        .namespace_labels(ns, async {
            api.get(ns)
                .await
                .map(|n| n.metadata.labels.unwrap_or_default())
        })
        .await
        .map_err(|e| {
            unavailable(
                "ProviderNotReady",
                format!("cannot read namespace {ns:?}: {e}"),
                true,
            )
        })?;
    if selector_matches(selector, &labels) {
        Ok(())
    } else {
        deny("its namespaceSelector does not match the namespace's labels")
    }
}

/// Label selector semantics (matchLabels and matchExpressions).
pub fn selector_matches(
    sel: &LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let labels_ok = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    let exprs_ok = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.clone().unwrap_or_default();
        match e.operator.as_str() {
            "In" => labels.get(&e.key).is_some_and(|v| values.contains(v)),
            "NotIn" => labels.get(&e.key).is_none_or(|v| !values.contains(v)),
            "Exists" => labels.contains_key(&e.key),
            "DoesNotExist" => !labels.contains_key(&e.key),
            _ => false,
        }
    });
    labels_ok && exprs_ok
}

/// Read one credential value. A namespaced provider's refs have no namespace (the
/// CRD forbids it), so `default_ns` is its own namespace.
async fn credential(
    ctx: &Context,
    r: &SecretKeyRef,
    default_ns: &str,
) -> Result<String, Unavailable> {
    let ns = r
        .namespace
        .clone()
        .unwrap_or_else(|| default_ns.to_string());
    let api = Api::<Secret>::namespaced(ctx.client.clone(), &ns);
    let secret = ctx
        .cache
        .secret(&ns, &r.name, api.get_opt(&r.name))
        .await
        .map_err(|e| {
            unavailable(
                "CredentialsUnavailable",
                format!("cannot read Secret {ns}/{}: {e}", r.name),
                true,
            )
        })?
        .ok_or_else(|| {
            unavailable(
                "CredentialsUnavailable",
                format!("the credentials Secret {ns}/{} does not exist", r.name),
                true,
            )
        })?;
    let value = secret
        .data
        .and_then(|d| d.get(&r.key).cloned())
        .and_then(|v| String::from_utf8(v.0).ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    value.ok_or_else(|| {
        unavailable(
            "CredentialsUnavailable",
            format!("Secret {ns}/{} has no non-empty key {:?}", r.name, r.key),
            true,
        )
    })
}

fn rate_limit(r: Option<&RateLimit>, default: RateLimitConfig) -> RateLimitConfig {
    r.and_then(|r| {
        parse_duration(&r.period).map(|p| RateLimitConfig::new(r.requests.max(1) as u32, p))
    })
    .unwrap_or(default)
}

/// Build the provider client for `blocks`, reading credentials from `secret_ns`.
pub async fn build(
    ctx: &Context,
    blocks: &ProviderBlocks,
    secret_ns: &str,
) -> Result<Resolved, Unavailable> {
    match blocks.provider_type() {
        Some(ProviderType::Cloudflare) => {
            let cf = blocks
                .cloudflare
                .as_ref()
                .expect("provider_type checked it");
            let creds = match (
                &cf.auth.api_token_secret_ref,
                &cf.auth.api_key_secret_ref,
                &cf.auth.email,
            ) {
                (Some(t), _, _) => {
                    CloudflareCredentials::api_token(credential(ctx, t, secret_ns).await?)
                }
                (None, Some(k), Some(email)) => CloudflareCredentials::api_key(
                    email.clone(),
                    credential(ctx, k, secret_ns).await?,
                ),
                _ => {
                    return Err(unavailable(
                        "InvalidProvider",
                        "spec.cloudflare.auth: set apiTokenSecretRef, or apiKeySecretRef with email",
                        false,
                    ));
                }
            };
            let mut config =
                CloudflareConfig::new(cf.account_id.clone(), creds).with_rate_limit(rate_limit(
                    blocks.rate_limit.as_ref(),
                    RateLimitConfig::CLOUDFLARE_DEFAULT,
                ));
            if let Some(url) = &cf.base_url {
                config = config.with_base_url(url.clone());
            }
            let client =
                CloudflareClient::new(config, ctx.http.clone(), &ctx.limiters).map_err(|e| {
                    unavailable("InvalidProvider", format!("spec.cloudflare: {e}"), false)
                })?;
            let client = client.with_request_hook(ctx.metrics.request_hook("cloudflare"));
            Ok(Resolved {
                provider: Arc::new(CloudflareProvider::new(client)),
                provider_type: ProviderType::Cloudflare,
            })
        }
        Some(ProviderType::Hydra) => {
            let h = blocks.hydra.as_ref().expect("provider_type checked it");
            let mut config = HydraConfig::new(h.admin_url.clone()).with_rate_limit(rate_limit(
                blocks.rate_limit.as_ref(),
                crate::provider::hydra::client::DEFAULT_RATE_LIMIT,
            ));
            if let Some(r) = h
                .auth
                .as_ref()
                .and_then(|a| a.bearer_token_secret_ref.as_ref())
            {
                config = config
                    .with_bearer_token(ClientSecret::new(credential(ctx, r, secret_ns).await?));
            }
            let client = HydraClient::new(config, ctx.http.clone(), &ctx.limiters)
                .map_err(|e| unavailable("InvalidProvider", format!("spec.hydra: {e}"), false))?
                .with_request_hook(ctx.metrics.request_hook("hydra"));
            Ok(Resolved {
                provider: Arc::new(HydraProvider::new(client)),
                provider_type: ProviderType::Hydra,
            })
        }
        Some(ProviderType::VmwareCsp) => {
            let c = blocks
                .vmware_csp
                .as_ref()
                .expect("provider_type checked it");
            let token = credential(ctx, &c.auth.api_token_secret_ref, secret_ns).await?;
            let mut config = CspConfig::new(c.org_id.clone(), CspCredentials::api_token(token))
                .with_rate_limit(rate_limit(
                    blocks.rate_limit.as_ref(),
                    crate::provider::csp::client::DEFAULT_RATE_LIMIT,
                ));
            if let Some(url) = &c.base_url {
                config = config.with_base_url(url.clone());
            }
            let client = CspClient::new(config, ctx.http.clone(), &ctx.limiters)
                .map_err(|e| unavailable("InvalidProvider", format!("spec.vmwareCsp: {e}"), false))?
                .with_request_hook(ctx.metrics.request_hook("vmwareCsp"));
            Ok(Resolved {
                provider: Arc::new(CspProvider::new(client)),
                provider_type: ProviderType::VmwareCsp,
            })
        }
        None => Err(unavailable(
            "InvalidProvider",
            "the provider object must set exactly one provider block",
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn label_selectors_follow_kubernetes_semantics() {
        let labels = [
            ("team".to_string(), "a".to_string()),
            ("oauth-clients".to_string(), "allowed".to_string()),
        ]
        .into();
        let sel = |ml: &[(&str, &str)], ex: Vec<(&str, &str, Vec<&str>)>| LabelSelector {
            match_labels: Some(
                ml.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: Some(
                ex.into_iter()
                    .map(|(k, op, v)| LabelSelectorRequirement {
                        key: k.into(),
                        operator: op.into(),
                        values: Some(v.into_iter().map(String::from).collect()),
                    })
                    .collect(),
            ),
        };
        assert!(
            selector_matches(&LabelSelector::default(), &labels),
            "empty selector admits all"
        );
        assert!(selector_matches(
            &sel(&[("oauth-clients", "allowed")], vec![]),
            &labels
        ));
        assert!(!selector_matches(
            &sel(&[("oauth-clients", "denied")], vec![]),
            &labels
        ));
        assert!(selector_matches(
            &sel(&[], vec![("team", "In", vec!["a", "b"])]),
            &labels
        ));
        assert!(!selector_matches(
            &sel(&[], vec![("team", "NotIn", vec!["a"])]),
            &labels
        ));
        assert!(selector_matches(
            &sel(&[], vec![("prod", "DoesNotExist", vec![])]),
            &labels
        ));
        assert!(!selector_matches(
            &sel(&[], vec![("prod", "Exists", vec![])]),
            &labels
        ));
    }
}
