//! The Helm chart (deploy/helm/clientops, staged as it is packaged: with the CRDs
//! of crds/ and, when released, the image digest; scripts/release.d/stage-chart):
//! `helm lint`, `helm template`, the same objects as the kustomize base (and, with `namespaced=true`, the same Role and
//! flags as the namespaced overlay), the URL-policy values as `clientops run`
//! flags only when set, the egress NetworkPolicy only when enabled and equal to the
//! kustomize component, and a server-side dry-run apply of the rendered chart on
//! the real apiserver.
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

/// The chart as scripts/release packages it, staged once per test binary.
fn chart() -> &'static str {
    static CHART: OnceLock<String> = OnceLock::new();
    CHART.get_or_init(|| stage_chart("plain", None))
}

/// scripts/release.d/stage-chart into a fresh directory; the staged chart's path.
fn stage_chart(name: &str, digest: Option<&str>) -> String {
    let out = std::env::temp_dir().join(format!(
        "clientops-helm-chart-{}-{name}",
        std::process::id()
    ));
    let mut cmd = Command::new(repo_root().join("scripts/release.d/stage-chart"));
    cmd.arg(&out).args(digest);
    run(&mut cmd).trim().to_string()
}

fn template(namespace: &str, set: &[&str]) -> Vec<Value> {
    to_values(&run(&mut template_command(namespace, set)))
}

fn template_command(namespace: &str, set: &[&str]) -> Command {
    let mut cmd = Command::new(helm());
    cmd.current_dir(repo_root()).args([
        "template",
        "clientops",
        chart(),
        "--namespace",
        namespace,
        "--include-crds",
    ]);
    for s in set {
        match s.strip_prefix("json:") {
            Some(json) => cmd.args(["--set-json", json]),
            None => cmd.args(["--set", s]),
        };
    }
    cmd
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
    for set in [&[][..], &["namespaced=true"][..], EGRESS_AND_POLICY_VALUES] {
        let mut cmd = Command::new(helm());
        cmd.current_dir(repo_root())
            .args(["lint", "--strict", chart()]);
        for s in set {
            match s.strip_prefix("json:") {
                Some(json) => cmd.args(["--set-json", json]),
                None => cmd.args(["--set", s]),
            };
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
        ("ClusterRole", "clientops-tenant-view", "/rules"),
        ("ClusterRole", "clientops-tenant-edit", "/rules"),
        ("Role", "clientops-leader-election", "/rules"),
        ("ClusterRoleBinding", "clientops", "/subjects"),
        ("ClusterRole", "clientops-metrics-auth", "/rules"),
        ("ClusterRoleBinding", "clientops-metrics-auth", "/subjects"),
        ("ClusterRole", "clientops-metrics-reader", "/rules"),
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
    // The chart's CRDs are those of crds/clientops.yaml, taken when it is staged.
    let crds = |objs: &[Value]| -> Vec<Value> {
        objs.iter()
            .filter(|o| o["kind"] == "CustomResourceDefinition")
            .cloned()
            .collect()
    };
    let want =
        to_values(&std::fs::read_to_string(repo_root().join("crds/clientops.yaml")).unwrap());
    assert_eq!(want.len(), 3);
    assert_eq!(crds(&chart), want);
}

#[test]
fn a_released_chart_pulls_its_image_by_digest() {
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    let image = |objs: &[Value]| {
        get(objs, "Deployment", "clientops")
            .pointer("/spec/template/spec/containers/0/image")
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    };
    // Unreleased: by tag only.
    assert_eq!(
        image(&template("clientops-system", &[])),
        "ghcr.io/clientops/clientops:v0.1.0"
    );
    // Staged with the digest (what scripts/release packages), and a repository of
    // one's own: the digest stays, since it names the content in any registry.
    let released = stage_chart("released", Some(&digest));
    let rendered = run(Command::new(helm()).args([
        "template",
        "clientops",
        &released,
        "--set",
        "image.repository=registry.example.com/clientops",
    ]));
    assert_eq!(
        image(&to_values(&rendered)),
        format!("registry.example.com/clientops:v0.1.0@{digest}")
    );
    // A value that is not a digest is refused when staging.
    let out = Command::new(repo_root().join("scripts/release.d/stage-chart"))
        .arg(std::env::temp_dir().join(format!("clientops-helm-chart-{}-bad", std::process::id())))
        .arg("v0.1.0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a digest"));
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
    for (prefix, set) in [
        ("helm", &[][..]),
        ("helm-ns", &["namespaced=true"][..]),
        ("helm-np", EGRESS_AND_POLICY_VALUES),
    ] {
        let ns = namespace(&c, prefix).await;
        let rendered = run(&mut template_command(&ns, set));
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

/// The egress NetworkPolicy, an extra rule, and every policy flag set.
const EGRESS_AND_POLICY_VALUES: &[&str] = &[
    "networkPolicy.egress.enabled=true",
    "networkPolicy.egress.apiServer.cidrs={10.96.0.1/32,172.18.0.2/32}",
    "json:networkPolicy.egress.extraEgress=[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.20.0.5/32\"}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":4445}]}]",
    "namespacedProviders.hosts={api.cloudflare.com,*.corp.example:8443}",
    "namespacedProviders.cidrs={10.20.0.0/16}",
    "namespacedProviders.allowHttp=true",
    "clusterCidrs={10.96.0.0/12,10.244.0.0/16}",
    "reconcileDeadline=2m",
];

