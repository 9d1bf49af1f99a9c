//! One behaviour suite for every provider: the OAuthClient lifecycle, drift,
//! rotation and the controller's crash points, run against each provider kind with
//! a real apiserver, the backend over real HTTP and `clientops run` as a process.
//!
//! Every test below is generated once per kind, in a module named after it:
//! `cargo test --test provider_behaviour hydra::` runs the Hydra kind only.
//! A kind's backend starts once per test binary (see `tests/support/kinds/`); each
//! test has its own namespace, account (or tag) there, provider and controller.
//! The hydra kind skips, loudly, where Hydra cannot be built (no Go), unless
//! `CLIENTOPS_REQUIRE_HYDRA=1`, which `tests/run` (and so CI) sets.
//! What only one provider does is tested beside this file (`controller_lifecycle.rs`
//! and `rotation.rs` for Cloudflare's, `csp_controller.rs`, `hydra.rs`).
//!
//! Adding a provider kind (Keycloak, say):
//! 1. `tests/support/kinds/keycloak.rs`: a `TestKind` impl (how to reach its
//!    backend once per binary, a minimal client spec, read / rename / delete a
//!    client at the backend, does a secret authenticate) and `pub mod keycloak;` in
//!    `tests/support/kinds/mod.rs`;
//! 2. one line in the list just below: its module name, its type, and its
//!    capabilities: `grace` (rotation keeps the previous secret valid for
//!    `spec.rotation.gracePeriod`, which `retire-previous` ends) or `one_step` (the
//!    new secret replaces the old at once; a grace period is refused); `imports`
//!    once its kind can make a client by hand (`create_behind_the_back`) and the
//!    provider checks an imported secret; `lost_responses` if the backend can drop
//!    a create response after committing it (the emulators' fault injection);
//!    `unrepairable` if it can refuse every change of a client's secret
//!    (`refuse_secret_changes`) and a forced resync is recorded while it does
//!    (not Cloudflare: its repair is a rotation, and a rotation that keeps failing
//!    holds every later step, the record of a forced resync included);
//!    `enabled` if the provider can disable a client (`disable_behind_the_back`).
//!
//! Every field a kind's spec declares is one line of its `TestKind::declared`
//! (how a person edits it at the backend, where the backend shows it):
//! `every_declared_field_edited_at_the_provider_is_reverted` runs them all.

mod support;

use std::time::Duration;

use clientops::api::OAuthClient;
use clientops::api::client::{CredentialsResult, CredentialsStatus, RotationPhase, RotationStatus};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use support::kinds::{
    ANNOTATING_MANAGER, TestKind, WAIT, World, annotation_owners, apply_json, shown,
};
use support::scenario::{condition, is_ready, rotated_for};

behaviour_suite! {
    cloudflare: support::kinds::cloudflare::Cloudflare, [grace, imports, lost_responses];
    csp: support::kinds::csp::Csp, [grace, imports, lost_responses, unrepairable];
    hydra: support::kinds::hydra::Hydra, [one_step, imports];
    keycloak: support::kinds::keycloak::Keycloak, [grace, imports, enabled];
    entra: support::kinds::entra::Entra, [grace, imports, lost_responses];
}

const ROTATE: &str = "clientops.dev/rotate";
const RETIRE: &str = "clientops.dev/retire-previous";
const RECONCILE: &str = "clientops.dev/reconcile";
const ROTATED_AT: &str = "clientops.dev/rotated-at";

/// The world of one test, or return (the kind's backend is not installed here; it
/// said so).
macro_rules! world {
    ($prefix:expr) => {
        world!($prefix, &[], &[])
    };
    ($prefix:expr, $env:expr, $args:expr) => {
        match World::<K>::new($prefix, $env, $args).await {
            Some(w) => w,
            None => return,
        }
    };
}

fn rotation(o: &OAuthClient) -> RotationStatus {
    o.status
        .clone()
        .unwrap_or_default()
        .rotation
        .unwrap_or_default()
}

fn phase(o: &OAuthClient) -> Option<RotationPhase> {
    rotation(o).phase
}

fn client_id(o: &OAuthClient) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.client_id.clone())
        .expect("status.clientId")
}

/// Check that the capability a kind is listed with in `behaviour_suite!` matches
/// its [`TestKind::GRACE`].
fn listed_as<K: TestKind>(grace: bool) {
    assert_eq!(
        K::GRACE,
        grace,
        "{} is listed with `{}` in behaviour_suite!, but its TestKind::GRACE is {}",
        K::NAME,
        if grace { "grace" } else { "one_step" },
        K::GRACE
    );
}

/// The rotation part of a spec: a grace period where the kind has one.
fn rotation_spec<K: TestKind>() -> serde_json::Value {
    if K::GRACE {
        json!({"rotation": {"gracePeriod": "1h"}})
    } else {
        json!({})
    }
}

fn credentials(o: &OAuthClient) -> CredentialsStatus {
    o.status
        .clone()
        .unwrap_or_default()
        .credentials
        .unwrap_or_default()
}

fn last_reconcile_request(o: &OAuthClient) -> Option<&str> {
    o.status.as_ref()?.last_reconcile_request.as_deref()
}

// ---------------------------------------------------------------------------
// Lifecycle

