//! What only Ory Hydra does, against a real Hydra v2.3.0 built from its Go module
//! (`scripts/hydra/install`, cached) and run with an in-memory database: its own
//! client fields and token lifespans, a scope it cannot represent, secret checks
//! at its token endpoint, and LIST budgets. The lifecycle, rotation and crash
//! points it shares with every provider are the `hydra::` tests of
//! tests/provider_behaviour.rs.
//!
//! Never skipped: without Go and gcc the Hydra build fails and so do these tests.

mod support;

use std::time::Duration;

use kube::ResourceExt;
use serde_json::json;
use support::kinds::World;
use support::kinds::hydra::Hydra;
use support::scenario::condition;

/// A namespace, a provider for the Hydra this binary shares, and a controller.
/// Never skipped: without Go and gcc the Hydra build fails and so does the test.
async fn world(prefix: &str) -> World<Hydra> {
    support::hydra::binary();
    World::new(prefix, &[], &[])
        .await
        .expect("Hydra is installed")
}

/// Hydra's own fields (`spec.hydra`) reach Hydra and apply to tokens, Hydra's
/// defaults are never taken for drift, and only managed fields are reverted.
/// (Create, edit, drift, delete and rotation for every provider are the behaviour
/// suite, tests/provider_behaviour.rs.)
#[tokio::test]
async fn hydra_fields_reach_hydra_and_only_managed_fields_are_reverted() {
    let s = world("fields").await;
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
    let remote = s.kind.server.client(&id).await.expect("client at Hydra");
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
    let (code, token) = s.kind.server.token(&id, &secret).await;
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
    let (code, body) = s.kind.server.token(&id, "not-the-secret").await;
    assert_eq!(
        (code, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // No spurious drift: Hydra's defaults (subject_type, jwks, null lifespans, ...)
    // are not managed, so resyncs (every 3s) never PATCH the client.
    let updated_at = remote["updated_at"].clone();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let again = s.kind.server.client(&id).await.unwrap();
    assert_eq!(
        again["updated_at"],
        updated_at,
        "the controller changed an in-sync client; log:\n{}",
        s.ctl.logs()
    );

    // An edit of the metadata keeps the create marker in it.
    s.apply_client(
        "billing",
        json!({
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
    let remote = s.kind.server.client(&id).await.unwrap();
    assert_eq!(remote["metadata"]["team"], "payments");
    assert_eq!(remote["metadata"]["clientops.dev/uid"], o.uid().unwrap());
    // An edit never touches the secret.
    assert!(s.kind.server.accepts(&id, &secret).await);

    // Drift of a Hydra field is reverted by the resync; an unmanaged field stays.
    s.kind
        .server
        .patch(
            &id,
            json!([
                {"op": "replace", "path": "/skip_consent", "value": false},
                {"op": "replace", "path": "/logo_uri", "value": "https://logo.example.com/x.png"},
            ]),
        )
        .await;
    let reverted = support::wait_for(Duration::from_secs(30), || async {
        let r = s.kind.server.client(&id).await?;
        (r["skip_consent"] == true).then_some(r)
    })
    .await
    .unwrap_or_else(|| panic!("drift was not reverted; log:\n{}", s.ctl.logs()));
    assert_eq!(
        reverted["logo_uri"], "https://logo.example.com/x.png",
        "a field the spec does not set is not managed"
    );
    assert!(s.kind.server.accepts(&id, &secret).await);
}

#[tokio::test]
async fn a_scope_hydra_cannot_represent_stalls_naming_it() {
    // Hydra keeps scopes as one space-separated string. (A grace period it cannot
    // keep is refused in the behaviour suite, tests/provider_behaviour.rs.)
    let s = world("spaced").await;
    s.apply_client("spaced", json!({"scopes": ["read write"]}))
        .await;
    let o = s
        .wait_until("spaced", Duration::from_secs(30), "Stalled", |o| {
            condition(o, "Stalled").is_some_and(|c| c.status == "True")
        })
        .await;
    let c = condition(&o, "Stalled").unwrap();
    assert!(c.message.contains("spec.scopes"), "{}", c.message);
    assert!(o.status.unwrap().client_id.is_none());
    assert_eq!(s.remote_count().await, 0, "nothing was created");
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
    use clientops::provider::transport::{ClientConfig, ProviderClient};
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
    use clientops::provider::transport::{ClientConfig, ProviderClient};

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
    use clientops::provider::transport::{ClientConfig, ProviderClient};

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
