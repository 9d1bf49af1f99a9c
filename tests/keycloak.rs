//! clientops against a real Keycloak 26.7.3 (Maven Central, cached; one server
//! for this test binary, a realm per test): the provider level, and the
//! controller where Keycloak differs from the shared behaviour suite, proven with
//! tokens at the realm's token endpoint.
//!
//! Never skipped: without Maven (or the distribution in ~/.m2) and a Java >= 21
//! the install fails and so do these tests.

mod support;

use std::time::Duration;

use clientops::api::OAuthClient;
use clientops::api::provider::ProviderType;
use clientops::controller::desired::desired_for;
use clientops::provider::ProviderError;
use clientops::provider::keycloak::KeycloakProvider;
use clientops::provider::keycloak::fields::{self, DEFAULT_SCOPES, KEYCLOAK_BLOCK};
use clientops::provider::keycloak::{KeycloakClient, KeycloakConfig, KeycloakCredentials};
use clientops::provider::model::{
    ChosenIds, ChosenSecrets, ClientFields, Creation, Field, Provider, SecretCheck,
};
use clientops::provider::registry::kind;
use clientops::provider::transport::ProviderClient;
use clientops::secret::ClientSecret;
use kube::ResourceExt;
use serde_json::{Value, json};
use support::keycloak::{Keycloak, Realm, RealmSetup};
use support::kinds::keycloak::Keycloak as KeycloakKind;
use support::kinds::{TestKind, WAIT, World};
use support::procs::Controller;
use support::scenario::{condition, is_ready, rotated_for};

/// clientops' client of `realm`, as the controller would build it.
async fn provider(kc: &Keycloak, realm: &Realm) -> KeycloakProvider {
    let config = KeycloakConfig::new(
        kc.url.clone(),
        realm.name.clone(),
        KeycloakCredentials::client_credentials(&realm.admin_client_id, &realm.admin_secret),
    );
    KeycloakProvider::connect(KeycloakClient::standalone(config).unwrap())
        .await
        .expect("connect")
}

/// The desired fields of an OAuthClient with `spec` (merged over a machine
/// client: the client_credentials grant), as the controller derives them.
fn desired(name: &str, spec: Value) -> ClientFields {
    let mut full = json!({
        "providerRef": {"kind": "ClusterOAuthProvider", "name": "kc"},
        "clientName": name,
        "redirectUris": ["https://app.example.com/cb"],
        "grantTypes": ["client_credentials"],
    });
    for (k, v) in spec.as_object().unwrap() {
        full[k] = v.clone();
    }
    let obj: OAuthClient = serde_json::from_value(json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": "t", "namespace": "t", "uid": "u"},
        "spec": full,
    }))
    .unwrap();
    desired_for(&obj, Some(kind(ProviderType::Keycloak)))
        .expect("a valid spec")
        .fields
}

/// A machine client.
fn machine(name: &str) -> ClientFields {
    desired(name, json!({}))
}

fn secret(s: &str) -> ClientSecret {
    ClientSecret::new(s)
}

#[tokio::test]
async fn a_created_client_gets_tokens_and_is_found_by_id_and_in_the_list() {
    let kc = Keycloak::shared();
    let realm = kc.realm("kc-create", RealmSetup::default()).await;
    let p = provider(kc, &realm).await;
    assert!(!p.keeps_previous(), "no rotation policy in this realm");
    assert!(matches!(p.creation(), Creation::Chosen(_)));
    p.check_credentials().await.expect("credentials work");

    let s = p.generate_secret();
    let created = p
        .create_with(&machine("Billing"), "clientops-uid-1", &s)
        .await
        .expect("created");
    assert_eq!(created.id, "clientops-uid-1");
    assert!(kc.accepts(&realm.name, "clientops-uid-1", s.expose()).await);
    assert!(!kc.accepts(&realm.name, "clientops-uid-1", "wrong").await);

    // A repeat (the answer of the first was lost): 409, the client is read back.
    let again = p
        .create_with(&machine("Billing"), "clientops-uid-1", &s)
        .await;
    assert!(
        matches!(again, Err(ProviderError::Conflict { .. })),
        "{again:?}"
    );

    let got = p.get("clientops-uid-1").await.unwrap().expect("found");
    assert_eq!(got.marker.as_deref(), Some("uid-1"));
    let rep = p.client().find("clientops-uid-1").await.unwrap().unwrap();
    assert_eq!(fields::diff(&machine("Billing"), &rep), []);
    assert!(p.get("clientops-none").await.unwrap().is_none());

    // One LIST finds it with its marker, among Keycloak's own clients.
    let all = p.list().await.unwrap();
    let mine: Vec<_> = all.iter().filter(|c| c.marker.is_some()).collect();
    assert_eq!(mine.len(), 1, "{all:?}");
    assert_eq!(mine[0].id, "clientops-uid-1");
    assert!(all.iter().any(|c| c.id == "admin-cli"));
}