fn args(objs: &[Value]) -> Vec<String> {
    get(objs, "Deployment", "clientops")
        .pointer("/spec/template/spec/containers/0/args")
        .and_then(Value::as_array)
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// The flags of the URL policy and the reconcile deadline.
const POLICY_FLAGS: [&str; 5] = [
    "--namespaced-provider-hosts",
    "--namespaced-provider-cidrs",
    "--namespaced-provider-allow-http",
    "--cluster-cidrs",
    "--reconcile-deadline",
];

fn policy_args(objs: &[Value]) -> Vec<String> {
    args(objs)
        .into_iter()
        .filter(|a| POLICY_FLAGS.iter().any(|f| a.split('=').next() == Some(*f)))
        .collect()
}

#[test]
fn the_url_policy_values_reach_the_flags_only_when_set() {
    use clap::Parser;
    use clientops::provider::url_policy::{UrlPolicy, UrlPolicyArgs, parse_cidrs};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        policy: UrlPolicyArgs,
    }
    let parse = |args: &[String]| {
        let policy_only = args
            .iter()
            .filter(|a| !a.starts_with("--reconcile-deadline"));
        Cli::try_parse_from(std::iter::once(&"clientops".to_string()).chain(policy_only))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .policy
            .policy()
    };

    // Unset: no flag, so the binary's defaults hold.
    let defaults = template("clientops-system", &[]);
    assert_eq!(policy_args(&defaults), Vec::<String>::new());
    assert_eq!(parse(&policy_args(&defaults)), UrlPolicy::default());

    let set = template("clientops-system", EGRESS_AND_POLICY_VALUES);
    let have = policy_args(&set);
    assert_eq!(
        have,
        [
            "--namespaced-provider-hosts=api.cloudflare.com,*.corp.example:8443",
            "--namespaced-provider-cidrs=10.20.0.0/16",
            "--namespaced-provider-allow-http",
            "--cluster-cidrs=10.96.0.0/12,10.244.0.0/16",
            "--reconcile-deadline=2m",
        ]
    );
    let policy = parse(&have);
    assert_eq!(policy.allowed_hosts.len(), 2);
    // A port passes through the chart into the entry.
    assert_eq!(policy.allowed_hosts[1].to_string(), "*.corp.example:8443");
    assert_eq!(policy.allowed_cidrs, parse_cidrs("10.20.0.0/16").unwrap());
    assert_eq!(
        policy.denied_cidrs,
        parse_cidrs("10.96.0.0/12,10.244.0.0/16").unwrap()
    );
    assert!(policy.allow_http);

    // An empty host list is passed (no host at all), unlike an unset one.
    let none = template("clientops-system", &["json:namespacedProviders.hosts=[]"]);
    assert_eq!(policy_args(&none), ["--namespaced-provider-hosts="]);
    assert!(parse(&policy_args(&none)).allowed_hosts.is_empty());
}

