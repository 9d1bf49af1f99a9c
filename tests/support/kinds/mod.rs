//! The provider kinds of the behaviour suite (`tests/provider_behaviour.rs`): what
//! the suite needs to know about one provider to run the same tests against it.
//!
//! A [`TestKind`] is one test's share of a backend that every test of the binary
//! shares (an emulator process, a real Hydra), started on first use: its own
//! account, organisation or tag there, and a ClusterOAuthProvider pointing at it.
//! It makes the spec of a minimal client, reads clients at the backend, proves
//! that credentials authenticate, and edits or deletes a client behind the
//! controller's back. [`World`] puts a kind, a namespace and a controller together.
//!
//! Adding a provider kind: a file beside this one with a `TestKind` impl, a `pub mod`
//! line below, its arm in [`by_type`], and one line in the list at the top of
//! `tests/provider_behaviour.rs`.

pub mod cloudflare;
pub mod csp;
pub mod entra;
pub mod hydra;
pub mod keycloak;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::events::v1::Event;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::procs::Controller;
use super::scenario::{SecretCreds, is_ready, merge};
use super::{apply, client, namespace, wait_for};
use clientops::api::OAuthClient;
use clientops::api::provider::ProviderType;

/// One provider as the behaviour suite drives it.
///
/// `async fn` in a trait without `Send` bounds: every test runs on its own
/// current-thread runtime, and the suite calls kinds by their type.
#[allow(async_fn_in_trait)]
pub trait TestKind: Sized {
    /// The kind's name in messages (also the test module's name).
    const NAME: &'static str;
    /// Whether a rotation keeps the previous secret valid for a grace period
    /// (`spec.rotation.gracePeriod`); otherwise the new secret replaces it at once
    /// and a grace period is refused.
    const GRACE: bool;

    /// This test's share of the backend, and ClusterOAuthProvider `provider` that
    /// points at it and admits namespace `ns`. `None`, after saying why on stderr,
    /// when the backend is not installed on this machine (the test then passes
    /// without running: only a kind whose backend CI always installs may do this).
    async fn tenant(client: &Client, ns: &str, provider: &str) -> Option<Self>;

    /// The spec of a minimal client `name` of this kind, without `providerRef`.
    fn spec(&self, name: &str) -> Value;

    /// Every way to write this kind's provider block (one per choice of
    /// credentials, every optional field set): every URL at `url`, every
    /// credential from `secret` (a `SecretKeyRef` object). The tenant tests use the
    /// first; `tests/connect_fields.rs` all of them.
    fn provider_blocks(url: &str, secret: Value) -> Vec<Value>;

    /// Spec fields (merged over a spec with `providerRef`, `grantTypes:
    /// [client_credentials]` and no redirect URIs or scopes) that make a client of
    /// this kind pass its checks, so that it reaches the provider.
    fn reaching_client() -> Value;

    /// A spec edit of fields the provider updates in place (merged into
    /// [`TestKind::spec`]), and whether a remote client shows it.
    fn edit(&self, name: &str) -> Value;
    fn shows_edit(&self, remote: &Value, name: &str) -> bool;

    /// The client's display name at the backend (`spec.clientName`).
    fn remote_name(remote: &Value) -> Option<String>;

    /// One client at the backend as its API shows it; `None` when it does not exist.
    async fn remote(&self, id: &str) -> Option<Value>;

    /// The ids of this test's clients at the backend.
    async fn remote_ids(&self) -> Vec<String>;

    /// Whether these credentials authenticate at the backend now (a token, or the
    /// emulator's credential check).
    async fn accepts(&self, id: &str, secret: &str) -> bool;

    /// Rename the client at the backend as a person would, behind the
    /// controller's back (drift).
    async fn rename_behind_the_back(&self, id: &str, name: &str);

    /// Delete the client at the backend behind the controller's back.
    async fn delete_behind_the_back(&self, id: &str);

    /// Change the client's secret at the backend as an administrator would, behind
    /// the controller's back: the secret in the Secret stops working.
    async fn change_secret_behind_the_back(&self, id: &str);

    /// Whether the provider generates secrets (a repair issues a new one) rather
    /// than taking the one clientops chooses (a repair sets the Secret's back).
    const GENERATES_SECRETS: bool = false;