async fn create_writes_an_owned_secret_with_working_credentials<K: TestKind>() {
    let w = world!("create");
    w.apply_client("app", json!({})).await;
    let o = w.wait_ready("app").await;
    let status = o.status.clone().unwrap();
    let id = client_id(&o);
    assert_eq!(status.secret_name.as_deref(), Some("app"));

    // The Secret: owned by the OAuthClient, labelled, with credentials that work
    // (and a wrong secret does not).
    let secret = w.secret("app").await.expect("the Secret");
    let owner = &secret.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller, owner.uid.as_str()),
        ("OAuthClient", Some(true), o.uid().unwrap().as_str())
    );
    assert_eq!(
        secret
            .labels()
            .get("clientops.dev/client")
            .map(String::as_str),
        Some("app")
    );
    let c = w.assert_working("app").await;
    assert_eq!(c.client_id.as_deref(), Some(id.as_str()));
    assert!(c.previous.is_none());
    assert!(
        !w.kind.accepts(&id, "not-the-secret-0123456789").await,
        "{}: the backend must reject a wrong secret",
        K::NAME
    );

    // At the backend: one client, as the spec says.
    assert_eq!(w.kind.remote_ids().await, vec![id.clone()]);
    let remote = w.kind.remote(&id).await.expect("the client at the backend");
    assert_eq!(K::remote_name(&remote).as_deref(), Some("App app"));
    // The secret appears nowhere in status.
    let secret_value = c.secret.unwrap();
    assert!(
        !serde_json::to_string(&o.status)
            .unwrap()
            .contains(&secret_value)
    );
    w.assert_not_logged(&[&secret_value]);
}

async fn a_spec_edit_patches_the_remote_client<K: TestKind>() {
    let w = world!("edit");
    w.apply_client("app", json!({})).await;
    let id = client_id(&w.wait_ready("app").await);
    let before = w.assert_working("app").await;

    w.apply_client("app", w.kind.edit("app")).await;
    let o = w.wait_ready("app").await;
    assert_eq!(client_id(&o), id, "an edit keeps the client");
    let remote = w.kind.remote(&id).await.expect("the client at the backend");
    assert!(
        w.kind.shows_edit(&remote, "app"),
        "{}: the edit did not reach the backend: {remote}",
        K::NAME
    );
    assert_eq!(
        w.remote_count().await,
        1,
        "an edit never makes a second client"
    );
    let after = w.assert_working("app").await;
    assert_eq!(after.secret, before.secret, "an edit issues no new secret");
}

async fn drift_is_reverted_by_the_resync_and_on_request<K: TestKind>() {
    // The periodic resync (3s here) reverts a change made at the provider.
    let w = world!("drift");
    w.apply_client("app", json!({})).await;
    let id = client_id(&w.wait_ready("app").await);
    w.kind.rename_behind_the_back(&id, "renamed by hand").await;
    assert!(
        name_restored(&w, &id).await.is_some(),
        "{}: drift was not reverted by the resync\n{}",
        K::NAME,
        w.logs()
    );
    w.assert_working("app").await;
    drop(w);

    // With a resync far away, clientops.dev/reconcile reverts it now, and its
    // value is recorded in status (the annotation stays as the user wrote it).
    let w = world!("drift-request", &[], &["--resync", "10m"]);
    w.apply_client("app", json!({})).await;
    let id = client_id(&w.wait_ready("app").await);
    w.kind.rename_behind_the_back(&id, "renamed by hand").await;
    w.annotate("app", RECONCILE, "now-1").await;
    let o = w
        .wait_until("app", WAIT, "resynced for now-1", |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_reconcile_request.as_deref())
                == Some("now-1")
        })
        .await;
    assert!(
        name_restored(&w, &id).await.is_some(),
        "{}: a reconcile request did not revert the drift\n{}",
        K::NAME,
        w.logs()
    );
    assert_eq!(
        o.annotations().get(RECONCILE).map(String::as_str),
        Some("now-1")
    );
    assert_eq!(annotation_owners(&o, RECONCILE), [ANNOTATING_MANAGER]);
}

// ---------------------------------------------------------------------------
// Proven credentials (issue 25)

async fn a_secret_changed_at_the_provider_is_repaired_on_a_forced_resync<K: TestKind>() {
    // A resync far away and a check period of a day: only the forced resync asks.
    let w = world!("creds", &[], &["--resync", "10m"]);
    w.apply_client("app", json!({})).await;
    let id = client_id(&w.wait_ready("app").await);
    let before = w.assert_working("app").await;
    let held = before.secret.clone().expect("a secret");

    // An administrator changes the secret at the provider: the Secret's is refused.
    w.kind.change_secret_behind_the_back(&id).await;
    assert!(
        !w.kind.accepts(&id, &held).await,
        "{}: the backend still accepts the Secret's secret after the change",
        K::NAME
    );

    w.annotate("app", RECONCILE, "after-change").await;
    let o = w
        .wait_until(
            "app",
            WAIT,
            "Ready with credentials the provider accepts, after the forced resync",
            |o| {
                is_ready(o)
                    && last_reconcile_request(o) == Some("after-change")
                    && credentials(o).result == Some(CredentialsResult::Accepted)
            },
        )
        .await;
    // THE PROOF: the backend's own check (a token where it issues one).
    let after = w.assert_working("app").await;
    let c = credentials(&o);
    assert!(
        c.verified_at.is_some() && c.checked_at == c.verified_at,
        "{c:?}"
    );
    assert_eq!(
        c.repair_attempts, None,
        "attempts reset once accepted: {c:?}"
    );
    if K::GENERATES_SECRETS {
        // A new secret, published; nobody holds the one the administrator made.
        assert_ne!(after.secret.as_deref(), Some(held.as_str()));
        assert_eq!(after.previous, None, "the refused secret is not published");
    } else {
        // Set back: the workload's mounted secret works again, unchanged.
        assert_eq!(after.secret.as_deref(), Some(held.as_str()));
    }
    let rejected = w.wait_events("app", "CredentialsRejected", 1).await;
    assert!(rejected[0].contains(&id), "{rejected:?}");
    w.wait_events("app", "CredentialsAccepted", 1).await;
    w.assert_not_logged(&[&held, after.secret.as_deref().unwrap_or_default()]);
}