/// `kubectl kustomize` of a kustomization, in a fresh temporary directory, that adds
/// `components` to deploy/base, with `extra` appended.
fn kustomize_with_components(components: &[&str], extra: &str) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!(
        "clientops-helm-chart-{}-{}",
        std::process::id(),
        components.len()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // kustomize takes only relative paths to other kustomizations.
    let up = "../".repeat(dir.components().count() - 1);
    let rel = |p: &str| {
        format!(
            "{up}{}",
            repo_root()
                .join(p)
                .to_str()
                .unwrap()
                .trim_start_matches('/')
        )
    };
    let components: Vec<String> = components.iter().map(|c| rel(c)).collect();
    std::fs::write(
        dir.join("kustomization.yaml"),
        format!(
            "resources: [{}]\ncomponents: [{}]\n{extra}",
            rel("deploy/base"),
            components.join(", ")
        ),
    )
    .unwrap();
    let out = to_values(&run(Command::new("kubectl").arg("kustomize").arg(&dir)));
    std::fs::remove_dir_all(&dir).unwrap();
    out
}

#[test]
fn the_egress_policy_renders_only_when_enabled_and_matches_the_component() {
    let kind_count = |objs: &[Value]| objs.iter().filter(|o| o["kind"] == "NetworkPolicy").count();
    assert_eq!(kind_count(&template("clientops-system", &[])), 0);
    assert_eq!(
        kind_count(&template("clientops-system", &["namespaced=true"])),
        0
    );
    assert_eq!(kind_count(&kustomize("deploy/base")), 0);

    // Enabled without the apiserver's address: refused with the reason.
    let out = template_command("clientops-system", &["networkPolicy.egress.enabled=true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("networkPolicy.egress.apiServer.cidrs"),
        "{stderr}"
    );

    let api_server = "10.96.0.1/32";
    let chart = template(
        "clientops-system",
        &[
            "networkPolicy.egress.enabled=true",
            &format!("networkPolicy.egress.apiServer.cidrs={{{api_server}}}"),
        ],
    );
    assert_eq!(kind_count(&chart), 2);
    let egress = get(&chart, "NetworkPolicy", "clientops-egress");
    assert_eq!(
        egress["spec"]["podSelector"]["matchLabels"],
        get(&chart, "Deployment", "clientops")["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(egress["spec"]["policyTypes"], json!(["Egress"]));
    let rules = egress["spec"]["egress"].as_array().unwrap();
    assert_eq!(
        rules[0],
        json!({"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]})
    );
    assert_eq!(rules[1]["ports"], json!([{"protocol": "TCP", "port": 443}]));
    assert_eq!(
        rules[1]["to"][0]["ipBlock"],
        json!({"cidr": "0.0.0.0/0", "except": [
            "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
            "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"
        ]})
    );
    assert_eq!(
        rules[1]["to"][1]["ipBlock"],
        json!({"cidr": "::/0", "except": ["::1/128", "fc00::/7", "fe80::/10"]})
    );
    assert_eq!(
        get(&chart, "NetworkPolicy", "clientops-egress-apiserver")["spec"]["egress"],
        json!([{
            "to": [{"ipBlock": {"cidr": api_server}}],
            "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]
        }])
    );

    // The kustomize component, its placeholder replaced, renders the same specs.
    let base = kustomize_with_components(
        &["deploy/kustomize/components/egress-networkpolicy"],
        &format!(
            "patches:\n  - target: {{kind: NetworkPolicy, name: clientops-egress-apiserver}}\n    \
             patch: |\n      - op: replace\n        path: /spec/egress/0/to\n        \
             value: [{{ipBlock: {{cidr: {api_server}}}}}]\n"
        ),
    );
    for name in ["clientops-egress", "clientops-egress-apiserver"] {
        assert_eq!(
            get(&chart, "NetworkPolicy", name)["spec"],
            get(&base, "NetworkPolicy", name)["spec"],
            "NetworkPolicy {name} differs between the chart and the kustomize component"
        );
        assert_eq!(
            get(&base, "NetworkPolicy", name)["metadata"]["namespace"],
            json!("clientops-system")
        );
    }
    // The component ships a placeholder that is never routed.
    let unpatched =
        kustomize_with_components(&["deploy/kustomize/components/egress-networkpolicy"], "");
    assert_eq!(
        get(&unpatched, "NetworkPolicy", "clientops-egress-apiserver")["spec"]["egress"][0]["to"],
        json!([{"ipBlock": {"cidr": "192.0.2.1/32"}}])
    );

    // Extra rules, a DNS destination, ports, and IPv6 off.
    let custom = template(
        "clientops-system",
        &[
            "networkPolicy.egress.enabled=true",
            "networkPolicy.egress.apiServer.cidrs={10.96.0.1/32}",
            "networkPolicy.egress.providers.ports={443,8443}",
            "networkPolicy.egress.providers.ipv6=false",
            "json:networkPolicy.egress.dns.to=[{\"podSelector\":{\"matchLabels\":{\"k8s-app\":\"kube-dns\"}}}]",
            "json:networkPolicy.egress.extraEgress=[{\"to\":[{\"ipBlock\":{\"cidr\":\"10.20.0.5/32\"}}],\"ports\":[{\"protocol\":\"TCP\",\"port\":4445}]}]",
        ],
    );
    let rules = get(&custom, "NetworkPolicy", "clientops-egress")["spec"]["egress"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(rules.len(), 3);
    assert_eq!(
        rules[0]["to"],
        json!([{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}])
    );
    assert_eq!(
        rules[1]["ports"],
        json!([{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 8443}])
    );
    assert_eq!(rules[1]["to"].as_array().unwrap().len(), 1, "no IPv6 block");
    assert_eq!(
        rules[2],
        json!({"to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}], "ports": [{"protocol": "TCP", "port": 4445}]})
    );
}

/// What workload identity adds to the controller: its flag, its volume and the
/// mount.
fn workload_identity_parts(objs: &[Value]) -> (Vec<String>, Value, Value) {
    let d = get(objs, "Deployment", "clientops");
    let flags = args(objs)
        .into_iter()
        .filter(|a| a.starts_with("--federated-token-file"))
        .collect();
    let mounts = d
        .pointer("/spec/template/spec/containers/0/volumeMounts")
        .cloned()
        .unwrap_or(Value::Null);
    let volumes = d
        .pointer("/spec/template/spec/volumes")
        .cloned()
        .unwrap_or(Value::Null);
    (flags, mounts, volumes)
}

#[test]
fn workload_identity_renders_only_when_enabled_and_matches_the_component() {
    let off = workload_identity_parts(&template("clientops-system", &[]));
    assert_eq!(off, (vec![], Value::Null, Value::Null), "off by default");
    let on = workload_identity_parts(&template(
        "clientops-system",
        &["workloadIdentity.enabled=true"],
    ));
    assert_eq!(
        on.0,
        ["--federated-token-file=/var/run/secrets/clientops.dev/federated/token"]
    );
    assert_eq!(
        on.2.pointer("/0/projected/sources/0/serviceAccountToken/audience"),
        Some(&json!("api://AzureADTokenExchange"))
    );
    let component = workload_identity_parts(&kustomize_with_components(
        &["deploy/kustomize/components/workload-identity"],
        "",
    ));
    assert_eq!(on, component, "the chart and the kustomize component agree");
}
