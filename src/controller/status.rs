//! The one writer of an OAuthClient's status. Every status change is a typed
//! [`StatusPatch`] (serialised to a JSON merge patch), sent by a [`StatusWriter`],
//! which can hold the patch that ends a round back so that it goes out with the
//! next write (the conditions, usually): one apiserver write instead of two.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, Patch, PatchParams};
use serde::Serialize;

use super::context::Context;
use crate::api::OAuthClient;
use crate::api::client::{
    CredentialsStatus, OAuthClientStatus, PendingOperation, RotationPhase, RotationStatus,
};

/// A field of a merge patch: `None` leaves it as it is, `Some(None)` deletes it,
/// `Some(Some(v))` sets it.
pub type Clearable<T> = Option<Option<T>>;

/// A change of `status`, as a merge patch. Only the fields set are sent.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Clearable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(rename = "secretMAC", skip_serializing_if = "Option::is_none")]
    pub secret_mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reconcile_request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_create: Clearable<PendingPatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_rotation: Clearable<PendingPatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<RotationPatch>,
    /// Replaces `status.credentials` whole (every field is sent, null deletes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsStatus>,
}

/// A change of `status.pendingCreate` / `status.pendingRotation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovering: Option<bool>,
}

/// A change of `status.rotation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<RotationPhase>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_retires_at: Clearable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_request: Clearable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_retire_request: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_expires_at: Clearable<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_at: Clearable<String>,
}

/// `next` after `base` for a plain field.
fn then<T: Clone>(base: &mut Option<T>, next: &Option<T>) {
    if next.is_some() {
        base.clone_from(next);
    }
}

/// `next` after `base` for a nested object: fields merge, a deletion in `next`
/// wins, and an object after a deletion replaces it.
fn then_nested<T: Clone>(base: &mut Clearable<T>, next: &Clearable<T>, merge: fn(&mut T, &T)) {
    match (base.as_mut(), next) {
        (_, None) => {}
        (Some(Some(b)), Some(Some(n))) => merge(b, n),
        (_, n) => base.clone_from(n),
    }
}

impl PendingPatch {
    fn then(&mut self, next: &Self) {
        then(&mut self.started_at, &next.started_at);
        then(&mut self.marker, &next.marker);
        then(&mut self.recovering, &next.recovering);
    }

    fn apply(&self, to: &mut Option<PendingOperation>) {
        let op = to.get_or_insert_with(Default::default);
        if let Some(v) = &self.started_at {
            op.started_at.clone_from(v);
        }
        if let Some(v) = &self.marker {
            op.marker = Some(v.clone());
        }
        if let Some(v) = self.recovering {
            op.recovering = v;
        }
    }
}

impl RotationPatch {
    fn then(&mut self, next: &Self) {
        then(&mut self.phase, &next.phase);
        then(&mut self.last_rotated_at, &next.last_rotated_at);
        then(&mut self.previous_retires_at, &next.previous_retires_at);
        then(&mut self.last_request, &next.last_request);
        then(&mut self.last_retire_request, &next.last_retire_request);
        then(&mut self.secret_expires_at, &next.secret_expires_at);
        then(&mut self.next_rotation_at, &next.next_rotation_at);
    }

    fn apply(&self, to: &mut RotationStatus) {
        if let Some(v) = self.phase {
            to.phase = Some(v);
        }
        if let Some(v) = &self.last_rotated_at {
            to.last_rotated_at = Some(v.clone());
        }
        if let Some(v) = &self.previous_retires_at {
            to.previous_retires_at.clone_from(v);
        }
        if let Some(v) = &self.last_request {
            to.last_request.clone_from(v);
        }
        if let Some(v) = &self.last_retire_request {
            to.last_retire_request = Some(v.clone());
        }
        if let Some(v) = &self.secret_expires_at {
            to.secret_expires_at.clone_from(v);
        }
        if let Some(v) = &self.next_rotation_at {
            to.next_rotation_at.clone_from(v);
        }
    }
}

