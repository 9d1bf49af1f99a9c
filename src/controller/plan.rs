//! The planner: a pure function from what the controller observed to what it does
//! next. No I/O, no clock: `now` is an input. The executor (`execute.rs`) performs
//! the actions in order and stops at the first failure; the next reconcile plans
//! again from fresh observations, so every action must be safe to repeat.
//!
//! Crash safety lives in the order of actions and in intents recorded in status
//! *before* a remote call that returns a secret once:
//! - create: `RecordPendingCreate` → `Create` (a new object's first create:
//!   `AddFinalizerWithIntent` → `Create`, one write for both). After a crash or a
//!   lost response the observer lists the account and offers the clients that match
//!   the pending create ([`Remote::Candidates`]; with an id clientops chose, the
//!   client with that id); the planner adopts one instead of creating a second,
//!   and then rotates to obtain a secret, because the first one was never seen.
//! - rotate: `RecordPendingRotation` → `Rotate`. The executor writes the new secret
//!   to the Secret (stamped with the rotation id) before it touches status. After a
//!   crash, a Secret carrying the pending rotation's id means the write happened
//!   (`FinishRotation`); a provider holding a rotated secret without it means the
//!   response was lost (`RecoverLostRotation`); neither means the call never took
//!   effect (rotate again). Where clientops chooses the secret (CSP, Hydra), the
//!   chosen secret is in the Secret before the call, and a lost rotation is simply
//!   rotated again with it: no recovery gap.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

pub use super::credentials::{CheckReason, CredentialChecks};
use super::desired::{Desired, SpecError};
pub use super::markers::RotationReason;
use super::markers::{CreateMarker, chosen_client_id, sent_fingerprint};
use crate::api::client::{DeletionPolicy, OAuthClientStatus, RotationPhase};
pub use crate::provider::model::Capabilities;
use crate::provider::model::{Field, RemoteClient, SecretIssuance};
pub use crate::secret::observe::SecretState;

/// Everything the planner looks at.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub now: DateTime<Utc>,
    pub deleting: bool,
    pub has_finalizer: bool,
    pub triggers: Triggers,
    pub desired: Result<&'a Desired, &'a SpecError>,
    /// `spec.deletionPolicy`, read from the spec itself: a spec the controller
    /// cannot act on must still be let go as its owner asked.
    pub deletion_policy: DeletionPolicy,
    pub status: &'a OAuthClientStatus,
    pub remote: Remote<'a>,
    pub secret: SecretState,
    /// The object's UID: the id chosen for it at a provider that lets the caller
    /// choose one is derived from it.
    pub uid: &'a str,
    /// What the provider can do (defaults when it did not resolve: nothing is
    /// done at it then).
    pub capabilities: Capabilities,
    /// When the Secret's credentials are proven at the provider
    /// (`credentials.rs`); `None`: never.
    pub credentials: Option<CredentialChecks>,
    /// A new `clientops.dev/reconcile` value whose forced provider read the
    /// per-object limit put off (`observe.rs`; the provider was read as usual):
    /// the value counts as not seen yet, and is honoured after this long.
    pub reconcile_deferred: Option<Duration>,
}

/// The clientops annotations as they are now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Triggers {
    pub rotate: Option<String>,
    pub retire_previous: Option<String>,
    pub reconcile: Option<String>,
}

/// The remote client, as far as the observer could tell.
#[derive(Clone, Debug)]
pub enum Remote<'a> {
    /// No client id is known and no create is pending.
    NotCreated,
    /// The client with `status.clientId` (or `spec.import.clientId`).
    Found(&'a RemoteClient),
    /// The client with that id does not exist (confirmed by a GET).
    Missing,
    /// A create is pending and these unclaimed clients match it, oldest first.
    Candidates(Vec<&'a RemoteClient>),
    /// The provider could not be asked (unreachable, bad credentials, not admitted).
    Unavailable(Unavailable),
}

/// Why the provider could not be asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// Condition reason, e.g. `ProviderNotReady`, `ProviderNotAdmitted`.
    pub reason: String,
    pub message: String,
    /// Waiting helps (transient); otherwise a human must act (Stalled).
    pub transient: bool,
}

