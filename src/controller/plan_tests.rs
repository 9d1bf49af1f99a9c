//! Table-driven tests of the planner: one scenario per behaviour a user relies on.

use super::*;
use crate::api::client::{PendingOperation, RotationStatus};
use crate::controller::desired::{Desired, Import, SecretShape};
use crate::provider::model::ClientFields;

fn t(s: &str) -> DateTime<Utc> {
    parse_time(s).unwrap()
}

const NOW: &str = "2026-11-24T12:00:00Z";

fn desired() -> Desired {
    Desired {
        fields: ClientFields {
            name: "Grafana".into(),
            redirect_uris: vec!["https://g.example.com/cb".into()],
            grant_types: ["authorization_code".to_string()].into(),
            response_types: ["code".to_string()].into(),
            scopes: ["account.read".to_string()].into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            ..Default::default()
        },
        secret: SecretShape {
            name: "grafana".into(),
            publish_previous: true,
            ..Default::default()
        },
        deletion_policy: DeletionPolicy::Delete,
        import: None,
        rotation_every: None,
        grace: Duration::from_secs(3600),
        public_client: false,
    }
}

fn remote(d: &Desired) -> RemoteClient {
    RemoteClient {
        id: "c1".into(),
        fields: d.fields.clone(),
        has_rotated_secret: false,
        created_at: None,
        marker: None,
    }
}

fn good_secret() -> SecretState {
    SecretState {
        exists: true,
        foreign: false,
        orphaned: false,
        client_id: Some("c1".into()),
        has_secret: true,
        has_previous: false,
        mac_matches: true,
        shape_matches: true,
        rotation_id: None,
    }
}

