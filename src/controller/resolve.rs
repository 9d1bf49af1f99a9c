//! From an OAuthClient's `providerRef` to a ready [`Provider`]: the provider object,
//! the namespace rules, the credentials.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Api;

use super::context::{Context, Settings};
use super::plan::Unavailable;
use crate::api::client::ProviderKind;
use crate::api::common::SecretKeyRef;
use crate::api::policy::ClientPolicy;
use crate::api::provider::{ProviderBlocks, ProviderType};
use crate::api::{ClusterOAuthProvider, OAuthClient, OAuthProvider};
use crate::provider::federated_token::FederatedToken;
use crate::provider::http::RequestHook;
use crate::provider::list_budget::ListBudget;
use crate::provider::ratelimit::{RateLimiter, RateLimiterRegistry};
use crate::provider::registry::{self, Connect, ConnectError, Connected, Kind};
use crate::provider::scoped::ScopedProvider;
use crate::secret::observe::entered_value;

/// A provider ready to be called.
pub struct Resolved {
    /// The provider client, scoped to the provider object (its account key, how
    /// its errors are shown).
    pub provider: Arc<ScopedProvider>,
    /// Its kind (its rules on the desired state).
    pub kind: &'static dyn Kind,
    pub provider_type: ProviderType,
    /// Who wrote the provider object.
    pub origin: Origin,
    /// The provider client's rate limiter (the fairness gate reads it).
    pub limiter: Arc<RateLimiter>,
    /// The ClusterOAuthProvider's guardrails for its clients (`spec.policy`).
    pub policy: Option<ClientPolicy>,
    /// The provider's admin lets this namespace import without proof of ownership.
    pub unproven_import_allowed: bool,
}

/// Who wrote a provider object, which decides what it may reach and share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A ClusterOAuthProvider: the admin's. Any URL; credentials from the
    /// namespaces its refs name; the account's limiter is shared cluster-wide.
    Cluster { name: String },
    /// A namespaced OAuthProvider: a tenant's. URLs pass the operator's URL policy,
    /// credentials come from its own namespace only, its limiter and listings are
    /// its own, and its errors reach status without the far end's words.
    Namespaced {
        namespace: String,
        name: String,
        uid: String,
    },
}

impl Origin {
    /// A tenant wrote it.
    pub fn is_tenant(&self) -> bool {
        matches!(self, Origin::Namespaced { .. })
    }

    /// The scope of its rate limiter: shared by all ClusterOAuthProviders of an
    /// account (the admin's objects), its own for each namespaced provider object.
    fn limiter_scope(&self) -> String {
        match self {
            Origin::Cluster { .. } => String::new(),
            Origin::Namespaced {
                namespace,
                name,
                uid,
            } => format!("{namespace}/{name}/{uid}"),
        }
    }

    /// The namespace it speaks for: its own, or for the admin's the operator's
    /// (where its credentials refs point when they name no namespace).
    pub fn namespace<'a>(&'a self, operator_ns: &'a str) -> &'a str {
        match self {
            Origin::Cluster { .. } => operator_ns,
            Origin::Namespaced { namespace, .. } => namespace,
        }
    }
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
    match r.kind {
        ProviderKind::OAuthProvider => {
            let api: Api<OAuthProvider> = Api::namespaced(ctx.client.clone(), &ns);
            let p = get_provider(
                ctx.cache.provider(&ns, &r.name, api.get_opt(&r.name)).await,
                "OAuthProvider",
                &r.name,
                Some(&ns),
            )?;
            let origin = Origin::Namespaced {
                namespace: ns.clone(),
                name: r.name.clone(),
                uid: p.metadata.uid.clone().unwrap_or_default(),
            };
            let mut resolved = build(ctx, &p.spec.provider, &origin).await?;
            resolved.unproven_import_allowed = p.spec.allow_unproven_import;
            Ok(resolved)
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
            let origin = Origin::Cluster {
                name: r.name.clone(),
            };
            let mut resolved = build(ctx, &p.spec.provider, &origin).await?;
            if let Some(sel) = p
                .spec
                .policy
                .as_ref()
                .and_then(|p| p.unproven_import_namespace_selector.as_ref())
            {
                let labels = namespace_labels(ctx, &ns).await?;
                resolved.unproven_import_allowed = selector_matches(sel, &labels);
            }
            resolved.policy = p.spec.policy;
            Ok(resolved)
        }
    }
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
    let labels = namespace_labels(ctx, ns).await?;
    if selector_matches(selector, &labels) {
        Ok(())
    } else {
        deny("its namespaceSelector does not match the namespace's labels")
    }
}