#[tokio::test]
async fn the_list_pages_through_every_client() {
    let kc = Keycloak::shared();
    let realm = kc.realm("kc-list", RealmSetup::default()).await;
    for i in 0..5 {
        kc.create_client(&realm.name, json!({"clientId": format!("extra-{i}")}))
            .await;
    }
    let config = KeycloakConfig::new(
        kc.url.clone(),
        realm.name.clone(),
        KeycloakCredentials::client_credentials(&realm.admin_client_id, &realm.admin_secret),
    )
    .with_page_size(2);
    let p = KeycloakProvider::connect(KeycloakClient::standalone(config).unwrap())
        .await
        .unwrap();
    let ids: Vec<String> = p.list().await.unwrap().into_iter().map(|c| c.id).collect();
    for i in 0..5 {
        assert!(ids.contains(&format!("extra-{i}")), "{ids:?}");
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "no client twice: {ids:?}");
}

#[tokio::test]
async fn an_admin_console_edit_is_seen_as_drift_and_reverted() {
    let kc = Keycloak::shared();
    let realm = kc.realm("kc-drift", RealmSetup::default()).await;
    let p = provider(kc, &realm).await;
    let f = desired(
        "Reports",
        json!({
            "allowedCorsOrigins": ["https://app.example.com"],
            "postLogoutRedirectUris": ["https://app.example.com/bye"],
            "keycloak": {"consentRequired": false, "attributes": {"display.on.consent.screen": "false"}},
        }),
    );
    let s = p.generate_secret();
    p.create_client(&f, "clientops-drift", &s, "drift")
        .await
        .unwrap();
    let rep = p.client().find("clientops-drift").await.unwrap().unwrap();
    assert_eq!(fields::diff(&f, &rep), []);

    // Someone edits the client in the admin console.
    kc.edit(
        &realm.name,
        "clientops-drift",
        json!({
            "name": "Hacked",
            "directAccessGrantsEnabled": true,
            "webOrigins": ["*"],
            "consentRequired": true,
            "attributes": {"display.on.consent.screen": "true", "post.logout.redirect.uris": "https://evil.example.com"},
        }),
    )
    .await;
    let rep = p.client().find("clientops-drift").await.unwrap().unwrap();
    let changed = fields::diff(&f, &rep);
    assert_eq!(
        changed,
        [
            Field::Name,
            Field::PostLogoutRedirectUris,
            Field::GrantTypes,
            Field::AllowedCorsOrigins,
            KEYCLOAK_BLOCK,
        ]
    );

    let after = p.update("clientops-drift", &f, &changed).await.unwrap();
    assert!(f.diff(&after.fields).is_empty(), "{:?}", after.fields);
    let rep = p.client().find("clientops-drift").await.unwrap().unwrap();
    assert_eq!(fields::diff(&f, &rep), []);
    let raw = kc.client(&realm.name, "clientops-drift").await.unwrap();
    assert_eq!(raw["directAccessGrantsEnabled"], false);
    assert_eq!(raw["consentRequired"], false);
    assert_eq!(raw["attributes"]["display.on.consent.screen"], "false");
    // The secret was not touched by the update.
    assert!(kc.accepts(&realm.name, "clientops-drift", s.expose()).await);
}