fn created_status() -> OAuthClientStatus {
    OAuthClientStatus {
        client_id: Some("c1".into()),
        secret_mac: Some("mac".into()),
        rotation: Some(RotationStatus {
            phase: Some(RotationPhase::Idle),
            last_rotated_at: Some("2026-11-01T00:00:00Z".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A steady-state input: created, in sync, Secret fine.
#[derive(Debug)]
struct Case {
    desired: Desired,
    status: OAuthClientStatus,
    remote: Option<RemoteClient>,
    remote_kind: &'static str,
    candidates: Vec<RemoteClient>,
    secret: SecretState,
    triggers: Triggers,
    deleting: bool,
    has_finalizer: bool,
    spec_error: Option<SpecError>,
    unavailable: Option<Unavailable>,
}

impl Case {
    fn steady() -> Self {
        let d = desired();
        Case {
            remote: Some(remote(&d)),
            desired: d,
            status: created_status(),
            remote_kind: "found",
            candidates: vec![],
            secret: good_secret(),
            triggers: Triggers::default(),
            deleting: false,
            has_finalizer: true,
            spec_error: None,
            unavailable: None,
        }
    }

    fn plan(&self) -> Plan {
        let remote = match self.remote_kind {
            "found" => Remote::Found(self.remote.as_ref().unwrap()),
            "missing" => Remote::Missing,
            "not-created" => Remote::NotCreated,
            "candidates" => Remote::Candidates(self.candidates.iter().collect()),
            "unavailable" => Remote::Unavailable(self.unavailable.clone().unwrap()),
            other => panic!("{other}"),
        };
        let desired = match &self.spec_error {
            Some(e) => Err(e),
            None => Ok(&self.desired),
        };
        plan(&Input {
            now: t(NOW),
            deleting: self.deleting,
            has_finalizer: self.has_finalizer,
            triggers: self.triggers.clone(),
            desired,
            status: &self.status,
            remote,
            secret: self.secret.clone(),
            provider_supports_grace: true,
        })
    }
}

fn is_stalled(p: &Plan, reason: &str) -> bool {
    matches!(&p.verdict, Verdict::Stalled { reason: r, .. } if r == reason)
}

#[test]
fn a_new_object_gets_a_finalizer_an_intent_then_a_create() {
    let mut c = Case::steady();
    c.has_finalizer = false;
    c.status = OAuthClientStatus::default();
    c.remote_kind = "not-created";
    c.secret = SecretState::default();
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![
            Action::AddFinalizer,
            Action::RecordPendingCreate,
            Action::Create
        ]
    );
    assert!(matches!(p.verdict, Verdict::Progressing { .. }));
}

#[test]
fn in_sync_is_ready_and_does_nothing() {
    let p = Case::steady().plan();
    assert_eq!(p.actions, vec![]);
    assert_eq!(p.verdict, Verdict::Ready);
    assert_eq!(p.requeue_after, None);
}

#[test]
fn an_invalid_spec_stalls_without_touching_the_provider() {
    let mut c = Case::steady();
    c.spec_error = Some(SpecError {
        field: "spec.scopes".into(),
        message: "no colons".into(),
    });
    let p = c.plan();
    assert!(p.actions.is_empty());
    assert!(
        matches!(&p.verdict, Verdict::Stalled { reason, message } if reason == "InvalidSpec" && message.contains("spec.scopes"))
    );
}

#[test]
fn a_foreign_secret_stalls_before_any_client_is_created() {
    let mut c = Case::steady();
    c.status = OAuthClientStatus::default();
    c.remote_kind = "not-created";
    c.secret = SecretState {
        exists: true,
        foreign: true,
        ..Default::default()
    };
    let p = c.plan();
    assert!(!p.actions.contains(&Action::Create), "{p:?}");
    assert!(is_stalled(&p, "SecretConflict"));
}

/// A Secret left behind by a deleted namesake with `deletionPolicy: Orphan`.
fn orphaned_secret() -> SecretState {
    SecretState {
        exists: true,
        foreign: true,
        orphaned: true,
        client_id: Some("left-behind-id".into()),
        ..Default::default()
    }
}

#[test]
fn a_secret_left_by_an_orphaned_namesake_names_its_client_and_the_import_fix() {
    let mut c = Case::steady();
    c.status = OAuthClientStatus::default();
    c.remote_kind = "not-created";
    c.secret = orphaned_secret();
    let p = c.plan();
    assert!(!p.actions.contains(&Action::Create), "{p:?}");
    assert!(
        matches!(&p.verdict, Verdict::Stalled { reason, message }
            if reason == "SecretConflict"
                && message.contains("deletionPolicy: Orphan")
                && message.contains("spec.import.clientId: \"left-behind-id\"")),
        "{p:?}"
    );
}

#[test]
fn an_object_with_a_client_is_never_told_to_delete_itself_over_an_orphaned_secret() {
    // spec.secret.name of a working object pointed at an orphaned namesake's
    // Secret: deleting the object (deletionPolicy: Delete) would delete its client.
    let mut c = Case::steady();
    c.secret = orphaned_secret();
    let p = c.plan();
    assert!(
        matches!(&p.verdict, Verdict::Stalled { reason, message }
            if reason == "SecretConflict"
                && !message.contains("delete this OAuthClient")
                && message.contains("spec.secret.name")),
        "{p:?}"
    );
}

#[test]
fn a_pending_create_adopts_the_client_it_made_instead_of_creating_another() {
    let mut c = Case::steady();
    c.status = OAuthClientStatus {
        pending_create: Some(PendingOperation {
            started_at: NOW.into(),
            marker: None,
            recovering: false,
        }),
        ..Default::default()
    };
    c.remote_kind = "candidates";
    c.candidates = vec![remote(&c.desired)];
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![Action::Adopt {
            id: "c1".into(),
            reason: AdoptReason::LostCreateResponse
        }]
    );
}

#[test]
fn a_pending_create_that_never_happened_creates_without_a_second_intent() {
    let mut c = Case::steady();
    c.status = OAuthClientStatus {
        pending_create: Some(PendingOperation {
            started_at: NOW.into(),
            marker: None,
            recovering: false,
        }),
        ..Default::default()
    };
    c.remote_kind = "candidates";
    let p = c.plan();
    assert_eq!(p.actions, vec![Action::Create]);
}

#[test]
fn after_adopting_a_lost_create_a_fresh_secret_is_issued_and_the_unseen_one_retired_at_once() {
    let mut c = Case::steady();
    c.status = OAuthClientStatus {
        client_id: Some("c1".into()),
        ..Default::default()
    };
    c.secret = SecretState::default();
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![
            Action::RecordPendingRotation {
                reason: RotationReason::SecretLost
            },
            Action::Rotate {
                id: "c1".into(),
                reason: RotationReason::SecretLost,
                retire_at: t(NOW)
            },
        ]
    );
}

#[test]
fn drift_patches_only_the_fields_that_differ() {
    let mut c = Case::steady();
    let r = c.remote.as_mut().unwrap();
    r.fields.redirect_uris = vec!["https://evil.example.com/cb".into()];
    r.fields.name = "Renamed in the dashboard".into();
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![Action::Patch {
            id: "c1".into(),
            fields: vec![Field::Name, Field::RedirectUris]
        }]
    );
    assert!(
        matches!(&p.verdict, Verdict::Progressing { reason, message } if reason == "Updating" && message.contains("spec.redirectUris"))
    );
}

#[test]
fn a_client_deleted_at_the_provider_is_created_anew() {
    let mut c = Case::steady();
    c.remote_kind = "missing";
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![
            Action::ForgetMissing { id: "c1".into() },
            Action::RecordPendingCreate,
            Action::Create
        ]
    );
}