async fn a_rejected_secret_that_cannot_be_repaired_keeps_ready_false<K: TestKind>() {
    let w = world!("creds-stuck", &[], &["--resync", "10m"]);
    w.apply_client("app", json!({})).await;
    let id = client_id(&w.wait_ready("app").await);
    w.kind.change_secret_behind_the_back(&id).await;
    w.kind.refuse_secret_changes(&id, true).await;

    // Each forced resync checks again, is refused again, and stays Ready=False,
    // saying why and what was tried.
    for value in ["stuck-1", "stuck-2", "stuck-3"] {
        w.annotate("app", RECONCILE, value).await;
        let o = w
            .wait_until("app", WAIT, &format!("checked again for {value}"), |o| {
                last_reconcile_request(o) == Some(value)
                    && condition(o, "Ready").is_some_and(|c| c.status == "False")
                    && credentials(o).result == Some(CredentialsResult::Rejected)
                    && credentials(o).repair_attempts.unwrap_or(0) >= 1
            })
            .await;
        // The reason is CredentialsRejected, or the failed repair call's own
        // (OutcomeUnknown for the 500 here) until its check has run.
        assert!(!is_ready(&o));
    }
    let o = w
        .wait_until("app", WAIT, "Stalled with what was tried", |o| {
            condition(o, "Ready").is_some_and(|c| {
                c.status == "False"
                    && c.reason == "CredentialsRejected"
                    && c.message.contains("still refuses")
            })
        })
        .await;
    assert!(!is_ready(&o));
    w.kind.refuse_secret_changes(&id, false).await;
}

/// Wait until client `id` of "app" has its spec's name again at the backend.
async fn name_restored<K: TestKind>(w: &World<K>, id: &str) -> Option<()> {
    support::wait_for(Duration::from_secs(30), || async {
        let r = w.kind.remote(id).await?;
        (K::remote_name(&r).as_deref() == Some("App app")).then_some(())
    })
    .await
}

async fn a_client_deleted_at_the_provider_is_recreated<K: TestKind>() {
    let w = world!("recreate");
    w.apply_client("app", json!({})).await;
    let old = client_id(&w.wait_ready("app").await);
    w.kind.delete_behind_the_back(&old).await;
    // A new client (a provider with caller-chosen ids may reuse the id), whose
    // credentials are in the Secret.
    let recreated = support::wait_for(WAIT, || async {
        let o = w.get("app").await?;
        let id = o.status.as_ref()?.client_id.clone()?;
        let c = w.creds("app").await;
        let works = is_ready(&o)
            && w.kind.remote(&id).await.is_some()
            && c.client_id.as_deref() == Some(id.as_str())
            && w.kind.accepts(&id, c.secret.as_deref()?).await;
        works.then_some(id)
    })
    .await;
    assert!(
        recreated.is_some(),
        "{}: the client was not recreated\n{}",
        K::NAME,
        w.logs()
    );
    assert_eq!(w.remote_count().await, 1);
    let events = w.wait_events("app", "RemoteDeleted", 1).await;
    assert!(events.iter().any(|n| n.contains(&old)), "{events:?}");
}

async fn delete_policy_deletes_the_remote_client_and_orphan_keeps_it<K: TestKind>() {
    let w = world!("deletion");
    w.apply_client("goes", json!({})).await;
    w.apply_client("stays", json!({"deletionPolicy": "Orphan"}))
        .await;
    let goes = client_id(&w.wait_ready("goes").await);
    let stays = client_id(&w.wait_ready("stays").await);
    w.delete_client("goes").await;
    w.delete_client("stays").await;
    w.wait_gone("goes").await;
    w.wait_gone("stays").await;
    let ids = w.kind.remote_ids().await;
    assert!(
        !ids.contains(&goes),
        "{}: Delete must delete the remote client",
        K::NAME
    );
    assert!(
        ids.contains(&stays),
        "{}: Orphan must keep the remote client",
        K::NAME
    );
    // The Secret of the deleted one is garbage-collected through its owner
    // reference; the orphaned one's survives without it, and still works.
    let gc = support::wait_for(Duration::from_secs(30), || async {
        w.secret("goes").await.is_none().then_some(())
    })
    .await;
    assert!(
        gc.is_some(),
        "the deleted client's Secret is garbage-collected"
    );
    let kept = w
        .secret("stays")
        .await
        .expect("the orphaned Secret survives");
    assert!(
        kept.owner_references().is_empty(),
        "{:?}",
        kept.owner_references()
    );
    let c = w.assert_working("stays").await;
    assert_eq!(c.client_id.as_deref(), Some(stays.as_str()));
}

