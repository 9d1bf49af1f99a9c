//! One reconcile of one OAuthClient: observe → plan → execute, repeated until the
//! plan is empty (at most a few rounds), then the conditions.

use std::sync::Arc;
use std::time::Duration;

use kube::api::Api;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use rand::Rng;
use tracing::Instrument;

use super::conditions::conditions;
use super::context::Context;
use super::error::Error;
use super::execute::{Executed, PlanRunner, SECRET_WRITE_PATIENCE};
use super::markers;
use super::observe::{Observation, Observed, SecretSource, observe, secret_basis};
use super::plan::{Capabilities, CredentialChecks, Input, Plan, Verdict, plan};
use super::status::{StatusPatch, StatusWriter};
use crate::api::OAuthClient;
use crate::api::annotations::FINALIZER;
use crate::api::client::OAuthClientStatus;
use crate::provider::budget::{CallScope, scoped};

/// Rounds of observe → plan → execute in one reconcile.
const MAX_ROUNDS: usize = 6;
/// Wait before looking again after a transient failure.
const TRANSIENT_RETRY: Duration = Duration::from_secs(10);

/// Reconcile one OAuthClient within the reconcile deadline, on behalf of its
/// namespace: every provider call, rate-limit wait and account lock of this
/// reconcile ends by the deadline (`provider::budget`), so a provider that hangs
/// holds a worker no longer than that. The hard stop is a backstop only, late
/// enough never to cut the retried Secret write that holds a secret the provider
/// returned once (it may take [`SECRET_WRITE_PATIENCE`] after a call that ended at
/// the deadline); what it cuts short is what a crash would, and the next reconcile
/// recovers it the same way (crash safety, docs/how-it-works.md).
pub async fn reconcile_within_deadline(
    obj: Arc<OAuthClient>,
    ctx: Arc<Context>,
) -> Result<Requeue, Error> {
    let ns = obj.namespace().unwrap_or_default();
    let deadline = ctx.settings.reconcile_deadline;
    let scope = CallScope::new(&ns, Some(deadline));
    let hard_stop = deadline + SECRET_WRITE_PATIENCE + Duration::from_secs(60);
    match tokio::time::timeout(hard_stop, scoped(scope, reconcile(obj, ctx.clone()))).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(
                deadline_s = deadline.as_secs(),
                "reconcile stopped long after its deadline"
            );
            Ok(Requeue::requeue(TRANSIENT_RETRY))
        }
    }
}

/// Reconcile one OAuthClient.
pub async fn reconcile(obj: Arc<OAuthClient>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let span = tracing::info_span!("reconcile", object = %format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any()));
    reconcile_rounds((*obj).clone(), ctx).instrument(span).await
}

