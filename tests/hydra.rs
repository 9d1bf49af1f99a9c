//! clientops against a real Ory Hydra v2.3.0, built from its Go module
//! (`scripts/hydra/install`, cached) and run with an in-memory database: the
//! controller lifecycle, and the proof that the credentials in the Secret
//! authenticate at Hydra's token endpoint, before and after a rotation.
//!
//! Never skipped: without Go and gcc the Hydra build fails and so do these tests.

mod support;

use std::time::Duration;

use clientops::api::client::RotationPhase;
use kube::ResourceExt;
use serde_json::json;
use support::hydra::HydraScenario;
use support::scenario::{condition, is_ready};

fn phase(o: &clientops::api::OAuthClient) -> Option<RotationPhase> {
    o.status.as_ref()?.rotation.as_ref()?.phase
}

#[tokio::test]
async fn lifecycle_against_hydra_create_token_edit_drift_delete() {
    let s = HydraScenario::new("hydra-life", &[]).await;
    s.apply_client(
        "billing",
        json!({
            "hydra": {
                "audience": ["https://api.example.com"],
                "skipConsent": true,
                "metadata": {"team": "billing"},
                "tokenLifespans": {"clientCredentialsGrantAccessToken": "30m"},
            },
        }),
    )
    .await;

    // create → Ready → Secret
    let o = s.wait_ready("billing").await;
    let status = o.status.clone().unwrap();
    let id = status.client_id.clone().expect("status.clientId");
    let c = s.creds("billing").await;
    assert_eq!(c.client_id.as_deref(), Some(id.as_str()));
    let secret = c.secret.clone().expect("client_secret in the Secret");
    assert!(c.previous.is_none());

    // The client at Hydra: what the spec says, and the create marker.
    let remote = s.hydra.client(&id).await.expect("client at Hydra");
    assert_eq!(remote["client_name"], "App billing");
    assert_eq!(remote["scope"], "read write");
    assert_eq!(remote["grant_types"], json!(["client_credentials"]));
    assert_eq!(remote["audience"], json!(["https://api.example.com"]));
    assert_eq!(remote["skip_consent"], true);
    assert_eq!(remote["metadata"]["team"], "billing");
    assert_eq!(remote["metadata"]["clientops.dev/uid"], o.uid().unwrap());
    assert_eq!(
        remote["client_credentials_grant_access_token_lifespan"],
        "30m0s"
    );

    // THE PROOF: the Secret's credentials get a token from Hydra.
    let (code, token) = s.hydra.token(&id, &secret).await;
    assert_eq!(
        code, 200,
        "token request with the Secret's credentials: {token}"
    );
    assert!(
        token["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    let expires = token["expires_in"].as_i64().unwrap();
    assert!(
        (1700..=1800).contains(&expires),
        "spec.hydra.tokenLifespans applies: expires_in {expires}"
    );
    let (code, body) = s.hydra.token(&id, "not-the-secret").await;
    assert_eq!(
        (code, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // No spurious drift: Hydra's defaults (subject_type, jwks, null lifespans, ...)
    // are not managed, so resyncs (every 3s) never PATCH the client.
    let updated_at = remote["updated_at"].clone();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let again = s.hydra.client(&id).await.unwrap();
    assert_eq!(
        again["updated_at"],
        updated_at,
        "the controller changed an in-sync client; log:\n{}",
        s.ctl.logs()
    );

    // edit → PATCHed (the marker survives a metadata change)
    s.apply_client(
        "billing",
        json!({
            "clientName": "Billing v2",
            "scopes": ["read", "write", "admin"],
            "hydra": {
                "audience": ["https://api.example.com"],
                "skipConsent": true,
                "metadata": {"team": "payments"},
                "tokenLifespans": {"clientCredentialsGrantAccessToken": "30m"},
            },
        }),
    )
    .await;
    s.wait_ready("billing").await;
    let remote = s.hydra.client(&id).await.unwrap();
    assert_eq!(remote["client_name"], "Billing v2");
    let scopes: std::collections::BTreeSet<&str> =
        remote["scope"].as_str().unwrap().split(' ').collect();
    assert_eq!(scopes, ["admin", "read", "write"].into());
    assert_eq!(remote["metadata"]["team"], "payments");
    assert_eq!(remote["metadata"]["clientops.dev/uid"], o.uid().unwrap());
    // An edit never touches the secret.
    assert!(s.hydra.accepts(&id, &secret).await);

    // drift at Hydra → reverted by the resync; an unmanaged field stays.
    s.hydra
        .patch(
            &id,
            json!([
                {"op": "replace", "path": "/client_name", "value": "hacked"},
                {"op": "replace", "path": "/skip_consent", "value": false},
                {"op": "replace", "path": "/logo_uri", "value": "https://logo.example.com/x.png"},
            ]),
        )
        .await;
    let reverted = support::wait_for(Duration::from_secs(30), || async {
        let r = s.hydra.client(&id).await?;
        (r["client_name"] == "Billing v2" && r["skip_consent"] == true).then_some(r)
    })
    .await
    .unwrap_or_else(|| panic!("drift was not reverted; log:\n{}", s.ctl.logs()));
    assert_eq!(
        reverted["logo_uri"], "https://logo.example.com/x.png",
        "a field the spec does not set is not managed"
    );
    assert!(s.hydra.accepts(&id, &secret).await);

    // delete → the client is deleted at Hydra.
    s.delete_client("billing").await;
    s.wait_gone("billing").await;
    assert!(s.hydra.client(&id).await.is_none(), "deleted at Hydra");
    assert!(s.hydra.clients().await.is_empty());
}

#[tokio::test]
async fn rotation_at_hydra_replaces_the_secret_at_once() {
    let s = HydraScenario::new("hydra-rot", &[]).await;
    s.apply_client("svc", json!({})).await;
    let o = s.wait_ready("svc").await;
    let id = o.status.unwrap().client_id.unwrap();
    let old = s.creds("svc").await.secret.unwrap();
    assert!(s.hydra.accepts(&id, &old).await, "the first secret works");

    s.annotate("svc", "clientops.dev/rotate", "r1").await;
    let o = s
        .wait_until("svc", Duration::from_secs(60), "rotated", |o| {
            is_ready(o)
                && phase(o) == Some(RotationPhase::Idle)
                && o.status
                    .as_ref()
                    .and_then(|s| s.rotation.as_ref())
                    .and_then(|r| r.last_request.as_deref())
                    == Some("r1")
        })
        .await;
    let c = s.creds("svc").await;
    assert_eq!(c.client_id.as_deref(), Some(id.as_str()), "same client");
    let new = c.secret.unwrap();
    assert_ne!(new, old, "a new secret");
    assert!(
        c.previous.is_none(),
        "no client_secret_previous: Hydra keeps no previous secret"
    );
    let rotation = o.status.unwrap().rotation.unwrap();
    assert!(rotation.previous_retires_at.is_none(), "{rotation:?}");

    // THE PROOF after a rotation: the old secret fails, the new one works.
    let (code, body) = s.hydra.token(&id, &old).await;
    assert_eq!(
        (code, body["error"].as_str()),
        (401, Some("invalid_client")),
        "the old secret must stop working at once"
    );
    assert!(s.hydra.accepts(&id, &new).await, "the new secret works");

    // The event says the previous secret stopped working at once.
    let notes = s.wait_events("svc", "Rotated", 1).await;
    assert!(
        notes.iter().any(|n| n.contains("stopped working at once")
            && n.contains("no grace period")
            && n.contains("requested (r1)")),
        "{notes:?}"
    );
    assert!(
        s.events("svc", "Retired").await.is_empty(),
        "nothing is retired later at Hydra"
    );
    assert_eq!(s.hydra.clients().await.len(), 1, "no duplicate client");
}

#[tokio::test]
async fn a_grace_period_or_an_unrepresentable_field_stalls_naming_it() {
    let s = HydraScenario::new("hydra-spec", &[]).await;
    s.apply_client("graceful", json!({"rotation": {"gracePeriod": "24h"}}))
        .await;
    s.apply_client("spaced", json!({"scopes": ["read write"]}))
        .await;
    for (name, field) in [
        ("graceful", "spec.rotation.gracePeriod"),
        ("spaced", "spec.scopes"),
    ] {
        let o = s
            .wait_until(name, Duration::from_secs(30), "Stalled", |o| {
                condition(o, "Stalled").is_some_and(|c| c.status == "True")
            })
            .await;
        let c = condition(&o, "Stalled").unwrap();
        assert!(c.message.contains(field), "{name}: {}", c.message);
        assert!(o.status.unwrap().client_id.is_none());
    }
    let stalled = s.get("graceful").await.unwrap();
    assert!(
        condition(&stalled, "Stalled")
            .unwrap()
            .message
            .contains("grace period is impossible")
    );
    assert!(s.hydra.clients().await.is_empty(), "nothing was created");
}

#[tokio::test]
async fn a_lost_create_response_is_found_again_by_its_marker() {
    // The controller dies right after Hydra created the client, before the
    // Secret was written: the restarted controller finds the client by the
    // OAuthClient's UID in its metadata, adopts it, and sets a fresh secret of its
    // own choosing (Hydra's was lost with the response).
    let mut s = HydraScenario::new(
        "hydra-crash",
        &[("CLIENTOPS_FAILPOINTS", "after-create-call")],
    )
    .await;
    s.apply_client("lost", json!({})).await;
    assert!(
        s.ctl.wait_exit(Duration::from_secs(60)).await,
        "the controller did not reach the failpoint; log:\n{}",
        s.ctl.logs()
    );
    assert_eq!(s.hydra.clients().await.len(), 1, "the create took effect");
    s.ctl.restart(&[]);
    let o = s.wait_ready("lost").await;
    let id = o.status.unwrap().client_id.unwrap();
    let all = s.hydra.clients().await;
    assert_eq!(all.len(), 1, "adopted, not created twice: {all:?}");
    assert_eq!(all[0]["client_id"], id.as_str());
    let c = s.creds("lost").await;
    assert!(
        s.hydra.accepts(&id, c.secret.as_deref().unwrap()).await,
        "the Secret's credentials work"
    );
}

fn fast_retry() -> clientops::provider::RetryPolicy {
    clientops::provider::RetryPolicy {
        max_attempts: 3,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(100),
        max_retry_after: Duration::from_secs(5),
    }
}

/// Proof of ownership at Hydra's public token endpoint, with each client's own
/// method (Hydra refuses the other one with `invalid_client`): the right secret
/// is accepted, a wrong one rejected, nothing changes and no token is issued.
#[tokio::test]
async fn verify_secret_at_hydras_token_endpoint() {
    use clientops::provider::ProviderError;
    use clientops::provider::hydra::{HydraClient, HydraConfig, HydraProvider};
    use clientops::provider::model::{Provider, SecretCheck};
    use clientops::secret::ClientSecret;

    let hydra = support::hydra::Hydra::start().await;
    // Characters Basic must form-encode for Hydra, in the secret.
    let basic_secret = "s3cr3t+/%:&=Basic-0123456789abcdef";
    let post_secret = "s3cr3t-Post-0123456789abcdefghij";
    let basic = hydra
        .create_client(json!({
            "client_secret": basic_secret,
            "grant_types": ["client_credentials"],
        }))
        .await;
    let post = hydra
        .create_client(json!({
            "client_secret": post_secret,
            "token_endpoint_auth_method": "client_secret_post",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "redirect_uris": ["https://app.example.com/callback"],
        }))
        .await;
    let public = hydra
        .create_client(json!({
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "redirect_uris": ["https://app.example.com/callback"],
        }))
        .await;
    let id = |c: &serde_json::Value| c["client_id"].as_str().unwrap().to_owned();
    let (basic_id, post_id, public_id) = (id(&basic), id(&post), id(&public));
    let before = (hydra.client(&basic_id).await, hydra.client(&post_id).await);

    let config = || {
        HydraConfig::new(hydra.admin.clone())
            .with_retry(fast_retry())
            .with_public_url(hydra.public.clone())
    };
    let p = HydraProvider::new(HydraClient::standalone(config()).unwrap());
    let wrong = ClientSecret::new("not-the-secret-0123456789");
    for (cid, right) in [(&basic_id, basic_secret), (&post_id, post_secret)] {
        assert_eq!(
            p.verify_secret(cid, &ClientSecret::new(right))
                .await
                .unwrap(),
            SecretCheck::Accepted,
            "{cid}"
        );
        assert_eq!(
            p.verify_secret(cid, &wrong).await.unwrap(),
            SecretCheck::Rejected,
            "{cid}"
        );
    }
    match p.verify_secret(&public_id, &wrong).await.unwrap() {
        SecretCheck::Unsupported(why) => assert!(why.contains("public client"), "{why}"),
        other => panic!("{other:?}"),
    }
    // Nothing changed, and the secrets still work as they did.
    assert_eq!(
        (hydra.client(&basic_id).await, hydra.client(&post_id).await),
        before
    );
    assert!(hydra.accepts(&basic_id, basic_secret).await);

    // Without the public URL it cannot be checked, and says what to set.
    let no_public =
        HydraProvider::new(HydraClient::standalone(HydraConfig::new(hydra.admin.clone())).unwrap());
    match no_public
        .verify_secret(&basic_id, &ClientSecret::new(basic_secret))
        .await
        .unwrap()
    {
        SecretCheck::Unsupported(why) => assert!(why.contains("spec.hydra.publicUrl"), "{why}"),
        other => panic!("{other:?}"),
    }

    // An unknown client is NotFound; an unreachable token endpoint an error
    // without the secret.
    let e = p.verify_secret("no-such-client", &wrong).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let unreachable = HydraProvider::new(
        HydraClient::standalone(
            HydraConfig::new(hydra.admin.clone())
                .with_retry(fast_retry())
                .with_public_url(format!("http://{closed}")),
        )
        .unwrap(),
    );
    let secret = ClientSecret::new(basic_secret);
    let e = unreachable
        .verify_secret(&basic_id, &secret)
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Transport { .. }), "{e:?}");
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(basic_secret), "{text}");
    }
}

