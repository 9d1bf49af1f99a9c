//! A world of several tenants for the issue-16 tests: an emulator (the shared
//! account), an operator namespace with the admin's credentials, a
//! ClusterOAuthProvider admitting the namespaces labelled with this run, and a
//! controller watching every namespace but only this run's OAuthClients; plus
//! loopback servers a hostile tenant would point a provider at.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use super::procs::{Controller, Emulator};
use super::scenario::{ACCOUNT, condition, is_ready};
use super::{apply, client, namespace, wait_for};
use clientops::api::provider::ProviderType;
use clientops::api::{OAuthClient, OAuthProvider};

/// The label that selects this file's OAuthClients for its controllers.
pub const RUN_LABEL: &str = "clientops.dev/tenancy-test";
/// How long a row waits for what it expects.
pub const WAIT: Duration = Duration::from_secs(60);
/// How long "nothing happens" is watched (over two 3 s resyncs).
pub const QUIET: Duration = Duration::from_secs(8);

/// One test's world: an emulator (the shared account), the operator namespace
/// holding the admin's credentials, a ClusterOAuthProvider admitting the
/// namespaces labelled with this run, and a controller for this run's clients.
pub struct World {
    pub client: Client,
    pub emu: Emulator,
    pub run: String,
    pub shared: String,
    pub ctl: Controller,
}