#[test]
fn a_deleted_secret_is_repaired_by_rotating_with_grace() {
    let mut c = Case::steady();
    c.secret = SecretState::default();
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![
            Action::RecordPendingRotation {
                reason: RotationReason::SecretLost
            },
            Action::Rotate {
                id: "c1".into(),
                reason: RotationReason::SecretLost,
                retire_at: t("2026-11-24T13:00:00Z")
            },
        ]
    );
}

#[test]
fn a_tampered_secret_is_repaired_by_rotating() {
    let mut c = Case::steady();
    c.secret.mac_matches = false;
    assert!(c.plan().actions.iter().any(|a| matches!(
        a,
        Action::Rotate {
            reason: RotationReason::SecretLost,
            ..
        }
    )));
}

#[test]
fn a_lost_secret_while_the_provider_holds_two_retires_first() {
    let mut c = Case::steady();
    c.secret = SecretState::default();
    c.remote.as_mut().unwrap().has_rotated_secret = true;
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![Action::Retire {
            id: "c1".into(),
            reason: RetireReason::Unheld
        }]
    );
}

#[test]
fn a_new_rotate_annotation_rotates_once() {
    let mut c = Case::steady();
    c.triggers.rotate = Some("2026-11-24".into());
    let p = c.plan();
    let reason = RotationReason::Requested("2026-11-24".into());
    assert_eq!(
        p.actions,
        vec![
            Action::RecordPendingRotation {
                reason: reason.clone()
            },
            Action::Rotate {
                id: "c1".into(),
                reason,
                retire_at: t("2026-11-24T13:00:00Z")
            },
        ]
    );
    // Handled already: nothing.
    c.status.rotation.as_mut().unwrap().last_request = Some("2026-11-24".into());
    assert_eq!(c.plan().actions, vec![]);
}

#[test]
fn a_rotation_requested_while_retiring_finishes_the_retirement_first() {
    let mut c = Case::steady();
    let rot = c.status.rotation.as_mut().unwrap();
    rot.phase = Some(RotationPhase::Retiring);
    rot.previous_retires_at = Some("2026-11-24T18:00:00Z".into());
    c.remote.as_mut().unwrap().has_rotated_secret = true;
    c.triggers.rotate = Some("again".into());
    let p = c.plan();
    assert_eq!(
        p.actions[0],
        Action::Retire {
            id: "c1".into(),
            reason: RetireReason::BeforeRotation
        }
    );
    assert!(matches!(p.actions[2], Action::Rotate { .. }));
}

