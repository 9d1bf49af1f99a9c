//! Issue 16: what a tenant (someone who may write OAuthClients and OAuthProviders
//! in their own namespace) must not be able to do to other tenants or through the
//! operator. Every row is driven through `clientops run` (one process watching
//! every namespace, OAuthClients selected by this test's label) against the real
//! apiserver and the Cloudflare emulator over real HTTP; hostile servers are
//! loopback listeners inside this test.
//!
//! Traffic goes to loopback only. A refusal before any connection is shown with
//! the policy's decision (the condition) and a trap listener that counts the
//! connections it accepts: it must count none.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use clientops::api::{OAuthClient, OAuthProvider};
use support::procs::{Controller, Emulator};
use support::scenario::{ACCOUNT, condition, is_ready};
use support::{apply, client, namespace, wait_for};

/// The label that selects this file's OAuthClients for its controllers.
const RUN_LABEL: &str = "clientops.dev/tenancy-test";
/// How long a row waits for what it expects.
const WAIT: Duration = Duration::from_secs(60);
/// How long "nothing happens" is watched (over two 3 s resyncs).
const QUIET: Duration = Duration::from_secs(8);

/// One test's world: an emulator (the shared account), the operator namespace
/// holding the admin's credentials, a ClusterOAuthProvider admitting the
/// namespaces labelled with this run, and a controller for this run's clients.
struct World {
    client: Client,
    emu: Emulator,
    run: String,
    shared: String,
    ctl: Controller,
}

