//! The OAuthClient lifecycle end to end beyond what every provider shares (that is
//! the behaviour suite, tests/provider_behaviour.rs): the Secret's shape, an
//! import without proof, conflicts, credentials and provider errors. A
//! real apiserver, the Cloudflare emulator over real HTTP, and `clientops run` as
//! a process.

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use reqwest::Method;
use serde_json::json;
use support::scenario::{ACCOUNT, Scenario, condition};

#[tokio::test]
async fn the_secret_takes_the_shape_spec_secret_asks_for() {
    let s = Scenario::new("create", &[]).await;
    s.apply_client(
        "grafana",
        json!({"secret": {
            "name": "grafana-oauth",
            "labels": {"app": "grafana"},
            "annotations": {"reloader.stakater.com/match": "true"},
            "keys": {"clientId": "GF_ID", "clientSecret": "GF_SECRET"},
            "extraData": {"issuer": "https://dash.cloudflare.com"},
        }}),
    )
    .await;
    let o = s.wait_ready("grafana").await;
    let status = o.status.clone().unwrap();
    let id = status.client_id.clone().expect("status.clientId");
    assert_eq!(status.secret_name.as_deref(), Some("grafana-oauth"));
    assert!(
        status
            .secret_mac
            .as_deref()
            .is_some_and(|m| m.starts_with("v1:"))
    );

    let secret = s.secret("grafana-oauth").await.expect("Secret");
    assert_eq!(secret.owner_references()[0].uid, o.uid().unwrap());
    assert_eq!(
        secret.labels().get("app").map(String::as_str),
        Some("grafana")
    );
    assert_eq!(
        secret
            .annotations()
            .get("reloader.stakater.com/match")
            .map(String::as_str),
        Some("true")
    );
    let c = s
        .creds_with_keys(
            "grafana-oauth",
            "GF_ID",
            "GF_SECRET",
            "client_secret_previous",
        )
        .await;
    assert_eq!(c.client_id.as_deref(), Some(id.as_str()));
    assert!(
        s.emu.check(&id, c.secret.as_deref().unwrap()).await,
        "credentials under the renamed keys must work"
    );
    let data = secret.data.unwrap();
    assert_eq!(
        data.get("issuer").unwrap().0,
        b"https://dash.cloudflare.com"
    );
    assert!(
        !data.contains_key("client_id"),
        "renamed keys replace the defaults"
    );
}