#[test]
fn a_rotation_requested_after_an_out_of_band_rotation_recovers_instead_of_rotating_twice() {
    let mut c = Case::steady();
    c.remote.as_mut().unwrap().has_rotated_secret = true;
    c.triggers.rotate = Some("r".into());
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![
            Action::RecordPendingRotation {
                reason: RotationReason::Requested("r".into())
            },
            Action::RecoverLostRotation { id: "c1".into() },
        ]
    );
}

#[test]
fn the_previous_secret_is_retired_exactly_when_grace_ends() {
    let mut c = Case::steady();
    let rot = c.status.rotation.as_mut().unwrap();
    rot.phase = Some(RotationPhase::Retiring);
    rot.previous_retires_at = Some("2026-11-24T12:30:00Z".into());
    c.remote.as_mut().unwrap().has_rotated_secret = true;
    let p = c.plan();
    assert_eq!(p.actions, vec![]);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(1800)));
    c.status.rotation.as_mut().unwrap().previous_retires_at = Some("2026-11-24T11:59:59Z".into());
    assert_eq!(
        c.plan().actions,
        vec![Action::Retire {
            id: "c1".into(),
            reason: RetireReason::GraceElapsed
        }]
    );
}

#[test]
fn retire_previous_annotation_ends_grace_now() {
    let mut c = Case::steady();
    let rot = c.status.rotation.as_mut().unwrap();
    rot.phase = Some(RotationPhase::Retiring);
    rot.previous_retires_at = Some("2026-11-25T12:00:00Z".into());
    c.triggers.retire_previous = Some("now".into());
    assert_eq!(
        c.plan().actions,
        vec![Action::Retire {
            id: "c1".into(),
            reason: RetireReason::Requested("now".into())
        }]
    );
    // When idle there is nothing to retire: the value is only recorded as handled.
    c.status.rotation.as_mut().unwrap().phase = Some(RotationPhase::Idle);
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![Action::RecordRetireRequest {
            value: "now".into()
        }]
    );
    assert_eq!(p.verdict, Verdict::Ready);
}

#[test]
fn a_retire_request_seen_while_idle_never_ends_a_later_grace_period() {
    // Idle, retire-previous stamped: recorded, nothing retired.
    let mut c = Case::steady();
    c.triggers.retire_previous = Some("early".into());
    assert_eq!(
        c.plan().actions,
        vec![Action::RecordRetireRequest {
            value: "early".into()
        }]
    );
    // Recorded; then a rotation runs its grace period: the old value does nothing.
    let rot = c.status.rotation.as_mut().unwrap();
    rot.last_retire_request = Some("early".into());
    rot.phase = Some(RotationPhase::Retiring);
    rot.previous_retires_at = Some("2026-11-25T12:00:00Z".into());
    c.remote.as_mut().unwrap().has_rotated_secret = true;
    let p = c.plan();
    assert_eq!(p.actions, vec![]);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(24 * 3600)));
    // Both stamped while idle (one `kubectl annotate`): the retire has nothing to
    // end yet, the rotation runs with its full grace period.
    let mut c = Case::steady();
    c.triggers.retire_previous = Some("x".into());
    c.triggers.rotate = Some("r".into());
    let a = c.plan().actions;
    assert_eq!(a[0], Action::RecordRetireRequest { value: "x".into() });
    assert!(
        matches!(&a[1..], [Action::RecordPendingRotation { .. }, Action::Rotate { retire_at, .. }] if *retire_at == t(NOW) + chrono::Duration::hours(1)),
        "{a:?}"
    );
}