/// The labels of namespace `ns` (cached).
async fn namespace_labels(
    ctx: &Context,
    ns: &str,
) -> Result<std::collections::BTreeMap<String, String>, Unavailable> {
    let api = Api::<Namespace>::all(ctx.client.clone());
    ctx.cache
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
        })
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

/// Read one credential value: from the ref's namespace for a ClusterOAuthProvider
/// (the CRD makes it name one), from the provider's own namespace for a namespaced
/// OAuthProvider, which may name no other (checked here too: an object stored
/// before the CRD rule, or written past admission, must not read another
/// namespace's Secret).
async fn credential(
    ctx: &Context,
    r: &SecretKeyRef,
    field: &str,
    origin: &Origin,
) -> Result<String, Unavailable> {
    let ns = credentials_namespace(origin, r, field, &ctx.settings.operator_namespace)?;
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
    entered_value(&secret, &r.key).ok_or_else(|| {
        unavailable(
            "CredentialsUnavailable",
            format!("Secret {ns}/{} has no non-empty key {:?}", r.name, r.key),
            true,
        )
    })
}

/// The namespace a credentials ref reads from (see [`credential`]).
fn credentials_namespace(
    origin: &Origin,
    r: &SecretKeyRef,
    field: &str,
    operator_ns: &str,
) -> Result<String, Unavailable> {
    match (origin, &r.namespace) {
        (Origin::Namespaced { namespace, .. }, Some(other)) if other != namespace => {
            Err(unavailable(
                "InvalidProvider",
                format!(
                    "{field}.namespace: an OAuthProvider reads credentials only from its own namespace ({namespace:?}), not {other:?}; remove namespace from the secret ref, or ask an administrator for a ClusterOAuthProvider"
                ),
                false,
            ))
        }
        (Origin::Namespaced { namespace, .. }, _) => Ok(namespace.clone()),
        (Origin::Cluster { .. }, ns) => Ok(ns
            .clone()
            .unwrap_or_else(|| origin.namespace(operator_ns).to_string())),
    }
}

/// What a provider object of `origin` may reach: every URL for the admin's
/// objects; for a tenant's, only what the operator's URL policy allows (checked
/// before any connection; the resolved addresses are checked again at connect).
fn check_url(ctx: &Context, origin: &Origin, field: &str, url: &str) -> Result<(), Unavailable> {
    if !origin.is_tenant() {
        return Ok(());
    }
    let refuse =
        |why: String| unavailable("ProviderURLNotAllowed", format!("{field}: {why}"), false);
    let parsed = url::Url::parse(url).map_err(|e| refuse(format!("not a URL: {e}")))?;
    ctx.settings
        .url_policy
        .check_url(&parsed)
        .map_err(|r| refuse(r.to_string()))
}

/// What building a provider client may use, with the rules of `origin` applied:
/// a tenant's provider reads credentials only from its own namespace, reaches only
/// what the URL policy allows, and gets its own limiters and HTTP client.
struct Env<'a> {
    ctx: &'a Context,
    origin: &'a Origin,
}

#[async_trait::async_trait]
impl Connect for Env<'_> {
    async fn credential(&self, r: &SecretKeyRef, field: &str) -> Result<String, ConnectError> {
        credential(self.ctx, r, field, self.origin)
            .await
            .map_err(connect_error)
    }

    fn check_url(&self, field: &str, url: &str) -> Result<(), ConnectError> {
        check_url(self.ctx, self.origin, field, url).map_err(connect_error)
    }

    // The admin's providers share the operator's plain HTTP client; a tenant's get
    // the client whose resolver refuses addresses outside the URL policy.
    fn http(&self) -> reqwest::Client {
        if self.origin.is_tenant() {
            self.ctx.tenant_http.clone()
        } else {
            self.ctx.http.clone()
        }
    }

    fn limiters(&self) -> RateLimiterRegistry {
        self.ctx.limiters.scoped(&self.origin.limiter_scope())
    }

    fn list_budget(&self) -> ListBudget {
        self.ctx.settings.list_budget
    }

    fn request_hook(&self, provider: &'static str) -> RequestHook {
        self.ctx.metrics.request_hook(provider)
    }

    fn federated_token(&self, field: &str) -> Result<FederatedToken, ConnectError> {
        federated_token(&self.ctx.settings, self.origin, field).map_err(connect_error)
    }
}

