//! One reconcile of one OAuthClient: observe → plan → execute, repeated until the
//! plan is empty (at most a few rounds), then the conditions.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use rand::Rng;
use serde_json::json;
use tracing::Instrument;

use super::conditions::conditions;
use super::context::Context;
use super::error::Error;
use super::execute::Executor;
use super::observe::observe;
use super::plan::{Action, Input, Verdict, plan};
use crate::api::OAuthClient;
use crate::api::annotations::FINALIZER;

/// Rounds of observe → plan → execute in one reconcile.
const MAX_ROUNDS: usize = 6;
/// Wait before looking again after a transient failure.
const TRANSIENT_RETRY: Duration = Duration::from_secs(10);

/// Reconcile one OAuthClient.
pub async fn reconcile(obj: Arc<OAuthClient>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let span = tracing::info_span!("reconcile", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()));
    reconcile_rounds((*obj).clone(), ctx).instrument(span).await
}

async fn reconcile_rounds(mut obj: OAuthClient, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let api: Api<OAuthClient> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    // The Secret as the previous round left it: the next round need not read it.
    let mut known_secret = None;
    for round in 0..MAX_ROUNDS {
        let obs = observe(&ctx, &obj, known_secret.take()).await?;
        let status = obj.status.clone().unwrap_or_default();
        let deleting = obj.metadata.deletion_timestamp.is_some();
        let input = Input {
            now: ctx.clock.now(),
            deleting,
            has_finalizer: obj.finalizers().iter().any(|f| f == FINALIZER),
            triggers: obs.triggers.clone(),
            desired: obs.desired.as_ref(),
            status: &status,
            remote: obs.remote.as_remote(),
            secret: obs.secret.state.clone(),
            provider_supports_grace: obs
                .resolved
                .as_ref()
                .is_none_or(|r| r.provider.supports_grace()),
        };
        let p = plan(&input);
        tracing::debug!(round, actions = ?p.actions, verdict = ?p.verdict, "planned");
        if p.actions.is_empty() {
            if deleting {
                return Ok(Requeue::await_change());
            }
            write_conditions(&ctx, &api, &obj, &p.verdict).await?;
            return Ok(requeue_for(&ctx, &p.verdict, p.requeue_after));
        }
        // The first round plans from the watch cache, which may lag behind our own
        // last status write (e.g. an intent just cleared). Before anything that
        // changes the provider, make sure the plan rests on the latest object: a
        // stale one could repeat a rotation or look for a create already resolved.
        if round == 0 && p.actions.iter().any(Action::changes_provider) {
            match api.get_opt(&obj.name_any()).await? {
                None => return Ok(Requeue::await_change()),
                Some(fresh) if fresh.resource_version() != obj.resource_version() => {
                    tracing::debug!("the cached object was stale; planning again");
                    obj = fresh;
                    continue;
                }
                Some(_) => {}
            }
        }
        // Work on a Ready object: say so before touching anything, so Ready=True
        // never stands beside a half-done change (kstatus, `kubectl wait`).
        let was_ready = obj.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
        if was_ready && !deleting && !matches!(p.verdict, Verdict::Ready) {
            write_conditions(&ctx, &api, &obj, &p.verdict).await?;
        }
        let mut ex = Executor::new(&ctx, &obj, &obs);
        let result = ex.run(&p.actions).await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "reconcile step failed");
            {
                let verdict = if e.is_stalled() {
                    Verdict::Stalled {
                        reason: e.reason(),
                        message: e.to_string(),
                    }
                } else {
                    Verdict::Progressing {
                        reason: e.reason(),
                        message: e.to_string(),
                    }
                };
                write_conditions(&ctx, &api, &obj, &verdict).await?;
            }
            let retry = match &e {
                Error::Provider { source, .. } => source.retry_after().unwrap_or(TRANSIENT_RETRY),
                _ => TRANSIENT_RETRY,
            };
            return Ok(Requeue::requeue(if e.is_stalled() {
                ctx.settings.resync
            } else {
                retry
            }));
        }
        if deleting && !ex.has_finalizer {
            return Ok(Requeue::await_change());
        }
        // The next round starts from what this one wrote: the object as the last
        // patch returned it (a change by someone else triggers another reconcile),
        // and the Secret as written.
        known_secret = ex.known_secret();
        let latest = ex.latest.take();
        drop(ex);
        if let Some(latest) = latest {
            obj = latest;
        }
    }
    Ok(Requeue::requeue(Duration::from_secs(1)))
}

fn requeue_for(ctx: &Context, verdict: &Verdict, due: Option<Duration>) -> Requeue {
    // Spread resyncs so clients of one account do not all wake together.
    let resync = ctx
        .settings
        .resync
        .mul_f64(rand::rng().random_range(0.9..1.1));
    let wait = match verdict {
        Verdict::Progressing { .. } => TRANSIENT_RETRY,
        _ => resync,
    };
    Requeue::requeue(due.map_or(wait, |d| d.min(wait)))
}

async fn write_conditions(
    ctx: &Context,
    api: &Api<OAuthClient>,
    obj: &OAuthClient,
    verdict: &Verdict,
) -> Result<(), Error> {
    let status = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation.unwrap_or_default();
    let conds = conditions(verdict, generation, &status.conditions, ctx.clock.now());
    let was_stalled = status
        .conditions
        .iter()
        .any(|c| c.type_ == "Stalled" && c.status == "True");
    let unchanged =
        status.observed_generation == Some(generation)
            && status.conditions.len() == conds.len()
            && status.conditions.iter().zip(&conds).all(|(a, b)| {
                a.status == b.status && a.reason == b.reason && a.message == b.message
            });
    if unchanged {
        return Ok(());
    }
    let updated = api
        .patch_status(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(json!({
                "status": { "observedGeneration": generation, "conditions": conds }
            })),
        )
        .await?;
    ctx.own_writes.record(&updated);
    if let Verdict::Stalled { reason, message } = verdict
        && !was_stalled
    {
        let ev = Event {
            type_: EventType::Warning,
            reason: reason.clone(),
            note: Some(message.clone()),
            action: "Reconcile".into(),
            secondary: None,
        };
        let _ = ctx.recorder.publish(&ev, &obj.object_ref(&())).await;
    }
    Ok(())
}

/// What the controller does after a failed reconcile (kube errors only; provider
/// errors are handled inside `reconcile`).
pub fn error_policy(_obj: Arc<OAuthClient>, err: &Error, _ctx: Arc<Context>) -> Requeue {
    tracing::warn!(error = %err, "reconcile failed");
    Requeue::requeue(TRANSIENT_RETRY)
}