#[test]
fn scheduled_rotation_is_due_after_every_and_woken_up_exactly() {
    let mut c = Case::steady();
    c.desired.rotation_every = Some(Duration::from_secs(24 * 3600));
    c.status.rotation.as_mut().unwrap().last_rotated_at = Some("2026-11-24T02:00:00Z".into());
    let p = c.plan();
    assert_eq!(p.actions, vec![]);
    assert_eq!(p.requeue_after, Some(Duration::from_secs(14 * 3600)));
    c.status.rotation.as_mut().unwrap().last_rotated_at = Some("2026-11-23T11:00:00Z".into());
    let p = c.plan();
    assert!(matches!(
        &p.actions[..],
        [
            Action::RecordPendingRotation {
                reason: RotationReason::Scheduled
            },
            Action::Rotate { .. }
        ]
    ));
}

#[test]
fn a_pending_rotation_whose_secret_was_written_only_finishes_status() {
    let mut c = Case::steady();
    c.status.pending_rotation = Some(PendingOperation {
        started_at: "2026-11-24T11:59:00Z".into(),
        marker: Some("scheduled".into()),
        recovering: false,
    });
    c.secret.rotation_id = Some("2026-11-24T11:59:00Z".into());
    c.remote.as_mut().unwrap().has_rotated_secret = true;
    assert_eq!(c.plan().actions, vec![Action::FinishRotation]);
}

#[test]
fn a_pending_rotation_that_took_effect_without_reaching_the_secret_is_recovered() {
    let mut c = Case::steady();
    c.status.pending_rotation = Some(PendingOperation {
        started_at: "2026-11-24T11:59:00Z".into(),
        marker: Some("scheduled".into()),
        recovering: false,
    });
    c.remote.as_mut().unwrap().has_rotated_secret = true;
    assert_eq!(
        c.plan().actions,
        vec![Action::RecoverLostRotation { id: "c1".into() }]
    );
}

#[test]
fn a_pending_rotation_that_never_happened_rotates_again() {
    let mut c = Case::steady();
    c.status.pending_rotation = Some(PendingOperation {
        started_at: "2026-11-24T11:59:00Z".into(),
        marker: Some("requested:x".into()),
        recovering: false,
    });
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![Action::Rotate {
            id: "c1".into(),
            reason: RotationReason::Requested("x".into()),
            retire_at: t("2026-11-24T13:00:00Z")
        }]
    );
}

#[test]
fn a_recovery_interrupted_after_retiring_the_held_secret_rotates_without_grace() {
    // Found by the chaos suite: the Secret's secret was retired by the recovery,
    // so it must not be published as the previous secret "valid during grace".
    let mut c = Case::steady();
    c.status.pending_rotation = Some(PendingOperation {
        started_at: "2026-11-24T11:59:00Z".into(),
        marker: Some("requested:x".into()),
        recovering: true,
    });
    assert_eq!(
        c.plan().actions,
        vec![Action::Rotate {
            id: "c1".into(),
            reason: RotationReason::Requested("x".into()),
            retire_at: t("2026-11-24T12:00:00Z")
        }]
    );
    // Interrupted before its retire (or its rotate's response lost): recover again.
    c.remote.as_mut().unwrap().has_rotated_secret = true;
    assert_eq!(
        c.plan().actions,
        vec![Action::RecoverLostRotation { id: "c1".into() }]
    );
}

#[test]
fn deletion_deletes_the_remote_client_then_the_finalizer() {
    let mut c = Case::steady();
    c.deleting = true;
    assert_eq!(
        c.plan().actions,
        vec![
            Action::DeleteRemote { id: "c1".into() },
            Action::RemoveFinalizer
        ]
    );
    c.remote_kind = "missing";
    assert_eq!(c.plan().actions, vec![Action::RemoveFinalizer]);
}

#[test]
fn orphan_keeps_the_remote_client_and_the_secret() {
    let mut c = Case::steady();
    c.deleting = true;
    c.desired.deletion_policy = DeletionPolicy::Orphan;
    assert_eq!(
        c.plan().actions,
        vec![Action::OrphanSecret, Action::RemoveFinalizer]
    );
}