    /// Make the backend refuse (HTTP 500) every change of client `id`'s secret
    /// (`true`), or accept them again (`false`). Only kinds listed with
    /// `unrepairable` in the suite implement it.
    async fn refuse_secret_changes(&self, _id: &str, _refuse: bool) {
        unimplemented!("{}: the backend cannot refuse secret changes", Self::NAME)
    }

    /// Create a client for `name` at the backend as a person would, outside
    /// clientops (to import it): its id and secret. Only kinds listed with
    /// `imports` in the suite implement it.
    async fn create_behind_the_back(&self, _name: &str) -> (String, String) {
        unimplemented!("{}: no hand-made clients", Self::NAME)
    }

    /// Make the backend commit this tenant's creates but lose their responses
    /// (`true`), or answer normally again (`false`). Only kinds listed with
    /// `lost_responses` in the suite implement it.
    async fn lose_create_responses(&self, _lose: bool) {
        unimplemented!("{}: the backend cannot lose responses", Self::NAME)
    }

    /// The tail of the backend's log, for failure messages.
    fn log_tail(&self) -> String {
        String::new()
    }

    /// Spec fields, merged into [`TestKind::spec`], that set every field of
    /// [`TestKind::declared`].
    fn every_field(&self, name: &str) -> Value;

    /// Every field the kind's spec declares: how a person edits it at the
    /// backend and where the backend shows it. One line per field.
    fn declared() -> Vec<Declared>;

    /// Make `edit` (a [`Declared::edit`]) at the backend, behind the
    /// controller's back.
    async fn edit_behind_the_back(&self, id: &str, edit: &Value);

    /// Disable the client at the backend as an administrator would. Only kinds
    /// listed with `enabled` in the suite (a provider with the notion) implement it.
    async fn disable_behind_the_back(&self, _id: &str) {
        unimplemented!("{}: the provider has no disabled clients", Self::NAME)
    }

    /// Whether the remote client is enabled (kinds listed with `enabled`).
    fn is_enabled(_remote: &Value) -> bool {
        unimplemented!("{}: the provider has no disabled clients", Self::NAME)
    }

    /// The spec edit that disables the client (kinds listed with `enabled`).
    fn disabled_in_spec() -> Value {
        unimplemented!("{}: the provider has no disabled clients", Self::NAME)
    }
}

/// What the tests that iterate the registry's `KINDS` need of a kind without its
/// backend: its provider blocks and a client that reaches it.
pub struct Blocks {
    /// [`TestKind::provider_blocks`].
    pub provider: fn(&str, Value) -> Vec<Value>,
    /// [`TestKind::reaching_client`].
    pub reaching_client: fn() -> Value,
}

/// The suite's kind of provider type `t`. One arm per kind: a new provider type
/// does not compile until its kind is here, and the tenant tests
/// (`tenant_isolation`, `tenant_url_policy`, `tenant_far_end`, `connect_fields`)
/// then run it.
pub fn by_type(t: ProviderType) -> Blocks {
    fn of<K: TestKind>() -> Blocks {
        Blocks {
            provider: K::provider_blocks,
            reaching_client: K::reaching_client,
        }
    }
    match t {
        ProviderType::Cloudflare => of::<cloudflare::Cloudflare>(),
        ProviderType::VmwareCsp => of::<csp::Csp>(),
        ProviderType::Hydra => of::<hydra::Hydra>(),
        ProviderType::Keycloak => of::<keycloak::Keycloak>(),
        ProviderType::Entra => of::<entra::Entra>(),
    }
}

/// One field a kind's spec declares, for the drift rows of the suite.
pub struct Declared {
    /// The spec path a user edits, e.g. `spec.keycloak.description`.
    pub field: &'static str,
    /// A person's edit at the backend, in the form the kind's
    /// [`TestKind::edit_behind_the_back`] takes.
    pub edit: Value,
    /// Where [`TestKind::remote`] shows the field: a JSON pointer.
    pub shown_at: &'static str,
}

/// A [`Declared`] row.
pub fn declared(field: &'static str, edit: Value, shown_at: &'static str) -> Declared {
    Declared {
        field,
        edit,
        shown_at,
    }
}