/// One step for the executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    AddFinalizer,
    /// The finalizer and the intent of the object's first create (what
    /// `RecordPendingCreate` records) in one write, before `Create`.
    AddFinalizerWithIntent {
        marker: String,
    },
    RemoveFinalizer,
    /// Record `status.pendingCreate` (the intent: what identifies the client the
    /// create makes) before `Create`. An intent already recorded keeps its start.
    RecordPendingCreate {
        marker: String,
    },
    /// Create the client, write the Secret, then record the client id in status.
    Create {
        how: CreatePath,
    },
    /// Take over an existing client: record its id in status (and, for an import
    /// with `secretRef`, write that secret to the Secret).
    Adopt {
        id: String,
        reason: AdoptReason,
    },
    /// Forget a client that no longer exists at the provider, so it is created anew.
    ForgetMissing {
        id: String,
    },
    /// PATCH exactly these fields.
    Patch {
        id: String,
        fields: Vec<Field>,
    },
    /// Record `status.pendingRotation` before `Rotate`.
    RecordPendingRotation {
        reason: RotationReason,
    },
    /// Rotate, write the Secret (new secret, previous one while in grace), then
    /// status. With a secret clientops chooses, the chosen secret is persisted in
    /// the Secret first and a repeat reuses it (the call is idempotent): that is
    /// also how such a rotation whose outcome was lost is finished.
    Rotate {
        id: String,
        reason: RotationReason,
        retire_at: DateTime<Utc>,
        /// The secret sent where clientops chooses it (`New` where the provider
        /// generates it).
        secret: ChosenSecret,
    },
    /// The Secret holds the pending rotation's secret: only status is behind.
    FinishRotation {
        reason: RotationReason,
    },
    /// A rotation took effect at a provider that generates secrets, but its
    /// secret never reached the Secret. See `execute.rs` for the sequence.
    RecoverLostRotation {
        id: String,
        reason: RotationReason,
    },
    /// Delete the previous secret at the provider and drop it from the Secret.
    Retire {
        id: String,
        reason: RetireReason,
    },
    /// Rewrite the Secret from the values it holds (shape drift).
    WriteSecret,
    /// Delete the remote client (deletion with `deletionPolicy: Delete`).
    DeleteRemote {
        id: String,
    },
    /// Drop the Secret's owner reference so it survives the OAuthClient (Orphan).
    OrphanSecret,
    /// Record the `clientops.dev/reconcile` value as handled.
    RecordReconcileRequest {
        value: String,
    },
    /// Ask the provider whether it accepts the Secret's secret and record the
    /// answer in `status.credentials` (an event and Ready=False when it refuses).
    VerifyCredentials {
        id: String,
        reason: CheckReason,
    },
    /// Count a repair of credentials the provider refuses
    /// (`status.credentials.repairAttempts`) before trying it.
    RecordRepairAttempt,
    /// Set the client's secret at the provider back to the Secret's (providers
    /// where clientops chooses the secret).
    RestoreSecret {
        id: String,
    },
    /// Record a `clientops.dev/retire-previous` value that arrived while no grace
    /// period ran as handled: there was nothing to retire, and a value left
    /// unhandled would otherwise end the *next* rotation's grace period at once.
    RecordRetireRequest {
        value: String,
    },
    /// Record when the current secret expires and when clientops rotates next
    /// (`status.rotation.secretExpiresAt`, `nextRotationAt`; `None` clears).
    RecordRotationTimes {
        secret_expires_at: Option<String>,
        next_rotation_at: Option<String>,
    },
}

/// How a client is created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CreatePath {
    /// The provider chooses the id (and the secret, or the adapter does): a lost
    /// response is resolved by the observer's match rule (marker or fingerprint).
    Generated,
    /// clientops chooses the id and the secret: the secret is written to the
    /// Secret before the call, and a repeat finds the client by its id.
    ChosenId { id: String, secret: ChosenSecret },
}

