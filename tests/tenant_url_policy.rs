//! Issue 16, finding 2 (confused deputy): a namespaced OAuthProvider cannot make
//! the operator dial what the URL policy refuses. Its own test binary: the other
//! tenancy tests run controllers that allow loopback for namespaced providers and
//! watch every namespace's OAuthProviders, so they would dial this test's trap.
//!
//! Traffic goes to loopback only; the refusal is shown by the condition and by a
//! trap listener that must count no connection.

mod support;

use std::sync::atomic::Ordering;

use serde_json::json;

use clientops::provider::registry::KINDS;
use support::scenario::condition;
use support::tenancy::{QUIET, World, any_kind_client, hydra_provider, tenant_provider, trap};

#[tokio::test]
async fn a_namespaced_provider_cannot_reach_what_the_url_policy_refuses() {
    // The shipped policy, plus the host name `localhost` at the trap's port and
    // plain http: so that the second row is refused by the resolved address alone.
    let (port, hits) = trap().await;
    let (other_port, other_hits) = trap().await;
    let hosts = format!("api.cloudflare.com,localhost:{port}");
    let w = World::new(
        "tenancy-url",
        None,
        &[
            "--namespaced-provider-hosts",
            &hosts,
            "--namespaced-provider-allow-http",
        ],
    )
    .await;
    let t = w.tenant("tenant-url", json!({})).await;

    // An address literal that is not on the host list, as every URL of a provider
    // of every kind in the registry (a new kind is covered without a line here).
    for kind in KINDS {
        let name = format!("by-ip-{}", kind.provider_type().block_name().to_lowercase());
        let url = format!("http://127.0.0.1:{port}");
        tenant_provider(&w, &t, kind.provider_type(), &name, &url).await;
        w.apply_client(&t, &name, any_kind_client(&name)).await;
        let msg = w.wait_stalled(&t, &name, "ProviderURLNotAllowed").await;
        assert!(
            msg.contains(&format!("{}.", kind.block())),
            "{}: the field is named: {msg}",
            kind.title()
        );
    }

    // An allowed host name that resolves to loopback.
    w.apply(
        &t,
        hydra_provider(&t, "by-name", &format!("http://localhost:{port}")),
    )
    .await;
    w.apply_client(
        &t,
        "by-name",
        json!({"providerRef": {"kind": "OAuthProvider", "name": "by-name"},
        "grantTypes": ["authorization_code"]}),
    )
    .await;
    w.wait(&t, "by-name", "refused at resolution", |o| {
        ["Reconciling", "Stalled"].iter().any(|c| {
            condition(o, c)
                .is_some_and(|c| c.status == "True" && c.message.contains("may not reach"))
        })
    })
    .await;
    // spec.hydra.publicUrl (where an import's secret is checked, so a tenant's
    // own server there could fake a proof) passes the same policy: refused,
    // although the admin URL beside it is allowed.
    let mut with_public = hydra_provider(&t, "by-public", &format!("http://localhost:{port}"));
    with_public["spec"]["hydra"]["publicUrl"] = json!(format!("http://127.0.0.1:{port}"));
    w.apply(&t, with_public).await;
    w.apply_client(
        &t,
        "by-public",
        json!({"providerRef": {"kind": "OAuthProvider", "name": "by-public"},
        "grantTypes": ["authorization_code"]}),
    )
    .await;
    let msg = w
        .wait_stalled(&t, "by-public", "ProviderURLNotAllowed")
        .await;
    assert!(
        msg.contains("spec.hydra.publicUrl"),
        "the field is named: {msg}"
    );
    // Issue 24: another port of the allowed host (Hydra's admin port beside its
    // public one, in production) is refused before any connection, naming the
    // field and the entry that would allow it.
    w.apply(
        &t,
        hydra_provider(&t, "by-port", &format!("http://localhost:{other_port}")),
    )
    .await;
    w.apply_client(
        &t,
        "by-port",
        json!({"providerRef": {"kind": "OAuthProvider", "name": "by-port"},
        "grantTypes": ["authorization_code"]}),
    )
    .await;
    let msg = w.wait_stalled(&t, "by-port", "ProviderURLNotAllowed").await;
    assert!(
        msg.contains("spec.hydra.adminUrl")
            && msg.contains(&format!("localhost:{other_port}"))
            && msg.contains("--namespaced-provider-hosts"),
        "the field and the fix are named: {msg}"
    );
    tokio::time::sleep(QUIET).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the trap was never dialled");
    assert_eq!(
        other_hits.load(Ordering::SeqCst),
        0,
        "the other port was never dialled"
    );
}
