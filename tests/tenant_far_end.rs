//! Issue 24: a tenant's provider object, of any kind, never shows the tenant what
//! the far end answered. Loopback is allowed for namespaced providers (the
//! tests' default), so the operator does talk to the tenant's server: through
//! `Kind::connect` (Keycloak asks for an admin token and the realm's policies
//! there) and through the client calls after it. Its error texts, JSON error
//! fields and a redirect's `Location` must reach no condition and no event.
//!
//! One row per provider kind of the registry: the match in [`provider_block`] has
//! no catch-all arm, so a new kind does not compile until it has its row.
//!
//! Traffic goes to loopback only.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use clientops::api::provider::ProviderType;
use clientops::provider::registry::KINDS;
use support::kinds;
use support::scenario::{condition, merge};
use support::tenancy::{QUIET, World, tenant_readable};
use support::wait_for;

/// What the hostile server puts in everything it says.
const LEAK: &str = "leaky-value-7731";

/// The answers it rotates through, one per connection: a text body, JSON error
/// bodies in the shapes the providers' decoders read (Cloudflare's `errors`,
/// OAuth's `error`/`error_description`, Keycloak's `errorMessage`), a redirect,
/// a 200 that is not JSON and one of the wrong shape.
fn answer(n: usize) -> String {
    let json_error = json!({
        "error": format!("{LEAK}-code"),
        "error_description": format!("internal-admin-page {LEAK}"),
        "errorMessage": format!("internal-admin-page {LEAK}"),
        "message": format!("internal-admin-page {LEAK}"),
        "success": false,
        "errors": [{"code": 7, "message": format!("internal-admin-page {LEAK}")}],
    })
    .to_string();
    let (status, headers, body) = match n % 7 {
        0 => (
            "502 Bad Gateway",
            "content-type: text/plain\r\n".to_string(),
            format!("internal-admin-page says {LEAK}"),
        ),
        1 => (
            "400 Bad Request",
            "content-type: application/json\r\n".into(),
            json_error,
        ),
        2 => (
            "401 Unauthorized",
            "content-type: application/json\r\n".into(),
            json_error,
        ),
        3 => (
            "307 Temporary Redirect",
            format!("location: http://{LEAK}.internal/internal-admin-page?{LEAK}\r\n"),
            String::new(),
        ),
        4 => (
            "200 OK",
            "content-type: application/json\r\n".into(),
            format!("internal-admin-page {LEAK}"),
        ),
        5 => (
            "200 OK",
            "content-type: application/json\r\n".into(),
            json!({"access_token": 7, "result": format!("{LEAK}"), "clientId": 7}).to_string(),
        ),
        _ => (
            "404 Not Found",
            "content-type: application/json\r\n".into(),
            json_error,
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A loopback server answering [`answer`] in turn; counts the requests.
async fn hostile() -> (u16, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(answer(n).as_bytes()).await;
            });
        }
    });
    (port, served)
}

/// A namespaced provider of `t` at `url`, with credentials from Secret `creds`.
fn provider_block(t: ProviderType, url: &str) -> Value {
    let mut spec = json!({});
    spec[t.block_name()] =
        (kinds::by_type(t).provider)(url, json!({"name": "creds", "key": "k"})).remove(0);
    spec
}

/// A minimal client of kind `t` (valid for its kind, so that it reaches the
/// provider).
fn client_spec(t: ProviderType, provider: &str) -> Value {
    let mut spec = json!({
        "providerRef": {"kind": "OAuthProvider", "name": provider},
        "grantTypes": ["client_credentials"],
        "redirectUris": null,
        "scopes": null,
    });
    merge(&mut spec, (kinds::by_type(t).reaching_client)());
    spec
}

#[tokio::test]
async fn no_provider_kind_shows_a_tenant_the_far_ends_answers() {
    let w = World::new("tenancy-far-end", None, &[]).await;
    let t = w.tenant("tenant-far-end", json!({})).await;
    w.apply(
        &t,
        json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "creds", "namespace": t},
            "stringData": {"k": "tenant-credential"}}),
    )
    .await;
    let mut rows = Vec::new();
    for kind in KINDS {
        let t_type = kind.provider_type();
        let name = t_type.block_name().to_ascii_lowercase();
        let (port, served) = hostile().await;
        let mut provider = json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthProvider",
            "metadata": {"name": name, "namespace": t},
        });
        provider["spec"] = provider_block(t_type, &format!("http://127.0.0.1:{port}"));
        w.apply(&t, provider).await;
        w.apply_client(&t, &name, client_spec(t_type, &name)).await;
        rows.push((name, served));
    }
    // Every server is asked, through each answer in turn where the kind keeps
    // asking (retries, resyncs); at least once in any case.
    for (name, served) in &rows {
        wait_for(Duration::from_secs(60), || async {
            (served.load(Ordering::SeqCst) >= 7).then_some(())
        })
        .await;
        let n = served.load(Ordering::SeqCst);
        eprintln!("{name}: {n} requests answered with hostile text");
        assert!(n > 0, "{name}: the provider was never asked");
        let o = w.get(&t, name).await.expect("the client exists");
        assert!(
            ["Reconciling", "Stalled"]
                .iter()
                .any(|c| condition(&o, c).is_some_and(|c| c.status == "True")),
            "{name}: failing at the provider: {:?}",
            o.status
        );
    }
    tokio::time::sleep(QUIET).await;
    let readable = tenant_readable(&w.client, &t).await;
    assert!(
        !readable.contains(LEAK) && !readable.contains("internal-admin-page"),
        "the far end's words reached what the tenant reads:\n{readable}"
    );
    // The tenant still learns the class of failure: a status code shows.
    assert!(
        ["502", "400", "401", "404", "307", "redirect"]
            .iter()
            .any(|c| readable.contains(c)),
        "{readable}"
    );
}
