//! The executor: performs the planner's actions in order, stopping at the first
//! failure. Each action that receives a secret from the provider writes it to the
//! Secret before anything else, retrying that write while it holds the value in
//! memory, and only then records the outcome in status.

use std::time::Duration;

use chrono::SecondsFormat;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use serde_json::json;

use super::context::Context;
use super::credentials::{self, CheckReason};
use super::desired::Desired;
use super::error::Error;
use super::markers;
use super::observe::Observation;
use super::observe::RemoteObs;
use super::plan::{
    Action, AdoptReason, ChosenSecret, CreatePath, RetireReason, RotationReason, RotationTimes,
    parse_time,
};
use super::status::{PendingPatch, RotationPatch, StatusPatch, StatusWriter};
use crate::api::OAuthClient;
use crate::api::annotations::FINALIZER;
use crate::api::client::{CredentialsResult, OAuthClientStatus, PendingOperation, RotationPhase};
use crate::failpoint;
use crate::provider::error::ProviderError;
use crate::provider::model::{
    AssignedIds, ChosenIds, Creation, RemoteClient, SecretCheck, Secrets,
};
use crate::provider::scoped::ScopedProvider;
use crate::secret::ClientSecret;
use crate::secret::mac::secret_mac;
use crate::secret::render::{Credentials, Stamps, owner_reference, render};

/// How long a Secret write that carries a once-returned secret is retried.
pub const SECRET_WRITE_PATIENCE: Duration = Duration::from_secs(300);

/// Runs one plan for one object. Its status writes go through the reconcile's
/// [`StatusWriter`]; the write that ends the plan's last action is held back there
/// (see [`StatusWriter::hold`]), to go out with the conditions.
pub struct PlanRunner<'a> {
    ctx: &'a Context,
    obj: &'a OAuthClient,
    obs: &'a Observation,
    writer: &'a mut StatusWriter,
    /// Status as it is after the actions done so far (held-back writes included).
    status: OAuthClientStatus,
    /// Whether the object carries the finalizer now.
    has_finalizer: bool,
    /// The object as the last write to it returned it: fresher than `obj`, so the
    /// next round needs no GET.
    latest: Option<OAuthClient>,
    /// The Secret (name, content; `None`: absent) as last read or written here;
    /// `None` when unknown. A write starts from it instead of a GET (a stale view
    /// only costs a conflict and a retry), and the next round observes it.
    secret_now: std::sync::Mutex<Option<(String, Option<Secret>)>>,
    /// `secret_now` was read or written here (not the observation's copy).
    secret_touched: std::sync::atomic::AtomicBool,
    /// Running the plan's last action.
    in_last_action: bool,
}

/// What running a plan left behind, for the reconcile's next round.
pub struct Executed {
    /// The first failure, if any (the actions after it were not run).
    pub result: Result<(), Error>,
    /// Status after the actions (including a write held back in the writer).
    pub status: OAuthClientStatus,
    /// The object as the last write to it returned it, if any was made.
    pub latest: Option<OAuthClient>,
    /// Whether the object carries the finalizer now.
    pub has_finalizer: bool,
    /// The Secret (name, content) as last known here, and whether the actions
    /// read or wrote it (else it is the observation's copy).
    pub secret: Option<(String, Option<Secret>)>,
    pub secret_touched: bool,
}

