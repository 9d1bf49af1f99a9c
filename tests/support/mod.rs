//! Test support: one real control plane per test binary (built from the Kubernetes
//! Go modules by `tests/testenv/up`), the CRDs installed once, a namespace per test.
//!
//! Set `CLIENTOPS_TEST_KUBECONFIG` to reuse a control plane that is already running
//! (the test script `tests/run` does). The ordinary `KUBECONFIG` is deliberately
//! ignored: tests never touch a cluster they did not start.

#![allow(dead_code)]

pub mod hydra;
pub mod keycloak;
pub mod kinds;
pub mod procs;
pub mod scenario;
pub mod tenancy;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};

/// Field manager used by tests for server-side apply.
pub const TEST_MANAGER: &str = "clientops-tests";

static KUBECONFIG: OnceLock<PathBuf> = OnceLock::new();
static NS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The admin kubeconfig of this binary's control plane; starts it on first use and
/// installs the CRDs.
pub fn kubeconfig() -> &'static Path {
    KUBECONFIG.get_or_init(|| {
        let path = match std::env::var_os("CLIENTOPS_TEST_KUBECONFIG") {
            Some(p) => PathBuf::from(p),
            None => start_control_plane(),
        };
        install_crds_blocking(&path);
        path
    })
}

/// Install the CRDs on a runtime of our own: a kube Client is bound to the runtime
/// it was created on, and every #[tokio::test] has its own.
fn install_crds_blocking(path: &Path) {
    let p = path.to_path_buf();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async move {
                let client = client_for(&p).await;
                install_crds(&client).await;
            })
    })
    .join()
    .expect("installing the CRDs failed");
}

/// The run directory of a control plane this binary started with
/// [`own_restartable_control_plane`].
static RESTARTABLE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Give this test binary a control plane of its own that
/// [`restart_control_plane`] can restart with its data (never the shared one:
/// other tests would see it go down). Call before anything else asks for
/// [`kubeconfig`].
#[allow(dead_code)]
pub fn own_restartable_control_plane() -> &'static Path {
    let dir = std::env::temp_dir().join(format!("clientops-restartable-{}", std::process::id()));
    RESTARTABLE_DIR
        .set(dir.clone())
        .expect("one restartable control plane per test binary");
    let path = start_control_plane_with(&[
        ("TESTENV_DIR", dir.to_str().unwrap()),
        ("TESTENV_KEEP", "1"),
    ]);
    install_crds_blocking(&path);
    assert!(
        KUBECONFIG.set(path).is_ok(),
        "own_restartable_control_plane must be called before kubeconfig()"
    );
    kubeconfig()
}

/// Stop the control plane of [`own_restartable_control_plane`] (etcd, apiserver,
/// controller manager), keep it down for `down_for`, start it again with its data,
/// and wait until it is ready. Returns the time it was unreachable.
#[allow(dead_code)]
pub fn restart_control_plane(down_for: Duration) -> Duration {
    let dir = RESTARTABLE_DIR
        .get()
        .expect("call own_restartable_control_plane first");
    let started = std::time::Instant::now();
    let status = Command::new(repo_root().join("tests/testenv/restart"))
        .arg(dir)
        .arg(down_for.as_secs().to_string())
        .env("TESTENV_OWNER_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run tests/testenv/restart");
    assert!(status.success(), "tests/testenv/restart failed: {status}");
    started.elapsed()
}

fn start_control_plane() -> PathBuf {
    start_control_plane_with(&[])
}