/// The operator's own identity for a provider object of `origin`: the admin's
/// only (a tenant's provider object chooses where its token requests go, and
/// would receive the operator's token), and only where the operator has one.
fn federated_token(
    settings: &Settings,
    origin: &Origin,
    field: &str,
) -> Result<FederatedToken, Unavailable> {
    if origin.is_tenant() {
        return Err(unavailable(
            "InvalidProvider",
            format!(
                "{field}: an OAuthProvider cannot use the operator's own identity (it would send the operator's token where the tenant points it); give credentials from a Secret in its namespace, or ask an administrator for a ClusterOAuthProvider"
            ),
            false,
        ));
    }
    match &settings.federated_token_file {
        Some(path) => Ok(FederatedToken::new(path)),
        None => Err(unavailable(
            "InvalidProvider",
            format!(
                "{field}: the operator has no federated token; start it with --federated-token-file naming a projected service-account token (Helm: workloadIdentity.enabled; kustomize: the workload-identity component)"
            ),
            false,
        )),
    }
}

fn connect_error(u: Unavailable) -> ConnectError {
    ConnectError {
        reason: u.reason,
        message: u.message,
        transient: u.transient,
        far_end: None,
    }
}

/// Build the provider client for `blocks`, written by `origin`.
pub async fn build(
    ctx: &Context,
    blocks: &ProviderBlocks,
    origin: &Origin,
) -> Result<Resolved, Unavailable> {
    let Some(kind) = registry::kind_of_provider(blocks) else {
        return Err(unavailable(
            "InvalidProvider",
            "the provider object must set exactly one provider block",
            false,
        ));
    };
    let Connected {
        provider: inner,
        limiter,
        credentials_digest: creds,
    } = kind
        .connect(blocks, &Env { ctx, origin })
        .await
        // The far end's words never reach a tenant's conditions and events, for
        // every kind: the kinds keep them apart, and they are redacted here.
        .map_err(|e| unavailable(&e.reason, e.shown(origin.is_tenant()), e.transient))?;
    let provider_type = kind.provider_type();
    let provider = ScopedProvider::new(inner, &origin.limiter_scope(), &creds, origin.is_tenant());
    Ok(Resolved {
        provider: Arc::new(provider),
        kind,
        provider_type,
        origin: origin.clone(),
        limiter,
        policy: None,
        unproven_import_allowed: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn a_namespaced_provider_never_reads_another_namespaces_secret() {
        let tenant = Origin::Namespaced {
            namespace: "team-a".into(),
            name: "p".into(),
            uid: "u".into(),
        };
        let r = |ns: Option<&str>| SecretKeyRef {
            namespace: ns.map(String::from),
            name: "creds".into(),
            key: "token".into(),
        };
        let field = "spec.cloudflare.auth.apiTokenSecretRef";
        // Stored before the CRD rule, or written past admission: refused, named.
        let err = credentials_namespace(&tenant, &r(Some("prod")), field, "ops").unwrap_err();
        assert_eq!(err.reason, "InvalidProvider");
        assert!(!err.transient);
        assert!(
            err.message
                .starts_with("spec.cloudflare.auth.apiTokenSecretRef.namespace:"),
            "{}",
            err.message
        );
        assert_eq!(
            credentials_namespace(&tenant, &r(None), field, "ops").unwrap(),
            "team-a"
        );
        assert_eq!(
            credentials_namespace(&tenant, &r(Some("team-a")), field, "ops").unwrap(),
            "team-a"
        );
        // The admin's provider reads where its refs say, else the operator's own.
        let admin = Origin::Cluster {
            name: "prod".into(),
        };
        assert_eq!(
            credentials_namespace(&admin, &r(Some("prod")), field, "ops").unwrap(),
            "prod"
        );
        assert_eq!(
            credentials_namespace(&admin, &r(None), field, "ops").unwrap(),
            "ops"
        );
    }

    #[test]
    fn only_the_admins_provider_objects_use_the_operators_identity() {
        let field = "spec.entra.auth.workloadIdentity";
        let tenant = Origin::Namespaced {
            namespace: "team-a".into(),
            name: "p".into(),
            uid: "u".into(),
        };
        let admin = Origin::Cluster {
            name: "prod".into(),
        };
        let mut settings = Settings::new("ops", std::time::Duration::from_secs(300));
        let unset = federated_token(&settings, &admin, field).unwrap_err();
        assert_eq!(unset.reason, "InvalidProvider");
        assert!(
            unset.message.starts_with(field) && unset.message.contains("--federated-token-file"),
            "{}",
            unset.message
        );
        settings.federated_token_file = Some("/var/run/secrets/tokens/entra".into());
        let token = federated_token(&settings, &admin, field).unwrap();
        assert_eq!(
            token.path(),
            std::path::Path::new("/var/run/secrets/tokens/entra")
        );
        // Configured or not, a tenant never gets it.
        let refused = federated_token(&settings, &tenant, field).unwrap_err();
        assert_eq!(refused.reason, "InvalidProvider");
        assert!(!refused.transient);
        assert!(
            refused.message.starts_with(field) && refused.message.contains("OAuthProvider"),
            "{}",
            refused.message
        );
    }

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