async fn reconcile_rounds(mut obj: OAuthClient, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let api: Api<OAuthClient> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    // Every status write of this reconcile. The write that ended the previous
    // round is held back in it, to go out with the conditions (`obj.status`
    // already includes it).
    let mut writer = StatusWriter::new(api.clone(), obj.name_any());
    // The watch cache may lag behind our own last writes (e.g. an intent just
    // cleared): a plan from a stale object could repeat a rotation or look for a
    // create already resolved (a LIST at the provider). When the cache cannot be
    // shown to hold every write of ours, read the object first.
    if !cache_is_current(&ctx, &obj) {
        match api.get_opt(&obj.name_any()).await? {
            None => return Ok(Requeue::await_change()),
            Some(fresh) => {
                // The cache holds the latest version: every write of ours is in it
                // (an entry whose own event never matched would otherwise cost this
                // GET on every resync).
                if fresh.resource_version() == obj.resource_version()
                    && let Some(uid) = fresh.metadata.uid.as_deref()
                {
                    ctx.own_writes.forget(uid);
                }
                obj = fresh
            }
        }
    }
    // How the next round learns what the Secret holds: remembered (a plan that
    // would act reads it), or as the previous round wrote it. Decided from the
    // object as fresh as the check above made it: a copy that lags behind our own
    // first create (a reconcile the provider's update started before the watch
    // delivered it) looks never reconciled, and its Secret, ours by then, would be
    // taken for absent, lost, and replaced by a rotation.
    let mut assumed_absent = never_reconciled(&obj, &ctx);
    let mut source = if assumed_absent {
        // Its Secret is almost surely absent: the first create writes it without
        // reading it first, and a Secret found there (AlreadyExists) is read then.
        SecretSource::Known(
            Box::new((default_secret_name(&obj), None)),
            ctx.secret_memo.epoch(),
        )
    } else {
        SecretSource::Recall
    };
    let mut warned = false;
    for round in 0..MAX_ROUNDS {
        // The intent of the first create may be an annotation (markers.rs); one
        // clientops cannot prove it wrote for this object is ignored, said once.
        if let Some(refused) = markers::absorb_create_intent(&mut obj, &ctx.intent_keys)
            && !std::mem::replace(&mut warned, true)
        {
            warn_intent_refused(&ctx, &obj, &refused);
        }
        let status = obj.status.clone().unwrap_or_default();
        let deleting = obj.metadata.deletion_timestamp.is_some();
        let source_now = std::mem::replace(&mut source, SecretSource::Recall);
        let assumed = std::mem::take(&mut assumed_absent);
        let (obs, p) = match observe_and_plan(&ctx, &obj, &status, source_now, assumed).await {
            Ok(Ok(done)) => done,
            Ok(Err(wait)) => {
                // Not this namespace's turn at a saturated provider: give the
                // worker back.
                tracing::debug!(
                    round,
                    wait_ms = wait.as_millis() as u64,
                    "deferred: the namespace holds its share of the provider"
                );
                flush(&ctx, &mut writer, &mut obj).await?;
                return Ok(Requeue::requeue(wait));
            }
            Err(e) => {
                flush(&ctx, &mut writer, &mut obj).await?;
                return Err(e.into());
            }
        };
        tracing::debug!(round, actions = ?p.actions, verdict = ?p.verdict, recalled = obs.secret_recalled, "planned");
        if p.actions.is_empty() {
            remember_secret(&ctx, &obj, &obs);
            if deleting {
                flush(&ctx, &mut writer, &mut obj).await?;
                return Ok(Requeue::await_change());
            }
            write_conditions(&ctx, &mut writer, &obj, &p.verdict).await?;
            return Ok(requeue_for(&ctx, &p.verdict, p.requeue_after));
        }
        // What goes out before the first action, as the planner says (`Before`).
        if p.before.conditions {
            if p.before.with_first_action {
                if let Some(patch) = conditions_patch(&ctx, &obj, &p.verdict) {
                    patch.apply(obj.status.get_or_insert_with(Default::default));
                    writer.hold(patch);
                }
            } else if let Some(latest) =
                write_conditions(&ctx, &mut writer, &obj, &p.verdict).await?
            {
                obj = latest;
            }
        }
        if !p.before.with_first_action {
            flush(&ctx, &mut writer, &mut obj).await?;
        }
        // Whatever the actions write to the Secret, the memo must not outlive it.
        // Forgotten before, not after: a change by someone else between our write
        // and a later forget would have its own forget overtaken, and be lost.
        if let Ok(d) = &obs.desired {
            ctx.secret_memo
                .forget(&obj.namespace().unwrap_or_default(), &d.secret.name);
        }
        // Every read or write of the Secret by the actions comes after this.
        let epoch = ctx.secret_memo.epoch();
        let Executed {
            result,
            status,
            latest,
            has_finalizer,
            secret,
            secret_touched,
        } = PlanRunner::new(&ctx, &obj, &obs, &mut writer)
            .run(&p.actions)
            .await;
        if let Some(latest) = latest {
            obj = latest;
        }
        // Our copy: the object as last written, with any write held back.
        obj.status = Some(status);
        if let Err(e) = result {
            // A provider's answer in `e` was shown through the provider object's
            // door where the call failed (`Error::at`).
            tracing::warn!(error = %e, "reconcile step failed");
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
            write_conditions(&ctx, &mut writer, &obj, &verdict).await?;
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
        if deleting && !has_finalizer {
            return Ok(Requeue::await_change());
        }
        // The next round starts from what this one wrote: the object as the last
        // patch returned it (a change by someone else triggers another reconcile),
        // and the Secret as written.
        source = match secret {
            // Read or written by the actions: after `epoch`.
            Some(known) if secret_touched => SecretSource::Known(Box::new(known), epoch),
            // The observation's copy, read before our forget: it will not be
            // remembered (its epoch is older); the next resync reads it again.
            Some(known) => SecretSource::Known(Box::new(known), obs.secret_epoch),
            None => SecretSource::Read,
        };
    }
    flush(&ctx, &mut writer, &mut obj).await?;
    Ok(Requeue::requeue(Duration::from_secs(1)))
}

/// Observe and plan (`Err(wait)`: deferred, see [`Observed::Deferred`]). A plan
/// that would act on a remembered Secret state (secret_memo.rs), or on a Secret
/// assumed absent (`assumed_absent`: a never-reconciled object's) other than by
/// creating the client ([`Plan::only_creates`]), is made again after reading the
/// Secret.
async fn observe_and_plan(
    ctx: &Context,
    obj: &OAuthClient,
    status: &OAuthClientStatus,
    source: SecretSource,
    assumed_absent: bool,
) -> Result<Result<(Observation, Plan), Duration>, kube::Error> {
    let mut obs = match observe(ctx, obj, source).await? {
        Observed::Observation(obs) => *obs,
        Observed::Deferred(wait) => return Ok(Err(wait)),
    };
    let mut p = plan(&input(ctx, obj, status, &obs));
    let unfounded =
        (obs.secret_recalled && !p.actions.is_empty()) || (assumed_absent && !p.only_creates());
    if unfounded {
        obs.read_secret(ctx, obj).await?;
        p = plan(&input(ctx, obj, status, &obs));
    }
    Ok(Ok((obs, p)))
}

fn input<'a>(
    ctx: &Context,
    obj: &'a OAuthClient,
    status: &'a OAuthClientStatus,
    obs: &'a Observation,
) -> Input<'a> {
    Input {
        now: ctx.clock.now(),
        deleting: obj.metadata.deletion_timestamp.is_some(),
        has_finalizer: obj.finalizers().iter().any(|f| f == FINALIZER),
        triggers: obs.triggers.clone(),
        desired: obs.desired.as_ref(),
        deletion_policy: obj.spec.deletion_policy,
        status,
        remote: obs.remote.as_remote(),
        secret: obs.secret.state.clone(),
        uid: obj.metadata.uid.as_deref().unwrap_or_default(),
        capabilities: obs
            .resolved
            .as_ref()
            .map_or_else(Capabilities::default, |r| r.provider.capabilities()),
        reconcile_deferred: obs.reconcile_deferred,
        credentials: Some(CredentialChecks::for_object(
            ctx.settings.credential_check_every,
            obj.metadata.uid.as_deref().unwrap_or_default(),
            obj.metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), 0)),
            // A scheduled check is the lowest priority work on a busy account.
            obs.resolved
                .as_ref()
                .is_some_and(|r| r.limiter.is_saturated()),
        )),
    }
}