#[test]
fn deletion_with_an_unreachable_provider_stalls_and_says_how_to_get_out() {
    let mut c = Case::steady();
    c.deleting = true;
    c.remote_kind = "unavailable";
    c.unavailable = Some(Unavailable {
        reason: "ProviderNotReady".into(),
        message: "401 Unauthorized".into(),
        transient: true,
    });
    let p = c.plan();
    assert!(p.actions.is_empty());
    assert!(
        matches!(&p.verdict, Verdict::Stalled { message, .. } if message.contains("deletionPolicy: Orphan"))
    );
}

#[test]
fn deletion_during_a_pending_create_deletes_what_it_made() {
    let mut c = Case::steady();
    c.deleting = true;
    c.status = OAuthClientStatus {
        pending_create: Some(PendingOperation {
            started_at: NOW.into(),
            marker: None,
            recovering: false,
        }),
        ..Default::default()
    };
    c.remote_kind = "candidates";
    c.candidates = vec![remote(&c.desired)];
    assert_eq!(
        c.plan().actions,
        vec![
            Action::DeleteRemote { id: "c1".into() },
            Action::RemoveFinalizer
        ]
    );
}

#[test]
fn an_unavailable_provider_waits_or_stalls() {
    let mut c = Case::steady();
    c.remote_kind = "unavailable";
    c.unavailable = Some(Unavailable {
        reason: "ProviderNotReady".into(),
        message: "timeout".into(),
        transient: true,
    });
    assert!(matches!(c.plan().verdict, Verdict::Progressing { .. }));
    c.unavailable = Some(Unavailable {
        reason: "ProviderNotAdmitted".into(),
        message: "namespace not admitted".into(),
        transient: false,
    });
    assert!(is_stalled(&c.plan(), "ProviderNotAdmitted"));
}

#[test]
fn an_import_is_adopted_then_rotated_with_grace_to_obtain_a_secret() {
    let mut c = Case::steady();
    c.desired.import = Some(Import {
        client_id: "c1".into(),
        secret_ref: None,
    });
    c.status = OAuthClientStatus::default();
    c.secret = SecretState::default();
    assert_eq!(
        c.plan().actions,
        vec![Action::Adopt {
            id: "c1".into(),
            reason: AdoptReason::Import
        }]
    );
    c.status.client_id = Some("c1".into());
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![
            Action::RecordPendingRotation {
                reason: RotationReason::Import
            },
            Action::Rotate {
                id: "c1".into(),
                reason: RotationReason::Import,
                retire_at: t("2026-11-24T13:00:00Z")
            },
        ]
    );
}

#[test]
fn an_import_of_a_missing_client_stalls() {
    let mut c = Case::steady();
    c.desired.import = Some(Import {
        client_id: "nope".into(),
        secret_ref: None,
    });
    c.status = OAuthClientStatus::default();
    c.remote_kind = "missing";
    assert!(is_stalled(&c.plan(), "ImportNotFound"));
}

#[test]
fn deleting_an_import_that_was_never_adopted_deletes_nothing_remote() {
    // Issue 16: the id an import names may be another tenant's client. Until it is
    // adopted (status.clientId), deletion must not touch it, whatever the observer
    // found (the client itself, or a refusal).
    for remote_kind in ["found", "unavailable"] {
        let mut c = Case::steady();
        c.desired.import = Some(Import {
            client_id: "someone-elses".into(),
            secret_ref: None,
        });
        c.status = OAuthClientStatus::default();
        c.deleting = true;
        c.remote_kind = remote_kind;
        c.unavailable = Some(Unavailable {
            reason: "ImportNotAuthorized".into(),
            message: "not proven".into(),
            transient: false,
        });
        let p = c.plan();
        assert_eq!(
            p.actions,
            vec![Action::RemoveFinalizer],
            "{remote_kind}: {p:?}"
        );
    }
}