impl StatusPatch {
    /// Compose: applying the result equals applying `self`, then `next`.
    pub fn then(&mut self, next: &StatusPatch) {
        then(&mut self.observed_generation, &next.observed_generation);
        then(&mut self.conditions, &next.conditions);
        then(&mut self.client_id, &next.client_id);
        then(&mut self.secret_name, &next.secret_name);
        then(&mut self.secret_mac, &next.secret_mac);
        then(
            &mut self.last_reconcile_request,
            &next.last_reconcile_request,
        );
        then_nested(
            &mut self.pending_create,
            &next.pending_create,
            PendingPatch::then,
        );
        then_nested(
            &mut self.pending_rotation,
            &next.pending_rotation,
            PendingPatch::then,
        );
        match (&mut self.rotation, &next.rotation) {
            (Some(b), Some(n)) => b.then(n),
            (b, n) => then(b, n),
        }
        then(&mut self.credentials, &next.credentials);
    }

    /// Apply the patch to a copy of the status, as the apiserver would.
    pub fn apply(&self, to: &mut OAuthClientStatus) {
        if let Some(v) = self.observed_generation {
            to.observed_generation = Some(v);
        }
        if let Some(v) = &self.conditions {
            to.conditions.clone_from(v);
        }
        if let Some(v) = &self.client_id {
            to.client_id.clone_from(v);
        }
        if let Some(v) = &self.secret_name {
            to.secret_name = Some(v.clone());
        }
        if let Some(v) = &self.secret_mac {
            to.secret_mac = Some(v.clone());
        }
        if let Some(v) = &self.last_reconcile_request {
            to.last_reconcile_request = Some(v.clone());
        }
        for (patch, field) in [
            (&self.pending_create, &mut to.pending_create),
            (&self.pending_rotation, &mut to.pending_rotation),
        ] {
            match patch {
                None => {}
                Some(None) => *field = None,
                Some(Some(p)) => p.apply(field),
            }
        }
        if let Some(r) = &self.rotation {
            r.apply(to.rotation.get_or_insert_with(Default::default));
        }
        if let Some(c) = &self.credentials {
            to.credentials = Some(c.clone());
        }
    }
}

/// Merge-patch the status as this controller, recorded as our own write (its
/// watch event triggers nothing). Returns the object as written.
pub async fn patch_own_status(
    ctx: &Context,
    api: &Api<OAuthClient>,
    name: &str,
    patch: &StatusPatch,
) -> Result<OAuthClient, kube::Error> {
    #[derive(Debug, Serialize)]
    struct Body<'a> {
        status: &'a StatusPatch,
    }
    let updated = api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(Body { status: patch }),
        )
        .await?;
    ctx.own_writes.record(&updated);
    Ok(updated)
}

/// Writes one object's status, holding back the patch that ends a round until
/// the next write (see [`StatusWriter::hold`]).
pub struct StatusWriter {
    api: Api<OAuthClient>,
    name: String,
    held: Option<StatusPatch>,
}

impl StatusWriter {
    pub fn new(api: Api<OAuthClient>, name: String) -> Self {
        Self {
            api,
            name,
            held: None,
        }
    }

    /// Hold `patch` back, composed after any patch already held: it goes out with
    /// the next [`Self::write`] or [`Self::flush`]. Only in-memory planning and
    /// reads may happen before then, so a crash in between is a crash just before
    /// this write, which every action copes with.
    pub fn hold(&mut self, patch: StatusPatch) {
        match &mut self.held {
            Some(held) => held.then(&patch),
            None => self.held = Some(patch),
        }
    }

    /// Whether a patch is held back.
    pub fn holds(&self) -> bool {
        self.held.is_some()
    }

