//! One controller test's world: a namespace, an emulator, a ClusterOAuthProvider
//! that admits the namespace, and a controller scoped to it.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use super::procs::{Controller, Emulator};
use super::{apply, client, namespace, wait_for};
use clientops::api::ClusterOAuthProvider;
use clientops::api::OAuthClient;

pub const ACCOUNT: &str = "023e105f4ecef8ad9ca31a8372d0c353";

/// Which provider a scenario runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Cloudflare,
    Csp,
}

/// The CSP organisation the scenarios use.
pub const CSP_ORG: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

pub struct Scenario {
    pub kind: Kind,
    pub client: Client,
    pub ns: String,
    pub emu: Emulator,
    pub ctl: Controller,
    pub provider: String,
}

/// Credentials read back from a Secret.
#[derive(Debug, Clone)]
pub struct SecretCreds {
    pub client_id: Option<String>,
    pub secret: Option<String>,
    pub previous: Option<String>,
}

impl Scenario {
    pub async fn new(prefix: &str, controller_env: &[(&str, &str)]) -> Self {
        Self::with_controller_args(prefix, controller_env, &[]).await
    }

    /// As [`Scenario::new`], with extra `clientops run` arguments (e.g.
    /// `["--resync", "10m"]` to prove that timed work does not wait for a resync).
    pub async fn with_controller_args(
        prefix: &str,
        controller_env: &[(&str, &str)],
        controller_args: &[&str],
    ) -> Self {
        Self::for_provider(Kind::Cloudflare, prefix, controller_env, controller_args).await
    }

    /// A scenario against the emulator of `kind`.
    pub async fn for_provider(
        kind: Kind,
        prefix: &str,
        controller_env: &[(&str, &str)],
        controller_args: &[&str],
    ) -> Self {
        Self::for_provider_with(kind, prefix, controller_env, controller_args, &[]).await
    }