impl World {
    pub async fn new(prefix: &str, policy: Option<Value>, controller_args: &[&str]) -> Self {
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
    pub async fn tenant(&self, prefix: &str, labels: Value) -> String {
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
    pub async fn apply_client(&self, ns: &str, name: &str, extra: Value) {
        let mut spec = json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": self.shared},
            "clientName": format!("App {name}"),
            "redirectUris": [format!("https://{name}.example.com/callback")],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["user-details.read", "account.read"],
        });
        super::scenario::merge(&mut spec, extra);
        let o = obj(json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name, "namespace": ns, "labels": {RUN_LABEL: self.run}},
            "spec": spec,
        }));
        apply(&self.client, &o, ns)
            .await
            .expect("apply OAuthClient");
    }

    pub async fn apply(&self, ns: &str, o: Value) {
        apply(&self.client, &obj(o), ns).await.expect("apply");
    }

    pub async fn get(&self, ns: &str, name: &str) -> Option<OAuthClient> {
        Api::<OAuthClient>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
            .unwrap()
    }

    /// Wait until `pred` holds for `ns/name`; on timeout fail with its status and the
    /// controller's log tail.
    pub async fn wait(
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

    pub async fn wait_ready(&self, ns: &str, name: &str) -> OAuthClient {
        self.wait(ns, name, "Ready", is_ready).await
    }

    /// Wait for `Stalled=True` with `reason`; returns the message.
    pub async fn wait_stalled(&self, ns: &str, name: &str, reason: &str) -> String {
        let o = self
            .wait(ns, name, &format!("Stalled/{reason}"), |o| {
                condition(o, "Stalled").is_some_and(|c| c.status == "True" && c.reason == reason)
            })
            .await;
        condition(&o, "Stalled").unwrap().message.clone()
    }

    /// `client_id` and `client_secret` of Secret `ns/name`.
    pub async fn creds(&self, ns: &str, name: &str) -> (String, String) {
        let s = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(self.client.clone(), ns)
            .get(name)
            .await
            .expect("the Secret exists");
        let data = s.data.unwrap_or_default();
        let get = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
        (get("client_id"), get("client_secret"))
    }

    /// The emulator's view of client `id` (admin API: fields, `secret_count`).
    pub async fn remote(&self, id: &str) -> Option<Value> {
        self.emu
            .clients()
            .await
            .into_iter()
            .find(|c| c["client_id"] == id || c["id"] == id)
    }

    /// A client made at the provider by someone else (not through clientops).
    pub async fn unmanaged_client(&self, name: &str) -> (String, String) {
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

pub fn obj(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

/// Every text a tenant can read about its objects: OAuthClient and OAuthProvider
/// statuses and the events of the namespace.
pub async fn tenant_readable(client: &Client, ns: &str) -> String {
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

/// A loopback listener that counts the connections it accepts and never answers.
pub async fn trap() -> (u16, Arc<AtomicUsize>) {
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

/// A loopback trap like [`trap`] that also knows how many of the connections it
/// accepted are still open (their far end has not closed them): a call hanging on
/// it is one open connection.
pub async fn open_trap() -> (u16, Arc<AtomicUsize>) {
    use tokio::io::AsyncReadExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let open = Arc::new(AtomicUsize::new(0));
    let o = open.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            o.fetch_add(1, Ordering::SeqCst);
            let o = o.clone();
            tokio::spawn(async move {
                // Read (and ignore) whatever comes, never answer; the far end
                // closing is the end of the call.
                let mut buf = [0u8; 4096];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
                o.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (port, open)
}

/// A loopback HTTP server that answers every request with 502 and `body`.
pub async fn talker(body: &'static str) -> (u16, Arc<AtomicUsize>) {
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

/// A namespaced OAuthProvider `name` of provider type `t` with every URL it has at
/// `url`, and its credentials in Secret `name`-creds (created too, so that only the
/// URL policy or the far end can stop it). The block is the suite kind's
/// ([`super::kinds::by_type`]), so the tests that iterate
/// `provider::registry::KINDS` run every type.
pub async fn tenant_provider(w: &World, ns: &str, t: ProviderType, name: &str, url: &str) {
    let creds = format!("{name}-creds");
    let token = json!({"name": creds, "key": "token"});
    let block = (super::kinds::by_type(t).provider)(url, token).remove(0);
    w.apply(
        ns,
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": creds, "namespace": ns},
            "stringData": {"token": "tenant-credential"},
        }),
    )
    .await;
    let mut spec = json!({});
    spec[t.block_name()] = block;
    w.apply(
        ns,
        json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthProvider",
            "metadata": {"name": name, "namespace": ns},
            "spec": spec,
        }),
    )
    .await;
}

/// The spec of a client of namespaced provider `name` that every provider type
/// accepts (merged into [`World::apply_client`]'s).
pub fn any_kind_client(name: &str) -> Value {
    json!({"providerRef": {"kind": "OAuthProvider", "name": name},
        "grantTypes": ["authorization_code"], "scopes": null})
}

pub fn hydra_provider(ns: &str, name: &str, url: &str) -> Value {
    json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthProvider",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hydra": {"adminUrl": url}},
    })
}

/// A loopback server shaped like Hydra's admin API whose client list never ends:
/// a create is answered (so a client exists and a later resync LISTs), and every
/// page of `GET /admin/clients` links to a next one. Counts the list pages served.
pub async fn endless_hydra() -> (u16, Arc<AtomicUsize>) {
    use axum::Router;
    use axum::http::{HeaderMap, HeaderValue, StatusCode};
    use axum::routing::get;
    let pages = Arc::new(AtomicUsize::new(0));
    let served = pages.clone();
    let app = Router::new()
        .route(
            "/admin/clients",
            get(move |q: axum::extract::RawQuery| {
                let served = served.clone();
                async move {
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    let _ = q;
                    let mut h = HeaderMap::new();
                    let link = format!(
                        "</admin/clients?page_size=500&page_token=p{}>; rel=\"next\"",
                        n + 1
                    );
                    h.insert("link", HeaderValue::from_str(&link).unwrap());
                    // One client per page: an empty page would end the listing.
                let page = json!([{"client_id": format!("other-{n}"), "client_name": "other",
                    "grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}]);
                (StatusCode::OK, h, axum::Json(page))
                }
            })
            .post(|axum::Json(mut body): axum::Json<Value>| async move {
                body["client_id"] = json!("endless-client");
                body["client_secret"] = json!("a-secret-the-test-never-checks");
                body["created_at"] = json!("2026-01-01T00:00:00Z");
                (StatusCode::CREATED, axum::Json(body))
            }),
        )
        .route(
            "/admin/clients/{id}",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"error": "Not Found"})),
                )
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    (port, pages)
}

impl Drop for World {
    /// Remove the cluster-scoped provider, as `Scenario` does.
    fn drop(&mut self) {
        super::delete_cluster_provider(&self.shared);
    }
}