#[tokio::test]
async fn default_and_optional_scopes_are_managed_and_unknown_ones_named() {
    let kc = Keycloak::shared();
    let realm = kc.realm("kc-scopes", RealmSetup::default()).await;
    let p = provider(kc, &realm).await;
    let scoped = |scopes: Value| {
        desired(
            "Scoped",
            json!({"scopes": scopes, "keycloak": {"optionalClientScopes": ["email"]}}),
        )
    };
    let f = scoped(json!(["basic", "profile", "roles"]));
    let s = p.generate_secret();
    p.create_with(&f, "clientops-scoped", &s).await.unwrap();
    let rep = p.client().find("clientops-scoped").await.unwrap().unwrap();
    assert_eq!(fields::diff(&f, &rep), [], "{rep:?}");
    assert!(
        rep.default_client_scopes
            .as_ref()
            .unwrap()
            .contains(&"service_account".to_string()),
        "Keycloak's own scope of a service-account client stays"
    );

    // An edit: one scope dropped, one added.
    let f = scoped(json!(["basic", "profile", "acr"]));
    let changed = fields::diff(&f, &rep);
    assert_eq!(changed, [DEFAULT_SCOPES]);
    p.update("clientops-scoped", &f, &changed).await.unwrap();
    let rep = p.client().find("clientops-scoped").await.unwrap().unwrap();
    assert_eq!(fields::diff(&f, &rep), []);
    assert!(
        kc.accepts(&realm.name, "clientops-scoped", s.expose())
            .await
    );

    let f = scoped(json!(["basic", "no-such-scope"]));
    let e = p
        .update("clientops-scoped", &f, &[DEFAULT_SCOPES])
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("spec.scopes"), "{e}");
    assert!(e.to_string().contains("no-such-scope"), "{e}");
    // At create it is refused before the client exists.
    let e = p
        .create_with(&f, "clientops-unscoped", &s)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no-such-scope"), "{e}");
    assert!(kc.client(&realm.name, "clientops-unscoped").await.is_none());
}

#[tokio::test]
async fn rotation_keeps_the_previous_secret_through_the_grace_period_until_retired() {
    let kc = Keycloak::shared();
    let realm = kc
        .realm(
            "kc-rotate",
            RealmSetup {
                rotation_policy: true,
            },
        )
        .await;
    let p = provider(kc, &realm).await;
    assert!(p.keeps_previous(), "the realm has the rotation policy");
    let old = p.generate_secret();
    p.create_with(&machine("Rotating"), "clientops-rot", &old)
        .await
        .unwrap();
    assert!(kc.accepts(&realm.name, "clientops-rot", old.expose()).await);

    let new = p.generate_secret();
    p.rotate_to("clientops-rot", &new, Duration::from_secs(3600))
        .await
        .expect("rotate");
    assert!(kc.accepts(&realm.name, "clientops-rot", new.expose()).await);
    assert!(
        kc.accepts(&realm.name, "clientops-rot", old.expose()).await,
        "the previous secret works during the grace period"
    );
    let remote = p.get("clientops-rot").await.unwrap().unwrap();
    assert!(remote.has_rotated_secret);
    assert!(!format!("{remote:?}").contains(old.expose()));

    // A repeat of the same rotation (its answer was lost) changes nothing.
    p.rotate_to("clientops-rot", &new, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(kc.accepts(&realm.name, "clientops-rot", old.expose()).await);
    assert!(kc.accepts(&realm.name, "clientops-rot", new.expose()).await);

    p.retire("clientops-rot").await.expect("retire");
    assert!(kc.accepts(&realm.name, "clientops-rot", new.expose()).await);
    let (status, _) = kc.token(&realm.name, "clientops-rot", old.expose()).await;
    assert_eq!(status, 401, "the retired secret is refused");
    assert!(
        !p.get("clientops-rot")
            .await
            .unwrap()
            .unwrap()
            .has_rotated_secret
    );
    p.retire("clientops-rot")
        .await
        .expect("retiring twice is fine");

    // A grace period longer than the realm keeps a rotated secret is refused
    // before anything changes.
    let e = p
        .rotate_to("clientops-rot", &old, Duration::from_secs(2 * 86_400))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("rotated-expiration-period"), "{e}");
    assert!(kc.accepts(&realm.name, "clientops-rot", new.expose()).await);
}