/// A deleted Secret is written again with a new working secret for the same
/// client (the old one is gone with it), and a hand-edited secret value is noticed
/// by `status.secretMAC` and repaired.
async fn a_deleted_or_tampered_secret_is_repaired<K: TestKind>() {
    let w = world!("repair");
    w.apply_client("app", json!({})).await;
    w.wait_ready("app").await;
    let before = w.assert_working("app").await;
    let secrets: kube::Api<Secret> = kube::Api::namespaced(w.client.clone(), &w.ns);
    secrets.delete("app", &Default::default()).await.unwrap();
    let repaired = support::wait_for(WAIT, || async {
        let c = w.secret("app").await?;
        let value = c.data?.get("client_secret")?.0.clone();
        (value != before.secret.as_deref()?.as_bytes()).then_some(())
    })
    .await;
    assert!(
        repaired.is_some(),
        "{}: the Secret was not written again\n{}",
        K::NAME,
        w.logs()
    );
    w.wait_ready("app").await;
    let after = w.assert_working("app").await;
    assert_eq!(after.client_id, before.client_id, "the same client");

    let patch = json!({"stringData": {"client_secret": "tampered"}});
    secrets
        .patch("app", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    let fixed = support::wait_for(WAIT, || async {
        let c = w.creds("app").await;
        let id = c.client_id.as_deref()?;
        let secret = c.secret.as_deref()?;
        (secret != "tampered" && w.kind.accepts(id, secret).await).then_some(())
    })
    .await;
    assert!(
        fixed.is_some(),
        "{}: tampering was not repaired\n{}",
        K::NAME,
        w.logs()
    );
    assert_eq!(w.remote_count().await, 1);
}

/// A client made outside clientops is imported with the secret its owner holds
/// (the proof of ownership): adopted, not created, that secret kept; a rotation
/// then treats it like any other (kept during grace, or replaced at once).
async fn an_import_with_a_secret_ref_adopts_the_client_and_keeps_its_secret<K: TestKind>() {
    let w = world!("import");
    let (id, held) = w.kind.create_behind_the_back("legacy").await;
    apply_json(
        &w.client,
        &w.ns,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "old-creds", "namespace": w.ns},
            "stringData": {"client_secret": held},
        }),
    )
    .await;
    let mut spec = rotation_spec::<K>();
    spec["import"] =
        json!({"clientId": id, "secretRef": {"name": "old-creds", "key": "client_secret"}});
    w.apply_client("legacy", spec).await;
    let o = w.wait_ready("legacy").await;
    assert_eq!(client_id(&o), id, "the client is adopted");
    let c = w.assert_working("legacy").await;
    assert_eq!(
        c.secret.as_deref(),
        Some(held.as_str()),
        "the secret the owner holds is kept, not rotated"
    );
    assert_eq!(
        w.remote_count().await,
        1,
        "an import never creates a client"
    );
    let remote = w.kind.remote(&id).await.expect("the client at the backend");
    assert_eq!(
        K::remote_name(&remote).as_deref(),
        Some("App legacy"),
        "the adopted client follows the spec"
    );

    w.annotate("legacy", ROTATE, "r1").await;
    let o = w
        .wait_until("legacy", WAIT, "rotated for r1", |o| rotated_for(o, "r1"))
        .await;
    assert_eq!(client_id(&o), id);
    let c = w.assert_working("legacy").await;
    assert_ne!(c.secret.as_deref(), Some(held.as_str()), "a new secret");
    if K::GRACE {
        assert_eq!(
            c.previous.as_deref(),
            Some(held.as_str()),
            "the imported secret is the previous one during grace"
        );
        assert!(w.kind.accepts(&id, &held).await);
        w.annotate("legacy", RETIRE, "x1").await;
        w.wait_until("legacy", WAIT, "idle", |o| {
            is_ready(o) && phase(o) == Some(RotationPhase::Idle)
        })
        .await;
        assert!(w.assert_working("legacy").await.previous.is_none());
    }
    assert!(
        !w.kind.accepts(&id, &held).await,
        "{}: the imported secret no longer works once replaced",
        K::NAME
    );
    assert_eq!(w.remote_count().await, 1);
    w.assert_not_logged(&[&held]);
}

/// A client whose provider does not exist (yet) waits for it, saying so, without
/// being judged by another provider's rules; with `deletionPolicy: Orphan` it can
/// still be deleted (issue 17).
async fn a_missing_provider_is_named_and_an_orphan_can_still_be_deleted<K: TestKind>() {
    let w = world!("no-provider");
    w.apply_client(
        "lost",
        json!({"providerRef": {"kind": "ClusterOAuthProvider", "name": "does-not-exist"},
               "deletionPolicy": "Orphan"}),
    )
    .await;
    let o = w
        .wait_until("lost", WAIT, "waiting for its provider", |o| {
            condition(o, "Reconciling")
                .is_some_and(|c| c.status == "True" && c.reason == "ProviderNotFound")
        })
        .await;
    let msg = &condition(&o, "Reconciling").unwrap().message;
    assert!(
        msg.contains("does-not-exist") && msg.contains("does not exist"),
        "{msg}"
    );
    assert!(
        condition(&o, "Stalled").is_none_or(|c| c.status != "True"),
        "{}: not stalled by another provider's rules: {:?}",
        K::NAME,
        condition(&o, "Stalled")
    );
    w.delete_client("lost").await;
    w.wait_gone("lost").await;
    assert_eq!(w.remote_count().await, 0, "nothing was made");
}

// ---------------------------------------------------------------------------
// Rotation