/// The secret a call that sets a secret clientops chooses sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChosenSecret {
    /// A new one: generated, and written to the Secret before the call.
    New,
    /// The one the Secret already holds for this call (a create: the client's
    /// secret; a rotation: the pending one). A repeat after a crash or a lost
    /// response sends the same secret again (the call is idempotent), so nothing
    /// the Secret holds is lost.
    Kept,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdoptReason {
    /// `spec.import` names it.
    Import,
    /// A create whose response was lost; this is the client it made.
    LostCreateResponse,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetireReason {
    GraceElapsed,
    /// `clientops.dev/retire-previous` has a new value.
    Requested(String),
    /// A rotation is due and the provider refuses a second one while the previous
    /// secret lives.
    BeforeRotation,
    /// Nobody holds the previous secret (it was lost): no reason to keep it.
    Unheld,
}

/// What the object's conditions say once the plan has run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// In sync: Ready=True.
    Ready,
    /// Work is under way (or waiting on something transient): Reconciling=True.
    Progressing { reason: String, message: String },
    /// A human must act: Stalled=True, Ready=False.
    Stalled { reason: String, message: String },
    /// Deleting: nothing to report.
    Deleting,
}

/// The planner's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub verdict: Verdict,
    /// When to look again at the latest, besides the periodic resync.
    pub requeue_after: Option<Duration>,
    /// What is written before the first action (`reconcile.rs` carries it out).
    pub before: Before,
}

/// The status writes that go out before a plan's first action. A status write
/// the previous round held back (`StatusWriter::hold`) goes out before anything
/// is touched, on its own or with the first action's write.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Before {
    /// Work on a Ready object: the verdict's conditions are written first, so
    /// Ready=True never stands beside a half-done change (kstatus, `kubectl wait`).
    pub conditions: bool,
    /// The first action is a status write (an intent): what goes out first goes
    /// out with it, in one write, still before anything else is touched.
    pub with_first_action: bool,
}

impl Plan {
    fn stalled(reason: &str, message: impl Into<String>) -> Self {
        Plan {
            actions: vec![],
            verdict: Verdict::Stalled {
                reason: reason.into(),
                message: message.into(),
            },
            requeue_after: None,
            before: Before::default(),
        }
    }

    /// Whether this plan does nothing but make the client (its finalizer, its
    /// intent, the create), or nothing at all: all that a Secret assumed absent
    /// without a read (a never-reconciled object's, `reconcile.rs`) may decide. A
    /// create survives the assumption being wrong (the Secret write finds the
    /// Secret and reads it); a rotation or a repair would overwrite what it holds.
    pub fn only_creates(&self) -> bool {
        self.actions.iter().all(|a| {
            matches!(
                a,
                Action::AddFinalizer
                    | Action::AddFinalizerWithIntent { .. }
                    | Action::RecordPendingCreate { .. }
                    | Action::Create { .. }
            )
        })
    }
}

/// Decide what to do next.
pub fn plan(input: &Input<'_>) -> Plan {
    // A reconcile request whose forced read is put off is not seen yet: neither
    // recorded nor a reason to check the credentials; it is looked at again then.
    let deferred;
    let input = match input.reconcile_deferred {
        Some(_) => {
            deferred = Input {
                triggers: Triggers {
                    reconcile: input.status.last_reconcile_request.clone(),
                    ..input.triggers.clone()
                },
                ..input.clone()
            };
            &deferred
        }
        None => input,
    };
    let mut p = decide(input);
    if let Some(wait) = input.reconcile_deferred {
        p.requeue_after = Some(p.requeue_after.map_or(wait, |d| d.min(wait)));
    }
    p.before = before(input, &p);
    p
}

/// What goes out before the first action of `p` (see [`Before`]).
fn before(input: &Input<'_>, p: &Plan) -> Before {
    let ready = input
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    Before {
        conditions: !p.actions.is_empty()
            && ready
            && !input.deleting
            && p.verdict != Verdict::Ready,
        with_first_action: matches!(
            p.actions.first(),
            Some(
                Action::RecordPendingRotation { .. }
                    | Action::RecordPendingCreate { .. }
                    | Action::ForgetMissing { .. }
            )
        ),
    }
}

