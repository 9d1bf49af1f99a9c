//! GitOps integrations against live objects from the real apiserver, run by the
//! libraries the GitOps tools use (tests/gitops, a Go program):
//!
//! - the Argo CD health check and resource actions in `deploy/argocd/`, with
//!   gopher-lua in an environment like Argo CD's;
//! - kstatus (`sigs.k8s.io/cli-utils/pkg/kstatus/status`), which Flux uses for
//!   health checks: Current when Ready, InProgress while reconciling or before the
//!   controller has seen the object, Failed when Stalled.
//!
//! And the `argocd-cm` snippet embeds exactly the Lua files.

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};
use support::scenario::{Scenario, condition};
use support::{apply, namespace, repo_root};

use clientops::api::OAuthClient;

static CHECKER: OnceLock<PathBuf> = OnceLock::new();

/// The gitops-check binary (built once per source hash, cached outside the repo).
fn checker() -> &'static PathBuf {
    CHECKER.get_or_init(|| {
        let out = Command::new(repo_root().join("tests/gitops/build"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tests/gitops/build");
        assert!(out.status.success(), "tests/gitops/build failed");
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().unwrap().trim())
    })
}

/// Run the cases through gitops-check; returns the results by id.
fn check(cases: Vec<Value>) -> std::collections::HashMap<String, Value> {
    let mut child = Command::new(checker())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!({ "cases": cases }).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "gitops-check failed");
    let results: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    results
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r))
        .collect()
}

fn script(rel: &str) -> String {
    repo_root()
        .join("deploy/argocd")
        .join(rel)
        .to_string_lossy()
        .into_owned()
}

/// The live object as the apiserver returns it (what Argo CD and Flux see).
async fn live(s: &Scenario, ns: &str, name: &str) -> Value {
    let api: Api<OAuthClient> = Api::namespaced(s.client.clone(), ns);
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

fn is_timestamp(v: &str) -> bool {
    // 2026-01-02T03:04:05Z
    v.len() == 20
        && v.chars().enumerate().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == 'T',
            13 | 16 => c == ':',
            19 => c == 'Z',
            _ => c.is_ascii_digit(),
        })
}

#[tokio::test]
async fn argo_cd_health_and_kstatus_agree_with_the_conditions_of_live_objects() {
    let s = Scenario::new("gitops", &[]).await;

    // Fresh: in a namespace no controller watches, so only the CRD default
    // (observedGeneration -1) is there.
    let unwatched = namespace(&s.client, "gitops-fresh").await;
    let mut fresh = s.manifest("fresh", json!({}));
    fresh.metadata.namespace = Some(unwatched.clone());
    apply(&s.client, &fresh, &unwatched).await.unwrap();

    s.apply_client("ready", json!({})).await;
    // Cloudflare's rules reject colon-delimited scopes: Stalled.
    s.apply_client("stalled", json!({"scopes": ["account:read"]}))
        .await;
    // A provider that does not exist (yet): waiting, Reconciling.
    s.apply_client(
        "waiting",
        json!({"providerRef": {"kind": "ClusterOAuthProvider", "name": format!("missing-{}", s.ns)}}),
    )
    .await;

    s.wait_ready("ready").await;
    s.wait_until("stalled", Duration::from_secs(30), "Stalled", |o| {
        condition(o, "Stalled").is_some_and(|c| c.status == "True")
    })
    .await;
    s.wait_until("waiting", Duration::from_secs(30), "Reconciling", |o| {
        condition(o, "Reconciling").is_some_and(|c| c.status == "True")
    })
    .await;

    let ready = live(&s, &s.ns, "ready").await;
    // The same object once its spec changed and before the controller saw it.
    let mut ready_edited = ready.clone();
    ready_edited["metadata"]["generation"] =
        json!(ready["metadata"]["generation"].as_i64().unwrap() + 1);
    let objects = [
        ("fresh", live(&s, &unwatched, "fresh").await),
        ("ready", ready.clone()),
        ("ready-edited", ready_edited),
        ("stalled", live(&s, &s.ns, "stalled").await),
        ("waiting", live(&s, &s.ns, "waiting").await),
    ];
    assert_eq!(
        objects[0].1["status"]["observedGeneration"],
        json!(-1),
        "CRD default"
    );
    let mut cases = vec![];
    for (id, o) in &objects {
        cases.push(json!({"id": format!("health/{id}"), "kind": "health", "script": script("health.lua"), "object": o}));
        cases.push(json!({"id": format!("kstatus/{id}"), "kind": "kstatus", "object": o}));
    }
    let r = check(cases);
    let want = [
        ("fresh", "Progressing", "InProgress"),
        ("ready", "Healthy", "Current"),
        ("ready-edited", "Progressing", "InProgress"),
        ("stalled", "Degraded", "Failed"),
        ("waiting", "Progressing", "InProgress"),
    ];
    for (id, health, kstatus) in want {
        let h = &r[&format!("health/{id}")];
        let k = &r[&format!("kstatus/{id}")];
        assert_eq!(h["error"], Value::Null, "{id}: {h}");
        assert_eq!(k["error"], Value::Null, "{id}: {k}");
        assert_eq!(h["status"], health, "Argo CD health of {id}: {h}");
        assert_eq!(k["status"], kstatus, "kstatus of {id}: {k}");
    }
    // The messages carry the controller's words.
    let stalled = &r["health/stalled"]["message"].as_str().unwrap();
    assert!(stalled.contains("spec.scopes"), "{stalled}");
    let waiting = &r["health/waiting"]["message"].as_str().unwrap();
    assert!(waiting.contains("does not exist"), "{waiting}");
}