/// Rotation on demand with a grace period: both secrets work, then the previous
/// one is retired on request and only the new one works.
async fn rotation_keeps_the_previous_secret_until_it_is_retired<K: TestKind>() {
    listed_as::<K>(true);
    let w = world!("rotate");
    w.apply_client("app", rotation_spec::<K>()).await;
    w.wait_ready("app").await;
    let before = w.assert_working("app").await;
    let (id, old) = (before.client_id.unwrap(), before.secret.unwrap());

    w.annotate("app", ROTATE, "r1").await;
    let o = w
        .wait_until("app", WAIT, "rotated for r1", |o| {
            rotated_for(o, "r1") && phase(o) == Some(RotationPhase::Retiring)
        })
        .await;
    assert_eq!(client_id(&o), id, "the same client");
    assert!(rotation(&o).previous_retires_at.is_some());
    let c = w.assert_working("app").await;
    let new = c.secret.clone().unwrap();
    assert_ne!(new, old, "a new secret was issued");
    assert_eq!(
        c.previous.as_deref(),
        Some(old.as_str()),
        "the previous secret is published during grace"
    );
    assert!(
        w.kind.accepts(&id, &old).await,
        "{}: the previous secret works during grace",
        K::NAME
    );
    let notes = w.wait_events("app", "Rotated", 1).await;
    assert!(
        notes.iter().any(|n| n.contains(&id) && n.contains("r1")),
        "{notes:?}"
    );
    for n in &notes {
        assert!(
            !n.contains(&new) && !n.contains(&old),
            "no secret in events"
        );
    }

    w.annotate("app", RETIRE, "x1").await;
    let o = w
        .wait_until("app", WAIT, "retired for x1", |o| {
            is_ready(o)
                && rotation(o).last_retire_request.as_deref() == Some("x1")
                && phase(o) == Some(RotationPhase::Idle)
        })
        .await;
    assert!(rotation(&o).previous_retires_at.is_none());
    let c = w.assert_working("app").await;
    assert_eq!(c.secret.as_deref(), Some(new.as_str()));
    assert!(c.previous.is_none(), "the previous key is dropped");
    assert!(
        !w.kind.accepts(&id, &old).await,
        "{}: the retired secret no longer works",
        K::NAME
    );
    let notes = w.wait_events("app", "Retired", 1).await;
    assert!(notes.iter().any(|n| n.contains("x1")), "{notes:?}");
    // The controller never writes the trigger annotations.
    for a in [ROTATE, RETIRE] {
        assert_eq!(annotation_owners(&o, a), [ANNOTATING_MANAGER], "{a}");
    }
    assert_eq!(w.remote_count().await, 1);
    w.assert_not_logged(&[&old, &new]);
}

/// A grace period ends by itself at `previousRetiresAt`: the controller wakes up
/// then (its resync is 10 minutes away), and the Secret changes twice for the
/// rotation (new secret added, previous one dropped).
async fn the_grace_period_ends_by_itself<K: TestKind>() {
    listed_as::<K>(true);
    let w = world!("grace", &[], &["--resync", "10m"]);
    w.apply_client("app", json!({"rotation": {"gracePeriod": "5s"}}))
        .await;
    w.wait_ready("app").await;
    let before = w.assert_working("app").await;
    let (id, old) = (before.client_id.unwrap(), before.secret.unwrap());
    w.annotate("app", ROTATE, "r1").await;
    w.wait_until("app", WAIT, "Retiring for r1", |o| {
        rotation(o).last_request.as_deref() == Some("r1")
            && phase(o) == Some(RotationPhase::Retiring)
    })
    .await;
    let during = w.secret("app").await.expect("the Secret");
    let creds = w.creds("app").await;
    assert_eq!(creds.previous.as_deref(), Some(old.as_str()));

    let o = w
        .wait_until("app", WAIT, "Idle after the grace period", |o| {
            is_ready(o) && phase(o) == Some(RotationPhase::Idle)
        })
        .await;
    assert!(rotation(&o).previous_retires_at.is_none());
    let c = w.assert_working("app").await;
    assert_eq!(c.secret, creds.secret, "the current secret stays");
    assert!(c.previous.is_none(), "the previous key is dropped");
    assert!(
        !w.kind.accepts(&id, &old).await,
        "{}: the previous secret is retired when the grace period ends",
        K::NAME
    );
    let after = w.secret("app").await.expect("the Secret");
    assert_ne!(after.resource_version(), during.resource_version());
    assert_eq!(
        after.annotations().get(ROTATED_AT),
        during.annotations().get(ROTATED_AT),
        "dropping the previous secret is no new secret"
    );
    let notes = w.wait_events("app", "Retired", 1).await;
    assert!(
        notes.iter().any(|n| n.contains("grace period ended")),
        "{notes:?}"
    );
}

/// Deleting a client during its grace period deletes it at the provider, and
/// neither secret works any more.
async fn deleting_during_grace_deletes_the_client_with_both_secrets<K: TestKind>() {
    listed_as::<K>(true);
    let w = world!("delete-grace");
    w.apply_client("app", rotation_spec::<K>()).await;
    w.wait_ready("app").await;
    let before = w.assert_working("app").await;
    let (id, old) = (before.client_id.unwrap(), before.secret.unwrap());
    w.annotate("app", ROTATE, "r1").await;
    w.wait_until("app", WAIT, "Retiring for r1", |o| {
        rotated_for(o, "r1") && phase(o) == Some(RotationPhase::Retiring)
    })
    .await;
    let new = w.assert_working("app").await.secret.unwrap();
    w.delete_client("app").await;
    w.wait_gone("app").await;
    assert_eq!(w.remote_count().await, 0, "the remote client is deleted");
    assert!(w.kind.remote(&id).await.is_none());
    assert!(!w.kind.accepts(&id, &new).await);
    assert!(!w.kind.accepts(&id, &old).await);
}