/// Applying the manifest of an orphaned client again (a GitOps re-sync, say) finds
/// the Secret it left behind: never overwritten, no second client, and the
/// condition names the client and the fix, which then works. (Delete and Orphan
/// themselves are in the behaviour suite, tests/provider_behaviour.rs.)
#[tokio::test]
async fn reapplying_an_orphaned_client_stalls_and_its_message_leads_to_an_import() {
    let s = Scenario::new("deletion", &[]).await;
    s.apply_client("stays", json!({"deletionPolicy": "Orphan"}))
        .await;
    let stays = s
        .wait_ready("stays")
        .await
        .status
        .unwrap()
        .client_id
        .unwrap();
    s.delete_client("stays").await;
    s.wait_gone("stays").await;
    s.assert_working("stays").await;

    let before = s.remote_count().await;
    s.apply_client("stays", json!({"deletionPolicy": "Orphan"}))
        .await;
    let stalled = s
        .wait_until("stays", Duration::from_secs(60), "SecretConflict", |o| {
            condition(o, "Stalled")
                .is_some_and(|c| c.status == "True" && c.reason == "SecretConflict")
        })
        .await;
    let message = condition(&stalled, "Stalled").unwrap().message.clone();
    assert!(
        message.contains("deletionPolicy: Orphan")
            && message.contains(&format!("spec.import.clientId: {stays:?}")),
        "{message}"
    );
    assert_eq!(s.remote_count().await, before, "no client was created");
    s.assert_working("stays").await;
    assert!(
        message.contains("spec.import.secretRef: {name: stays, key: client_secret}"),
        "the message says how to prove the client is ours: {message}"
    );
    // Following the message: delete the object, create it again importing the
    // client with the orphaned Secret as proof, into a Secret of a new name.
    s.delete_client("stays").await;
    s.wait_gone("stays").await;
    assert_eq!(
        s.remote_count().await,
        before,
        "deleting it deleted nothing"
    );
    let held = s.creds("stays").await;
    s.apply_client(
        "stays",
        json!({"deletionPolicy": "Orphan", "secret": {"name": "stays-again"},
               "import": {"clientId": stays, "secretRef": {"name": "stays", "key": "client_secret"}}}),
    )
    .await;
    let o = s.wait_ready("stays").await;
    assert_eq!(o.status.unwrap().client_id.as_deref(), Some(stays.as_str()));
    assert_eq!(
        s.remote_count().await,
        before,
        "the same client, managed again"
    );
    let again = s.assert_working("stays-again").await;
    assert_eq!(
        again.secret, held.secret,
        "the secret it proved with is kept"
    );
    Api::<Secret>::namespaced(s.client.clone(), &s.ns)
        .delete("stays", &Default::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn import_without_a_secret_ref_rotates_with_grace_to_obtain_a_secret() {
    let s = Scenario::new("import-rotate", &[]).await;
    let created = s
        .emu
        .api(
            Method::POST,
            &format!("accounts/{ACCOUNT}/oauth_clients"),
            Some(json!({"client_name": "App legacy", "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": ["https://legacy.example.com/callback"],
                       "response_types": ["code"], "scopes": ["user-details.read", "account.read"], "token_endpoint_auth_method": "client_secret_basic"})),
        )
        .await;
    let id = created["result"]["client_id"].as_str().unwrap().to_string();
    let original = created["result"]["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    // Without a secret to prove ownership, the admin must allow it (issue 16).
    s.apply_client("legacy", json!({"import": {"clientId": id}}))
        .await;
    s.wait_until(
        "legacy",
        Duration::from_secs(60),
        "ImportNotAuthorized",
        |o| {
            condition(o, "Stalled")
                .is_some_and(|c| c.status == "True" && c.reason == "ImportNotAuthorized")
        },
    )
    .await;
    assert!(
        s.emu.check(&id, &original).await,
        "refused: nothing rotated"
    );
    Api::<clientops::api::ClusterOAuthProvider>::all(s.client.clone())
        .patch(
            &s.provider,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(
                json!({"spec": {"policy": {"unprovenImportNamespaceSelector":
                {"matchLabels": {"kubernetes.io/metadata.name": s.ns}}}}}),
            ),
        )
        .await
        .unwrap();
    let o = s.wait_ready("legacy").await;
    let c = s.assert_working("legacy").await;
    assert_ne!(c.secret.as_deref(), Some(original.as_str()));
    assert!(
        s.emu.check(&id, &original).await,
        "the secret the legacy app holds keeps working during the grace period"
    );
    let rotation = o.status.unwrap().rotation.unwrap();
    assert_eq!(
        rotation.phase,
        Some(clientops::api::client::RotationPhase::Retiring)
    );
    assert!(rotation.previous_retires_at.is_some());
}

#[tokio::test]
async fn a_foreign_secret_is_never_overwritten_and_no_client_is_made() {
    let s = Scenario::new("foreign", &[]).await;
    let foreign: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app", "namespace": s.ns},
        "stringData": {"password": "belongs-to-someone-else"},
    }))
    .unwrap();
    support::apply(&s.client, &foreign, &s.ns).await.unwrap();
    s.apply_client("app", json!({})).await;
    let o = s
        .wait_until("app", Duration::from_secs(30), "SecretConflict", |o| {
            condition(o, "Ready")
                .is_some_and(|c| c.status == "False" && c.reason == "SecretConflict")
        })
        .await;
    assert_eq!(
        condition(&o, "Stalled").map(|c| c.status.as_str()),
        Some("True")
    );
    assert!(
        condition(&o, "Ready")
            .unwrap()
            .message
            .contains("spec.secret.name")
    );
    let secret = s.secret("app").await.unwrap();
    assert_eq!(
        secret.data.unwrap().get("password").unwrap().0,
        b"belongs-to-someone-else"
    );
    assert_eq!(
        s.remote_count().await,
        0,
        "no client is created whose secret could not be stored"
    );
}

#[tokio::test]
async fn bad_credentials_show_on_the_provider_and_its_clients_and_recover() {
    let s = Scenario::new("badcreds", &[]).await;
    let bad = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cf-api", "namespace": s.ns}, "stringData": {"token": "wrong-token"}});
    support::apply(&s.client, &serde_json::from_value(bad).unwrap(), &s.ns)
        .await
        .unwrap();
    s.apply_client("app", json!({})).await;
    let o = s
        .wait_until("app", Duration::from_secs(30), "unauthorized", |o| {
            condition(o, "Ready").is_some_and(|c| {
                c.status == "False"
                    && (c.reason == "ProviderUnauthorized" || c.reason == "ProviderForbidden")
            })
        })
        .await;
    assert_eq!(
        condition(&o, "Stalled").map(|c| c.status.as_str()),
        Some("True")
    );
    assert!(
        condition(&o, "Ready")
            .unwrap()
            .message
            .contains("credentials Secret")
    );
    assert!(
        !serde_json::to_string(&o.status)
            .unwrap()
            .contains("wrong-token"),
        "credentials never appear in status"
    );
    let providers: kube::Api<clientops::api::ClusterOAuthProvider> =
        kube::Api::all(s.client.clone());
    let p = support::wait_for(Duration::from_secs(30), || async {
        let p = providers.get(&s.provider).await.ok()?;
        p.status
            .as_ref()?
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False")
            .then_some(p)
    })
    .await;
    assert!(p.is_some(), "the provider shows Ready=False");
    // Fix the credentials: the client becomes Ready without any other change.
    let good = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cf-api", "namespace": s.ns}, "stringData": {"token": "test-token"}});
    support::apply(&s.client, &serde_json::from_value(good).unwrap(), &s.ns)
        .await
        .unwrap();
    s.wait_ready("app").await;
    s.assert_working("app").await;
}

