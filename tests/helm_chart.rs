//! The Helm chart (deploy/helm/clientops): `helm lint`, `helm template`, the same
//! objects as the kustomize base (and, with `namespaced=true`, the same Role and
//! flags as the namespaced overlay), and a server-side dry-run apply of the
//! rendered chart on the real apiserver.
//!
//! The helm CLI comes from the Go module proxy through scripts/install-helm
//! (built once per version, cached under ~/.cache/clientops/helm).

mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Value, json};
use support::{client, kubeconfig, namespace, parse_yaml, repo_root};

static HELM: OnceLock<PathBuf> = OnceLock::new();

fn helm() -> &'static PathBuf {
    HELM.get_or_init(|| {
        let out = Command::new(repo_root().join("scripts/install-helm"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/install-helm");
        assert!(out.status.success(), "scripts/install-helm failed");
        PathBuf::from(
            String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .last()
                .unwrap()
                .trim(),
        )
    })
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const CHART: &str = "deploy/helm/clientops";

fn template(namespace: &str, set: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new(helm());
    cmd.current_dir(repo_root()).args([
        "template",
        "clientops",
        CHART,
        "--namespace",
        namespace,
        "--include-crds",
    ]);
    for s in set {
        cmd.args(["--set", s]);
    }
    to_values(&run(&mut cmd))
}

fn kustomize(dir: &str) -> Vec<Value> {
    to_values(&run(Command::new("kubectl")
        .current_dir(repo_root())
        .args(["kustomize", dir])))
}

fn to_values(yaml: &str) -> Vec<Value> {
    parse_yaml(yaml)
        .into_iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect()
}

fn key(o: &Value) -> (String, String, String) {
    (
        o["kind"].as_str().unwrap().to_string(),
        o["metadata"]["name"].as_str().unwrap().to_string(),
        o["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn get<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn helm_lint_passes_for_both_modes() {
    for set in [&[][..], &["namespaced=true"][..]] {
        let mut cmd = Command::new(helm());
        cmd.current_dir(repo_root())
            .args(["lint", "--strict", CHART]);
        for s in set {
            cmd.args(["--set", s]);
        }
        let out = run(&mut cmd);
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn the_chart_renders_the_objects_of_the_kustomize_base() {
    let chart = template("clientops-system", &[]);
    let base = kustomize("deploy/base");
    let mut want: Vec<_> = base
        .iter()
        .filter(|o| o["kind"] != "Namespace") // helm install --create-namespace
        .map(key)
        .collect();
    let mut have: Vec<_> = chart.iter().map(key).collect();
    want.sort();
    have.sort();
    assert_eq!(have, want);

    for (kind, name, path) in [
        ("ClusterRole", "clientops", "/rules"),
        ("Role", "clientops-leader-election", "/rules"),
        ("ClusterRoleBinding", "clientops", "/subjects"),
        ("RoleBinding", "clientops-leader-election", "/subjects"),
        ("Deployment", "clientops", "/spec/replicas"),
        ("Deployment", "clientops", "/spec/selector"),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/securityContext",
        ),
        ("Deployment", "clientops", "/spec/template/spec/affinity"),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/serviceAccountName",
        ),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/containers/0/args",
        ),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/containers/0/env",
        ),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/containers/0/ports",
        ),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/containers/0/livenessProbe",
        ),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/containers/0/readinessProbe",
        ),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/containers/0/securityContext",
        ),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/containers/0/resources",
        ),
        (
            "Deployment",
            "clientops",
            "/spec/template/spec/containers/0/image",
        ),
        ("PodDisruptionBudget", "clientops", "/spec"),
        ("Service", "clientops-metrics", "/spec"),
        ("Service", "clientops-metrics", "/metadata/annotations"),
    ] {
        assert_eq!(
            get(&chart, kind, name).pointer(path),
            get(&base, kind, name).pointer(path),
            "{kind} {name} {path} differs between the chart and deploy/base"
        );
    }
    // The chart's CRDs are crds/clientops.yaml.
    assert_eq!(
        std::fs::read_to_string(repo_root().join(CHART).join("crds/clientops.yaml")).unwrap(),
        std::fs::read_to_string(repo_root().join("crds/clientops.yaml")).unwrap(),
        "copy crds/clientops.yaml to {CHART}/crds/"
    );
}

#[test]
fn namespaced_mode_matches_the_namespaced_overlay() {
    let chart = template("clientops-system", &["namespaced=true"]);
    let overlay = kustomize("deploy/overlays/namespaced");
    for kind in ["ClusterRole", "ClusterRoleBinding"] {
        assert!(
            chart.iter().all(|o| o["kind"] != kind),
            "no {kind} in namespaced mode"
        );
    }
    assert_eq!(
        get(&chart, "Role", "clientops")["rules"],
        get(&overlay, "Role", "clientops")["rules"]
    );
    assert_eq!(
        get(&chart, "Role", "clientops")["metadata"]["namespace"],
        json!("clientops-system")
    );
    let args = |objs: &[Value]| {
        get(objs, "Deployment", "clientops")
            .pointer("/spec/template/spec/containers/0/args")
            .cloned()
    };
    assert_eq!(args(&chart), args(&overlay));
}

#[tokio::test]
async fn the_rendered_chart_applies_cleanly_server_side() {
    let c = client().await;
    for (prefix, set) in [("helm", &[][..]), ("helm-ns", &["namespaced=true"][..])] {
        let ns = namespace(&c, prefix).await;
        let mut cmd = Command::new(helm());
        cmd.current_dir(repo_root()).args([
            "template",
            "clientops",
            CHART,
            "--namespace",
            &ns,
            "--include-crds",
        ]);
        for s in set {
            cmd.args(["--set", s]);
        }
        let rendered = run(&mut cmd);
        let mut apply = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(kubeconfig())
            .args([
                "apply",
                "--server-side",
                "--dry-run=server",
                "--force-conflicts",
            ])
            .args(["--field-manager", "clientops-helm-test", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        apply
            .stdin
            .take()
            .unwrap()
            .write_all(rendered.as_bytes())
            .unwrap();
        let out = apply.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "server-side dry run of the chart ({set:?}) failed:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let applied = stdout
            .lines()
            .filter(|l| l.contains("(server dry run)"))
            .count();
        assert_eq!(applied, to_values(&rendered).len(), "{stdout}");
    }
}
