//! Issue 24, part A: the create intent annotation (`clientops.dev/pending-create`)
//! is tenant-writable metadata. Only an intent clientops signed for the very object
//! counts (a MAC keyed by the Secret `clientops-intent-key` in the operator's
//! namespace); a chosen id is recomputed from the UID; no path adopts a client
//! another OAuthClient holds. Every row runs `clientops run` against the real
//! apiserver and the emulators over real HTTP.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use clientops::api::OAuthClient;
use clientops::api::annotations::FINALIZER;
use clientops::api::client::PendingOperation;
use clientops::controller::intent_key::{KEY_SECRET, keys_in};
use clientops::controller::markers::{PENDING_CREATE, chosen_client_id, signed_intent};
use support::scenario::{Kind, Scenario, is_ready};
use support::tenancy::{RUN_LABEL, WAIT, World};
use support::wait_for;

/// Notes of the events about `ns/name` with `reason`, once at least one exists.
async fn wait_events(client: &kube::Client, ns: &str, name: &str, reason: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    wait_for(Duration::from_secs(30), || async {
        let notes: Vec<String> = api
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .filter_map(|e| e.note)
            .collect();
        (!notes.is_empty()).then_some(notes)
    })
    .await
    .unwrap_or_else(|| panic!("no {reason} event for {ns}/{name}"))
}

/// An OAuthClient of the world's shared provider with `metadata` merged in.
fn client_in(w: &World, ns: &str, name: &str, metadata: Value) -> Value {
    let mut o = json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": name, "namespace": ns, "labels": {RUN_LABEL: w.run}},
        "spec": {
            "providerRef": {"kind": "ClusterOAuthProvider", "name": w.shared},
            "clientName": format!("App {name}"),
            "redirectUris": [format!("https://{name}.example.com/callback")],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["user-details.read", "account.read"],
        },
    });
    support::scenario::merge(&mut o["metadata"], metadata);
    o
}

fn annotation(o: &OAuthClient) -> Option<String> {
    o.metadata
        .annotations
        .as_ref()?
        .get(PENDING_CREATE)
        .cloned()
}

