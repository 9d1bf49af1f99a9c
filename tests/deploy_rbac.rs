//! RBAC proven, not assumed: `kubectl kustomize deploy/base` is applied to the
//! real apiserver, a token is minted for the ServiceAccount (TokenRequest), and
//! `clientops run` with only that token runs the lifecycle (create → Ready →
//! working Secret → rotate → delete). Then the role is shown to be minimal: for
//! each rule, a controller whose ServiceAccount lacks just that rule fails in a way
//! a user can diagnose — a log line or a condition naming the verb and resource
//! the apiserver denied.
//!
//! Every controller here runs cluster-wide, as deployed, but only for
//! OAuthClients labelled for its run (`--label-selector`), so it never touches
//! other tests' objects.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, RoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use support::procs::{Emulator, binary};
use support::scenario::{ACCOUNT, condition, is_ready};
use support::{apply, client, kubeconfig, namespace, repo_root, wait_for};

use clientops::api::OAuthClient;

const SYSTEM_NS: &str = "clientops-system";
const RUN_LABEL: &str = "clientops.dev/rbac-test";

/// `kubectl kustomize deploy/base`, applied server-side as an admin.
fn apply_base() -> Vec<Value> {
    let out = Command::new("kubectl")
        .args(["kustomize", "deploy/base"])
        .current_dir(repo_root())
        .output()
        .expect("kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize deploy/base: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let mut apply = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args(["apply", "--server-side", "--force-conflicts"])
        .args(["--field-manager", "clientops-rbac-test", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    apply
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let out = apply.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "applying deploy/base failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    support::parse_yaml(&yaml)
        .into_iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect()
}

fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("deploy/base has no {kind} {name}"))
}

/// A kubeconfig for `sa` holding only a token from the TokenRequest API.
fn token_kubeconfig(sa: &str) -> PathBuf {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args(["-n", SYSTEM_NS, "create", "token", sa, "--duration=1h"])
        .output()
        .expect("kubectl create token");
    assert!(
        out.status.success(),
        "kubectl create token {sa}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let admin = kube::config::Kubeconfig::read_from(kubeconfig()).unwrap();
    let cluster = admin.clusters[0].cluster.clone().unwrap();
    let ca = cluster
        .certificate_authority_data
        .clone()
        .expect("admin kubeconfig has CA data");
    let kc = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": {"server": cluster.server, "certificate-authority-data": ca}}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": sa, "context": {"cluster": "testenv", "user": sa}}],
        "current-context": sa,
    });
    let path = std::env::temp_dir().join(format!(
        "clientops-rbac-{}-{sa}.kubeconfig",
        std::process::id()
    ));
    std::fs::write(&path, serde_yaml_ng::to_string(&kc).unwrap()).unwrap();
    path
}

/// `clientops run` with a ServiceAccount's kubeconfig, cluster-wide like the
/// Deployment, for the OAuthClients of one run.
struct Run {
    child: Option<Child>,
    log: PathBuf,
}

impl Run {
    fn start(id: &str, kubeconfig: &Path, leader_elect: bool) -> Self {
        let log =
            std::env::temp_dir().join(format!("clientops-rbac-{}-{id}.log", std::process::id()));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary())
            .args(["run", "--log-format", "json"])
            .args(if leader_elect {
                vec![
                    "--leader-elect".to_string(),
                    format!("--leader-election-id=rbac-{id}"),
                ]
            } else {
                vec![]
            })
            .args(["--operator-namespace", SYSTEM_NS, "--resync", "3s"])
            .args(["--label-selector", &format!("{RUN_LABEL}={id}")])
            .args(["--metrics-addr", "127.0.0.1:0"])
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .env("POD_NAME", format!("rbac-{id}"))
            .env("RUST_LOG", "info,clientops=debug")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start clientops run");
        Run {
            child: Some(child),
            log,
        }
    }

    /// The log, JSON string escapes undone so messages read as printed.
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .replace("\\\"", "\"")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A namespace, an emulator and a ClusterOAuthProvider admitting the namespace.
struct World {
    client: Client,
    ns: String,
    emu: Emulator,
    provider: String,
}