fn decide(input: &Input<'_>) -> Plan {
    if input.deleting {
        return plan_deletion(input);
    }
    let mut actions = vec![];
    if !input.has_finalizer {
        actions.push(Action::AddFinalizer);
    }
    let desired = match input.desired {
        Ok(d) => d,
        Err(e) => {
            let mut p = Plan::stalled(e.reason(), e.to_string());
            p.actions = actions;
            return p;
        }
    };
    if input.secret.foreign {
        let message = match &input.secret.client_id {
            // Only for an object that has made no client: deleting it is then
            // harmless (with a client, `deletionPolicy: Delete` would delete it).
            Some(id)
                if input.secret.orphaned
                    && input.status.client_id.is_none()
                    && input.status.pending_create.is_none() =>
            {
                format!(
                    "Secret {name:?} was probably left behind by a deleted OAuthClient of this name (deletionPolicy: Orphan) and holds client id {id:?}, which the provider may still have; clientops never overwrites a Secret it does not own. To manage that client again, delete this OAuthClient (it has made no client) and create it again with spec.import.clientId: {id:?}, spec.import.secretRef: {{name: {name}, key: {key}}} (the secret in it proves the client is yours) and spec.secret.name set to a new name; delete Secret {name:?} once the new one is Ready. Or set spec.secret.name to another name to make a new client",
                    name = desired.secret.name,
                    key = desired.secret.key_client_secret,
                )
            }
            _ => format!(
                "Secret {:?} exists and is not owned by this OAuthClient; clientops never overwrites it. Delete or rename that Secret, or set spec.secret.name to another name",
                desired.secret.name
            ),
        };
        let mut p = Plan::stalled("SecretConflict", message);
        p.actions = actions;
        return p;
    }
    let status = input.status;
    // A provider that replaces the secret in one step keeps no previous one.
    let caps = input.capabilities;
    let grace = if caps.grace {
        desired.grace
    } else {
        Duration::ZERO
    };
    let progressing = |reason: &str, message: &str| Verdict::Progressing {
        reason: reason.into(),
        message: message.into(),
    };

    let remote = match &input.remote {
        Remote::Unavailable(u) => {
            let verdict = if u.transient {
                progressing(&u.reason, &u.message)
            } else {
                Verdict::Stalled {
                    reason: u.reason.clone(),
                    message: u.message.clone(),
                }
            };
            return Plan {
                actions,
                verdict,
                requeue_after: None,
                before: Before::default(),
            };
        }
        Remote::NotCreated => {
            if let Some(import) = &desired.import {
                // The observer GETs the import id; NotCreated here means it has not yet.
                return Plan::stalled(
                    "ImportNotFound",
                    format!(
                        "spec.import.clientId: no client {:?} at the provider; check the id",
                        import.client_id
                    ),
                );
            }
            create(input, desired, &mut actions);
            return Plan {
                actions,
                verdict: progressing("Creating", "creating the client at the provider"),
                requeue_after: None,
                before: Before::default(),
            };
        }
        Remote::Candidates(found) => {
            match found.first() {
                Some(c) => actions.push(Action::Adopt {
                    id: c.id.clone(),
                    reason: AdoptReason::LostCreateResponse,
                }),
                // The pending create never took effect: create (the intent stays
                // recorded, its marker updated to what this create sends).
                None => create(input, desired, &mut actions),
            }
            return Plan {
                actions,
                verdict: progressing("Creating", "resolving a create whose outcome was unknown"),
                requeue_after: None,
                before: Before::default(),
            };
        }
        Remote::Missing => {
            match (&status.client_id, &desired.import) {
                (None, Some(import)) => {
                    return Plan::stalled(
                        "ImportNotFound",
                        format!(
                            "spec.import.clientId: no client {:?} at the provider; check the id",
                            import.client_id
                        ),
                    );
                }
                (Some(id), _) => actions.push(Action::ForgetMissing { id: id.clone() }),
                (None, None) => {}
            }
            create(input, desired, &mut actions);
            return Plan {
                actions,
                verdict: progressing(
                    "Recreating",
                    "the client was deleted at the provider; creating it anew",
                ),
                requeue_after: None,
                before: Before::default(),
            };
        }
        Remote::Found(r) => *r,
    };

    // Known remote client. Adopt it if status does not name it yet (import).
    if status.client_id.as_deref() != Some(remote.id.as_str()) {
        actions.push(Action::Adopt {
            id: remote.id.clone(),
            reason: AdoptReason::Import,
        });
        return Plan {
            actions,
            verdict: progressing("Importing", "adopting the existing client"),
            requeue_after: None,
            before: Before::default(),
        };
    }
    let id = remote.id.clone();
    let rotation = status.rotation.clone().unwrap_or_default();
    let retiring = rotation.phase == Some(RotationPhase::Retiring);
    let needs_secret = !desired.public_client;

    // 1. A pending rotation is resolved before anything else.
    if let Some(pending) = &status.pending_rotation {
        let written = input.secret.rotation_id.as_deref() == Some(pending.started_at.as_str());
        let reason = RotationReason::from_marker(pending.marker.as_deref());
        if written {
            actions.push(Action::FinishRotation { reason });
        } else if remote.has_rotated_secret
            && !retiring
            && caps.secret_issuance == SecretIssuance::ProviderGenerated
        {
            actions.push(Action::RecoverLostRotation { id, reason });
        } else {
            // Never took effect, or (a secret clientops chose) took effect: the
            // same call again, with the same secret. Mid-recovery, the Secret's secret is retired already: publish no
            // previous secret, and retire the one nobody holds at once.
            let retire_at = if pending.recovering {
                input.now
            } else {
                input.now + chrono_dur(grace)
            };
            actions.push(Action::Rotate {
                id,
                reason,
                retire_at,
                secret: rotation_secret(input),
            });
        }
        return Plan {
            actions,
            verdict: progressing("Rotating", "finishing a rotation"),
            requeue_after: None,
            before: Before::default(),
        };
    }

    // 2. The Secret lost its secret (deleted, emptied or tampered): a fresh one.
    let secret_ok = !needs_secret
        || (input.secret.has_secret
            && input.secret.mac_matches
            && input.secret.client_id.as_deref() == Some(id.as_str()));
    if !secret_ok {
        let reason = if status.secret_mac.is_none() && desired.import.is_some() {
            RotationReason::Import
        } else {
            RotationReason::SecretLost
        };
        if remote.has_rotated_secret {
            // The provider refuses a second rotation while the previous secret lives;
            // the Secret holds no secret we can vouch for, so nothing depends on it.
            actions.push(Action::Retire {
                id,
                reason: RetireReason::Unheld,
            });
        } else {
            // A secret nobody can hold (the lost response of our own create) is
            // retired at once; otherwise workloads keep the grace period.
            let never_written = status.secret_mac.is_none() && reason == RotationReason::SecretLost;
            let retire_at = if never_written {
                input.now
            } else {
                input.now + chrono_dur(grace)
            };
            actions.push(Action::RecordPendingRotation {
                reason: reason.clone(),
            });
            actions.push(Action::Rotate {
                id,
                reason,
                retire_at,
                secret: rotation_secret(input),
            });
        }
        return Plan {
            actions,
            verdict: progressing(
                "Rotating",
                "issuing a new secret: the Secret does not hold a working one",
            ),
            requeue_after: None,
            before: Before::default(),
        };
    }

    // 2b. The provider refuses the Secret's secret: repair it first (credentials.rs).
    let creds = super::credentials::assess(input, remote, needs_secret);
    if let Some(repair) = creds.repair {
        actions.extend(repair);
        return Plan {
            actions,
            verdict: progressing(
                "CredentialsRejected",
                "the provider refuses the credentials in the Secret; repairing them",
            ),
            requeue_after: None,
            before: Before::default(),
        };
    }

    // 3. Retire the previous secret when its time has come or on request.
    let retire_requested = input
        .triggers
        .retire_previous
        .as_ref()
        .filter(|v| rotation.last_retire_request.as_ref() != Some(*v));
    let retire_at = rotation.previous_retires_at.as_deref().and_then(parse_time);
    if retiring {
        let due = retire_at.is_none_or(|t| t <= input.now);
        if let Some(v) = retire_requested {
            actions.push(Action::Retire {
                id: id.clone(),
                reason: RetireReason::Requested(v.clone()),
            });
        } else if due {
            actions.push(Action::Retire {
                id: id.clone(),
                reason: RetireReason::GraceElapsed,
            });
        }
    } else if let Some(v) = retire_requested {
        actions.push(Action::RecordRetireRequest { value: v.clone() });
    }
    let retiring_after_actions =
        retiring && !actions.iter().any(|a| matches!(a, Action::Retire { .. }));

    // 4. A rotation requested or due.
    let rotate_requested = input
        .triggers
        .rotate
        .as_ref()
        .filter(|v| rotation.last_request.as_ref() != Some(*v));
    let last_rotated = rotation.last_rotated_at.as_deref().and_then(parse_time);
    let times = RotationTimes::of(desired, remote, last_rotated, grace);
    let scheduled_due = times.scheduled.is_some_and(|t| t <= input.now);
    let expiring_due = times.expiry_rotation.is_some_and(|t| t <= input.now);
    let rotation_reason = match (rotate_requested, scheduled_due, expiring_due) {
        (Some(v), _, _) => Some(RotationReason::Requested(v.clone())),
        (None, true, _) => Some(RotationReason::Scheduled),
        (None, false, true) => Some(RotationReason::Expiring),
        _ => None,
    };
    if let Some(reason) = rotation_reason.clone().filter(|_| needs_secret) {
        if retiring_after_actions {
            actions.push(Action::Retire {
                id: id.clone(),
                reason: RetireReason::BeforeRotation,
            });
        }
        actions.push(Action::RecordPendingRotation {
            reason: reason.clone(),
        });
        if remote.has_rotated_secret
            && !retiring
            && caps.secret_issuance == SecretIssuance::ProviderGenerated
        {
            // Rotated outside clientops: the provider holds a secret nobody gave us
            // and the Secret's is now the previous one. Same state as a lost
            // rotation response, same recovery. (Where clientops chooses the
            // secret, the rotation to a chosen one replaces the unknown one.)
            actions.push(Action::RecoverLostRotation {
                id: id.clone(),
                reason,
            });
        } else {
            actions.push(Action::Rotate {
                id: id.clone(),
                reason,
                retire_at: input.now + chrono_dur(grace),
                secret: rotation_secret(input),
            });
        }
    }

    // 4b. What the status says of the next rotation, when it changed (after a
    // rotation, the next round says it: the provider then shows the new secret's
    // expiry).
    if rotation_reason.is_none() {
        let (expires, next) = times.shown();
        if rotation.secret_expires_at != expires || rotation.next_rotation_at != next {
            actions.push(Action::RecordRotationTimes {
                secret_expires_at: expires,
                next_rotation_at: next,
            });
        }
    }

    // 5. Drift: PATCH only the fields that differ.
    let drift = desired.fields.diff(&remote.fields);
    if !drift.is_empty() {
        actions.push(Action::Patch {
            id: id.clone(),
            fields: drift,
        });
    }

    // 6. The Secret's shape (labels, annotations, keys, extra data, owner).
    if !input.secret.shape_matches
        && !actions
            .iter()
            .any(|a| matches!(a, Action::Rotate { .. } | Action::Retire { .. }))
    {
        actions.push(Action::WriteSecret);
    }

    // 7. Prove the Secret's credentials when due, unless a new secret is on its way
    // (it is checked once written). Before the forced resync is recorded: a check
    // that fails is asked again.
    if let Some(reason) = creds.check
        && !actions.iter().any(|a| {
            matches!(
                a,
                Action::Rotate { .. } | Action::RecoverLostRotation { .. }
            )
        })
    {
        actions.push(Action::VerifyCredentials {
            id: id.clone(),
            reason,
        });
    }

    // 8. A forced resync was observed: record it.
    if let Some(v) = input
        .triggers
        .reconcile
        .as_ref()
        .filter(|v| status.last_reconcile_request.as_ref() != Some(*v))
    {
        actions.push(Action::RecordReconcileRequest { value: v.clone() });
    }

    // Wake up exactly when the next timed event is due.
    let mut wake: Vec<DateTime<Utc>> = vec![];
    if retiring_after_actions && !actions.iter().any(|a| matches!(a, Action::Rotate { .. })) {
        wake.extend(retire_at);
    }
    if rotation_reason.is_none() {
        wake.extend(times.next());
    }
    wake.extend(creds.wake);
    let requeue_after = wake
        .into_iter()
        .min()
        .map(|t| (t - input.now).to_std().unwrap_or(Duration::ZERO));

    // A check alone leaves Ready as it is: it changes nothing, and its answer
    // decides the next round's verdict.
    let verdict = if actions.iter().all(|a| {
        matches!(
            a,
            Action::AddFinalizer
                | Action::RecordReconcileRequest { .. }
                | Action::RecordRetireRequest { .. }
                | Action::RecordRotationTimes { .. }
                | Action::VerifyCredentials { .. }
        )
    }) {
        match creds.rejected {
            // Checking again: still not Ready.
            Some(message)
                if actions
                    .iter()
                    .any(|a| matches!(a, Action::VerifyCredentials { .. })) =>
            {
                progressing("CredentialsRejected", &message)
            }
            Some(message) => Verdict::Stalled {
                reason: "CredentialsRejected".into(),
                message,
            },
            None => Verdict::Ready,
        }
    } else if let Some(Action::Patch { fields, .. }) =
        actions.iter().find(|a| matches!(a, Action::Patch { .. }))
    {
        let names: Vec<_> = fields.iter().map(|f| f.spec_path()).collect();
        progressing(
            "Updating",
            &format!("updating {} at the provider", names.join(", ")),
        )
    } else if actions.iter().any(|a| matches!(a, Action::Rotate { .. })) {
        progressing("Rotating", "rotating the client secret")
    } else if actions.iter().any(|a| matches!(a, Action::Retire { .. })) {
        progressing("Retiring", "retiring the previous secret")
    } else {
        progressing("UpdatingSecret", "updating the Secret")
    };
    Plan {
        actions,
        verdict,
        requeue_after,
        before: Before::default(),
    }
}