#[tokio::test]
async fn a_forged_or_copied_intent_takes_no_other_tenants_client() {
    let w = World::new("intent-forged", None, &[]).await;
    let (a, b) = (
        w.tenant("tenant-a", json!({})).await,
        w.tenant("tenant-b", json!({})).await,
    );
    // The victim: B's Ready client.
    w.apply_client(&b, "b1", json!({})).await;
    let b1 = w.wait_ready(&b, "b1").await;
    let (victim_id, victim_secret) = w.creds(&b, "b1").await;
    let before = w.remote(&victim_id).await.expect("b1 at the provider");

    // 1. The issue's attack: a new object of A's with an intent naming B's client.
    let forged = format!(r#"{{"startedAt":"2020-01-01T00:00:00Z","marker":"id:{victim_id}"}}"#);
    w.apply(
        &a,
        client_in(
            &w,
            &a,
            "a1",
            json!({"annotations": {PENDING_CREATE: forged}}),
        ),
    )
    .await;
    let a1 = w.wait_ready(&a, "a1").await;
    let own = a1.status.as_ref().unwrap().client_id.clone().unwrap();
    assert_ne!(own, victim_id, "A got a client of its own");
    let (a_id, a_secret) = w.creds(&a, "a1").await;
    assert_eq!(a_id, own);
    assert!(w.emu.check(&a_id, &a_secret).await, "A's own secret works");
    let notes = wait_events(&w.client, &a, "a1", "IntentRefused").await;
    assert!(notes[0].contains(PENDING_CREATE), "{notes:?}");
    assert!(
        !notes[0].contains(&victim_id),
        "the value is not echoed: {notes:?}"
    );
    assert_ne!(
        annotation(&a1).as_deref(),
        Some(forged.as_str()),
        "clientops wrote its own intent over the forged one"
    );

    // 2. A copy of B's own, validly signed intent: signed for B's UID, not A's.
    let copied = annotation(&b1).expect("b1 carries clientops' signed intent");
    assert!(copied.contains("\"mac\""), "{copied}");
    w.apply(
        &a,
        client_in(
            &w,
            &a,
            "a2",
            json!({"annotations": {PENDING_CREATE: copied}}),
        ),
    )
    .await;
    let a2 = w.wait_ready(&a, "a2").await;
    let own2 = a2.status.unwrap().client_id.unwrap();
    assert!(own2 != victim_id && own2 != own, "a client of its own");
    wait_events(&w.client, &a, "a2", "IntentRefused").await;

    // 3. Deleting an object whose forged intent was refused, before it made
    // anything: nothing is deleted at the provider. The object is made deleting
    // (with the finalizer a tenant may write) before the controller sees it.
    let mut stalled = client_in(
        &w,
        &a,
        "a3",
        json!({"annotations": {PENDING_CREATE: forged}, "finalizers": [FINALIZER]}),
    );
    stalled["metadata"]["labels"] = json!({});
    w.apply(&a, stalled).await;
    let api = Api::<OAuthClient>::namespaced(w.client.clone(), &a);
    api.delete("a3", &DeleteParams::default()).await.unwrap();
    api.patch(
        "a3",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {RUN_LABEL: w.run}}})),
    )
    .await
    .unwrap();
    let gone = wait_for(WAIT, || async {
        w.get(&a, "a3").await.is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "a3 is let go; log:\n{}", w.ctl.logs());

    // B's client is untouched: same secret, same redirect URIs, still B's.
    let after = w
        .remote(&victim_id)
        .await
        .expect("b1 still at the provider");
    assert_eq!(
        after["redirect_uris"], before["redirect_uris"],
        "not patched"
    );
    assert_eq!(after["secret_count"], before["secret_count"], "not rotated");
    assert!(
        w.emu.check(&victim_id, &victim_secret).await,
        "B's secret works"
    );
    let b1 = w.get(&b, "b1").await.unwrap();
    assert!(is_ready(&b1));
    assert_eq!(
        b1.status.unwrap().client_id.as_deref(),
        Some(victim_id.as_str())
    );

    // Deleting A's objects deletes their own clients, never B's.
    for name in ["a1", "a2"] {
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }
    let gone = wait_for(WAIT, || async {
        (w.get(&a, "a1").await.is_none() && w.get(&a, "a2").await.is_none()).then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "A's objects deleted; log:\n{}",
        w.ctl.logs()
    );
    assert!(w.remote(&own).await.is_none() && w.remote(&own2).await.is_none());
    assert!(w.remote(&victim_id).await.is_some(), "B's client survives");
    assert!(w.emu.check(&victim_id, &victim_secret).await);
}

/// On a provider that lets the caller choose the id (CSP), even an intent with a
/// valid MAC for this very object cannot name another id: the id is recomputed
/// from the UID. (The MAC is made here with the key Secret an admin can read, as
/// a stand-in for any way a marker with another id could get signed.)
#[tokio::test]
async fn a_chosen_id_other_than_the_uids_is_refused_even_when_signed() {
    let mut s = Scenario::for_provider(Kind::Csp, "intent-csp", &[], &[]).await;
    s.apply_client("b", json!({})).await;
    let b = s.wait_ready("b").await;
    let victim_id = b.status.as_ref().unwrap().client_id.clone().unwrap();
    assert_eq!(
        victim_id,
        chosen_client_id(b.metadata.uid.as_deref().unwrap())
    );
    let victim = s.creds("b").await;
    assert!(
        s.emu
            .check(&victim_id, victim.secret.as_deref().unwrap())
            .await
    );

    // A is written while no controller runs, so its UID is known before the
    // intent is: a signed intent for A naming B's id.
    s.ctl.kill();
    s.apply_client("a", json!({})).await;
    let a = s.get("a").await.unwrap();
    let key = Api::<Secret>::namespaced(s.client.clone(), &s.ns)
        .get(KEY_SECRET)
        .await
        .expect("the controller created its intent key at start");
    let keys = keys_in(&key, &s.ns).unwrap();
    let op = PendingOperation {
        started_at: "2020-01-01T00:00:00Z".into(),
        marker: Some(format!("id:{victim_id}")),
        recovering: false,
    };
    let value = signed_intent(&a, &keys, &op);
    s.annotate("a", PENDING_CREATE, &value).await;
    s.ctl.restart(&[]);

    let a = s.wait_ready("a").await;
    let own = a.status.as_ref().unwrap().client_id.clone().unwrap();
    assert_eq!(own, chosen_client_id(a.metadata.uid.as_deref().unwrap()));
    wait_events(&s.client, &s.ns, "a", "IntentRefused").await;
    assert!(
        s.emu
            .check(&victim_id, victim.secret.as_deref().unwrap())
            .await,
        "B's secret still works"
    );
    let b = s.get("b").await.unwrap();
    assert_eq!(
        b.status.unwrap().client_id.as_deref(),
        Some(victim_id.as_str())
    );

    // The key Secret is read once at start: the restart read the same key, so
    // B's intent (signed before it) still verifies (no Warning for b).
    let api: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let for_b = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some("IntentRefused")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("b")
        })
        .count();
    assert_eq!(for_b, 0);
}
