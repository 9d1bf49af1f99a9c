//! The provider objects' own status: `Ready` once a cheap authenticated call to the
//! provider succeeded, with the provider's answer when it did not.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::conditions::conditions;
use super::context::Context;
use super::error::Error;
use super::plan::Verdict;
use super::resolve::{Origin, build};
use crate::api::provider::ProviderBlocks;
use crate::api::{ClusterOAuthProvider, OAuthProvider, OAuthProviderStatus};
use crate::provider::budget::{CallScope, scoped};

/// How often a provider's credentials are checked again.
pub const PROVIDER_RECHECK: Duration = Duration::from_secs(300);

async fn check(ctx: &Context, blocks: &ProviderBlocks, origin: &Origin) -> Verdict {
    // The same budget as a reconcile of a client: a provider that hangs holds one
    // of the (few) provider workers no longer than the deadline.
    let tenant = origin.namespace(&ctx.settings.operator_namespace);
    let scope = CallScope::new(tenant, Some(ctx.settings.reconcile_deadline));
    scoped(scope, check_within_budget(ctx, blocks, origin)).await
}

async fn check_within_budget(ctx: &Context, blocks: &ProviderBlocks, origin: &Origin) -> Verdict {
    match build(ctx, blocks, origin).await {
        Err(u) => Verdict::Stalled {
            reason: u.reason,
            message: u.message,
        },
        Ok(r) => match r.provider.check_credentials().await {
            Ok(()) => Verdict::Ready,
            Err(e) => {
                let u = super::observe::provider_unavailable(&r.provider.shown(e));
                Verdict::Stalled {
                    reason: u.reason,
                    message: format!("a test call to the provider failed: {}", u.message),
                }
            }
        },
    }
}

async fn write<K>(
    ctx: &Context,
    api: Api<K>,
    obj: &K,
    status: Option<&OAuthProviderStatus>,
    blocks: &ProviderBlocks,
    verdict: &Verdict,
) -> Result<(), Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let generation = obj.meta().generation.unwrap_or_default();
    let previous = status.map(|s| s.conditions.clone()).unwrap_or_default();
    let conds = conditions(verdict, generation, &previous, ctx.clock.now());
    let patch = json!({ "status": { "observedGeneration": generation, "conditions": conds, "providerType": blocks.provider_type() } });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(patch),
    )
    .await?;
    Ok(())
}

/// Reconcile a ClusterOAuthProvider (credentials in the namespaces its refs name).
pub async fn reconcile_cluster(
    obj: Arc<ClusterOAuthProvider>,
    ctx: Arc<Context>,
) -> Result<Requeue, Error> {
    let blocks = &obj.spec.provider;
    let origin = Origin::Cluster {
        name: obj.name_any(),
    };
    let verdict = check(&ctx, blocks, &origin).await;
    write(
        &ctx,
        Api::all(ctx.client.clone()),
        obj.as_ref(),
        obj.status.as_ref(),
        blocks,
        &verdict,
    )
    .await?;
    Ok(Requeue::requeue(PROVIDER_RECHECK))
}

/// Reconcile an OAuthProvider (credentials in its own namespace).
pub async fn reconcile_namespaced(
    obj: Arc<OAuthProvider>,
    ctx: Arc<Context>,
) -> Result<Requeue, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let blocks = &obj.spec.provider;
    let origin = Origin::Namespaced {
        namespace: ns.clone(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
    };
    let verdict = check(&ctx, blocks, &origin).await;
    write(
        &ctx,
        Api::namespaced(ctx.client.clone(), &ns),
        obj.as_ref(),
        obj.status.as_ref(),
        blocks,
        &verdict,
    )
    .await?;
    Ok(Requeue::requeue(PROVIDER_RECHECK))
}

pub fn error_policy<K>(_obj: Arc<K>, err: &Error, _ctx: Arc<Context>) -> Requeue {
    tracing::warn!(error = %err, "provider reconcile failed");
    Requeue::requeue(Duration::from_secs(15))
}