impl World {
    async fn new(prefix: &str, policy: Option<Value>, controller_args: &[&str]) -> Self {
        let client = client().await;
        let ops = namespace(&client, prefix).await;
        let run = ops.clone();
        let emu = Emulator::start(&["--token", "test-token"]);
        let secret = obj(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cf-api", "namespace": ops},
            "stringData": {"token": "test-token"},
        }));
        apply(&client, &secret, &ops).await.unwrap();
        let shared = format!("shared-{ops}");
        let mut spec = json!({
            "cloudflare": {
                "accountId": ACCOUNT,
                "baseUrl": emu.api_url(),
                "auth": {"apiTokenSecretRef": {"namespace": ops, "name": "cf-api", "key": "token"}},
            },
            "namespaceSelector": {"matchLabels": {RUN_LABEL: run}},
        });
        if let Some(p) = policy {
            spec["policy"] = p;
        }
        let provider = obj(json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
            "metadata": {"name": shared}, "spec": spec,
        }));
        apply(&client, &provider, &ops).await.unwrap();
        let ctl =
            Controller::start_cluster_wide(&ops, &format!("{RUN_LABEL}={run}"), controller_args);
        World {
            client,
            emu,
            run,
            shared,
            ctl,
        }
    }

    /// A tenant namespace admitted to the shared provider, with extra labels.
    async fn tenant(&self, prefix: &str, labels: Value) -> String {
        let ns = namespace(&self.client, prefix).await;
        let mut l = json!({RUN_LABEL: self.run});
        if let (Some(l), Some(extra)) = (l.as_object_mut(), labels.as_object()) {
            l.extend(extra.clone());
        }
        Api::<Namespace>::all(self.client.clone())
            .patch(
                &ns,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": l}})),
            )
            .await
            .expect("label the tenant namespace");
        ns
    }

    /// Apply an OAuthClient of this run in `ns`: the shared provider unless `extra`
    /// names another, `extra` merged into its spec.
    async fn apply_client(&self, ns: &str, name: &str, extra: Value) {
        let mut spec = json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": self.shared},
            "clientName": format!("App {name}"),
            "redirectUris": [format!("https://{name}.example.com/callback")],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["user-details.read", "account.read"],
        });
        support::scenario::merge(&mut spec, extra);
        let o = obj(json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name, "namespace": ns, "labels": {RUN_LABEL: self.run}},
            "spec": spec,
        }));
        apply(&self.client, &o, ns)
            .await
            .expect("apply OAuthClient");
    }

    async fn apply(&self, ns: &str, o: Value) {
        apply(&self.client, &obj(o), ns).await.expect("apply");
    }

    async fn get(&self, ns: &str, name: &str) -> Option<OAuthClient> {
        Api::<OAuthClient>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
            .unwrap()
    }

    /// Wait until `pred` holds for `ns/name`; on timeout fail with its status and the
    /// controller's log tail.
    async fn wait(
        &self,
        ns: &str,
        name: &str,
        what: &str,
        pred: impl Fn(&OAuthClient) -> bool,
    ) -> OAuthClient {
        let got = wait_for(WAIT, || async {
            let o = self.get(ns, name).await?;
            pred(&o).then_some(o)
        })
        .await;
        if let Some(o) = got {
            return o;
        }
        let status = self.get(ns, name).await.and_then(|o| o.status);
        let logs = self.ctl.logs();
        let tail: Vec<_> = logs.lines().rev().take(30).collect();
        panic!(
            "{ns}/{name}: not {what} within {WAIT:?}; status: {status:#?}\nlog tail (newest first):\n{}",
            tail.join("\n")
        )
    }

    async fn wait_ready(&self, ns: &str, name: &str) -> OAuthClient {
        self.wait(ns, name, "Ready", is_ready).await
    }

    /// Wait for `Stalled=True` with `reason`; returns the message.
    async fn wait_stalled(&self, ns: &str, name: &str, reason: &str) -> String {
        let o = self
            .wait(ns, name, &format!("Stalled/{reason}"), |o| {
                condition(o, "Stalled").is_some_and(|c| c.status == "True" && c.reason == reason)
            })
            .await;
        condition(&o, "Stalled").unwrap().message.clone()
    }

    /// `client_id` and `client_secret` of Secret `ns/name`.
    async fn creds(&self, ns: &str, name: &str) -> (String, String) {
        let s = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(self.client.clone(), ns)
            .get(name)
            .await
            .expect("the Secret exists");
        let data = s.data.unwrap_or_default();
        let get = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
        (get("client_id"), get("client_secret"))
    }

    /// The emulator's view of client `id` (admin API: fields, `secret_count`).
    async fn remote(&self, id: &str) -> Option<Value> {
        self.emu
            .clients()
            .await
            .into_iter()
            .find(|c| c["client_id"] == id || c["id"] == id)
    }

    /// A client made at the provider by someone else (not through clientops).
    async fn unmanaged_client(&self, name: &str) -> (String, String) {
        let created = self
            .emu
            .api(
                reqwest::Method::POST,
                &format!("accounts/{ACCOUNT}/oauth_clients"),
                Some(json!({
                    "client_name": name,
                    "grant_types": ["authorization_code", "refresh_token"],
                    "redirect_uris": [format!("https://{name}.example.com/cb")],
                    "response_types": ["code"],
                    "scopes": ["user-details.read"],
                    "token_endpoint_auth_method": "client_secret_basic",
                })),
            )
            .await;
        let r = &created["result"];
        (
            r["client_id"].as_str().expect("client_id").to_string(),
            r["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_string(),
        )
    }
}

fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

/// Every text a tenant can read about its objects: OAuthClient and OAuthProvider
/// statuses and the events of the namespace.
async fn tenant_readable(client: &Client, ns: &str) -> String {
    let mut out = String::new();
    for o in Api::<OAuthClient>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .unwrap()
    {
        out += &serde_json::to_string(&o.status).unwrap();
    }
    for p in Api::<OAuthProvider>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .unwrap()
    {
        out += &serde_json::to_string(&p.status).unwrap();
    }
    for e in Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .unwrap()
    {
        out += e.message.as_deref().unwrap_or_default();
    }
    out
}

// ---------------------------------------------------------------------------
// Finding 1: import takes over any client.