fn now_rfc3339(ctx: &Context) -> String {
    ctx.clock.now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

impl<'a> PlanRunner<'a> {
    pub fn new(
        ctx: &'a Context,
        obj: &'a OAuthClient,
        obs: &'a Observation,
        writer: &'a mut StatusWriter,
    ) -> Self {
        let has_finalizer = obj.finalizers().iter().any(|f| f == FINALIZER);
        let secret_now = obs
            .desired
            .as_ref()
            .ok()
            .map(|d| (d.secret.name.clone(), obs.raw_secret.clone()));
        Self {
            ctx,
            obj,
            obs,
            writer,
            status: obj.status.clone().unwrap_or_default(),
            has_finalizer,
            latest: None,
            secret_now: std::sync::Mutex::new(secret_now),
            secret_touched: Default::default(),
            in_last_action: false,
        }
    }

    /// The Secret as last seen here, if known.
    fn known_secret(&self) -> Option<(String, Option<Secret>)> {
        self.secret_now
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_known_secret(&self, known: Option<(String, Option<Secret>)>) {
        *self.secret_now.lock().unwrap_or_else(|e| e.into_inner()) = known;
        self.secret_touched
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    fn api(&self) -> Api<OAuthClient> {
        Api::namespaced(
            self.ctx.client.clone(),
            &self.obj.namespace().unwrap_or_default(),
        )
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(
            self.ctx.client.clone(),
            &self.obj.namespace().unwrap_or_default(),
        )
    }

    fn desired(&self) -> Result<&'a Desired, Error> {
        self.obs.desired.as_ref().map_err(|e| Error::Stalled {
            reason: "InvalidSpec".into(),
            message: e.to_string(),
        })
    }

    fn provider(&self) -> Result<&'a ScopedProvider, Error> {
        self.obs
            .resolved
            .as_ref()
            .map(|r| r.provider.as_ref())
            .ok_or_else(|| Error::Stalled {
                reason: "ProviderNotReady".into(),
                message: "the provider is not available".into(),
            })
    }

    /// The status write that ends an action. When it ends the plan's last action
    /// it is held back in the writer (and applied to our copy): the reconcile plans
    /// the next round from our copy and sends it together with the conditions (one
    /// write instead of two), or before any further action.
    async fn finish_status(&mut self, patch: StatusPatch) -> Result<(), Error> {
        if !self.in_last_action {
            return self.patch_status(patch).await;
        }
        patch.apply(&mut self.status);
        self.writer.hold(patch);
        Ok(())
    }

    /// Write status (with a write held back, if any), and apply the patch to our copy.
    async fn patch_status(&mut self, patch: StatusPatch) -> Result<(), Error> {
        let updated = self.writer.write(self.ctx, patch.clone()).await?;
        self.latest = Some(updated);
        patch.apply(&mut self.status);
        Ok(())
    }

    /// Publish an event (without waiting for it).
    async fn event(&self, type_: EventType, reason: &str, action: &str, note: String) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        self.ctx.publish(ev, self.obj.object_ref(&()));
    }

    /// Perform `actions` in order, stopping at the first failure.
    pub async fn run(mut self, actions: &[Action]) -> Executed {
        let mut result = Ok(());
        for (i, action) in actions.iter().enumerate() {
            tracing::debug!(?action, "executing");
            self.in_last_action = i + 1 == actions.len();
            result = self.one(action).await;
            if result.is_err() {
                break;
            }
        }
        Executed {
            result,
            secret: self.known_secret(),
            secret_touched: self.secret_touched.into_inner(),
            status: self.status,
            latest: self.latest,
            has_finalizer: self.has_finalizer,
        }
    }

    async fn one(&mut self, action: &Action) -> Result<(), Error> {
        let now = now_rfc3339(self.ctx);
        match action {
            Action::AddFinalizer => self.set_finalizer(true, None).await,
            Action::AddFinalizerWithIntent { marker } => {
                self.set_finalizer(true, Some(marker)).await?;
                failpoint::hit("after-pending-create");
                Ok(())
            }
            Action::RemoveFinalizer => self.set_finalizer(false, None).await,
            Action::RecordPendingCreate { marker } => {
                // An intent already recorded keeps its start: the match rule for a
                // lost create looks no earlier than that.
                let started_at = match &self.status.pending_create {
                    Some(_) => None,
                    None => Some(now),
                };
                self.patch_status(StatusPatch {
                    pending_create: Some(Some(PendingPatch {
                        started_at,
                        marker: Some(marker.clone()),
                        recovering: None,
                    })),
                    ..Default::default()
                })
                .await?;
                failpoint::hit("after-pending-create");
                Ok(())
            }
            Action::Create { how } => match (how, self.provider()?.creation()) {
                (CreatePath::Generated, Creation::Assigned(c)) => self.create(c).await,
                (CreatePath::ChosenId { id, secret }, Creation::Chosen(c)) => {
                    self.create_chosen(c, id, *secret).await
                }
                // The intent recorded a chosen id, and the provider object now
                // names a provider that assigns ids (the planner keeps a recorded
                // path, so that a repeat finds the client an earlier attempt made).
                (_, creation) => Err(Error::at(
                    self.provider()?,
                    "create the client",
                    ProviderError::config(format!(
                        "the pending create was begun otherwise than {} creates clients ({}): was the provider object changed?",
                        self.provider()?.kind(),
                        match creation {
                            Creation::Assigned(_) => "it assigns their ids",
                            Creation::Chosen(_) => "it takes a chosen id",
                        },
                    )),
                )),
            },
            Action::Adopt { id, reason } => self.adopt(id, reason).await,
            Action::ForgetMissing { id } => {
                self.event(
                    EventType::Warning,
                    "RemoteDeleted",
                    "Recreate",
                    format!("client {id} was deleted at the provider; creating a new one"),
                )
                .await;
                self.patch_status(StatusPatch {
                    client_id: Some(None),
                    pending_rotation: Some(None),
                    rotation: Some(RotationPatch {
                        phase: Some(RotationPhase::Idle),
                        previous_retires_at: Some(None),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
            }
            Action::Patch { id, fields } => self.patch_remote(id, fields).await,
            Action::RecordPendingRotation { reason } => {
                self.patch_status(StatusPatch {
                    pending_rotation: Some(Some(PendingPatch {
                        started_at: Some(now),
                        marker: Some(reason.marker()),
                        recovering: None,
                    })),
                    ..Default::default()
                })
                .await?;
                self.ctx.metrics.rotation_started();
                failpoint::hit("after-pending-rotation");
                Ok(())
            }
            Action::Rotate {
                id,
                reason,
                retire_at,
                secret,
            } => (self.rotate(id, reason, *retire_at, *secret).await)
                .inspect(|_| self.ctx.metrics.rotation_completed())
                .inspect_err(|_| self.ctx.metrics.rotation_failed()),
            Action::FinishRotation { reason } => (self.finish_rotation(reason).await)
                .inspect(|_| self.ctx.metrics.rotation_completed()),
            Action::RecoverLostRotation { id, reason } => {
                self.recover_lost_rotation(id, reason).await
            }
            Action::Retire { id, reason } => self.retire(id, reason).await,
            Action::WriteSecret => self.rewrite_secret().await,
            Action::DeleteRemote { id } => {
                let p = self.provider()?;
                p.delete(id)
                    .await
                    .map_err(|e| Error::at(p, "delete the client", e))?;
                self.ctx.accounts.remove(p.account_key(), id).await;
                self.event(
                    EventType::Normal,
                    "Deleted",
                    "Delete",
                    format!("deleted client {id} at the provider"),
                )
                .await;
                Ok(())
            }
            Action::OrphanSecret => self.orphan_secret().await,
            Action::RecordRetireRequest { value } => {
                self.finish_status(StatusPatch {
                    rotation: Some(RotationPatch {
                        last_retire_request: Some(value.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
            }
            Action::RecordRotationTimes {
                secret_expires_at,
                next_rotation_at,
            } => {
                self.finish_status(StatusPatch {
                    rotation: Some(RotationPatch {
                        secret_expires_at: Some(secret_expires_at.clone()),
                        next_rotation_at: Some(next_rotation_at.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await
            }
            Action::VerifyCredentials { id, reason } => self.verify_credentials(id, *reason).await,
            Action::RecordRepairAttempt => {
                let mut c = self.status.credentials.clone().unwrap_or_default();
                c.repair_attempts = Some(c.repair_attempts.unwrap_or(0).saturating_add(1));
                c.last_repair_at = Some(now);
                self.ctx.metrics.credential_repair();
                self.patch_status(StatusPatch {
                    credentials: Some(c),
                    ..Default::default()
                })
                .await
            }
            Action::RestoreSecret { id } => self.restore_secret(id).await,
            Action::RecordReconcileRequest { value } => {
                self.finish_status(StatusPatch {
                    last_reconcile_request: Some(value.clone()),
                    ..Default::default()
                })
                .await
            }
        }
    }

    /// Add or remove the finalizer; with `intent`, record the first create's
    /// intent beside it in the same write ([`markers::PENDING_CREATE`]). Removing
    /// the finalizer removes that annotation too.
    async fn set_finalizer(&mut self, present: bool, intent: Option<&str>) -> Result<(), Error> {
        // The freshest copy: an earlier action of this round may have written it.
        let cur = self.latest.as_ref().unwrap_or(self.obj);
        let mut finalizers: Vec<String> = cur
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        if present {
            finalizers.push(FINALIZER.into());
        }
        // resourceVersion makes it a compare-and-swap: a concurrent change of the
        // finalizer list fails this patch instead of being overwritten.
        let mut patch = json!({ "metadata": { "finalizers": finalizers, "resourceVersion": cur.resource_version() } });
        let mut recorded = None;
        if let Some(marker) = intent {
            let op = PendingOperation {
                started_at: now_rfc3339(self.ctx),
                marker: Some(marker.into()),
                recovering: false,
            };
            // With its proof: only an intent clientops signed for this object counts.
            let value = markers::signed_intent(cur, &self.ctx.intent_keys, &op);
            patch["metadata"]["annotations"] = json!({ markers::PENDING_CREATE: value });
            recorded = Some(op);
        } else if !present && has_intent_annotation(cur) {
            patch["metadata"]["annotations"] = json!({ markers::PENDING_CREATE: null });
        }
        let updated = self
            .api()
            .patch(
                &self.obj.name_any(),
                &PatchParams::default(),
                &Patch::Merge(patch),
            )
            .await?;
        self.ctx.own_writes.record(&updated);
        self.latest = Some(updated);
        self.has_finalizer = present;
        if recorded.is_some() {
            self.status.pending_create = recorded;
        }
        Ok(())
    }

    /// Write the Secret: create it, or replace ours; never touch a Secret we do not
    /// control. Retried for [`SECRET_WRITE_PATIENCE`] because it may carry the only
    /// copy of a secret. Returns the MAC of what was written.
    async fn write_secret(&self, creds: &Credentials, stamps: &Stamps) -> Result<String, Error> {
        let d = self.desired()?;
        let mut creds = creds.clone();
        if !d.secret.publish_previous {
            creds.previous = None;
        }
        let want = render(self.obj, &d.secret, &creds, stamps);
        let api = self.secrets();
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(100);
        // The first attempt starts from the Secret as observed (or as written by an
        // earlier action); a stale view fails on the resourceVersion or on create,
        // and the attempt is repeated at once from a fresh read.
        let mut known = self
            .known_secret()
            .filter(|(name, _)| *name == d.secret.name)
            .map(|(_, s)| s);
        self.set_known_secret(None);
        loop {
            let from_known = known.is_some();
            let attempt = async {
                let cur = match known.take() {
                    Some(cur) => cur,
                    None => api.get_opt(&d.secret.name).await?,
                };
                match cur {
                    None => api.create(&PostParams::default(), &want).await,
                    Some(cur) => {
                        let uid = self.obj.uid();
                        let ours = cur
                            .owner_references()
                            .iter()
                            .any(|o| o.controller == Some(true) && Some(&o.uid) == uid.as_ref());
                        if !ours {
                            // Known now: the next round observes it (and says why).
                            self.set_known_secret(Some((d.secret.name.clone(), Some(cur))));
                            return Err(kube::Error::Api(Box::new(kube::core::Status::failure(
                                &format!(
                                    "Secret {:?} is not owned by this OAuthClient",
                                    d.secret.name
                                ),
                                "SecretConflict",
                            ))));
                        }
                        let mut next = want.clone();
                        // Keep labels and annotations others added; ours win.
                        let mut labels = cur.metadata.labels.clone().unwrap_or_default();
                        labels.extend(want.metadata.labels.clone().unwrap_or_default());
                        let mut annotations = cur.metadata.annotations.clone().unwrap_or_default();
                        for k in [
                            crate::secret::render::ROTATION_ID,
                            crate::api::annotations::ROTATED_AT,
                        ] {
                            annotations.remove(k);
                        }
                        annotations.extend(want.metadata.annotations.clone().unwrap_or_default());
                        next.metadata.labels = Some(labels);
                        next.metadata.annotations = Some(annotations);
                        next.metadata.resource_version = cur.metadata.resource_version.clone();
                        api.replace(&d.secret.name, &PostParams::default(), &next)
                            .await
                    }
                }
            };
            match attempt.await {
                Ok(written) => {
                    self.ctx.own_writes.record(&written);
                    self.set_known_secret(Some((d.secret.name.clone(), Some(written))));
                    break;
                }
                Err(kube::Error::Api(s)) if s.reason == "SecretConflict" => {
                    return Err(Error::Stalled {
                        reason: "SecretConflict".into(),
                        message: s.message.clone(),
                    });
                }
                Err(kube::Error::Api(s)) if from_known && s.code == 409 => {
                    tracing::debug!(secret = %d.secret.name, "the Secret changed since it was read; reading it again");
                }
                Err(e) if started.elapsed() < SECRET_WRITE_PATIENCE => {
                    tracing::warn!(error = %e, secret = %d.secret.name, "writing the Secret failed; retrying while holding the value");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let uid = self.obj.uid().unwrap_or_default();
        Ok(secret_mac(
            &uid,
            &creds.client_id,
            creds.secret.as_ref(),
            creds.previous.as_ref(),
        ))
    }

    /// Create with a caller-chosen id and secret: the secret is written to the Secret
    /// before the call, so a crash at any point loses nothing, and the id is recorded
    /// in `status.pendingCreate.marker`, so the client is found again by id.
    async fn create_chosen(
        &mut self,
        ids: &dyn ChosenIds,
        id: &str,
        chosen: ChosenSecret,
    ) -> Result<(), Error> {
        let d = self.desired()?;
        let p = self.provider()?;
        let secret = match chosen {
            ChosenSecret::Kept => self.kept_secret(|c| c.secret.clone())?,
            ChosenSecret::New => ids.generate_secret(),
        };
        let now = now_rfc3339(self.ctx);
        let creds = Credentials {
            client_id: id.into(),
            secret: Some(secret.clone()),
            previous: None,
            pending: None,
        };
        let stamps = Stamps {
            rotation_id: None,
            rotated_at: Some(now.clone()),
        };
        let mac = match self.write_secret(&creds, &stamps).await {
            Err(e) if is_secret_conflict(&e) => {
                return self.undo_create_for_foreign_secret(None).await;
            }
            r => r?,
        };
        failpoint::hit("after-create-secret-write");
        let created = match ids.create_with(&d.fields, id, &secret).await {
            Ok(c) => c,
            // Already there: our own earlier attempt (the id is derived from our
            // UID). Not readable yet: the provider is still deleting an old client
            // with this id; waiting helps (the conflict is not a Stalled error).
            Err(conflict @ ProviderError::Conflict { .. }) => match p.get(id).await {
                Ok(Some(c)) => c,
                Ok(None) => return Err(Error::at(p, "create the client", conflict)),
                Err(e) => return Err(Error::at(p, "look up the client", e)),
            },
            Err(e @ ProviderError::Invalid { .. }) => {
                self.void_pending_create().await?;
                return Err(Error::at(p, "create the client", e));
            }
            Err(e) => return Err(Error::at(p, "create the client", e)),
        };
        failpoint::hit("after-create-call");
        let status = self.created(&created, mac, now);
        self.ctx.accounts.upsert(p.account_key(), created).await;
        self.finish_status(status).await?;
        self.event(
            EventType::Normal,
            "Created",
            "Create",
            format!("created client {id} and wrote Secret {}", d.secret.name),
        )
        .await;
        Ok(())
    }

    /// The status of a client just created (with its first secret, MAC `mac`).
    /// The status of client `client` just created, its Secret written with MAC
    /// `mac` at `now`; with when its secret expires and is next rotated (what the
    /// next round would otherwise write).
    fn created(&self, client: &RemoteClient, mac: String, now: String) -> StatusPatch {
        let times = self.obs.desired.as_ref().ok().map(|d| {
            let grace = match &self.obs.resolved {
                Some(r) if r.provider.capabilities().grace => d.grace,
                _ => Duration::ZERO,
            };
            RotationTimes::of(d, client, parse_time(&now), grace).shown()
        });
        let (secret_expires_at, next_rotation_at) = times.unwrap_or_default();
        StatusPatch {
            client_id: Some(Some(client.id.clone())),
            pending_create: Some(None),
            secret_name: self
                .obs
                .desired
                .as_ref()
                .ok()
                .map(|d| d.secret.name.clone()),
            secret_mac: Some(mac),
            rotation: Some(RotationPatch {
                phase: Some(RotationPhase::Idle),
                last_rotated_at: Some(now),
                // A rotate value present at creation is handled: the secret is fresh.
                last_request: Some(self.obs.triggers.rotate.clone()),
                secret_expires_at: secret_expires_at.map(Some),
                next_rotation_at: next_rotation_at.map(Some),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A create the provider rejected made nothing: its intent is void.
    async fn void_pending_create(&mut self) -> Result<(), Error> {
        let cur = self.latest.as_ref().unwrap_or(self.obj);
        if has_intent_annotation(cur) {
            let patch = json!({ "metadata": { "annotations": { markers::PENDING_CREATE: null } } });
            let updated = self
                .api()
                .patch(
                    &self.obj.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(patch),
                )
                .await?;
            self.ctx.own_writes.record(&updated);
            self.latest = Some(updated);
        }
        self.patch_status(StatusPatch {
            pending_create: Some(None),
            ..Default::default()
        })
        .await
    }

    /// The first create reads no Secret before it (a new object's Secret is almost
    /// always absent): the write finds a Secret we do not own. Nothing may be left
    /// that depends on it: the client just made (`made`), whose secret nobody can
    /// hold now, is deleted, and the intent is void. The next round observes that
    /// Secret and stalls saying what to do (`plan`), as if it had been read first.
    async fn undo_create_for_foreign_secret(&mut self, made: Option<&str>) -> Result<(), Error> {
        if let Some(id) = made {
            let p = self.provider()?;
            p.delete(id).await.map_err(|e| {
                Error::at(p, "delete the client whose secret could not be stored", e)
            })?;
            self.ctx.accounts.remove(p.account_key(), id).await;
        }
        self.void_pending_create().await
    }

    /// Create a client whose id the provider chooses (its secret: the provider's or
    /// the adapter's). The intent, with what this create sends, is recorded.
    async fn create(&mut self, assigned: &dyn AssignedIds) -> Result<(), Error> {
        let d = self.desired()?;
        let p = self.provider()?;
        let marker = self.obj.uid().unwrap_or_default();
        let created = match assigned.create(&d.fields, &marker).await {
            Ok(c) => c,
            Err(e @ ProviderError::Invalid { .. }) => {
                // Rejected: nothing was created, so the intent is void.
                self.void_pending_create().await?;
                return Err(Error::at(p, "create the client", e));
            }
            Err(e) => return Err(Error::at(p, "create the client", e)),
        };
        failpoint::hit("after-create-call");
        let id = created.client.id.clone();
        let now = now_rfc3339(self.ctx);
        let creds = Credentials {
            client_id: id.clone(),
            secret: created.secret.clone(),
            previous: None,
            pending: None,
        };
        let written = self
            .write_secret(
                &creds,
                &Stamps {
                    rotation_id: None,
                    rotated_at: Some(now.clone()),
                },
            )
            .await;
        let mac = match written {
            Err(e) if is_secret_conflict(&e) => {
                return self.undo_create_for_foreign_secret(Some(&id)).await;
            }
            r => r?,
        };
        failpoint::hit("after-create-secret-write");
        // The listing learns of the client only once its secret is safe: the
        // account lock may be held by another reconcile's LIST.
        self.ctx
            .accounts
            .upsert(p.account_key(), created.client.clone())
            .await;
        self.finish_status(self.created(&created.client, mac, now))
            .await?;
        self.event(
            EventType::Normal,
            "Created",
            "Create",
            format!("created client {id} and wrote Secret {}", d.secret.name),
        )
        .await;
        Ok(())
    }

    async fn adopt(&mut self, id: &str, reason: &AdoptReason) -> Result<(), Error> {
        let d = self.desired()?;
        let mut patch = StatusPatch {
            client_id: Some(Some(id.into())),
            pending_create: Some(None),
            secret_name: Some(d.secret.name.clone()),
            rotation: Some(RotationPatch {
                phase: Some(RotationPhase::Idle),
                last_request: Some(self.obs.triggers.rotate.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let note = match reason {
            AdoptReason::LostCreateResponse => format!(
                "adopted client {id}, made by a create whose response was lost; a new secret will be issued"
            ),
            AdoptReason::Import => format!("adopted existing client {id} (spec.import)"),
        };
        // A crash after the Secret write of our own create: the Secret (ours, by its
        // owner reference) already holds this client's credentials. Keep them.
        if let (AdoptReason::LostCreateResponse, Some(creds)) =
            (reason, self.obs.secret.credentials.as_ref())
            && creds.client_id == id
            && creds.secret.is_some()
        {
            let uid = self.obj.uid().unwrap_or_default();
            patch.secret_mac = Some(secret_mac(
                &uid,
                &creds.client_id,
                creds.secret.as_ref(),
                creds.previous.as_ref(),
            ));
        }
        if let (AdoptReason::Import, Some((name, key))) = (
            reason,
            d.import.as_ref().and_then(|i| i.secret_ref.as_ref()),
        ) {
            // Read by the observation that proved ownership with it.
            let value = self.obs.import_secret.clone().ok_or_else(|| Error::Stalled {
                reason: "ImportSecretNotFound".into(),
                message: format!("spec.import.secretRef: Secret {name:?} has no non-empty key {key:?}; create it or fix the reference"),
            })?;
            let creds = Credentials {
                client_id: id.into(),
                secret: Some(value),
                previous: None,
                pending: None,
            };
            let mac = self
                .write_secret(
                    &creds,
                    &Stamps {
                        rotation_id: None,
                        rotated_at: None,
                    },
                )
                .await?;
            patch.secret_mac = Some(mac);
        }
        self.finish_status(patch).await?;
        self.event(EventType::Normal, "Adopted", "Adopt", note)
            .await;
        Ok(())
    }

    async fn patch_remote(
        &mut self,
        id: &str,
        fields: &[crate::provider::model::Field],
    ) -> Result<(), Error> {
        let d = self.desired()?;
        let p = self.provider()?;
        let updated = p
            .update(id, &d.fields, fields)
            .await
            .map_err(|e| Error::at(p, "update the client", e))?;
        self.ctx.accounts.upsert(p.account_key(), updated).await;
        let names: Vec<_> = fields.iter().map(|f| f.spec_path()).collect();
        // Same generation as last time: the spec did not change, the provider did.
        let drift = self.obj.metadata.generation.is_some()
            && self.obj.metadata.generation == self.status.observed_generation;
        let (reason, verb) = if drift {
            ("DriftReverted", "reverted a change made at the provider to")
        } else {
            ("Updated", "updated")
        };
        self.event(
            EventType::Normal,
            reason,
            "Update",
            format!("{verb} {} of client {id}", names.join(", ")),
        )
        .await;
        Ok(())
    }

    fn pending_rotation_id(&self) -> String {
        self.status
            .pending_rotation
            .as_ref()
            .map(|p| p.started_at.clone())
            .unwrap_or_else(|| now_rfc3339(self.ctx))
    }

    async fn rotate(
        &mut self,
        id: &str,
        reason: &RotationReason,
        retire_at: chrono::DateTime<chrono::Utc>,
        chosen: ChosenSecret,
    ) -> Result<(), Error> {
        let p = self.provider()?;
        let rotation_id = self.pending_rotation_id();
        let old = self
            .obs
            .secret
            .credentials
            .as_ref()
            .and_then(|c| c.secret.clone());
        let new = match p.secrets() {
            Secrets::Generated(g) => g
                .rotate(id)
                .await
                .map_err(|e| Error::at(p, "rotate the secret", e))?,
            Secrets::Chosen(c) => {
                // Choose the new secret and persist it (as pending) before the call;
                // a retry after a crash reuses it, and the call is idempotent.
                let pending = match chosen {
                    ChosenSecret::Kept => self.kept_secret(|c| c.pending.clone())?,
                    ChosenSecret::New => {
                        let new = c.generate_secret();
                        let mut creds = self.obs.secret.credentials.clone().unwrap_or_default();
                        creds.client_id = id.into();
                        creds.pending = Some(new.clone());
                        self.write_secret(&creds, &self.obs.secret.stamps.clone())
                            .await?;
                        new
                    }
                };
                let grace = (retire_at - self.ctx.clock.now())
                    .to_std()
                    .unwrap_or_default();
                c.rotate_to(id, &pending, grace)
                    .await
                    .map_err(|e| Error::at(p, "rotate the secret", e))?;
                pending
            }
        };
        failpoint::hit("after-rotate-call");
        let now = self.ctx.clock.now();
        let in_grace = retire_at > now;
        let creds = Credentials {
            client_id: id.into(),
            secret: Some(new),
            previous: if in_grace { old } else { None },
            pending: None,
        };
        // Nanoseconds: the rotated-at stamp must differ for every new secret, even
        // for two rotations within one second (back-to-back requests).
        let at = now.to_rfc3339_opts(SecondsFormat::Nanos, true);
        let mac = self
            .write_secret(
                &creds,
                &Stamps {
                    rotation_id: Some(rotation_id),
                    rotated_at: Some(at.clone()),
                },
            )
            .await?;
        failpoint::hit("after-rotate-secret-write");
        // Only once the new secret is safe (the account lock may be busy).
        self.ctx
            .accounts
            .set_rotated(p.account_key(), id, true)
            .await;
        let retires = retire_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        self.finish_status(rotated(reason, mac, at, retires))
            .await?;
        let why = match reason {
            RotationReason::Requested(v) => format!("requested ({v})"),
            RotationReason::Scheduled => "scheduled".into(),
            RotationReason::Expiring => "the secret nears the expiry the provider gives it".into(),
            RotationReason::SecretLost => "the Secret had lost its secret".into(),
            RotationReason::Import => "an imported client needs a secret clientops knows".into(),
            RotationReason::CredentialsRejected => {
                "the provider refused the Secret's secret (changed at the provider)".into()
            }
        };
        let previous = if p.capabilities().grace {
            format!(
                "the previous secret retires at {}",
                retire_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )
        } else {
            format!(
                "the previous secret stopped working at once ({} keeps no previous secret for this client: no grace period; see docs/rotation.md)",
                p.kind()
            )
        };
        self.event(
            EventType::Normal,
            "Rotated",
            "Rotate",
            format!("rotated the secret of client {id}: {why}; {previous}"),
        )
        .await;
        Ok(())
    }

    /// The Secret's secret, for a check or a repair.
    fn secret_in_secret(&self) -> Result<ClientSecret, Error> {
        self.obs
            .secret
            .credentials
            .as_ref()
            .and_then(|c| c.secret.clone())
            .ok_or_else(|| Error::Stalled {
                reason: "SecretNotFound".into(),
                message: "the Secret holds no client secret to check".into(),
            })
    }

    /// A secret clientops chose that the planner found in the Secret
    /// ([`ChosenSecret::Kept`]), picked from its credentials.
    fn kept_secret(
        &self,
        pick: impl FnOnce(&Credentials) -> Option<ClientSecret>,
    ) -> Result<ClientSecret, Error> {
        self.obs
            .secret
            .credentials
            .as_ref()
            .and_then(pick)
            .ok_or_else(|| Error::Stalled {
                reason: "SecretNotFound".into(),
                message: "the Secret no longer holds the secret clientops chose".into(),
            })
    }

    /// Ask the provider whether it accepts the Secret's secret; record the answer.
    async fn verify_credentials(&mut self, id: &str, reason: CheckReason) -> Result<(), Error> {
        let p = self.provider()?;
        let secret = self.secret_in_secret()?;
        let check = match p.verify_secret(id, &secret).await {
            Ok(check) => check,
            Err(e) => {
                self.ctx.metrics.credential_check(reason.label(), "error");
                return Err(Error::at(p, "check the Secret's credentials", e));
            }
        };
        let now = now_rfc3339(self.ctx);
        let before = self.status.credentials.clone().unwrap_or_default();
        let mut c = before.clone();
        c.checked_at = Some(now.clone());
        c.secret_changed_at = match &self.obs.remote {
            RemoteObs::Found(r) => credentials::changed_marker(r),
            _ => None,
        };
        let was_rejected = before.result == Some(CredentialsResult::Rejected);
        let secret_name = &self.desired()?.secret.name;
        let label = match check {
            SecretCheck::Accepted => {
                c.result = Some(CredentialsResult::Accepted);
                c.verified_at = Some(now);
                c.repair_attempts = None;
                c.message = None;
                if was_rejected {
                    self.event(
                        EventType::Normal,
                        "CredentialsAccepted",
                        "VerifyCredentials",
                        format!("the provider accepts the credentials in Secret {secret_name:?} for client {id} again"),
                    )
                    .await;
                }
                "accepted"
            }
            SecretCheck::Rejected => {
                c.result = Some(CredentialsResult::Rejected);
                c.message = None;
                if !was_rejected {
                    self.event(
                        EventType::Warning,
                        "CredentialsRejected",
                        "VerifyCredentials",
                        format!("the provider refuses the credentials in Secret {secret_name:?} for client {id} (its secret was changed at the provider?); repairing them"),
                    )
                    .await;
                }
                "rejected"
            }
            SecretCheck::Unsupported(why) => {
                c.result = Some(CredentialsResult::Unverifiable);
                c.message = Some(why);
                "unverifiable"
            }
        };
        self.ctx.metrics.credential_check(reason.label(), label);
        tracing::debug!(client_id = %id, reason = reason.label(), result = label, "checked the Secret's credentials");
        self.finish_status(StatusPatch {
            credentials: Some(c),
            ..Default::default()
        })
        .await
    }

    /// Set the client's secret back to the Secret's (the check that follows says
    /// whether it took).
    async fn restore_secret(&mut self, id: &str) -> Result<(), Error> {
        let p = self.provider()?;
        let secret = self.secret_in_secret()?;
        let set_back = match p.secrets() {
            Secrets::Chosen(c) => c.rotate_to(id, &secret, Duration::ZERO).await,
            Secrets::Generated(_) => Err(ProviderError::config(format!(
                "{} generates its secrets: it cannot take the Secret's back",
                p.kind()
            ))),
        };
        set_back.map_err(|e| Error::at(p, "set the secret back to the Secret's", e))?;
        self.event(
            EventType::Normal,
            "CredentialsRestored",
            "RestoreSecret",
            format!("set the secret of client {id} at the provider back to the one in the Secret"),
        )
        .await;
        Ok(())
    }

    async fn finish_rotation(&mut self, reason: &RotationReason) -> Result<(), Error> {
        let d = self.desired()?;
        let creds = self.obs.secret.credentials.clone().unwrap_or_default();
        let uid = self.obj.uid().unwrap_or_default();
        let mac = secret_mac(
            &uid,
            &creds.client_id,
            creds.secret.as_ref(),
            creds.previous.as_ref(),
        );
        let at = self
            .obs
            .secret
            .stamps
            .rotated_at
            .clone()
            .unwrap_or_else(|| now_rfc3339(self.ctx));
        let retire_at = super::plan::parse_time(&at)
            .map(|t| t + chrono::Duration::from_std(d.grace).unwrap_or_default())
            .unwrap_or_else(|| self.ctx.clock.now());
        let retires = retire_at.to_rfc3339_opts(SecondsFormat::Secs, true);
        self.finish_status(rotated(reason, mac, at, retires)).await
    }

    /// A rotation took effect at the provider but its secret never reached the Secret
    /// (the response was lost, or we crashed before the write). The provider now
    /// holds the old secret (in the Secret) and an unknown new one, keeps at most
    /// two, refuses another rotation until the old one is deleted, and can delete
    /// only the old one. So no sequence keeps a working secret in the Secret
    /// throughout: the shortest gap is delete old → rotate → write the Secret, two
    /// provider calls and one Secret write, after which the unknown secret is
    /// retired at once (nobody holds it). A Warning event says so. Providers where
    /// the caller chooses the new secret (CSP, Hydra) avoid the gap entirely: the
    /// planner repeats their rotation instead.
    async fn recover_lost_rotation(
        &mut self,
        id: &str,
        reason: &RotationReason,
    ) -> Result<(), Error> {
        let p = self.provider()?;
        let g = match p.secrets() {
            Secrets::Generated(g) => g,
            // Where clientops chooses the secret, a rotation to a chosen one
            // replaces the unknown secret: no gap (the planner plans just that).
            Secrets::Chosen(_) => {
                let retire_at = self.ctx.clock.now()
                    + chrono::Duration::from_std(self.desired()?.grace).unwrap_or_default();
                // (Never planned: the planner repeats the rotation itself. A
                // pending secret in the Secret is sent again, as it would plan.)
                let chosen = match self.obs.secret.credentials.as_ref() {
                    Some(c) if c.pending.is_some() => ChosenSecret::Kept,
                    _ => ChosenSecret::New,
                };
                return self.rotate(id, reason, retire_at, chosen).await;
            }
        };
        // Say so before retiring the Secret's secret: if this stops between the
        // retire and the write, the next attempt must not keep that secret as the
        // "previous" one (it no longer works anywhere).
        if self
            .status
            .pending_rotation
            .as_ref()
            .is_some_and(|p| !p.recovering)
        {
            self.patch_status(StatusPatch {
                pending_rotation: Some(Some(PendingPatch {
                    recovering: Some(true),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .await?;
        }
        self.event(
            EventType::Warning,
            "RotationRecovery",
            "Rotate",
            format!("a rotation of client {id} took effect but its secret was lost; issuing a new one (the current secret stops working for the moment between retiring it and writing the new one)"),
        )
        .await;
        g.retire(id)
            .await
            .map_err(|e| Error::at(p, "retire the previous secret", e))?;
        failpoint::hit("after-recovery-retire");
        self.ctx
            .accounts
            .set_rotated(p.account_key(), id, false)
            .await;
        let rotation_id = self.pending_rotation_id();
        let new = g
            .rotate(id)
            .await
            .map_err(|e| Error::at(p, "rotate the secret", e))?;
        let at = self
            .ctx
            .clock
            .now()
            .to_rfc3339_opts(SecondsFormat::Nanos, true);
        let creds = Credentials {
            client_id: id.into(),
            secret: Some(new),
            previous: None,
            pending: None,
        };
        let mac = self
            .write_secret(
                &creds,
                &Stamps {
                    rotation_id: Some(rotation_id),
                    rotated_at: Some(at.clone()),
                },
            )
            .await?;
        // previousRetiresAt = now: the next plan retires the unknown secret at once.
        self.finish_status(rotated(reason, mac, at.clone(), at))
            .await
    }

    async fn retire(&mut self, id: &str, reason: &RetireReason) -> Result<(), Error> {
        let p = self.provider()?;
        match p.secrets().retire(id).await {
            // Nothing to retire (already gone): the goal is reached.
            Ok(()) | Err(ProviderError::NotFound { .. }) | Err(ProviderError::Conflict { .. }) => {}
            Err(e) => return Err(Error::at(p, "retire the previous secret", e)),
        }
        failpoint::hit("after-retire-call");
        self.ctx
            .accounts
            .set_rotated(p.account_key(), id, false)
            .await;
        let mut patch = StatusPatch {
            rotation: Some(RotationPatch {
                phase: Some(RotationPhase::Idle),
                previous_retires_at: Some(None),
                last_retire_request: match reason {
                    RetireReason::Requested(v) => Some(v.clone()),
                    _ => None,
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Some(creds) = self
            .obs
            .secret
            .credentials
            .clone()
            .filter(|c| c.previous.is_some())
        {
            let creds = Credentials {
                previous: None,
                ..creds
            };
            let mac = self
                .write_secret(&creds, &self.obs.secret.stamps.clone())
                .await?;
            patch.secret_mac = Some(mac);
        }
        self.finish_status(patch).await?;
        let why = match reason {
            RetireReason::GraceElapsed => "the grace period ended".to_string(),
            RetireReason::Requested(v) => format!("requested ({v})"),
            RetireReason::BeforeRotation => "a new rotation is due".into(),
            RetireReason::Unheld => "nobody holds it".into(),
        };
        // A provider without grace replaced the secret at rotation (the Rotated
        // event said so): nothing was retired now.
        if p.capabilities().grace {
            self.event(
                EventType::Normal,
                "Retired",
                "Retire",
                format!("retired the previous secret of client {id}: {why}"),
            )
            .await;
        }
        Ok(())
    }

    async fn rewrite_secret(&mut self) -> Result<(), Error> {
        let creds = match self.obs.secret.credentials.clone() {
            Some(c) => c,
            // A public client has no secret: only the id is published.
            None => Credentials {
                client_id: self.status.client_id.clone().unwrap_or_default(),
                secret: None,
                previous: None,
                pending: None,
            },
        };
        let mac = self
            .write_secret(&creds, &self.obs.secret.stamps.clone())
            .await?;
        self.finish_status(StatusPatch {
            secret_mac: Some(mac),
            secret_name: Some(self.desired()?.secret.name.clone()),
            ..Default::default()
        })
        .await
    }

    async fn orphan_secret(&mut self) -> Result<(), Error> {
        let d = self.desired()?;
        self.set_known_secret(None);
        let api = self.secrets();
        let Some(cur) = api.get_opt(&d.secret.name).await? else {
            return Ok(());
        };
        let ours = owner_reference(self.obj);
        let keep: Vec<_> = cur
            .owner_references()
            .iter()
            .filter(|o| o.uid != ours.uid)
            .cloned()
            .collect();
        let patch = json!({ "metadata": { "ownerReferences": keep, "resourceVersion": cur.resource_version() } });
        api.patch(
            &d.secret.name,
            &PatchParams::default(),
            &Patch::Merge(patch),
        )
        .await?;
        self.event(
            EventType::Normal,
            "Orphaned",
            "Delete",
            format!(
                "left the remote client and Secret {} in place (deletionPolicy: Orphan)",
                d.secret.name
            ),
        )
        .await;
        Ok(())
    }
}

/// Whether `obj` carries the first create's intent annotation.
fn has_intent_annotation(obj: &OAuthClient) -> bool {
    obj.annotations().contains_key(markers::PENDING_CREATE)
}

/// A Secret write refused because the Secret is not ours.
fn is_secret_conflict(e: &Error) -> bool {
    matches!(e, Error::Stalled { reason, .. } if reason == "SecretConflict")
}

/// The status of a finished rotation: the new secret's MAC, when it happened,
/// when the previous secret retires, and the request it handled.
fn rotated(reason: &RotationReason, mac: String, at: String, retires_at: String) -> StatusPatch {
    let mut rotation = RotationPatch {
        phase: Some(RotationPhase::Retiring),
        last_rotated_at: Some(at),
        previous_retires_at: Some(Some(retires_at)),
        ..Default::default()
    };
    if let Some(v) = reason.request() {
        rotation.last_request = Some(Some(v.into()));
    }
    StatusPatch {
        pending_rotation: Some(None),
        secret_mac: Some(mac),
        rotation: Some(rotation),
        ..Default::default()
    }
}

#[cfg(test)]
#[path = "execute_tests.rs"]
mod tests;