    /// Send `patch`, after the patch held back if any. Returns the object as written.
    pub async fn write(
        &mut self,
        ctx: &Context,
        patch: StatusPatch,
    ) -> Result<OAuthClient, kube::Error> {
        let patch = match self.held.take() {
            Some(mut held) => {
                held.then(&patch);
                held
            }
            None => patch,
        };
        match patch_own_status(ctx, &self.api, &self.name, &patch).await {
            Ok(updated) => Ok(updated),
            Err(e) => {
                // Not written: it must still go out with the next write.
                self.held = Some(patch);
                Err(e)
            }
        }
    }

    /// Send the patch held back, if any. Returns the object as written.
    pub async fn flush(&mut self, ctx: &Context) -> Result<Option<OAuthClient>, kube::Error> {
        match self.held.take() {
            Some(held) => self.write(ctx, held).await.map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(base: &serde_json::Value, patch: &StatusPatch) -> OAuthClientStatus {
        fn merge(base: &mut serde_json::Value, patch: &serde_json::Value) {
            match (base, patch) {
                (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
                    for (k, v) in p {
                        if v.is_null() {
                            b.remove(k);
                        } else {
                            merge(b.entry(k.clone()).or_insert(serde_json::Value::Null), v);
                        }
                    }
                }
                (b, p) => *b = p.clone(),
            }
        }
        let mut v = base.clone();
        merge(&mut v, &serde_json::to_value(patch).unwrap());
        serde_json::from_value(v).unwrap()
    }

    fn some_status() -> serde_json::Value {
        serde_json::json!({
            "clientId": "c1",
            "secretMAC": "m0",
            "pendingRotation": {"startedAt": "t0", "marker": "scheduled"},
            "rotation": {"phase": "Retiring", "previousRetiresAt": "t1", "lastRequest": "r0"},
        })
    }

    #[test]
    fn a_patch_applies_like_the_merge_patch_the_apiserver_gets() {
        let patch = StatusPatch {
            pending_rotation: Some(None),
            secret_mac: Some("m1".into()),
            rotation: Some(RotationPatch {
                phase: Some(RotationPhase::Idle),
                previous_retires_at: Some(None),
                last_request: Some(Some("r1".into())),
                ..Default::default()
            }),
            ..Default::default()
        };
        let base = some_status();
        let mut applied: OAuthClientStatus = serde_json::from_value(base.clone()).unwrap();
        patch.apply(&mut applied);
        assert_eq!(applied, merged(&base, &patch));
        assert_eq!(applied.pending_rotation, None);
        assert_eq!(applied.rotation.unwrap().previous_retires_at, None);
    }

    #[test]
    fn composed_patches_apply_like_the_two_in_order() {
        let first = StatusPatch {
            client_id: Some(None),
            pending_rotation: Some(Some(PendingPatch {
                recovering: Some(true),
                ..Default::default()
            })),
            rotation: Some(RotationPatch {
                previous_retires_at: Some(None),
                ..Default::default()
            }),
            ..Default::default()
        };
        let second = StatusPatch {
            client_id: Some(Some("c2".into())),
            pending_create: Some(None),
            rotation: Some(RotationPatch {
                phase: Some(RotationPhase::Idle),
                last_request: Some(None),
                ..Default::default()
            }),
            observed_generation: Some(3),
            conditions: Some(vec![]),
            ..Default::default()
        };
        let base = some_status();
        let in_order = merged(
            &serde_json::to_value(merged(&base, &first)).unwrap(),
            &second,
        );
        let mut composed = first.clone();
        composed.then(&second);
        assert_eq!(merged(&base, &composed), in_order);
        let mut applied: OAuthClientStatus = serde_json::from_value(base).unwrap();
        composed.apply(&mut applied);
        assert_eq!(applied, in_order);
        // A deletion survives a later patch that does not touch the field.
        let mut held = StatusPatch {
            pending_create: Some(None),
            ..Default::default()
        };
        held.then(&StatusPatch {
            conditions: Some(vec![]),
            ..Default::default()
        });
        assert_eq!(
            serde_json::to_value(&held).unwrap(),
            serde_json::json!({"pendingCreate": null, "conditions": []})
        );
    }
}