#[tokio::test]
async fn an_import_must_prove_ownership_and_never_touches_a_client_it_does_not_own() {
    let w = World::new(
        "tenancy-import",
        Some(json!({"unprovenImportNamespaceSelector": {"matchLabels": {"unproven-import": "allowed"}}})),
        &[],
    )
    .await;
    let (a, b) = (
        w.tenant("tenant-a", json!({})).await,
        w.tenant("tenant-b", json!({})).await,
    );

    // The victim: tenant B's client, made by clientops.
    w.apply_client(&b, "b1", json!({})).await;
    w.wait_ready(&b, "b1").await;
    let (victim_id, victim_secret) = w.creds(&b, "b1").await;
    let before = w.remote(&victim_id).await.expect("b1 at the provider");

    // A imports B's client by id alone, with deletionPolicy Delete.
    w.apply_client(
        &a,
        "steal",
        json!({"import": {"clientId": victim_id}, "deletionPolicy": "Delete"}),
    )
    .await;
    let msg = w.wait_stalled(&a, "steal", "ImportNotAuthorized").await;
    assert!(
        msg.contains("already managed by another OAuthClient"),
        "{msg}"
    );
    assert!(
        !msg.contains(&b),
        "another tenant's namespace is not revealed: {msg}"
    );

    // Even with B's real secret (leaked somehow): one OAuthClient per client.
    w.apply(
        &a,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "leaked", "namespace": a}, "stringData": {"s": victim_secret}}),
    )
    .await;
    w.apply_client(
        &a,
        "steal-with-secret",
        json!({"import": {"clientId": victim_id,
        "secretRef": {"name": "leaked", "key": "s"}}}),
    )
    .await;
    w.wait_stalled(&a, "steal-with-secret", "ImportNotAuthorized")
        .await;

    // A client nobody manages: a wrong secret is no proof, no secret is no proof.
    let (free_id, free_secret) = w.unmanaged_client("free").await;
    w.apply(
        &a,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "guess", "namespace": a}, "stringData": {"s": "not-the-secret"}}),
    )
    .await;
    w.apply_client(
        &a,
        "wrong",
        json!({"import": {"clientId": free_id,
        "secretRef": {"name": "guess", "key": "s"}}}),
    )
    .await;
    let msg = w.wait_stalled(&a, "wrong", "ImportNotAuthorized").await;
    assert!(msg.contains("does not accept the secret"), "{msg}");
    assert!(
        !msg.contains("not-the-secret"),
        "no secret value in a condition: {msg}"
    );
    w.apply_client(&a, "bare", json!({"import": {"clientId": free_id}}))
        .await;
    let msg = w.wait_stalled(&a, "bare", "ImportNotAuthorized").await;
    assert!(
        msg.contains("spec.import.secretRef") && msg.contains("unprovenImportNamespaceSelector"),
        "the message names the ways to prove it: {msg}"
    );

    // Nothing reached the clients that were not proven: no rotation, no patch.
    tokio::time::sleep(QUIET).await;
    let after = w
        .remote(&victim_id)
        .await
        .expect("b1 still at the provider");
    assert_eq!(
        after["redirect_uris"], before["redirect_uris"],
        "b1 was not patched"
    );
    assert_eq!(
        after["secret_count"], before["secret_count"],
        "b1 was not rotated"
    );
    assert!(
        w.emu.check(&victim_id, &victim_secret).await,
        "B's secret still works"
    );
    assert!(
        w.emu.check(&free_id, &free_secret).await,
        "the free client was not rotated"
    );
    let free = w.remote(&free_id).await.unwrap();
    assert_eq!(
        free["redirect_uris"],
        json!(["https://free.example.com/cb"]),
        "not patched"
    );

    // Deleting the refused importer (deletionPolicy Delete) deletes nothing.
    Api::<OAuthClient>::namespaced(w.client.clone(), &a)
        .delete("steal", &DeleteParams::default())
        .await
        .unwrap();
    let gone = wait_for(WAIT, || async {
        w.get(&a, "steal").await.is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the refused importer can be deleted");
    assert!(
        w.remote(&victim_id).await.is_some(),
        "B's client survives A's delete"
    );
    assert!(w.emu.check(&victim_id, &victim_secret).await);

    // The right secret proves it: adopted, that secret kept.
    w.apply(
        &a,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "mine", "namespace": a}, "stringData": {"s": free_secret}}),
    )
    .await;
    w.apply_client(
        &a,
        "right",
        json!({"import": {"clientId": free_id,
        "secretRef": {"name": "mine", "key": "s"}}}),
    )
    .await;
    w.wait_ready(&a, "right").await;
    assert_eq!(
        w.creds(&a, "right").await,
        (free_id.clone(), free_secret.clone())
    );

    // The admin lets namespace C import without proof: adopted and rotated.
    let c = w
        .tenant("tenant-c", json!({"unproven-import": "allowed"}))
        .await;
    let (other_id, _) = w.unmanaged_client("other").await;
    w.apply_client(&c, "allowed", json!({"import": {"clientId": other_id}}))
        .await;
    w.wait_ready(&c, "allowed").await;
    let (id, secret) = w.creds(&c, "allowed").await;
    assert_eq!(id, other_id);
    assert!(w.emu.check(&id, &secret).await);
}