/// A LIST of a real Hydra within its budget is read whole; one page less of
/// budget refuses it rather than cutting it short.
#[tokio::test]
async fn a_large_hydra_list_within_the_budget_is_read() {
    use clientops::provider::ProviderError;
    use clientops::provider::hydra::{HydraClient, HydraConfig};
    use clientops::provider::list_budget::ListBudget;

    let hydra = support::hydra::Hydra::start().await;
    for i in 0..12 {
        hydra
            .create_client(
                json!({"client_name": format!("c{i}"), "grant_types": ["client_credentials"]}),
            )
            .await;
    }
    let client = |max_pages| {
        let mut config = HydraConfig::new(hydra.admin.clone()).with_list_budget(ListBudget {
            max_pages,
            max_bytes: 1 << 20,
        });
        config.page_size = 5;
        HydraClient::standalone(config).unwrap()
    };
    assert_eq!(client(3).list().await.unwrap().len(), 12);
    let e = client(2).list().await.unwrap_err();
    assert!(
        matches!(e, ProviderError::ListTooLarge { pages: 2, .. }),
        "{e:?}"
    );
}

/// A Hydra whose `Link: rel="next"` never ends (every page names a new token):
/// the LIST stops at the page budget, and at the byte budget, having read no
/// more than it allows.
#[tokio::test]
async fn an_endless_hydra_list_stops_at_the_budget() {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use axum::extract::{Query, State};
    use axum::response::IntoResponse;
    use clientops::provider::ProviderError;
    use clientops::provider::hydra::{HydraClient, HydraConfig};
    use clientops::provider::list_budget::ListBudget;

    async fn page(
        State(served): State<Arc<AtomicU64>>,
        Query(q): Query<HashMap<String, String>>,
    ) -> axum::response::Response {
        let n = served.fetch_add(1, Ordering::SeqCst);
        let size: u64 = q["page_size"].parse().unwrap();
        let clients: Vec<_> = (0..size)
            .map(|i| json!({"client_id": format!("c-{n}-{i}"), "client_name": "x".repeat(100)}))
            .collect();
        let link = format!(
            "</admin/clients?page_size={size}&page_token=t{}>; rel=\"next\"",
            n + 1
        );
        ([("link", link)], axum::Json(clients)).into_response()
    }
    let served = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route("/admin/clients", axum::routing::get(page))
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = |max_pages, max_bytes| {
        let mut config = HydraConfig::new(format!("http://{addr}"))
            .with_retry(fast_retry())
            .with_list_budget(ListBudget {
                max_pages,
                max_bytes,
            });
        config.page_size = 10;
        HydraClient::standalone(config).unwrap()
    };

    let e = client(6, 1 << 30).list().await.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::ListTooLarge {
                pages: 6,
                max_pages: 6,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("--list-max-pages"), "{e}");
    assert_eq!(served.swap(0, Ordering::SeqCst), 6);

    // ~1.3 KB a page: the byte budget holds a few.
    let max_bytes = 6_000;
    let e = client(1000, max_bytes).list().await.unwrap_err();
    let ProviderError::ListTooLarge { pages, bytes, .. } = e else {
        panic!("{e:?}")
    };
    assert!(bytes <= max_bytes, "read {bytes} bytes");
    assert!((2..10).contains(&pages), "{pages} pages");
    assert_eq!(served.load(Ordering::SeqCst), u64::from(pages) + 1);
}