fn start_control_plane_with(env: &[(&str, &str)]) -> PathBuf {
    let up = repo_root().join("tests/testenv/up");
    eprintln!("starting a test control plane with {}", up.display());
    let out = Command::new(&up)
        .envs(env.iter().copied())
        // The control plane stops when this test binary exits.
        .env("TESTENV_OWNER_PID", std::process::id().to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", up.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        up.display(),
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout
        .lines()
        .last()
        .expect("tests/testenv/up printed nothing");
    PathBuf::from(last.trim())
}

/// A client for the control plane at `path`.
pub async fn client_for(path: &Path) -> Client {
    let kc = Kubeconfig::read_from(path).expect("read kubeconfig");
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(cfg).expect("client")
}

/// A client for this binary's control plane, bound to the calling test's runtime.
pub async fn client() -> Client {
    let path = kubeconfig().to_path_buf();
    client_for(&path).await
}

/// Apply every CRD from `crds/clientops.yaml` (the checked-in file, which a test
/// keeps equal to `clientops crd`) and wait until each is Established.
async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let pp = PatchParams::apply(TEST_MANAGER).force();
    for crd in clientops::api::crds::all() {
        let name = crd.metadata.name.clone().unwrap();
        api.patch(&name, &pp, &Patch::Apply(&crd))
            .await
            .unwrap_or_else(|e| panic!("apply CRD {name}: {e}"));
    }
    for crd in clientops::api::crds::all() {
        let name = crd.metadata.name.clone().unwrap();
        wait_for(Duration::from_secs(30), || {
            let api = api.clone();
            let name = name.clone();
            async move {
                let c = api.get(&name).await.ok()?;
                let established = c
                    .status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                established.then_some(())
            }
        })
        .await
        .unwrap_or_else(|| panic!("CRD {name} not Established within 30s"));
    }
}

/// Delete ClusterOAuthProvider `name` without waiting (from a `Drop`, so with
/// kubectl rather than async): a leftover provider pointing at a stopped emulator
/// would keep later controllers retrying it.
pub fn delete_cluster_provider(name: &str) {
    let _ = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args([
            "delete",
            "clusteroauthprovider",
            name,
            "--wait=false",
            "--ignore-not-found",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Poll `f` every 100 ms until it yields `Some`, or give up after `timeout`.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Create a fresh namespace for one test, labelled so the example
/// ClusterOAuthProvider admits it.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let n = NS_COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("{prefix}-{}-{n}-{:x}", std::process::id(), nanos & 0xfff);
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"oauth-clients": "allowed", "clientops.dev/test": "true"}}
    }))
    .unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create test namespace");
    name
}

/// Parse a YAML stream into objects (empty documents skipped).
pub fn parse_yaml(text: &str) -> Vec<DynamicObject> {
    use serde::Deserialize;
    serde_yaml_ng::Deserializer::from_str(text)
        .filter_map(|doc| {
            let v = serde_json::Value::deserialize(doc).expect("valid YAML");
            (!v.is_null()).then(|| serde_json::from_value(v).expect("a Kubernetes object"))
        })
        .collect()
}

/// The API resource of an object from its apiVersion and kind, for the kinds the
/// tests use.
pub fn api_resource(obj: &DynamicObject) -> (ApiResource, bool) {
    let tm = obj.types.as_ref().expect("apiVersion and kind");
    let (group, version) = match tm.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), tm.api_version.clone()),
    };
    let gvk = GroupVersionKind::gvk(&group, &version, &tm.kind);
    let (plural, namespaced) = match tm.kind.as_str() {
        "Namespace" => ("namespaces", false),
        "Secret" => ("secrets", true),
        "ConfigMap" => ("configmaps", true),
        "ClusterOAuthProvider" => ("clusteroauthproviders", false),
        "OAuthProvider" => ("oauthproviders", true),
        "OAuthClient" => ("oauthclients", true),
        other => panic!("test support does not know kind {other}"),
    };
    (ApiResource::from_gvk_with_plural(&gvk, plural), namespaced)
}

/// Server-side apply one object; a namespaced object without a namespace goes into
/// `default_ns`.
pub async fn apply(
    client: &Client,
    obj: &DynamicObject,
    default_ns: &str,
) -> Result<DynamicObject, kube::Error> {
    let (ar, namespaced) = api_resource(obj);
    let api: Api<DynamicObject> = if namespaced {
        let ns = obj
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| default_ns.to_string());
        Api::namespaced_with(client.clone(), &ns, &ar)
    } else {
        Api::all_with(client.clone(), &ar)
    };
    let name = obj.metadata.name.clone().expect("metadata.name");
    api.patch(
        &name,
        &PatchParams::apply(TEST_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
}

/// Server-side apply a YAML text (one or more documents).
pub async fn apply_yaml(
    client: &Client,
    yaml: &str,
    default_ns: &str,
) -> Result<Vec<DynamicObject>, kube::Error> {
    let mut out = vec![];
    for obj in parse_yaml(yaml) {
        out.push(apply(client, &obj, default_ns).await?);
    }
    Ok(out)
}

/// The message of an apiserver rejection.
pub fn rejection_message(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.reason),
        other => panic!("expected an apiserver rejection, got {other}"),
    }
}