#[tokio::test]
async fn a_rotation_cut_after_keycloaks_half_is_finished_without_losing_the_old_secret() {
    let kc = Keycloak::shared();
    let realm = kc
        .realm(
            "kc-cut",
            RealmSetup {
                rotation_policy: true,
            },
        )
        .await;
    let p = provider(kc, &realm).await;
    let old = p.generate_secret();
    p.create_with(&machine("Cut"), "clientops-cut", &old)
        .await
        .unwrap();
    let new = p.generate_secret();
    // The first attempt recorded its fingerprint and had Keycloak rotate, then
    // stopped before setting the chosen secret.
    let fingerprint = clientops::provider::keycloak::wire::secret_fingerprint(&new);
    kc.edit(
        &realm.name,
        "clientops-cut",
        json!({"attributes": {"clientops.dev/rotating-to": fingerprint}}),
    )
    .await;
    p.client().regenerate_secret("clientops-cut").await.unwrap();
    assert!(kc.accepts(&realm.name, "clientops-cut", old.expose()).await);

    // The repeat must not rotate again (that would drop the old secret).
    p.rotate_to("clientops-cut", &new, Duration::from_secs(600))
        .await
        .unwrap();
    assert!(kc.accepts(&realm.name, "clientops-cut", new.expose()).await);
    assert!(
        kc.accepts(&realm.name, "clientops-cut", old.expose()).await,
        "the old secret survived the repeat"
    );
}

#[tokio::test]
async fn without_the_rotation_policy_a_rotation_replaces_the_secret_at_once() {
    let kc = Keycloak::shared();
    let realm = kc.realm("kc-onestep", RealmSetup::default()).await;
    let p = provider(kc, &realm).await;
    assert!(!p.keeps_previous());
    let (field, message) =
        fields::check_grace(Duration::from_secs(60), p.rotation_policy()).unwrap_err();
    assert_eq!(field, "spec.rotation.gracePeriod");
    assert!(message.contains("secret-rotation"), "{message}");
    let old = p.generate_secret();
    p.create_with(&machine("One step"), "clientops-one", &old)
        .await
        .unwrap();
    let new = p.generate_secret();
    p.rotate_to("clientops-one", &new, Duration::ZERO)
        .await
        .unwrap();
    assert!(kc.accepts(&realm.name, "clientops-one", new.expose()).await);
    let (status, _) = kc.token(&realm.name, "clientops-one", old.expose()).await;
    assert_eq!(status, 401);
    p.retire("clientops-one").await.expect("nothing to retire");
}

#[tokio::test]
async fn verify_secret_accepts_the_secret_and_rejects_others() {
    let kc = Keycloak::shared();
    let realm = kc.realm("kc-verify", RealmSetup::default()).await;
    let p = provider(kc, &realm).await;
    let s = p.generate_secret();
    // A browser client too: the probe must not depend on the grant.
    let f = desired(
        "Verified",
        json!({"grantTypes": ["client_credentials", "authorization_code"]}),
    );
    p.create_with(&f, "clientops-verify", &s).await.unwrap();
    assert_eq!(
        p.verify_secret("clientops-verify", &s).await.unwrap(),
        SecretCheck::Accepted
    );
    assert_eq!(
        p.verify_secret("clientops-verify", &secret("not-the-secret"))
            .await
            .unwrap(),
        SecretCheck::Rejected
    );
    let e = p.verify_secret("clientops-missing", &s).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e}");
    let public = desired(
        "Public",
        json!({"grantTypes": ["authorization_code"], "tokenEndpointAuthMethod": "none"}),
    );
    p.create_with(&public, "clientops-public", &s)
        .await
        .unwrap();
    assert!(matches!(
        p.verify_secret("clientops-public", &s).await.unwrap(),
        SecretCheck::Unsupported(_)
    ));
}