impl World {
    async fn new(prefix: &str) -> Self {
        let client = client().await;
        let ns = namespace(&client, prefix).await;
        let emu = Emulator::start(&["--token", "test-token"]);
        let provider = format!("cf-{ns}");
        for o in [
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "cf-api", "namespace": ns},
                   "stringData": {"token": "test-token"}}),
            json!({"apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
                   "metadata": {"name": provider},
                   "spec": {"cloudflare": {"accountId": ACCOUNT, "baseUrl": emu.api_url(),
                            "auth": {"apiTokenSecretRef": {"namespace": ns, "name": "cf-api", "key": "token"}}},
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}}),
        ] {
            let o: DynamicObject = serde_json::from_value(o).unwrap();
            apply(&client, &o, &ns).await.unwrap();
        }
        World {
            client,
            ns,
            emu,
            provider,
        }
    }

    async fn create_client(&self, name: &str, run: &str) {
        let o: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name, "namespace": self.ns, "labels": {RUN_LABEL: run}},
            "spec": {
                "providerRef": {"kind": "ClusterOAuthProvider", "name": self.provider},
                "clientName": format!("App {name}"),
                "redirectUris": [format!("https://{name}.example.com/callback")],
                "grantTypes": ["authorization_code", "refresh_token"],
                "scopes": ["account.read"],
            },
        }))
        .unwrap();
        apply(&self.client, &o, &self.ns).await.unwrap();
    }

    fn api(&self) -> Api<OAuthClient> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn cleanup(&self) {
        let api: Api<DynamicObject> = Api::all_with(
            self.client.clone(),
            &kube::core::ApiResource::from_gvk_with_plural(
                &kube::core::GroupVersionKind::gvk(
                    "clientops.dev",
                    "v1alpha1",
                    "ClusterOAuthProvider",
                ),
                "clusteroauthproviders",
            ),
        );
        let _ = api.delete(&self.provider, &DeleteParams::default()).await;
    }
}

/// A ServiceAccount bound to `rules` (cluster-wide) and, if `lease`, to the
/// leader-election Role of deploy/base.
async fn service_account(client: &Client, name: &str, rules: Vec<PolicyRule>, lease: bool) {
    let pp = PatchParams::apply("clientops-rbac-test").force();
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": SYSTEM_NS}}))
            .unwrap();
    Api::<ServiceAccount>::namespaced(client.clone(), SYSTEM_NS)
        .patch(
            name,
            &pp,
            &Patch::Apply(with_type(&sa, "v1", "ServiceAccount")),
        )
        .await
        .unwrap();
    let role = ClusterRole {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        rules: Some(rules),
        ..Default::default()
    };
    Api::<ClusterRole>::all(client.clone())
        .patch(
            name,
            &pp,
            &Patch::Apply(with_type(
                &role,
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
            )),
        )
        .await
        .unwrap();
    let subject = json!([{"kind": "ServiceAccount", "name": name, "namespace": SYSTEM_NS}]);
    let crb: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": subject,
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(
            name,
            &pp,
            &Patch::Apply(with_type(
                &crb,
                "rbac.authorization.k8s.io/v1",
                "ClusterRoleBinding",
            )),
        )
        .await
        .unwrap();
    if lease {
        let rb: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": SYSTEM_NS},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "clientops-leader-election"},
            "subjects": subject,
        }))
        .unwrap();
        Api::<RoleBinding>::namespaced(client.clone(), SYSTEM_NS)
            .patch(
                name,
                &pp,
                &Patch::Apply(with_type(
                    &rb,
                    "rbac.authorization.k8s.io/v1",
                    "RoleBinding",
                )),
            )
            .await
            .unwrap();
    }
}

async fn delete_service_account(client: &Client, name: &str) {
    let dp = DeleteParams::default();
    let _ = Api::<ClusterRoleBinding>::all(client.clone())
        .delete(name, &dp)
        .await;
    let _ = Api::<ClusterRole>::all(client.clone())
        .delete(name, &dp)
        .await;
    let _ = Api::<RoleBinding>::namespaced(client.clone(), SYSTEM_NS)
        .delete(name, &dp)
        .await;
    let _ = Api::<ServiceAccount>::namespaced(client.clone(), SYSTEM_NS)
        .delete(name, &dp)
        .await;
}

fn with_type<T: serde::Serialize>(obj: &T, api_version: &str, kind: &str) -> Value {
    let mut v = serde_json::to_value(obj).unwrap();
    v["apiVersion"] = json!(api_version);
    v["kind"] = json!(kind);
    v
}