// ---------------------------------------------------------------------------
// Finding 2: confused deputy.

/// A loopback listener that counts the connections it accepts and never answers.
async fn trap() -> (u16, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (port, hits)
}

/// A loopback HTTP server that answers every request with 502 and `body`.
async fn talker(body: &'static str) -> (u16, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            h.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

fn hydra_provider(ns: &str, name: &str, url: &str) -> Value {
    json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthProvider",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hydra": {"adminUrl": url}},
    })
}

#[tokio::test]
async fn a_namespaced_provider_cannot_reach_what_the_url_policy_refuses() {
    // The shipped policy, plus the host name `localhost` and plain http: so that
    // the second row is refused by the resolved address alone.
    let w = World::new(
        "tenancy-url",
        None,
        &[
            "--namespaced-provider-hosts",
            "api.cloudflare.com,localhost",
            "--namespaced-provider-allow-http",
        ],
    )
    .await;
    let t = w.tenant("tenant-url", json!({})).await;
    let (port, hits) = trap().await;

    // An address literal that is not on the host list.
    w.apply(
        &t,
        hydra_provider(&t, "by-ip", &format!("http://127.0.0.1:{port}")),
    )
    .await;
    w.apply_client(
        &t,
        "by-ip",
        json!({"providerRef": {"kind": "OAuthProvider", "name": "by-ip"},
        "grantTypes": ["authorization_code"]}),
    )
    .await;
    let msg = w.wait_stalled(&t, "by-ip", "ProviderURLNotAllowed").await;
    assert!(
        msg.contains("spec.hydra.adminUrl"),
        "the field is named: {msg}"
    );

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
    tokio::time::sleep(QUIET).await;
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the trap was never dialled");
}

#[tokio::test]
async fn a_namespaced_providers_answers_never_reach_what_the_tenant_reads() {
    // Loopback allowed for namespaced providers (the tests' default), so the
    // operator does talk to the tenant's server: what it says must not come back.
    let w = World::new("tenancy-body", None, &[]).await;
    let t = w.tenant("tenant-body", json!({})).await;
    const BODY: &str = "internal-admin-page token=leaky-value-7731";
    let (port, hits) = talker(BODY).await;
    w.apply(
        &t,
        hydra_provider(&t, "talker", &format!("http://127.0.0.1:{port}")),
    )
    .await;
    w.apply_client(
        &t,
        "talker",
        json!({"providerRef": {"kind": "OAuthProvider", "name": "talker"},
        "grantTypes": ["authorization_code"]}),
    )
    .await;
    w.wait(&t, "talker", "failing at the provider", |o| {
        condition(o, "Reconciling").is_some_and(|c| c.status == "True" && c.message.contains("502"))
            || condition(o, "Stalled")
                .is_some_and(|c| c.status == "True" && c.message.contains("502"))
    })
    .await;
    assert!(hits.load(Ordering::SeqCst) > 0, "the server was asked");
    let readable = tenant_readable(&w.client, &t).await;
    assert!(readable.contains("502"), "the status code is shown");
    assert!(
        !readable.contains("internal-admin-page") && !readable.contains("leaky-value"),
        "{readable}"
    );
}