#[tokio::test]
async fn delete_removes_the_client_and_repeats_succeed() {
    let kc = Keycloak::shared();
    let realm = kc.realm("kc-delete", RealmSetup::default()).await;
    let p = provider(kc, &realm).await;
    let s = p.generate_secret();
    p.create_with(&machine("Doomed"), "clientops-doomed", &s)
        .await
        .unwrap();
    p.delete("clientops-doomed").await.unwrap();
    assert!(kc.client(&realm.name, "clientops-doomed").await.is_none());
    assert!(
        !kc.accepts(&realm.name, "clientops-doomed", s.expose())
            .await
    );
    p.delete("clientops-doomed").await.expect("deleting twice");
    // Made anew under the same id: the remembered UUID is stale and is looked up again.
    p.create_with(&machine("Reborn"), "clientops-doomed", &s)
        .await
        .unwrap();
    kc.admin(
        reqwest::Method::DELETE,
        &format!(
            "/{}/clients/{}",
            realm.name,
            kc.uuid(&realm.name, "clientops-doomed").await.unwrap()
        ),
        None,
    )
    .await;
    kc.create_client(
        &realm.name,
        json!({"clientId": "clientops-doomed", "secret": s.expose(), "serviceAccountsEnabled": true}),
    )
    .await;
    p.update("clientops-doomed", &machine("Renamed"), &[Field::Name])
        .await
        .expect("update through the new UUID");
    assert_eq!(
        kc.client(&realm.name, "clientops-doomed").await.unwrap()["name"],
        "Renamed"
    );
}

#[tokio::test]
async fn admin_credentials_by_password_work_and_bad_ones_are_named() {
    let kc = Keycloak::shared();
    let realm = kc.realm("kc-auth", RealmSetup::default()).await;
    let (user, password) = kc.bootstrap_admin();
    let config = KeycloakConfig::new(
        kc.url.clone(),
        realm.name.clone(),
        KeycloakCredentials::password("admin-cli", user, password),
    )
    .with_auth_realm("master");
    let p = KeycloakProvider::connect(KeycloakClient::standalone(config).unwrap())
        .await
        .unwrap();
    p.check_credentials().await.expect("the master admin may");
    assert!(p.list().await.unwrap().iter().any(|c| c.id == "admin-cli"));

    let config = KeycloakConfig::new(
        kc.url.clone(),
        realm.name.clone(),
        KeycloakCredentials::client_credentials(&realm.admin_client_id, "wrong-secret"),
    );
    let client = KeycloakClient::standalone(config).unwrap();
    let e = KeycloakProvider::new(client, None)
        .check_credentials()
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Unauthorized { .. }), "{e}");
    assert!(e.to_string().contains("spec.keycloak.auth"), "{e}");
    assert!(!e.to_string().contains("wrong-secret"), "{e}");
}

// ---------------------------------------------------------------------------
// The controller against Keycloak (the shared behaviour suite covers the
// lifecycle, rotation with grace, crash points and imports; these are what only
// Keycloak has).

/// A namespace, a realm set up as `setup` says, a ClusterOAuthProvider for it and
/// a controller.
async fn world(prefix: &str, setup: RealmSetup) -> World<KeycloakKind> {
    let client = support::client().await;
    let ns = support::namespace(&client, &format!("keycloak-{prefix}")).await;
    let provider = format!("keycloak-{ns}");
    let kind = KeycloakKind::with_realm(Keycloak::shared(), &client, &ns, &provider, setup).await;
    let ctl = Controller::start(&ns, &[]);
    World {
        client,
        ns,
        kind,
        ctl,
        provider,
    }
}

fn client_id_of(o: &OAuthClient) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.client_id.clone())
        .expect("status.clientId")
}