fn plan_deletion(input: &Input<'_>) -> Plan {
    let deleting = |actions| Plan {
        actions,
        verdict: Verdict::Deleting,
        requeue_after: None,
        before: Before::default(),
    };
    if !input.has_finalizer {
        return deleting(vec![]);
    }
    if input.deletion_policy == DeletionPolicy::Orphan {
        let mut actions = vec![];
        if input.secret.exists && !input.secret.foreign {
            actions.push(Action::OrphanSecret);
        }
        actions.push(Action::RemoveFinalizer);
        return deleting(actions);
    }
    // An object that holds no client and started no create has nothing remote to
    // delete: above all not the client an import named but never adopted (its
    // ownership was never shown; it may be another tenant's).
    if input.status.client_id.is_none() && input.status.pending_create.is_none() {
        return deleting(vec![Action::RemoveFinalizer]);
    }
    match &input.remote {
        Remote::Unavailable(u) => Plan {
            actions: vec![],
            verdict: Verdict::Stalled {
                reason: u.reason.clone(),
                message: format!(
                    "cannot delete the remote client: {}. Fix the provider, or set spec.deletionPolicy: Orphan to leave the client in place",
                    u.message
                ),
            },
            requeue_after: None,
            before: Before::default(),
        },
        // A create may have taken effect: adopt what it made, then delete it.
        Remote::Candidates(found) => match found.first() {
            Some(c) => deleting(vec![
                Action::DeleteRemote { id: c.id.clone() },
                Action::RemoveFinalizer,
            ]),
            None => deleting(vec![Action::RemoveFinalizer]),
        },
        Remote::Found(r) => deleting(vec![
            Action::DeleteRemote { id: r.id.clone() },
            Action::RemoveFinalizer,
        ]),
        Remote::Missing | Remote::NotCreated => deleting(vec![Action::RemoveFinalizer]),
    }
}