// ---------------------------------------------------------------------------
// Finding 3: one tenant stalls everyone.

#[tokio::test]
async fn a_provider_that_hangs_does_not_hold_other_namespaces_back() {
    let w = World::new("tenancy-hang", None, &[]).await;
    let slow = w.tenant("tenant-slow", json!({})).await;
    let (port, _) = trap().await;
    w.apply(
        &slow,
        hydra_provider(&slow, "hangs", &format!("http://127.0.0.1:{port}")),
    )
    .await;
    for i in 0..12 {
        w.apply_client(
            &slow,
            &format!("h{i}"),
            json!({"providerRef": {"kind": "OAuthProvider", "name": "hangs"},
            "grantTypes": ["authorization_code"]}),
        )
        .await;
    }
    // Let the hanging reconciles take the workers they can.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let other = w.tenant("tenant-other", json!({})).await;
    w.apply_client(&other, "fine", json!({})).await;
    // The hung calls time out after 30 s; had they held every worker, "fine" would
    // wait for that. It gets the worker left for other namespaces instead.
    let ready = wait_for(Duration::from_secs(20), || async {
        w.get(&other, "fine").await.filter(is_ready)
    })
    .await;
    assert!(
        ready.is_some(),
        "a healthy namespace's client waited for the hanging provider; log:\n{}",
        w.ctl.logs()
    );
}

// ---------------------------------------------------------------------------
// Finding 6: fairness on a shared provider.

#[tokio::test]
async fn one_namespaces_burst_does_not_starve_another_namespace() {
    let w = World::new("tenancy-fair", None, &[]).await;
    // A budget the burst exhausts at once: 5 requests per second.
    Api::<clientops::api::ClusterOAuthProvider>::all(w.client.clone())
        .patch(
            &w.shared,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"rateLimit": {"requests": 5, "period": "1s"}}})),
        )
        .await
        .unwrap();
    let (a, b) = (
        w.tenant("tenant-burst", json!({})).await,
        w.tenant("tenant-one", json!({})).await,
    );
    let n = 150;
    for i in 0..n {
        w.apply_client(&a, &format!("a{i}"), json!({})).await;
    }
    // The burst is under way (the first few are Ready) before B asks.
    wait_for(WAIT, || async {
        let ready = count_ready(&w.client, &a).await;
        (ready >= 5).then_some(())
    })
    .await
    .expect("the burst makes progress");
    w.apply_client(&b, "b", json!({})).await;
    w.wait_ready(&b, "b").await;
    // B did not queue behind the burst: most of A's clients are still pending.
    let a_ready = count_ready(&w.client, &a).await;
    assert!(
        a_ready < n / 2,
        "B became Ready only after {a_ready} of A's {n} clients"
    );
}

async fn count_ready(client: &Client, ns: &str) -> usize {
    Api::<OAuthClient>::namespaced(client.clone(), ns)
        .list(&Default::default())
        .await
        .unwrap()
        .iter()
        .filter(|o| is_ready(o))
        .count()
}

// ---------------------------------------------------------------------------
// Finding 4: shared state keyed too loosely.