#[tokio::test]
async fn the_controller_applies_keycloak_settings_and_reverts_console_edits() {
    let w = world(
        "life",
        RealmSetup {
            rotation_policy: true,
        },
    )
    .await;
    let (kc, realm) = (w.kind.server, w.kind.realm.name.clone());
    w.apply_client(
        "billing",
        json!({
            "scopes": ["basic", "profile", "roles"],
            "allowedCorsOrigins": ["https://billing.example.com"],
            "keycloak": {
                "description": "the billing service",
                "accessTokenLifespan": "10m",
                "fullScopeAllowed": false,
                "attributes": {"display.on.consent.screen": "false"},
            },
        }),
    )
    .await;
    let o = w.wait_ready("billing").await;
    let id = client_id_of(&o);
    assert_eq!(id, format!("clientops-{}", o.uid().unwrap()), "a chosen id");

    // THE PROOF: the Secret's credentials get a token, with the lifespan asked for.
    let c = w.assert_working("billing").await;
    let (status, token) = kc.token(&realm, &id, c.secret.as_deref().unwrap()).await;
    assert_eq!(status, 200, "{token}");
    let expires = token["expires_in"].as_i64().unwrap();
    assert!(
        (590..=600).contains(&expires),
        "accessTokenLifespan: {expires}"
    );

    let remote = kc.client(&realm, &id).await.unwrap();
    assert_eq!(
        remote["attributes"]["clientops.dev/marker"],
        o.uid().unwrap()
    );
    assert_eq!(remote["description"], "the billing service");
    assert_eq!(remote["webOrigins"], json!(["https://billing.example.com"]));
    let scopes: Vec<&str> = remote["defaultClientScopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for s in ["basic", "profile", "roles", "service_account"] {
        assert!(scopes.contains(&s), "{s} in {scopes:?}");
    }
    assert!(
        !scopes.contains(&"email"),
        "the realm's other defaults are gone: {scopes:?}"
    );

    // No spurious drift: Keycloak's own attributes and defaults are not managed,
    // so resyncs (every 3s) revert nothing.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        w.events("billing", "DriftReverted").await.is_empty(),
        "the controller reverted an in-sync client; log:\n{}",
        w.logs()
    );

    // An edit in the admin console is reverted by the resync.
    kc.edit(
        &realm,
        &id,
        json!({
            "name": "hacked",
            "directAccessGrantsEnabled": true,
            "webOrigins": ["*"],
            "fullScopeAllowed": true,
            "attributes": {"access.token.lifespan": "86400", "display.on.consent.screen": "true"},
        }),
    )
    .await;
    let reverted = support::wait_for(Duration::from_secs(60), || async {
        let r = kc.client(&realm, &id).await?;
        (r["name"] == "App billing"
            && r["directAccessGrantsEnabled"] == false
            && r["webOrigins"] == json!(["https://billing.example.com"])
            && r["fullScopeAllowed"] == false
            && r["attributes"]["access.token.lifespan"] == "600"
            && r["attributes"]["display.on.consent.screen"] == "false")
            .then_some(r)
    })
    .await;
    assert!(
        reverted.is_some(),
        "the console edit was not reverted; log:\n{}",
        w.logs()
    );
    w.wait_events("billing", "DriftReverted", 1).await;
    let after = w.assert_working("billing").await;
    assert_eq!(
        after.secret, c.secret,
        "reverting drift issues no new secret"
    );

    // Delete → gone at Keycloak, and its secret no longer works.
    w.delete_client("billing").await;
    w.wait_gone("billing").await;
    assert!(kc.client(&realm, &id).await.is_none());
    assert!(!kc.accepts(&realm, &id, c.secret.as_deref().unwrap()).await);
}