/// Push the intent (unless recorded as it is) and the create, on the path the
/// provider's capabilities and an intent already recorded say.
fn create(input: &Input<'_>, desired: &Desired, actions: &mut Vec<Action>) {
    let recorded = input
        .status
        .pending_create
        .as_ref()
        .and_then(|p| p.marker.as_deref());
    // An intent recorded with a chosen id keeps that path: a repeat must find
    // that client. The id is the one the UID gives, never read from the marker.
    let chosen = matches!(
        recorded.and_then(CreateMarker::parse),
        Some(CreateMarker::ChosenId(_))
    ) || input.capabilities.chooses_client_id;
    let how = if chosen {
        let id = chosen_client_id(input.uid);
        // A repeat (the first attempt wrote the Secret, then stopped) sends the
        // secret the Secret holds for that id: a client it made has that secret.
        let secret =
            if input.secret.client_id.as_deref() == Some(id.as_str()) && input.secret.has_secret {
                ChosenSecret::Kept
            } else {
                ChosenSecret::New
            };
        CreatePath::ChosenId { id, secret }
    } else {
        CreatePath::Generated
    };
    let marker = match &how {
        CreatePath::ChosenId { id, .. } => CreateMarker::ChosenId(id).to_string(),
        CreatePath::Generated => {
            let fp = sent_fingerprint(&desired.fields.name, &desired.fields.redirect_uris);
            CreateMarker::Sent(&fp).to_string()
        }
    };
    if recorded != Some(marker.as_str()) {
        // A new object: its finalizer and its intent in one write.
        if recorded.is_none() && actions.last() == Some(&Action::AddFinalizer) {
            actions.pop();
            actions.push(Action::AddFinalizerWithIntent { marker });
        } else {
            actions.push(Action::RecordPendingCreate { marker });
        }
    }
    actions.push(Action::Create { how });
}