    /// As [`Scenario::for_provider`], with extra `clientops emulate` arguments.
    pub async fn for_provider_with(
        kind: Kind,
        prefix: &str,
        controller_env: &[(&str, &str)],
        controller_args: &[&str],
        emulator_args: &[&str],
    ) -> Self {
        let client = client().await;
        let ns = namespace(&client, prefix).await;
        let mut emu_args = vec!["--token", "test-token"];
        emu_args.extend_from_slice(emulator_args);
        let emu = match kind {
            Kind::Cloudflare => Emulator::start(&emu_args),
            Kind::Csp => Emulator::start_kind("csp", &emu_args),
        };
        let provider = format!("cf-{ns}");
        let secret: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cf-api", "namespace": ns},
            "stringData": {"token": "test-token"},
        }))
        .unwrap();
        apply(&client, &secret, &ns).await.unwrap();
        // The provider block: its account field differs, the rest is the same.
        let (block, mut block_spec) = match kind {
            Kind::Cloudflare => ("cloudflare", json!({"accountId": ACCOUNT})),
            Kind::Csp => ("vmwareCsp", json!({"orgId": CSP_ORG})),
        };
        block_spec["baseUrl"] = json!(emu.api_url());
        block_spec["auth"] =
            json!({"apiTokenSecretRef": {"namespace": ns, "name": "cf-api", "key": "token"}});
        let p: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
            "metadata": {"name": provider},
            "spec": {
                block: block_spec,
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            },
        }))
        .unwrap();
        apply(&client, &p, &ns).await.unwrap();
        let ctl = Controller::start_with_args(&ns, controller_env, controller_args);
        Scenario {
            kind,
            client,
            ns,
            emu,
            ctl,
            provider,
        }
    }

    pub fn api(&self) -> Api<OAuthClient> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// An OAuthClient manifest for this scenario's provider, `extra` merged into spec.
    pub fn manifest(&self, name: &str, extra: Value) -> DynamicObject {
        let mut spec = match self.kind {
            Kind::Cloudflare => json!({
                "providerRef": {"kind": "ClusterOAuthProvider", "name": self.provider},
                "clientName": format!("App {name}"),
                "redirectUris": [format!("https://{name}.example.com/callback")],
                "grantTypes": ["authorization_code", "refresh_token"],
                "scopes": ["user-details.read", "account.read"],
            }),
            Kind::Csp => json!({
                "providerRef": {"kind": "ClusterOAuthProvider", "name": self.provider},
                "clientName": format!("App {name}"),
                "grantTypes": ["client_credentials"],
                "vmwareCsp": {"description": format!("{name} service"), "organizationRoles": ["org_member"]},
            }),
        };
        merge(&mut spec, extra);
        serde_json::from_value(json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        }))
        .unwrap()
    }

    /// Set the provider's client-side rate limit (`spec.rateLimit`).
    #[allow(dead_code)]
    pub async fn set_rate_limit(&self, requests: u64, period: &str) {
        Api::<ClusterOAuthProvider>::all(self.client.clone())
            .patch(
                &self.provider,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"spec": {"rateLimit": {"requests": requests, "period": period}}}),
                ),
            )
            .await
            .expect("set the provider's rate limit");
    }

    pub async fn apply_client(&self, name: &str, extra: Value) {
        apply(&self.client, &self.manifest(name, extra), &self.ns)
            .await
            .expect("apply OAuthClient");
    }

    /// Apply `name` while the emulator drops every create response after committing
    /// it, and wait until the create has reached the emulator. The faults stay on:
    /// the caller clears them (`emu.clear_faults()`).
    #[allow(dead_code)]
    pub async fn apply_losing_the_create_response(&self, name: &str, extra: Value) {
        let path = match self.kind {
            Kind::Cloudflare => "oauth_clients",
            Kind::Csp => "oauth-apps",
        };
        self.emu
            .set_faults(json!({"p_drop_after_commit": 1.0, "methods": ["POST"], "path": path}))
            .await;
        self.apply_client(name, extra).await;
        let committed = super::wait_for(Duration::from_secs(30), || async {
            (self.remote_count().await >= 1).then_some(())
        })
        .await;
        assert!(
            committed.is_some(),
            "{:?}: the create never reached the emulator",
            self.kind
        );
    }

    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        self.api()
            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("annotate");
    }

    pub async fn delete_client(&self, name: &str) {
        self.api()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete OAuthClient");
    }

    pub async fn get(&self, name: &str) -> Option<OAuthClient> {
        self.api().get_opt(name).await.unwrap()
    }

    /// Wait until `pred` holds for the object; on timeout, fail with its status and
    /// the controller's log tail.
    pub async fn wait_until(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&OAuthClient) -> bool,
    ) -> OAuthClient {
        let got = wait_for(timeout, || async {
            let o = self.get(name).await?;
            pred(&o).then_some(o)
        })
        .await;
        match got {
            Some(o) => o,
            None => {
                let o = self.get(name).await;
                let logs = self.ctl.logs();
                let tail: Vec<_> = logs
                    .lines()
                    .rev()
                    .take(40)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect();
                panic!(
                    "{name}: not {what} within {timeout:?}; status: {:#?}\ncontroller log tail:\n{}",
                    o.and_then(|o| o.status),
                    tail.join("\n")
                );
            }
        }
    }

    /// Wait for Ready=True at the current generation.
    pub async fn wait_ready(&self, name: &str) -> OAuthClient {
        self.wait_until(name, Duration::from_secs(60), "Ready", is_ready)
            .await
    }

    /// Wait until the object is gone.
    pub async fn wait_gone(&self, name: &str) {
        let gone = wait_for(Duration::from_secs(60), || async {
            self.get(name).await.is_none().then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "{name} was not deleted; controller log:\n{}",
            self.ctl.logs()
        );
    }

    pub async fn secret(&self, name: &str) -> Option<Secret> {
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .get_opt(name)
            .await
            .unwrap()
    }

    /// The credentials in Secret `name`, under the given keys.
    pub async fn creds_with_keys(
        &self,
        name: &str,
        id_key: &str,
        secret_key: &str,
        prev_key: &str,
    ) -> SecretCreds {
        let s = self
            .secret(name)
            .await
            .unwrap_or_else(|| panic!("Secret {name} does not exist"));
        let data = s.data.unwrap_or_default();
        let get = |k: &str| data.get(k).map(|v| String::from_utf8(v.0.clone()).unwrap());
        SecretCreds {
            client_id: get(id_key),
            secret: get(secret_key),
            previous: get(prev_key),
        }
    }

    pub async fn creds(&self, name: &str) -> SecretCreds {
        self.creds_with_keys(name, "client_id", "client_secret", "client_secret_previous")
            .await
    }

    /// Assert the Secret holds credentials the provider accepts now.
    pub async fn assert_working(&self, secret: &str) -> SecretCreds {
        let c = self.creds(secret).await;
        let (id, s) = (
            c.client_id.clone().expect("client_id in Secret"),
            c.secret.clone().expect("client_secret in Secret"),
        );
        assert!(
            self.emu.check(&id, &s).await,
            "the emulator rejects the credentials in Secret {secret}"
        );
        c
    }

    /// Remote clients of this scenario's emulator.
    pub async fn remote_count(&self) -> usize {
        self.emu.clients().await.len()
    }

    pub fn name_of(o: &OAuthClient) -> String {
        o.name_any()
    }
}

pub fn condition<'a>(
    o: &'a OAuthClient,
    type_: &str,
) -> Option<&'a k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition> {
    o.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

pub fn is_ready(o: &OAuthClient) -> bool {
    let s = o.status.as_ref();
    s.and_then(|s| s.observed_generation) == o.metadata.generation
        && condition(o, "Ready").is_some_and(|c| c.status == "True")
}

/// Ready at its generation, with the rotation asked for by `clientops.dev/rotate:
/// <value>` handled.
#[allow(dead_code)]
pub fn rotated_for(o: &OAuthClient, value: &str) -> bool {
    is_ready(o)
        && o.status
            .as_ref()
            .and_then(|s| s.rotation.as_ref())
            .and_then(|r| r.last_request.as_deref())
            == Some(value)
}

pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(&k);
                } else {
                    merge(b.entry(k).or_insert(Value::Null), v);
                }
            }
        }
        (b, p) => *b = p,
    }
}

impl Drop for Scenario {
    /// Remove the cluster-scoped provider: a leftover one pointing at a stopped
    /// emulator would keep every later test's controller retrying it.
    fn drop(&mut self) {
        super::delete_cluster_provider(&self.provider);
    }
}