/// The value at `pointer` of `remote`, in a form where an absent member, `null`,
/// `""` and `[]` are alike and lists (and space-separated scope strings) are
/// order-free.
pub fn shown(remote: &Value, pointer: &str) -> Value {
    match remote.pointer(pointer) {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::String(s)) if s.contains(' ') => {
            let mut words: Vec<&str> = s.split(' ').collect();
            words.sort();
            json!(words)
        }
        Some(Value::Array(a)) if a.is_empty() => Value::Null,
        Some(Value::Array(a)) => {
            let mut a = a.clone();
            a.sort_by_key(|v| v.to_string());
            Value::Array(a)
        }
        Some(v) => v.clone(),
    }
}

/// Random lowercase hex, `n` digits.
pub fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| format!("{:x}", rand::random::<u8>() % 16))
        .collect()
}

/// Apply a JSON object (test manifests built with `json!`).
pub async fn apply_json(client: &Client, ns: &str, obj: Value) {
    let obj: DynamicObject = serde_json::from_value(obj).expect("a Kubernetes object");
    apply(client, &obj, ns)
        .await
        .unwrap_or_else(|e| panic!("apply {:?}: {e}", obj.metadata.name));
}

/// A ClusterOAuthProvider `name` with `block` (e.g. `{"hydra": {...}}`) that
/// admits namespace `ns` only.
pub async fn apply_cluster_provider(client: &Client, ns: &str, name: &str, block: Value) {
    let mut spec = block;
    spec["namespaceSelector"] = json!({"matchLabels": {"kubernetes.io/metadata.name": ns}});
    apply_json(
        client,
        ns,
        json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
            "metadata": {"name": name},
            "spec": spec,
        }),
    )
    .await;
}

/// One test's world for kind `K`: a namespace, the kind's tenant and provider, and
/// a controller scoped to the namespace.
pub struct World<K: TestKind> {
    pub client: Client,
    pub ns: String,
    pub kind: K,
    pub ctl: Controller,
    pub provider: String,
}

impl<K: TestKind> World<K> {
    /// A world whose controller runs with `env` (e.g. failpoints) and extra
    /// `clientops run` arguments; `None` when the kind's backend is missing here.
    pub async fn new(prefix: &str, env: &[(&str, &str)], args: &[&str]) -> Option<Self> {
        let client = client().await;
        let ns = namespace(&client, &format!("{}-{prefix}", K::NAME)).await;
        let provider = format!("{}-{ns}", K::NAME);
        let kind = K::tenant(&client, &ns, &provider).await?;
        let ctl = Controller::start_with_args(&ns, env, args);
        Some(World {
            client,
            ns,
            kind,
            ctl,
            provider,
        })
    }