/// Rotation on demand without a grace period: the new secret replaces the old one
/// at once.
async fn rotation_replaces_the_secret_at_once<K: TestKind>() {
    listed_as::<K>(false);
    let w = world!("rotate");
    w.apply_client("app", json!({})).await;
    w.wait_ready("app").await;
    let before = w.assert_working("app").await;
    let (id, old) = (before.client_id.unwrap(), before.secret.unwrap());

    w.annotate("app", ROTATE, "r1").await;
    let o = w
        .wait_until("app", WAIT, "rotated for r1", |o| {
            rotated_for(o, "r1") && phase(o) == Some(RotationPhase::Idle)
        })
        .await;
    assert_eq!(client_id(&o), id, "the same client");
    assert!(rotation(&o).previous_retires_at.is_none());
    let c = w.assert_working("app").await;
    assert_ne!(c.secret.as_deref(), Some(old.as_str()), "a new secret");
    assert!(
        c.previous.is_none(),
        "no client_secret_previous: the old secret no longer works"
    );
    assert!(
        !w.kind.accepts(&id, &old).await,
        "{}: the old secret stops working at once",
        K::NAME
    );
    let notes = w.wait_events("app", "Rotated", 1).await;
    assert!(
        notes.iter().any(|n| n.contains("stopped working at once")
            && n.contains("no grace period")
            && n.contains("requested (r1)")),
        "{notes:?}"
    );
    assert!(
        w.events("app", "Retired").await.is_empty(),
        "nothing is retired later"
    );
    assert_eq!(annotation_owners(&o, ROTATE), [ANNOTATING_MANAGER]);
    assert_eq!(w.remote_count().await, 1);
    w.assert_not_logged(&[&old, c.secret.as_deref().unwrap()]);
}

/// A grace period the provider cannot keep is refused, naming the field.
async fn a_grace_period_is_refused_naming_the_field<K: TestKind>() {
    listed_as::<K>(false);
    let w = world!("grace");
    w.apply_client("app", json!({"rotation": {"gracePeriod": "24h"}}))
        .await;
    let o = w
        .wait_until("app", Duration::from_secs(30), "Stalled", |o| {
            condition(o, "Stalled").is_some_and(|c| c.status == "True")
        })
        .await;
    let msg = &condition(&o, "Stalled").unwrap().message;
    assert!(
        msg.contains("spec.rotation.gracePeriod") && msg.contains("grace period is impossible"),
        "{msg}"
    );
    assert!(o.status.unwrap().client_id.is_none());
    assert_eq!(w.remote_count().await, 0, "nothing was created");
}

// ---------------------------------------------------------------------------
// Crash points: the controller process aborts at a failpoint
// (`CLIENTOPS_FAILPOINTS`, see src/failpoint.rs) between a remote call and the
// writes that record it; after a restart there is exactly one remote client and
// the Secret holds credentials the backend accepts.

async fn crash_during_create<K: TestKind>(point: &str) {
    let mut w = world!("crash-create", &[("CLIENTOPS_FAILPOINTS", point)], &[]);
    w.apply_client("app", json!({})).await;
    assert!(
        w.ctl.wait_exit(WAIT).await,
        "{} {point}: the controller did not reach the failpoint\n{}",
        K::NAME,
        w.logs()
    );
    w.ctl.restart(&[]);
    let o = w.wait_ready("app").await;
    assert_eq!(
        w.remote_count().await,
        1,
        "{} {point}: exactly one remote client",
        K::NAME
    );
    let c = w.assert_working("app").await;
    assert_eq!(
        c.client_id.as_deref(),
        Some(client_id(&o).as_str()),
        "{} {point}: the Secret names the client in status",
        K::NAME
    );
}

async fn crash_during_rotation<K: TestKind>(point: &str) {
    let mut w = world!("crash-rotate");
    w.apply_client("app", rotation_spec::<K>()).await;
    w.wait_ready("app").await;
    let before = w.assert_working("app").await;
    w.ctl.restart(&[("CLIENTOPS_FAILPOINTS", point)]);
    w.annotate("app", ROTATE, "r1").await;
    assert!(
        w.ctl.wait_exit(WAIT).await,
        "{} {point}: the controller did not reach the failpoint\n{}",
        K::NAME,
        w.logs()
    );
    w.ctl.restart(&[]);
    let o = w
        .wait_until("app", WAIT, "rotated for r1", |o| rotated_for(o, "r1"))
        .await;
    assert!(o.status.unwrap().pending_rotation.is_none());
    assert_eq!(
        w.remote_count().await,
        1,
        "{} {point}: exactly one remote client",
        K::NAME
    );
    let after = w.assert_working("app").await;
    assert_eq!(after.client_id, before.client_id);
    assert_ne!(
        after.secret,
        before.secret,
        "{} {point}: the rotation produced a new secret",
        K::NAME
    );
    // The request is handled once: no second rotation follows.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let settled = w.assert_working("app").await;
    assert_eq!(
        settled.secret,
        after.secret,
        "{} {point}: the rotation happened once",
        K::NAME
    );
}