#[test]
fn an_orphan_is_let_go_while_its_provider_is_missing() {
    // Issue 17: deletionPolicy Orphan must not wait for a provider that does not
    // resolve (kubectl delete hung: the planner fell back to Delete).
    let mut c = Case::steady();
    c.desired.deletion_policy = DeletionPolicy::Orphan;
    c.deleting = true;
    c.secret = SecretState::default();
    c.remote_kind = "unavailable";
    c.unavailable = Some(Unavailable {
        reason: "ProviderNotFound".into(),
        message: "spec.providerRef: ClusterOAuthProvider \"gone\" does not exist".into(),
        transient: true,
    });
    assert_eq!(c.plan().actions, vec![Action::RemoveFinalizer]);
}

#[test]
fn an_unproven_import_is_stalled_and_nothing_is_done() {
    let mut c = Case::steady();
    c.desired.import = Some(Import {
        client_id: "someone-elses".into(),
        secret_ref: None,
    });
    c.status = OAuthClientStatus::default();
    c.remote_kind = "unavailable";
    c.unavailable = Some(Unavailable {
        reason: "ImportNotAuthorized".into(),
        message: "spec.import.clientId: not proven".into(),
        transient: false,
    });
    let p = c.plan();
    assert!(is_stalled(&p, "ImportNotAuthorized"), "{p:?}");
    assert!(
        p.actions.iter().all(|a| matches!(a, Action::AddFinalizer)),
        "no adoption, rotation, patch or delete: {p:?}"
    );
}

#[test]
fn without_grace_support_the_previous_secret_retires_at_once() {
    let d = desired();
    let mut c = Case::steady();
    c.triggers.rotate = Some("r".into());
    let remote = remote(&d);
    let p = plan(&Input {
        now: t(NOW),
        deleting: false,
        has_finalizer: true,
        triggers: c.triggers.clone(),
        desired: Ok(&d),
        status: &c.status,
        remote: Remote::Found(&remote),
        secret: c.secret.clone(),
        provider_supports_grace: false,
    });
    assert!(
        p.actions.contains(&Action::Rotate {
            id: "c1".into(),
            reason: RotationReason::Requested("r".into()),
            retire_at: t(NOW)
        }),
        "{p:?}"
    );
}

#[test]
fn a_public_client_needs_no_secret_and_never_rotates() {
    let mut c = Case::steady();
    c.desired.public_client = true;
    c.secret.has_secret = false;
    c.secret.mac_matches = false;
    c.triggers.rotate = Some("x".into());
    let p = c.plan();
    assert_eq!(p.actions, vec![]);
    assert_eq!(p.verdict, Verdict::Ready);
}

#[test]
fn secret_shape_drift_rewrites_the_secret() {
    let mut c = Case::steady();
    c.secret.shape_matches = false;
    let p = c.plan();
    assert_eq!(p.actions, vec![Action::WriteSecret]);
}