/// The secret a rotation sends where clientops chooses it: the one an earlier
/// attempt wrote to the Secret as pending (it may be in use at the provider
/// already), else a new one.
fn rotation_secret(input: &Input<'_>) -> ChosenSecret {
    if input.capabilities.secret_issuance == SecretIssuance::CallerChosen
        && input.secret.has_pending
    {
        ChosenSecret::Kept
    } else {
        ChosenSecret::New
    }
}

/// Parse an RFC 3339 timestamp from status.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// When a client's secret is next replaced without a request, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationTimes {
    /// `spec.rotation.every` after the last rotation.
    pub scheduled: Option<DateTime<Utc>>,
    /// When the current secret expires (an older secret's expiry is not its).
    pub secret_expires_at: Option<DateTime<Utc>>,
    /// When it is replaced before that ([`expiry_rotation_at`]).
    pub expiry_rotation: Option<DateTime<Utc>>,
}

impl RotationTimes {
    /// The times of client `remote` of `desired`, last rotated (or created) at
    /// `last_rotated`, whose rotations keep the previous secret for `grace`. None
    /// for a public client: it has no secret.
    pub fn of(
        desired: &Desired,
        remote: &RemoteClient,
        last_rotated: Option<DateTime<Utc>>,
        grace: Duration,
    ) -> Self {
        if desired.public_client {
            return RotationTimes {
                scheduled: None,
                secret_expires_at: None,
                expiry_rotation: None,
            };
        }
        let scheduled = desired
            .rotation_every
            .zip(last_rotated)
            .map(|(every, at)| at + chrono_dur(every));
        let issued = [remote.secret_changed_at, last_rotated, remote.created_at]
            .into_iter()
            .flatten()
            .max();
        let expiry_rotation = remote
            .secret_expires_at
            .and_then(|e| expiry_rotation_at(e, issued, grace));
        RotationTimes {
            scheduled,
            secret_expires_at: remote
                .secret_expires_at
                .filter(|_| expiry_rotation.is_some()),
            expiry_rotation,
        }
    }