async fn crash_after_retiring_before_the_status_write<K: TestKind>() {
    listed_as::<K>(true);
    let mut w = world!("crash-retire");
    w.apply_client("app", rotation_spec::<K>()).await;
    w.wait_ready("app").await;
    w.annotate("app", ROTATE, "r1").await;
    let o = w
        .wait_until("app", WAIT, "retiring", |o| {
            rotated_for(o, "r1") && phase(o) == Some(RotationPhase::Retiring)
        })
        .await;
    let id = client_id(&o);
    let previous = w
        .creds("app")
        .await
        .previous
        .expect("the previous secret is published during grace");
    w.ctl
        .restart(&[("CLIENTOPS_FAILPOINTS", "after-retire-call")]);
    w.annotate("app", RETIRE, "x1").await;
    assert!(
        w.ctl.wait_exit(WAIT).await,
        "{}: the controller did not reach the failpoint\n{}",
        K::NAME,
        w.logs()
    );
    w.ctl.restart(&[]);
    w.wait_until("app", WAIT, "idle", |o| {
        is_ready(o) && phase(o) == Some(RotationPhase::Idle)
    })
    .await;
    let c = w.assert_working("app").await;
    assert!(c.previous.is_none(), "the retired secret is dropped");
    assert!(
        !w.kind.accepts(&id, &previous).await,
        "{}: the retired secret no longer works",
        K::NAME
    );
}

/// The backend commits the create and loses its response: no second create while
/// it is lost, and the client is adopted once answers come through.
async fn a_lost_create_response_adopts_instead_of_duplicating<K: TestKind>() {
    let w = world!("lost-create");
    w.kind.lose_create_responses(true).await;
    w.apply_client("app", json!({})).await;
    let committed = support::wait_for(Duration::from_secs(30), || async {
        (w.remote_count().await >= 1).then_some(())
    })
    .await;
    assert!(
        committed.is_some(),
        "{}: the create never reached the backend",
        K::NAME
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        w.remote_count().await,
        1,
        "{}: a lost response must never lead to a second create",
        K::NAME
    );
    w.kind.lose_create_responses(false).await;
    w.wait_ready("app").await;
    assert_eq!(w.remote_count().await, 1);
    w.assert_working("app").await;
}

// ---------------------------------------------------------------------------
// ---------------------------------------------------------------------------
// Every field compared

/// Ask for a resync now (`clientops.dev/reconcile`) and wait until it was acted on.
async fn resync_now<K: TestKind>(w: &World<K>, name: &str, value: &str) {
    w.annotate(name, RECONCILE, value).await;
    w.wait_until(name, WAIT, &format!("resynced for {value}"), |o| {
        o.status
            .as_ref()
            .and_then(|s| s.last_reconcile_request.as_deref())
            == Some(value)
    })
    .await;
}

async fn every_declared_field_edited_at_the_provider_is_reverted<K: TestKind>() {
    // A resync far away: only the reconcile request below reverts.
    let w = world!("fields", &[], &["--resync", "10m"]);
    w.apply_client("app", w.kind.every_field("app")).await;
    let id = client_id(&w.wait_ready("app").await);
    let declared = K::declared();
    let as_declared = w.kind.remote(&id).await.expect("the client at the backend");

    // An administrator edits every field at the backend.
    for d in &declared {
        w.kind.edit_behind_the_back(&id, &d.edit).await;
    }
    let edited = w.kind.remote(&id).await.expect("the client at the backend");
    for d in &declared {
        assert_ne!(
            shown(&edited, d.shown_at),
            shown(&as_declared, d.shown_at),
            "{}: the edit {} of {} did not change {} at the backend (the row proves nothing)",
            K::NAME,
            d.edit,
            d.field,
            d.shown_at
        );
    }

    resync_now(&w, "app", "fields-1").await;
    let differing = |r: &serde_json::Value| -> Vec<String> {
        declared
            .iter()
            .filter(|d| shown(r, d.shown_at) != shown(&as_declared, d.shown_at))
            .map(|d| {
                format!(
                    "{} ({} is {}, declared {})",
                    d.field,
                    d.shown_at,
                    shown(r, d.shown_at),
                    shown(&as_declared, d.shown_at)
                )
            })
            .collect()
    };
    let reverted = support::wait_for(Duration::from_secs(30), || async {
        let r = w.kind.remote(&id).await?;
        differing(&r).is_empty().then_some(())
    })
    .await;
    if reverted.is_none() {
        let r = w.kind.remote(&id).await.unwrap_or_default();
        panic!(
            "{}: not reverted by a resync: {:#?}\n{}",
            K::NAME,
            differing(&r),
            w.logs()
        );
    }
    assert!(is_ready(&w.get("app").await.unwrap()));
    assert_eq!(
        w.remote_count().await,
        1,
        "a revert never makes a second client"
    );
    w.assert_working("app").await;
}

async fn a_client_disabled_at_the_provider_is_enabled_again<K: TestKind>() {
    let w = world!("enabled", &[], &["--resync", "10m"]);
    w.apply_client("app", json!({})).await;
    let id = client_id(&w.wait_ready("app").await);
    let c = w.assert_working("app").await;

    w.kind.disable_behind_the_back(&id).await;
    let remote = w.kind.remote(&id).await.expect("the client at the backend");
    assert!(
        !K::is_enabled(&remote),
        "{}: not disabled: {remote}",
        K::NAME
    );
    assert!(
        !w.kind.accepts(&id, c.secret.as_deref().unwrap()).await,
        "{}: a disabled client must not get tokens (else this test proves nothing)",
        K::NAME
    );

    resync_now(&w, "app", "enable-1").await;
    let enabled = support::wait_for(Duration::from_secs(30), || async {
        let r = w.kind.remote(&id).await?;
        K::is_enabled(&r).then_some(())
    })
    .await;
    assert!(
        enabled.is_some(),
        "{}: the client is still disabled after a resync\n{}",
        K::NAME,
        w.logs()
    );
    w.assert_working("app").await;

    // The spec's switch (`spec.keycloak.enabled: false`) turns it off.
    w.apply_client("app", K::disabled_in_spec()).await;
    w.wait_ready("app").await;
    let r = w.kind.remote(&id).await.expect("the client at the backend");
    assert!(
        !K::is_enabled(&r),
        "{}: enabled: false was not applied",
        K::NAME
    );
}