    pub fn api(&self) -> Api<OAuthClient> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// The manifest of OAuthClient `name`: the kind's minimal spec, `extra` merged in.
    pub fn manifest(&self, name: &str, extra: Value) -> Value {
        let mut spec = self.kind.spec(name);
        spec["providerRef"] = json!({"kind": "ClusterOAuthProvider", "name": self.provider});
        merge(&mut spec, extra);
        json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        })
    }

    pub async fn apply_client(&self, name: &str, extra: Value) {
        apply_json(&self.client, &self.ns, self.manifest(name, extra)).await;
    }

    /// Set an annotation as `kubectl annotate --overwrite` does, as `manager`.
    pub async fn annotate(&self, name: &str, key: &str, value: &str) {
        let patch = json!({"metadata": {"annotations": {key: value}}});
        self.api()
            .patch(
                name,
                &PatchParams {
                    field_manager: Some(ANNOTATING_MANAGER.into()),
                    ..Default::default()
                },
                &Patch::Merge(patch),
            )
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

    /// Wait until `pred` holds for the object; on timeout, fail with its status,
    /// the controller's log tail and the backend's.
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
                panic!(
                    "{}: {name}: not {what} within {timeout:?}; status: {:#?}\n{}",
                    K::NAME,
                    o.and_then(|o| o.status),
                    self.logs()
                );
            }
        }
    }

    /// Wait for Ready=True at the current generation.
    pub async fn wait_ready(&self, name: &str) -> OAuthClient {
        self.wait_until(name, WAIT, "Ready", is_ready).await
    }

    /// Wait until the object is gone.
    pub async fn wait_gone(&self, name: &str) {
        let gone = wait_for(WAIT, || async {
            self.get(name).await.is_none().then_some(())
        })
        .await;
        assert!(
            gone.is_some(),
            "{}: {name} was not deleted\n{}",
            K::NAME,
            self.logs()
        );
    }

    /// The controller's and the backend's log tails.
    pub fn logs(&self) -> String {
        format!(
            "controller log tail:\n{}\nbackend log tail:\n{}",
            tail(&self.ctl.logs(), 40),
            self.kind.log_tail()
        )
    }

    /// Assert that no secret value appears in the controller's log.
    pub fn assert_not_logged(&self, secrets: &[&str]) {
        let log = self.ctl.logs();
        for (i, s) in secrets.iter().enumerate() {
            assert!(
                !log.contains(s),
                "{}: secret #{i} appears in the controller's log",
                K::NAME
            );
        }
    }

    pub async fn secret(&self, name: &str) -> Option<Secret> {
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .get_opt(name)
            .await
            .unwrap()
    }

    /// The credentials in Secret `name` under the default keys.
    pub async fn creds(&self, name: &str) -> SecretCreds {
        let s = self
            .secret(name)
            .await
            .unwrap_or_else(|| panic!("{}: Secret {name} does not exist", K::NAME));
        let data = s.data.unwrap_or_default();
        let get = |k: &str| data.get(k).map(|v| String::from_utf8(v.0.clone()).unwrap());
        SecretCreds {
            client_id: get("client_id"),
            secret: get("client_secret"),
            previous: get("client_secret_previous"),
        }
    }

    /// Assert that Secret `name` holds credentials the backend accepts now.
    pub async fn assert_working(&self, name: &str) -> SecretCreds {
        let c = self.creds(name).await;
        let id = c.client_id.as_deref().expect("client_id in the Secret");
        let secret = c.secret.as_deref().expect("client_secret in the Secret");
        assert!(
            self.kind.accepts(id, secret).await,
            "{}: the backend rejects the credentials in Secret {name}\n{}",
            K::NAME,
            self.logs()
        );
        c
    }

    /// How many clients this test has at the backend.
    pub async fn remote_count(&self) -> usize {
        self.kind.remote_ids().await.len()
    }

    /// Notes of this object's events with `reason`.
    pub async fn events(&self, name: &str, reason: &str) -> Vec<String> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        api.list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| {
                e.reason.as_deref() == Some(reason)
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
            })
            .filter_map(|e| e.note)
            .collect()
    }

    /// Wait until at least `n` events with `reason` exist (events are published
    /// after the status write, so they may trail it).
    pub async fn wait_events(&self, name: &str, reason: &str, n: usize) -> Vec<String> {
        let got = wait_for(Duration::from_secs(15), || async {
            let e = self.events(name, reason).await;
            (e.len() >= n).then_some(e)
        })
        .await;
        match got {
            Some(e) => e,
            None => panic!(
                "{}: fewer than {n} {reason} events for {name}: {:?}",
                K::NAME,
                self.events(name, reason).await
            ),
        }
    }
}

impl<K: TestKind> Drop for World<K> {
    /// Remove the cluster-scoped provider: a leftover one would keep later
    /// controllers retrying it.
    fn drop(&mut self) {
        super::delete_cluster_provider(&self.provider);
    }
}

/// How long the suite waits for the controller to converge.
pub const WAIT: Duration = Duration::from_secs(60);

/// The field manager of the suite's annotation patches, so managedFields show
/// who wrote the trigger annotations.
pub const ANNOTATING_MANAGER: &str = "behaviour-test";

/// The field managers that own `annotation` on `o` (managedFields).
pub fn annotation_owners(o: &OAuthClient, annotation: &str) -> Vec<String> {
    o.metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|mf| {
            mf.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.to_string().contains(&format!("f:{annotation}")))
        })
        .filter_map(|mf| mf.manager.clone())
        .collect()
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<_> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