#[tokio::test]
async fn argo_cd_actions_stamp_annotations_the_controller_acts_on() {
    let s = Scenario::new("gitops-actions", &[]).await;
    s.apply_client("app", json!({})).await;
    let before = s.wait_ready("app").await;
    let obj = serde_json::to_value(&before).unwrap();

    let mut cases = vec![
        json!({"id": "discovery", "kind": "discovery", "script": script("actions/discovery.lua"), "object": obj}),
    ];
    for a in ["rotate", "retire", "reconcile"] {
        cases.push(json!({"id": a, "kind": "action", "script": script(&format!("actions/{a}/action.lua")), "object": obj}));
    }
    let r = check(cases);
    // Idle: nothing to retire.
    assert_eq!(
        r["discovery"]["actions"],
        json!(["reconcile", "rotate"]),
        "{}",
        r["discovery"]
    );
    let stamped = |action: &str, annotation: &str| -> String {
        let res = &r[action];
        assert_eq!(res["error"], Value::Null, "{action}: {res}");
        let o = &res["object"];
        // Everything else is returned unchanged.
        let mut unchanged = o.clone();
        unchanged["metadata"]["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(annotation);
        let mut orig = obj.clone();
        if orig["metadata"]["annotations"].is_null() {
            orig["metadata"]["annotations"] = json!({});
        }
        assert_eq!(unchanged, orig, "{action} changed more than {annotation}");
        let v = o["metadata"]["annotations"][annotation]
            .as_str()
            .unwrap_or_else(|| panic!("{action} did not set {annotation}: {o}"))
            .to_string();
        assert!(is_timestamp(&v), "{v}");
        v
    };
    let rotate = stamped("rotate", "clientops.dev/rotate");
    stamped("retire", "clientops.dev/retire-previous");
    let reconcile = stamped("reconcile", "clientops.dev/reconcile");

    // Apply what the actions return, as Argo CD does (a patch), and watch the
    // controller act on it.
    s.annotate("app", "clientops.dev/rotate", &rotate).await;
    let rotated = s
        .wait_until("app", Duration::from_secs(60), "rotated", |o| {
            o.status
                .as_ref()
                .and_then(|st| st.rotation.as_ref())
                .and_then(|r| r.last_request.as_deref())
                == Some(rotate.as_str())
        })
        .await;
    s.assert_working(&rotated.status.clone().unwrap().secret_name.unwrap())
        .await;
    Api::<OAuthClient>::namespaced(s.client.clone(), &s.ns)
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"clientops.dev/reconcile": reconcile}}}),
            ),
        )
        .await
        .unwrap();
    s.wait_until("app", Duration::from_secs(30), "resynced", |o| {
        serde_json::to_value(o).unwrap()["status"]["lastReconcileRequest"] == json!(reconcile)
    })
    .await;

    // While a grace period runs, retire is offered.
    let retiring = serde_json::to_value(&rotated).unwrap();
    if retiring["status"]["rotation"]["phase"] == "Retiring" {
        let r = check(vec![
            json!({"id": "d", "kind": "discovery", "script": script("actions/discovery.lua"), "object": retiring}),
        ]);
        assert_eq!(r["d"]["actions"], json!(["reconcile", "retire", "rotate"]));
    }
}

/// `deploy/argocd/argocd-cm.yaml` embeds exactly the Lua files.
#[test]
fn the_argocd_cm_snippet_embeds_the_scripts() {
    let dir = repo_root().join("deploy/argocd");
    let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
    let indent = |text: &str, n: usize| -> String {
        text.lines()
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{}{l}", " ".repeat(n))
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut actions = format!(
        "discovery.lua: |\n{}\ndefinitions:\n",
        indent(&read("actions/discovery.lua"), 2)
    );
    for a in ["rotate", "retire", "reconcile"] {
        actions += &format!(
            "  - name: {a}\n    action.lua: |\n{}\n",
            indent(&read(&format!("actions/{a}/action.lua")), 6)
        );
    }
    let want = format!(
        "# Argo CD settings for clientops: merge into the argocd-cm ConfigMap (see\n\
         # docs/gitops.md). Generated from health.lua and actions/ by\n\
         # tests/gitops.rs; regenerate with CLIENTOPS_UPDATE_ARGOCD_CM=1 cargo test --test gitops.\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n  labels:\n    app.kubernetes.io/part-of: argocd\n\
         data:\n  resource.customizations.health.clientops.dev_OAuthClient: |\n{}\n  resource.customizations.actions.clientops.dev_OAuthClient: |\n{}\n",
        indent(&read("health.lua"), 4),
        indent(actions.trim_end(), 4)
    );
    let path = dir.join("argocd-cm.yaml");
    if std::env::var_os("CLIENTOPS_UPDATE_ARGOCD_CM").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "deploy/argocd/argocd-cm.yaml is stale: CLIENTOPS_UPDATE_ARGOCD_CM=1 cargo test --test gitops"
    );
    // And it is a ConfigMap whose values are the scripts.
    let cm: Value = serde_yaml_ng::from_str(&have).unwrap();
    assert_eq!(
        cm["data"]["resource.customizations.health.clientops.dev_OAuthClient"],
        json!(read("health.lua"))
    );
    let actions: Value = serde_yaml_ng::from_str(
        cm["data"]["resource.customizations.actions.clientops.dev_OAuthClient"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        actions["definitions"][0]["action.lua"],
        json!(read("actions/rotate/action.lua"))
    );
}