// The generated tests.

/// `behaviour_suite! { module: Type, [capabilities]; ... }`: a module per kind
/// holding every common test, and the tests of its capabilities.
#[macro_export]
macro_rules! behaviour_suite {
    ($($module:ident: $kind:ty, [$($cap:ident),*];)*) => {
        $(
            mod $module {
                use super::*;
                type K = $kind;
                behaviour_suite!(@common);
                $(behaviour_suite!(@$cap);)*
            }
        )*
    };
    (@common) => {
        #[tokio::test]
        async fn create_writes_an_owned_secret_with_working_credentials() {
            super::create_writes_an_owned_secret_with_working_credentials::<K>().await
        }
        #[tokio::test]
        async fn a_spec_edit_patches_the_remote_client() {
            super::a_spec_edit_patches_the_remote_client::<K>().await
        }
        #[tokio::test]
        async fn drift_is_reverted_by_the_resync_and_on_request() {
            super::drift_is_reverted_by_the_resync_and_on_request::<K>().await
        }
        #[tokio::test]
        async fn a_client_deleted_at_the_provider_is_recreated() {
            super::a_client_deleted_at_the_provider_is_recreated::<K>().await
        }
        #[tokio::test]
        async fn delete_policy_deletes_the_remote_client_and_orphan_keeps_it() {
            super::delete_policy_deletes_the_remote_client_and_orphan_keeps_it::<K>().await
        }
        #[tokio::test]
        async fn a_deleted_or_tampered_secret_is_repaired() {
            super::a_deleted_or_tampered_secret_is_repaired::<K>().await
        }
        #[tokio::test]
        async fn every_declared_field_edited_at_the_provider_is_reverted() {
            super::every_declared_field_edited_at_the_provider_is_reverted::<K>().await
        }
        #[tokio::test]
        async fn a_missing_provider_is_named_and_an_orphan_can_still_be_deleted() {
            super::a_missing_provider_is_named_and_an_orphan_can_still_be_deleted::<K>().await
        }
        #[tokio::test]
        async fn a_secret_changed_at_the_provider_is_repaired_on_a_forced_resync() {
            super::a_secret_changed_at_the_provider_is_repaired_on_a_forced_resync::<K>().await
        }
        #[tokio::test]
        async fn crash_after_recording_the_create_intent() {
            super::crash_during_create::<K>("after-pending-create").await
        }
        #[tokio::test]
        async fn crash_after_the_create_call() {
            super::crash_during_create::<K>("after-create-call").await
        }
        #[tokio::test]
        async fn crash_after_the_create_secret_write() {
            super::crash_during_create::<K>("after-create-secret-write").await
        }
        #[tokio::test]
        async fn crash_after_recording_the_rotation_intent() {
            super::crash_during_rotation::<K>("after-pending-rotation").await
        }
        #[tokio::test]
        async fn crash_after_the_rotate_call() {
            super::crash_during_rotation::<K>("after-rotate-call").await
        }
        #[tokio::test]
        async fn crash_after_the_rotated_secret_write() {
            super::crash_during_rotation::<K>("after-rotate-secret-write").await
        }
    };
    (@grace) => {
        #[tokio::test]
        async fn rotation_keeps_the_previous_secret_until_it_is_retired() {
            super::rotation_keeps_the_previous_secret_until_it_is_retired::<K>().await
        }
        #[tokio::test]
        async fn the_grace_period_ends_by_itself() {
            super::the_grace_period_ends_by_itself::<K>().await
        }
        #[tokio::test]
        async fn deleting_during_grace_deletes_the_client_with_both_secrets() {
            super::deleting_during_grace_deletes_the_client_with_both_secrets::<K>().await
        }
        #[tokio::test]
        async fn crash_after_retiring_before_the_status_write() {
            super::crash_after_retiring_before_the_status_write::<K>().await
        }
    };
    (@one_step) => {
        #[tokio::test]
        async fn rotation_replaces_the_secret_at_once() {
            super::rotation_replaces_the_secret_at_once::<K>().await
        }
        #[tokio::test]
        async fn a_grace_period_is_refused_naming_the_field() {
            super::a_grace_period_is_refused_naming_the_field::<K>().await
        }
    };
    (@imports) => {
        #[tokio::test]
        async fn an_import_with_a_secret_ref_adopts_the_client_and_keeps_its_secret() {
            super::an_import_with_a_secret_ref_adopts_the_client_and_keeps_its_secret::<K>().await
        }
    };
    (@unrepairable) => {
        #[tokio::test]
        async fn a_rejected_secret_that_cannot_be_repaired_keeps_ready_false() {
            super::a_rejected_secret_that_cannot_be_repaired_keeps_ready_false::<K>().await
        }
    };
    (@enabled) => {
        #[tokio::test]
        async fn a_client_disabled_at_the_provider_is_enabled_again() {
            super::a_client_disabled_at_the_provider_is_enabled_again::<K>().await
        }
    };
    (@lost_responses) => {
        #[tokio::test]
        async fn a_lost_create_response_adopts_instead_of_duplicating() {
            super::a_lost_create_response_adopts_instead_of_duplicating::<K>().await
        }
    };
}