#[tokio::test]
async fn without_the_rotation_policy_rotation_is_one_step_and_a_grace_period_is_refused() {
    let w = world("onestep", RealmSetup::default()).await;
    let (kc, realm) = (w.kind.server, w.kind.realm.name.clone());
    w.apply_client("svc", json!({})).await;
    let id = client_id_of(&w.wait_ready("svc").await);
    let old = w.assert_working("svc").await.secret.unwrap();

    w.annotate("svc", "clientops.dev/rotate", "r1").await;
    w.wait_until("svc", WAIT, "rotated for r1", |o| {
        rotated_for(o, "r1") && is_ready(o)
    })
    .await;
    let c = w.assert_working("svc").await;
    assert_ne!(c.secret.as_deref(), Some(old.as_str()));
    assert!(
        c.previous.is_none(),
        "no previous secret without the policy"
    );
    let (status, _) = kc.token(&realm, &id, &old).await;
    assert_eq!(status, 401, "the old secret stops working at once");
    let notes = w.wait_events("svc", "Rotated", 1).await;
    assert!(
        notes.iter().any(|n| n.contains("stopped working at once")),
        "{notes:?}"
    );

    // Asking for a grace period this realm cannot keep is named in status.
    w.apply_client("graced", json!({"rotation": {"gracePeriod": "1h"}}))
        .await;
    let o = w
        .wait_until("graced", WAIT, "refused", |o| {
            condition(o, "Ready").is_some_and(|c| {
                c.status == "False" && c.message.contains("spec.rotation.gracePeriod")
            })
        })
        .await;
    let message = &condition(&o, "Ready").unwrap().message;
    assert!(message.contains("secret-rotation"), "{message}");
    assert_eq!(
        w.kind.remote_ids().await,
        vec![id],
        "nothing was created for the refused spec"
    );
}

#[tokio::test]
async fn the_crd_refuses_bad_keycloak_blocks_with_the_fix() {
    let client = support::client().await;
    let ns = support::namespace(&client, "keycloak-crd").await;
    let refused = |kind: &'static str, spec: Value| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let mut metadata = json!({"name": format!("bad-{}", rand::random::<u32>())});
            if kind != "ClusterOAuthProvider" {
                metadata["namespace"] = json!(ns);
            }
            let obj: kube::api::DynamicObject = serde_json::from_value(json!({
                "apiVersion": "clientops.dev/v1alpha1", "kind": kind,
                "metadata": metadata, "spec": spec,
            }))
            .unwrap();
            match support::apply(&client, &obj, &ns).await {
                Ok(_) => panic!("{kind} {spec} was accepted"),
                Err(e) => e.to_string(),
            }
        }
    };
    let secret = |ns: Option<&str>| {
        let mut r = json!({"name": "kc", "key": "secret"});
        if let Some(ns) = ns {
            r["namespace"] = json!(ns);
        }
        r
    };
    let server = |auth: Value| json!({"keycloak": {"url": "https://sso.example.com", "realm": "apps", "auth": auth}});

    let e = refused(
        "ClusterOAuthProvider",
        server(json!({"clientCredentials": {"clientId": "c", "secretRef": secret(None)}})),
    )
    .await;
    assert!(e.contains("must name the namespace"), "{e}");
    let e = refused(
        "OAuthProvider",
        server(json!({"password": {"username": "u", "passwordSecretRef": secret(Some("other"))}})),
    )
    .await;
    assert!(e.contains("only from its own namespace"), "{e}");
    let e = refused(
        "ClusterOAuthProvider",
        server(json!({
            "clientCredentials": {"clientId": "c", "secretRef": secret(Some("x"))},
            "password": {"username": "u", "passwordSecretRef": secret(Some("x"))},
        })),
    )
    .await;
    assert!(e.contains("set exactly one of clientCredentials"), "{e}");
    let mut bad_url =
        server(json!({"clientCredentials": {"clientId": "c", "secretRef": secret(Some("x"))}}));
    bad_url["keycloak"]["url"] = json!("ftp://sso.example.com");
    let e = refused("ClusterOAuthProvider", bad_url).await;
    assert!(e.contains("spec.keycloak.url"), "{e}");

    let client_spec = |block: Value| {
        json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "kc"},
            "keycloak": block,
        })
    };
    let e = refused(
        "OAuthClient",
        client_spec(json!({"attributes": {"client.secret.rotated": "x"}})),
    )
    .await;
    assert!(e.contains("client.secret.*"), "{e}");
    let e = refused(
        "OAuthClient",
        client_spec(json!({"attributes": {"pkce.code.challenge.method": "S256"}})),
    )
    .await;
    assert!(e.contains("use that field"), "{e}");
    let e = refused(
        "OAuthClient",
        client_spec(json!({"accessTokenLifespan": "soon"})),
    )
    .await;
    assert!(e.contains("accessTokenLifespan"), "{e}");
}