fn rules_of(role: &Value) -> Vec<PolicyRule> {
    serde_json::from_value(role["rules"].clone()).unwrap()
}

fn describe(rule: &PolicyRule) -> String {
    format!(
        "{} {} in {:?}",
        rule.verbs.join(","),
        rule.resources.clone().unwrap_or_default().join(","),
        rule.api_groups.clone().unwrap_or_default().join(",")
    )
}

/// The apiserver's denial for any verb and resource of `rule`, as it appears in
/// a log line or a condition: `cannot <verb> resource "<resource>"`.
fn denial_in(text: &str, rule: &PolicyRule) -> Option<String> {
    for r in rule.resources.iter().flatten() {
        for v in &rule.verbs {
            let needle = format!("cannot {v} resource \"{r}\"");
            if text.contains(&needle) {
                return Some(needle);
            }
        }
    }
    None
}

#[tokio::test]
async fn the_deployed_service_account_runs_the_lifecycle_and_every_rule_is_needed() {
    let objs = apply_base();
    let admin = client().await;
    let cluster_role = find(&objs, "ClusterRole", "clientops");
    let lease_role = find(&objs, "Role", "clientops-leader-election");
    assert_eq!(
        find(&objs, "ServiceAccount", "clientops")["metadata"]["namespace"],
        SYSTEM_NS
    );

    // 1. The ServiceAccount of deploy/base, exactly as applied.
    let kc = token_kubeconfig("clientops");
    let run_id = format!("full-{}", std::process::id());
    let ctl = Run::start(&run_id, &kc, true);
    let w = World::new("rbac").await;
    w.create_client("app", &run_id).await;
    let ready = wait_for(Duration::from_secs(60), || async {
        w.api().get_opt("app").await.ok()?.filter(is_ready)
    })
    .await
    .unwrap_or_else(|| panic!("not Ready with the deployed RBAC; log:\n{}", ctl.logs()));
    let status = ready.status.clone().unwrap();
    let secret = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(w.client.clone(), &w.ns)
        .get(status.secret_name.as_deref().unwrap())
        .await
        .unwrap();
    let data = secret.data.clone().unwrap();
    let get = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    assert!(
        w.emu.check(&get("client_id"), &get("client_secret")).await,
        "the Secret's credentials work"
    );
    // A rotation (Secret update) and a delete (finalizer, remote delete).
    w.api()
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"clientops.dev/rotate": "rbac"}}})),
        )
        .await
        .unwrap();
    wait_for(Duration::from_secs(60), || async {
        let o = w.api().get_opt("app").await.ok()??;
        (o.status?.rotation?.last_request.as_deref() == Some("rbac")).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("no rotation with the deployed RBAC; log:\n{}", ctl.logs()));
    w.api()
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(Duration::from_secs(60), || async {
        w.api().get_opt("app").await.ok()?.is_none().then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("not deleted with the deployed RBAC; log:\n{}", ctl.logs()));
    assert!(
        w.emu.clients().await.is_empty(),
        "the remote client is deleted"
    );
    let logs = ctl.logs();
    assert!(
        !logs.contains("forbidden"),
        "the deployed role lacks nothing: {}",
        logs.lines()
            .filter(|l| l.contains("forbidden"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(ctl);
    w.cleanup().await;

    // 2. Each rule removed in turn, all runs at once.
    let mut variants: Vec<(String, Vec<PolicyRule>, bool, PolicyRule)> = vec![];
    let rules = rules_of(cluster_role);
    for (i, rule) in rules.iter().enumerate() {
        let mut rest = rules.clone();
        rest.remove(i);
        variants.push((format!("minus-{i}"), rest, true, rule.clone()));
    }
    let lease_rules = rules_of(lease_role);
    assert_eq!(lease_rules.len(), 1);
    variants.push((
        "minus-lease".into(),
        rules.clone(),
        false,
        lease_rules[0].clone(),
    ));
    let checks = variants.iter().map(|(id, rest, lease, removed)| {
        let lease_test = !*lease;
        let admin = admin.clone();
        async move {
            let sa = format!("clientops-{id}-{}", std::process::id());
            service_account(&admin, &sa, rest.clone(), !lease_test).await;
            let kc = token_kubeconfig(&sa);
            let run_id = format!("{id}-{}", std::process::id());
            // Leader election only where the Lease rule is what is tested: on two
            // shared cores, a dozen controllers can starve one past its renew
            // deadline, and it would rightly exit.
            let ctl = Run::start(&run_id, &kc, lease_test);
            let w = World::new(&format!("rbac-{id}")).await;
            w.create_client("app", &run_id).await;
            // Wait for the denial to show (in the log, or in the object's
            // conditions), then note whether the client got Ready anyway.
            let found = wait_for(Duration::from_secs(30), || async {
                if let Some(d) = denial_in(&ctl.logs(), removed) {
                    return Some(("log", d));
                }
                let o = w.api().get_opt("app").await.ok()??;
                let messages: Vec<String> = o
                    .status?
                    .conditions
                    .into_iter()
                    .map(|c| c.message)
                    .collect();
                denial_in(&messages.join("\n"), removed).map(|d| ("condition", d))
            })
            .await;
            // Does the client get Ready all the same (a loss that is reported but
            // not fatal)?
            if found.is_some() {
                wait_for(Duration::from_secs(10), || async {
                    w.api().get_opt("app").await.ok()?.filter(is_ready)
                })
                .await;
            }
            let o = w.api().get_opt("app").await.ok().flatten();
            let ready = o.as_ref().is_some_and(is_ready);
            let reason = o
                .as_ref()
                .and_then(|o| condition(o, "Ready"))
                .map(|c| c.reason.clone())
                .unwrap_or_else(|| "no status".into());
            let logs = ctl.logs();
            drop(ctl);
            // Let the finalizer go with an admin, then clean up.
            if let Some(o) = &o
                && !o.finalizers().is_empty()
            {
                let _ = w
                    .api()
                    .patch(
                        "app",
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                    )
                    .await;
            }
            w.cleanup().await;
            delete_service_account(&admin, &sa).await;
            (id.clone(), removed.clone(), found, ready, reason, logs)
        }
    });
    // A few at a time: each is a controller and an emulator on shared cores.
    let results: Vec<_> = futures::stream::iter(checks)
        .buffer_unordered(4)
        .collect()
        .await;

    // The one rule the test control plane cannot show: without the
    // OwnerReferencesPermissionEnforcement admission plugin (not enabled by
    // default; OpenShift enables it), setting blockOwnerDeletion needs no
    // permission on oauthclients/finalizers.
    let untestable = |r: &PolicyRule| {
        r.resources.as_deref() == Some(&["oauthclients/finalizers".to_string()][..])
    };
    let mut report = vec![];
    let mut failures = vec![];
    for (id, removed, found, ready, reason, logs) in &results {
        let what = describe(removed);
        match found {
            Some((place, denial)) => report.push(format!(
                "without [{what}]: {place} says `{denial}`; client {}",
                if *ready {
                    "still got Ready (the loss is reported, not fatal)".to_string()
                } else {
                    format!("not Ready ({reason})")
                }
            )),
            None if untestable(removed) => {
                report.push(format!(
                    "without [{what}]: no effect here (needs OwnerReferencesPermissionEnforcement)"
                ));
            }
            None => failures.push(format!(
                "{id}: removing [{what}] produced no diagnosable denial (ready: {ready}); log tail:\n{}",
                logs.lines().rev().take(15).collect::<Vec<_>>().join("\n")
            )),
        }
    }
    eprintln!("RBAC minimality:\n  {}", report.join("\n  "));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Issue 24: status is the operator's record (the client an object holds, the
/// create in flight) and the operator trusts it, so tenants must not write it.
/// deploy/base ships tenant roles aggregated into the built-in ones: a tenant
/// bound to `edit` in a namespace may create OAuthClients and OAuthProviders there,
/// but not patch `oauthclients/status`; one bound to `view` only reads.
#[tokio::test]
async fn a_tenant_bound_to_edit_writes_oauthclients_but_not_their_status() {
    let objs = apply_base();
    for (name, aggregated) in [
        (
            "clientops-tenant-view",
            ["view", "edit", "admin"].as_slice(),
        ),
        ("clientops-tenant-edit", ["edit", "admin"].as_slice()),
    ] {
        let role = find(&objs, "ClusterRole", name);
        for to in aggregated {
            assert_eq!(
                role["metadata"]["labels"][format!("rbac.authorization.k8s.io/aggregate-to-{to}")],
                "true",
                "{name} aggregates to {to}"
            );
        }
        assert!(
            rules_of(role).iter().all(|r| r
                .resources
                .iter()
                .flatten()
                .all(|res| !res.contains('/'))),
            "{name} grants no subresource"
        );
    }
    let admin = client().await;
    let ns = namespace(&admin, "tenant-rbac").await;
    let pp = PatchParams::apply("clientops-rbac-test").force();
    let mut kubeconfigs = vec![];
    for role in ["edit", "view"] {
        let sa = format!("tenant-{role}-{}", std::process::id());
        let account: ServiceAccount =
            serde_json::from_value(json!({"metadata": {"name": sa, "namespace": SYSTEM_NS}}))
                .unwrap();
        Api::<ServiceAccount>::namespaced(admin.clone(), SYSTEM_NS)
            .patch(
                &sa,
                &pp,
                &Patch::Apply(with_type(&account, "v1", "ServiceAccount")),
            )
            .await
            .unwrap();
        let rb: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": sa, "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": SYSTEM_NS}],
        }))
        .unwrap();
        Api::<RoleBinding>::namespaced(admin.clone(), &ns)
            .patch(
                &sa,
                &pp,
                &Patch::Apply(with_type(
                    &rb,
                    "rbac.authorization.k8s.io/v1",
                    "RoleBinding",
                )),
            )
            .await
            .unwrap();
        kubeconfigs.push((role, sa.clone(), token_kubeconfig(&sa)));
    }
    let client_obj = |name: &str| -> OAuthClient {
        serde_json::from_value(json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "providerRef": {"kind": "ClusterOAuthProvider", "name": "none"},
                "redirectUris": ["https://app.example.com/callback"],
            },
        }))
        .unwrap()
    };
    let status_patch = json!({"status": {"clientId": "someone-elses-client"}});
    for (role, sa, kc) in &kubeconfigs {
        let tenant = support::client_for(kc).await;
        let api: Api<OAuthClient> = Api::namespaced(tenant.clone(), &ns);
        let name = format!("app-{role}");
        // The aggregation controller adds the rules to the built-in role shortly
        // after they appear: wait for `view`'s read to be allowed first.
        let readable = wait_for(Duration::from_secs(60), || async {
            api.list(&Default::default()).await.ok().map(|_| ())
        })
        .await;
        assert!(readable.is_some(), "{role}: OAuthClients never readable");
        let created = api.create(&Default::default(), &client_obj(&name)).await;
        match *role {
            "edit" => {
                created.unwrap_or_else(|e| panic!("edit may create OAuthClients: {e}"));
                // Its own OAuthProviders too.
                let providers: Api<DynamicObject> = Api::namespaced_with(
                    tenant.clone(),
                    &ns,
                    &kube::core::ApiResource::from_gvk_with_plural(
                        &kube::core::GroupVersionKind::gvk(
                            "clientops.dev",
                            "v1alpha1",
                            "OAuthProvider",
                        ),
                        "oauthproviders",
                    ),
                );
                providers
                    .list(&Default::default())
                    .await
                    .expect("edit may read OAuthProviders");
            }
            _ => {
                let err = created.expect_err("view may not create OAuthClients");
                assert!(
                    matches!(&err, kube::Error::Api(e) if e.code == 403),
                    "{err}"
                );
                Api::<OAuthClient>::namespaced(admin.clone(), &ns)
                    .create(&Default::default(), &client_obj(&name))
                    .await
                    .unwrap();
            }
        }
        // Never the status: not by merge patch, not by apply.
        for patch in [
            Patch::Merge(status_patch.clone()),
            Patch::Apply(
                json!({"apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
                "status": {"clientId": "someone-elses-client"}}),
            ),
        ] {
            let params = match &patch {
                Patch::Apply(_) => PatchParams::apply("tenant").force(),
                _ => PatchParams::default(),
            };
            let err = api
                .patch_status(&name, &params, &patch)
                .await
                .expect_err("a tenant may not write status");
            assert!(
                matches!(&err, kube::Error::Api(e) if e.code == 403),
                "{role}: {err}"
            );
        }
        let o = Api::<OAuthClient>::namespaced(admin.clone(), &ns)
            .get(&name)
            .await
            .unwrap();
        assert!(o.status.is_none_or(|s| s.client_id.is_none()));
        let _ = std::fs::remove_file(kc);
        let _ = Api::<ServiceAccount>::namespaced(admin.clone(), SYSTEM_NS)
            .delete(sa, &DeleteParams::default())
            .await;
    }
}
