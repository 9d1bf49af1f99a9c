//! What only VMware CSP does, with the controller: the old secret expiring by
//! itself at the provider, bulk delete's partial failure, and access tokens
//! expiring mid-run. What every provider does is the behaviour suite
//! (tests/provider_behaviour.rs).

mod support;

use std::time::Duration;

use serde_json::json;
use support::scenario::{Kind, Scenario, condition, is_ready};

async fn scenario(kind: Kind, prefix: &str, env: &[(&str, &str)]) -> Scenario {
    Scenario::for_provider(kind, prefix, env, &[]).await
}

fn rotation_phase(
    o: &clientops::api::OAuthClient,
) -> Option<clientops::api::client::RotationPhase> {
    o.status.as_ref()?.rotation.as_ref()?.phase
}

#[tokio::test]
async fn csp_previous_secret_expires_without_retirement() {
    let s = scenario(Kind::Csp, "csp-expiry", &[]).await;
    s.apply_client("app", json!({"rotation": {"gracePeriod": "1h"}}))
        .await;
    s.wait_ready("app").await;
    let before = s.assert_working("app").await;
    s.annotate("app", "clientops.dev/rotate", "r1").await;
    s.wait_until("app", Duration::from_secs(60), "rotated", |o| {
        is_ready(o) && rotation_phase(o) == Some(clientops::api::client::RotationPhase::Retiring)
    })
    .await;
    let id = before.client_id.clone().unwrap();
    assert!(s.emu.check(&id, before.secret.as_deref().unwrap()).await);
    // CSP retires the old secret itself when the rotation's expiry (the grace
    // period clientops sent) passes.
    s.emu.advance_clock("2h").await;
    assert!(
        !s.emu.check(&id, before.secret.as_deref().unwrap()).await,
        "the old secret expired at the provider"
    );
    s.assert_working("app").await;
}

#[tokio::test]
async fn csp_bulk_delete_partial_failure_is_reported_and_retried() {
    let s = scenario(Kind::Csp, "csp-bulk", &[]).await;
    s.apply_client("app", json!({})).await;
    let id = s.wait_ready("app").await.status.unwrap().client_id.unwrap();
    s.emu
        .admin(
            reqwest::Method::POST,
            &format!("clients/{id}/immutable"),
            Some(json!({"immutable": true})),
        )
        .await;
    s.delete_client("app").await;
    let o = s
        .wait_until(
            "app",
            Duration::from_secs(30),
            "reporting the failed delete",
            |o| condition(o, "Ready").is_some_and(|c| c.message.contains("delete")),
        )
        .await;
    assert!(
        o.metadata.deletion_timestamp.is_some(),
        "the finalizer holds the object while the remote client lives"
    );
    assert_eq!(s.remote_count().await, 1);
    s.emu
        .admin(
            reqwest::Method::POST,
            &format!("clients/{id}/immutable"),
            Some(json!({"immutable": false})),
        )
        .await;
    s.wait_gone("app").await;
    assert_eq!(s.remote_count().await, 0);
}

#[tokio::test]
async fn csp_access_token_expiry_mid_run_is_handled() {
    let s = scenario(Kind::Csp, "csp-token", &[]).await;
    s.apply_client("app", json!({})).await;
    s.wait_ready("app").await;
    s.emu
        .admin(reqwest::Method::POST, "tokens/expire", None)
        .await;
    s.apply_client("app", json!({"clientName": "After token expiry"}))
        .await;
    s.wait_ready("app").await;
    let listed = serde_json::to_string(&s.emu.clients().await).unwrap();
    assert!(listed.contains("After token expiry"));
    s.assert_working("app").await;
}

/// Issue 24: under a ClusterOAuthProvider policy `{grantTypes: [client_credentials],
/// scopes: [org_member]}`, CSP organization roles are scopes: an app asking for
/// `org_owner`, or for every role (`allOrganizationRoles: true`), is Stalled with
/// reason PolicyViolation naming the field, and nothing is created at the provider;
/// an app that keeps to the policy is Ready.
#[tokio::test]
async fn csp_roles_beyond_the_providers_policy_are_refused_before_any_create() {
    use clientops::api::ClusterOAuthProvider;
    use kube::api::{Api, DeleteParams, DynamicObject};

    let s = scenario(Kind::Csp, "csp-policy", &[]).await;
    // A provider that has the policy from its first write, so no reconcile can see
    // it without one.
    let providers = Api::<ClusterOAuthProvider>::all(s.client.clone());
    let mut spec = serde_json::to_value(providers.get(&s.provider).await.unwrap().spec).unwrap();
    spec["policy"] = json!({"grantTypes": ["client_credentials"], "scopes": ["org_member"]});
    let guarded = format!("guarded-{}", s.ns);
    let p: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
        "metadata": {"name": guarded}, "spec": spec,
    }))
    .unwrap();
    support::apply(&s.client, &p, &s.ns).await.unwrap();
    let uses = |csp: serde_json::Value| {
        json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": guarded},
            "vmwareCsp": csp,
        })
    };

    s.apply_client(
        "member",
        uses(json!({"description": "member", "organizationRoles": ["org_member"]})),
    )
    .await;
    s.apply_client(
        "owner",
        uses(json!({"description": "owner", "organizationRoles": ["org_owner"]})),
    )
    .await;
    s.apply_client(
        "all",
        uses(json!({"description": "all", "allOrganizationRoles": true})),
    )
    .await;
    s.wait_ready("member").await;
    for (name, field) in [
        (
            "owner",
            "spec.vmwareCsp.organizationRoles[0]: organization role \"org_owner\" is not allowed",
        ),
        (
            "all",
            "spec.vmwareCsp.allOrganizationRoles: true (every role of the organization) is not allowed",
        ),
    ] {
        let o = s
            .wait_until(name, Duration::from_secs(60), "PolicyViolation", |o| {
                condition(o, "Stalled")
                    .is_some_and(|c| c.status == "True" && c.reason == "PolicyViolation")
            })
            .await;
        let msg = &condition(&o, "Stalled").unwrap().message;
        assert!(msg.contains(field), "{name}: {msg}");
        assert!(
            msg.contains(&format!(
                "ClusterOAuthProvider {guarded} policy scopes [org_member]"
            )),
            "{name}: {msg}"
        );
        assert!(
            o.status.unwrap().client_id.is_none(),
            "{name} holds no client"
        );
    }
    assert_eq!(
        s.remote_count().await,
        1,
        "only the app that keeps to the policy exists at the provider"
    );
    let _ = providers.delete(&guarded, &DeleteParams::default()).await;
}