#[tokio::test]
async fn provider_errors_and_rate_limits_are_retried_without_duplicates() {
    let s = Scenario::new("storm", &[]).await;
    s.emu.set_faults(json!({"p_503": 0.3, "p_429": 0.3})).await;
    for i in 0..4 {
        s.apply_client(&format!("app-{i}"), json!({})).await;
    }
    for i in 0..4 {
        s.wait_until(
            &format!("app-{i}"),
            Duration::from_secs(120),
            "Ready",
            support::scenario::is_ready,
        )
        .await;
    }
    s.emu.clear_faults().await;
    assert_eq!(
        s.remote_count().await,
        4,
        "exactly one remote client per OAuthClient"
    );
    for i in 0..4 {
        s.assert_working(&format!("app-{i}")).await;
    }
}

#[tokio::test]
async fn an_invalid_spec_or_an_unadmitted_namespace_stalls_with_the_field_named() {
    let s = Scenario::new("stalls", &[]).await;
    // No spec.cloudflare block, so the CRD cannot check Cloudflare's rules: the
    // controller does, once it knows the provider.
    s.apply_client("colon", json!({"scopes": ["account:read"]}))
        .await;
    let o = s
        .wait_until("colon", Duration::from_secs(30), "Stalled", |o| {
            condition(o, "Stalled").is_some_and(|c| c.status == "True")
        })
        .await;
    let msg = &condition(&o, "Stalled").unwrap().message;
    assert!(
        msg.contains("spec.scopes") && msg.contains("account.read"),
        "{msg}"
    );

    let not_admitted = json!({"providerRef": {"kind": "ClusterOAuthProvider", "name": "cloudflare-demo-not-for-you"}});
    let other: kube::api::DynamicObject = serde_json::from_value(json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider", "metadata": {"name": "cloudflare-demo-not-for-you"},
        "spec": {"cloudflare": {"accountId": ACCOUNT, "baseUrl": s.emu.api_url(),
                 "auth": {"apiTokenSecretRef": {"namespace": s.ns, "name": "cf-api", "key": "token"}}},
                 "namespaceSelector": {"matchLabels": {"team": "payments"}}},
    }))
    .unwrap();
    support::apply(&s.client, &other, &s.ns).await.unwrap();
    s.apply_client("sneaky", not_admitted).await;
    let o = s
        .wait_until("sneaky", Duration::from_secs(30), "not admitted", |o| {
            condition(o, "Ready").is_some_and(|c| c.reason == "ProviderNotAdmitted")
        })
        .await;
    assert!(
        condition(&o, "Ready")
            .unwrap()
            .message
            .contains("namespaceSelector")
    );
    assert_eq!(s.remote_count().await, 0);
}

#[tokio::test]
async fn a_missing_provider_is_named_and_an_orphan_can_still_be_deleted() {
    // Issue 17: with its provider missing, a client with a Cloudflare block was
    // judged as if the provider were Hydra (InvalidSpec), and with deletionPolicy
    // Orphan it could not be deleted.
    let s = Scenario::new("missing-provider", &[]).await;
    s.apply_client(
        "lost",
        json!({"providerRef": {"kind": "ClusterOAuthProvider", "name": "does-not-exist"},
               "cloudflare": {"optionalScopes": ["account.read"]},
               "deletionPolicy": "Orphan"}),
    )
    .await;
    let o = s
        .wait_until(
            "lost",
            Duration::from_secs(60),
            "waiting for its provider",
            |o| {
                condition(o, "Reconciling")
                    .is_some_and(|c| c.status == "True" && c.reason == "ProviderNotFound")
            },
        )
        .await;
    let msg = &condition(&o, "Reconciling").unwrap().message;
    assert!(
        msg.contains("does-not-exist") && msg.contains("does not exist"),
        "{msg}"
    );
    assert!(
        condition(&o, "Stalled").is_none_or(|c| c.reason != "InvalidSpec"),
        "not judged as another provider's spec"
    );
    s.delete_client("lost").await;
    s.wait_gone("lost").await;
    assert_eq!(s.remote_count().await, 0, "nothing was made");
}