#[test]
fn a_reconcile_request_is_recorded_and_stays_ready() {
    let mut c = Case::steady();
    c.triggers.reconcile = Some("r1".into());
    let p = c.plan();
    assert_eq!(
        p.actions,
        vec![Action::RecordReconcileRequest { value: "r1".into() }]
    );
    assert_eq!(p.verdict, Verdict::Ready);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn arb_case() -> impl Strategy<Value = Case> {
        (
            any::<[bool; 16]>(),
            0usize..5,
            proptest::option::of("[a-c]{1,2}"),
            proptest::option::of("[a-c]{1,2}"),
            0i64..100_000,
        )
            .prop_map(|(b, remote_kind, rotate, retire, offset)| {
                let mut c = Case::steady();
                c.deleting = b[0];
                c.has_finalizer = b[1];
                c.remote_kind = [
                    "found",
                    "missing",
                    "not-created",
                    "candidates",
                    "unavailable",
                ][remote_kind];
                c.unavailable = Some(Unavailable {
                    reason: "X".into(),
                    message: "y".into(),
                    transient: b[2],
                });
                if b[3] {
                    c.candidates = vec![remote(&c.desired)];
                }
                c.secret.exists = b[4];
                c.secret.foreign = b[5];
                c.secret.has_secret = b[6];
                c.secret.mac_matches = b[7];
                c.secret.shape_matches = b[8];
                c.remote.as_mut().unwrap().has_rotated_secret = b[9];
                if b[10] {
                    c.status.client_id = None;
                }
                if b[11] {
                    c.status.pending_rotation = Some(PendingOperation {
                        started_at: NOW.into(),
                        marker: None,
                        recovering: offset % 2 == 0,
                    });
                }
                if b[12] {
                    let r = c.status.rotation.as_mut().unwrap();
                    r.phase = Some(RotationPhase::Retiring);
                    r.previous_retires_at =
                        Some((t(NOW) + chrono::Duration::seconds(offset - 50_000)).to_rfc3339());
                }
                if b[13] {
                    c.desired.deletion_policy = DeletionPolicy::Orphan;
                }
                if b[14] {
                    c.desired.rotation_every = Some(Duration::from_secs(3600));
                }
                c.desired.public_client = b[15];
                c.triggers.rotate = rotate;
                c.triggers.retire_previous = retire;
                c
            })
    }

    proptest! {
        /// Whatever the observations, the plan keeps the safety rules.
        #[test]
        fn plans_keep_the_safety_rules(c in arb_case()) {
            let p = c.plan();
            let a = &p.actions;
            let pos = |f: &dyn Fn(&Action) -> bool| a.iter().position(f);
            // A create is always preceded by a recorded intent (in status or in this plan).
            if let Some(i) = pos(&|x| *x == Action::Create) {
                let recorded = c.status.pending_create.is_some() || a[..i].contains(&Action::RecordPendingCreate);
                prop_assert!(recorded, "create without intent: {:?}", a);
            }
            // A rotation is always preceded by a recorded intent.
            if let Some(i) = pos(&|x| matches!(x, Action::Rotate { .. })) {
                let recorded = c.status.pending_rotation.is_some() || a[..i].iter().any(|x| matches!(x, Action::RecordPendingRotation { .. }));
                prop_assert!(recorded, "rotate without intent: {:?}", a);
                // Never rotate while the provider holds two secrets, unless retiring first.
                if c.remote_kind == "found" && c.remote.as_ref().unwrap().has_rotated_secret && c.status.pending_rotation.is_none() {
                    prop_assert!(a[..i].iter().any(|x| matches!(x, Action::Retire { .. })), "second rotation: {:?}", a);
                }
            }
            // A rotation that finishes an interrupted recovery keeps no grace period:
            // the secret the Secret holds was retired by the recovery.
            if c.status.pending_rotation.as_ref().is_some_and(|p| p.recovering) {
                for x in a {
                    if let Action::Rotate { retire_at, .. } = x {
                        prop_assert_eq!(*retire_at, t(NOW), "grace after a recovery: {:?}", a);
                    }
                }
            }
            // A foreign Secret is never written and no client is created for it.
            if c.secret.foreign {
                prop_assert!(!a.iter().any(|x| matches!(x, Action::Create | Action::Rotate { .. } | Action::WriteSecret | Action::OrphanSecret)), "{:?}", a);
            }
            // Deleting never creates, rotates or patches; Orphan never deletes remotely.
            if c.deleting {
                prop_assert!(!a.iter().any(|x| matches!(x, Action::Create | Action::Rotate { .. } | Action::Patch { .. } | Action::AddFinalizer)), "{:?}", a);
                if c.desired.deletion_policy == DeletionPolicy::Orphan {
                    prop_assert!(!a.iter().any(|x| matches!(x, Action::DeleteRemote { .. })), "{:?}", a);
                }
                if let Some(i) = pos(&|x| *x == Action::RemoveFinalizer) {
                    prop_assert_eq!(i, a.len() - 1, "finalizer removed before cleanup: {:?}", a);
                }
            }
            // Ready means nothing remote is left to do.
            if p.verdict == Verdict::Ready {
                prop_assert!(a.iter().all(|x| matches!(x, Action::AddFinalizer | Action::RecordReconcileRequest { .. } | Action::RecordRetireRequest { .. })), "{:?}", a);
            }
        }
    }
}