    /// The next rotation without a request: the earlier of the two.
    pub fn next(&self) -> Option<DateTime<Utc>> {
        self.scheduled.into_iter().chain(self.expiry_rotation).min()
    }

    /// `status.rotation.secretExpiresAt` and `nextRotationAt` as they read.
    pub fn shown(&self) -> (Option<String>, Option<String>) {
        let shown =
            |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
        (shown(self.secret_expires_at), shown(self.next()))
    }
}

/// The least time before its expiry a secret is replaced: an operator down for a
/// weekend still rotates in time.
pub const EXPIRY_LEAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// When a secret that expires at `expires` (issued at `issued`, where known) is
/// replaced: the grace period before its expiry (the time workloads get to pick
/// the new secret up), at least [`EXPIRY_LEAD`], and at most half the secret's
/// lifetime, so a provider that issues short-lived secrets is not asked for a new
/// one at every round. `None` for an expiry before the issue: an older secret's,
/// from a listing read before the last rotation.
pub fn expiry_rotation_at(
    expires: DateTime<Utc>,
    issued: Option<DateTime<Utc>>,
    grace: Duration,
) -> Option<DateTime<Utc>> {
    let lead = chrono_dur(grace.max(EXPIRY_LEAD));
    match issued {
        Some(i) if expires <= i => None,
        Some(i) => Some(expires - lead.min((expires - i) / 2)),
        None => Some(expires - lead),
    }
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