/// After a plan with no actions from a read Secret: remember what it holds, if
/// every later change to it will reach the Secret watch. That needs our label on
/// it (the watch selects by it; removing the label is seen as a deletion), which
/// `shape_matches` includes, and our control (a foreign Secret is never memoized:
/// its fix, e.g. deleting it, need not pass the watch).
fn remember_secret(ctx: &Context, obj: &OAuthClient, obs: &Observation) {
    let (Ok(d), false) = (&obs.desired, obs.secret_recalled) else {
        return;
    };
    let state = &obs.secret.state;
    if obj.metadata.deletion_timestamp.is_some()
        || !state.exists
        || state.foreign
        || !state.shape_matches
    {
        return;
    }
    ctx.secret_memo.remember(
        &obj.namespace().unwrap_or_default(),
        &d.secret.name,
        secret_basis(obj, d),
        state.clone(),
        obs.secret_epoch,
    );
}

/// Send the status write held back, if any; `obj` becomes the object as written.
async fn flush(
    ctx: &Context,
    writer: &mut StatusWriter,
    obj: &mut OAuthClient,
) -> Result<(), Error> {
    if let Some(written) = writer.flush(ctx).await? {
        *obj = written;
    }
    Ok(())
}

/// Does the watch cache hold `obj` with every write this process made to it? Yes
/// when the watch has delivered every write of ours (so the store holds them) and
/// the store still holds this very version. A new process has made no writes: its
/// store, listed after the previous process stopped, holds all of that one's.
fn cache_is_current(ctx: &Context, obj: &OAuthClient) -> bool {
    let Some(uid) = obj.metadata.uid.as_deref() else {
        return false;
    };
    let Some(cached) = ctx
        .clients
        .get(&kube::runtime::reflector::ObjectRef::from_obj(obj))
    else {
        return false;
    };
    let cached_rv = cached.resource_version();
    // The store holds all our writes, and still the version we plan from.
    ctx.own_writes.all_seen(uid, cached_rv.as_deref()) && cached_rv == obj.resource_version()
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

/// A Warning that the intent annotation on `obj` was ignored (it names the
/// annotation, never its value).
fn warn_intent_refused(ctx: &Context, obj: &OAuthClient, refused: &markers::IntentRefused) {
    tracing::warn!(
        annotation = markers::PENDING_CREATE,
        "ignored an intent annotation clientops did not write for this object"
    );
    let ev = Event {
        type_: EventType::Warning,
        reason: "IntentRefused".into(),
        note: Some(refused.to_string()),
        action: "Reconcile".into(),
        secondary: None,
    };
    ctx.publish(ev, obj.object_ref(&()));
}

/// An object clientops has never written to: no conditions, no client, no intent
/// of ours, no import, not deleting.
fn never_reconciled(obj: &OAuthClient, ctx: &Context) -> bool {
    let untouched = obj.status.as_ref().is_none_or(|s| {
        s.conditions.is_empty()
            && s.client_id.is_none()
            && s.secret_name.is_none()
            && s.pending_create.is_none()
    });
    untouched
        && obj.metadata.deletion_timestamp.is_none()
        && obj.spec.import.is_none()
        && !matches!(markers::create_intent(obj, &ctx.intent_keys), Ok(Some(_)))
}

/// The Secret's name unless `spec.secret.name` says otherwise (as `desired`
/// computes it; a different name is simply read).
fn default_secret_name(obj: &OAuthClient) -> String {
    obj.spec
        .secret
        .as_ref()
        .and_then(|s| s.name.clone())
        .unwrap_or_else(|| obj.name_any())
}

/// The conditions for `verdict` as a status patch; `None` when they are as written.
fn conditions_patch(ctx: &Context, obj: &OAuthClient, verdict: &Verdict) -> Option<StatusPatch> {
    let status = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation.unwrap_or_default();
    let conds = conditions(verdict, generation, &status.conditions, ctx.clock.now());
    let unchanged =
        status.observed_generation == Some(generation)
            && status.conditions.len() == conds.len()
            && status.conditions.iter().zip(&conds).all(|(a, b)| {
                a.status == b.status && a.reason == b.reason && a.message == b.message
            });
    (!unchanged).then(|| StatusPatch {
        observed_generation: Some(generation),
        conditions: Some(conds),
        ..Default::default()
    })
}

/// Write the conditions for `verdict` (with a status write held back, if any, in
/// the same write). Returns the object as written, if a write was needed.
async fn write_conditions(
    ctx: &Context,
    writer: &mut StatusWriter,
    obj: &OAuthClient,
    verdict: &Verdict,
) -> Result<Option<OAuthClient>, Error> {
    let was_stalled = obj.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    });
    let patch = match conditions_patch(ctx, obj, verdict) {
        Some(patch) => patch,
        None if writer.holds() => StatusPatch::default(),
        None => return Ok(None),
    };
    let updated = writer.write(ctx, patch).await?;
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
        ctx.publish(ev, obj.object_ref(&()));
    }
    Ok(Some(updated))
}

/// What the controller does after a failed reconcile (kube errors only; provider
/// errors are handled inside `reconcile`).
pub fn error_policy(_obj: Arc<OAuthClient>, err: &Error, _ctx: Arc<Context>) -> Requeue {
    tracing::warn!(error = %err, "reconcile failed");
    Requeue::requeue(TRANSIENT_RETRY)
}