#[tokio::test]
async fn a_tenant_provider_naming_productions_account_reaches_none_of_its_state() {
    let w = World::new("tenancy-hijack", None, &[]).await;
    let prod = w.tenant("tenant-prod", json!({})).await;
    let t = w.tenant("tenant-hijack", json!({})).await;
    w.apply_client(&prod, "p0", json!({})).await;
    w.wait_ready(&prod, "p0").await;
    // The tenant names production's account and URL, with a junk token and a limit
    // that would stop the account for a week if it were shared.
    w.apply(
        &t,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "junk", "namespace": t}, "stringData": {"token": "junk"}}),
    )
    .await;
    w.apply(
        &t,
        json!({"apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthProvider",
        "metadata": {"name": "prod-account", "namespace": t},
        "spec": {"cloudflare": {"accountId": ACCOUNT, "baseUrl": w.emu.api_url(),
            "auth": {"apiTokenSecretRef": {"name": "junk", "key": "token"}}},
            "rateLimit": {"requests": 1, "period": "168h"}}}),
    )
    .await;
    for i in 0..3 {
        w.apply_client(
            &t,
            &format!("t{i}"),
            json!({"providerRef": {"kind": "OAuthProvider", "name": "prod-account"}}),
        )
        .await;
    }
    w.wait(&t, "t0", "refused by the provider", |o| {
        condition(o, "Stalled").is_some_and(|c| c.status == "True")
            || condition(o, "Reconciling")
                .is_some_and(|c| c.status == "True" && c.reason != "Creating")
    })
    .await;
    // Production goes on as before: its limiter and listing are not the tenant's.
    for i in 1..=5 {
        w.apply_client(&prod, &format!("p{i}"), json!({})).await;
    }
    for i in 1..=5 {
        w.wait_ready(&prod, &format!("p{i}")).await;
    }
    // And the tenant saw none of production's clients: it made none, adopted none.
    for i in 0..3 {
        let o = w.get(&t, &format!("t{i}")).await.unwrap();
        assert!(
            o.status.and_then(|s| s.client_id).is_none(),
            "t{i} holds no client"
        );
    }
}

// ---------------------------------------------------------------------------
// Admin guardrails: spec.policy of a ClusterOAuthProvider.

#[tokio::test]
async fn the_admins_policy_is_enforced_by_the_controller() {
    let w = World::new(
        "tenancy-policy",
        Some(json!({
            "redirectUriHosts": ["*.apps.example.com"],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["user-details.read", "account.read"],
            "allowPublicClients": false,
            "maxRotationEvery": "720h",
        })),
        &[],
    )
    .await;
    let t = w.tenant("tenant-policy", json!({})).await;
    let ok =
        json!({"redirectUris": ["https://app.apps.example.com/cb"], "rotation": {"every": "720h"}});
    w.apply_client(&t, "compliant", ok.clone()).await;
    let rows: Vec<(&str, Value, &str)> = vec![
        (
            "host",
            json!({"redirectUris": ["https://evil.example.net/cb"]}),
            "spec.redirectUris",
        ),
        (
            "apex",
            json!({"redirectUris": ["https://apps.example.com/cb"]}),
            "spec.redirectUris",
        ),
        (
            "scope",
            json!({"scopes": ["user-details.read", "account.write"]}),
            "spec.scopes",
        ),
        (
            "public",
            json!({"tokenEndpointAuthMethod": "none"}),
            "spec.tokenEndpointAuthMethod",
        ),
        (
            "rotation",
            json!({"rotation": {"every": "2160h", "gracePeriod": "24h"}}),
            "spec.rotation.every",
        ),
        (
            "no-rotation",
            json!({"rotation": null}),
            "spec.rotation.every",
        ),
    ];
    for (name, extra, _) in &rows {
        let mut spec = ok.clone();
        support::scenario::merge(&mut spec, extra.clone());
        w.apply_client(&t, name, spec).await;
    }
    w.wait_ready(&t, "compliant").await;
    for (name, _, field) in &rows {
        let msg = w.wait_stalled(&t, name, "PolicyViolation").await;
        assert!(msg.contains(field), "{name}: the field is named: {msg}");
    }
    // Nothing was created for them.
    let made = w.emu.clients().await.len();
    assert_eq!(made, 1, "only the compliant client exists at the provider");
}
