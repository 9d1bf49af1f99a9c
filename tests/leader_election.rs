//! Leader election: two `clientops run --leader-elect` processes against the real
//! apiserver and the Cloudflare emulator. Only the Lease holder reconciles; when it
//! is SIGKILLed the standby takes over within the lease duration (plus a retry
//! period) and finishes the pending work without duplicating a remote client; a
//! leader whose Lease is taken from it exits at once with status 1.

mod support;

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;
use support::procs::{Emulator, binary};
use support::scenario::{ACCOUNT, is_ready};
use support::{apply, client, kubeconfig, namespace, wait_for};

use clientops::api::OAuthClient;

/// Lease duration and retry period of `clientops run` (see `controller::leader`).
const LEASE_DURATION: Duration = Duration::from_secs(15);
const RETRY_PERIOD: Duration = Duration::from_secs(2);

/// One `clientops run --leader-elect` process with its own log file.
struct Instance {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Instance {
    fn start(ns: &str, name: &str) -> Self {
        let log = std::env::temp_dir().join(format!("clientops-leader-{ns}-{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(binary())
            .args(["run", "--leader-elect", "--resync", "3s"])
            .args(["--namespace", ns, "--operator-namespace", ns])
            .args(["--metrics-addr", "127.0.0.1:0", "--log-format", "json"])
            .arg("--kubeconfig")
            .arg(kubeconfig())
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,clientops=debug")
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .expect("start clientops run");
        Instance {
            name: name.into(),
            child: Some(child),
            log,
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether this instance reconciled an OAuthClient (its log lines inside the
    /// `reconcile` span carry the span's name).
    fn reconciled(&self) -> bool {
        self.logs().contains(r#""name":"reconcile""#)
    }

    /// GET a telemetry endpoint of this instance (address from its log).
    async fn http_get(&self, path: &str) -> (u16, String) {
        let logs = self.logs();
        let line = logs
            .lines()
            .find(|l| l.contains("serving /metrics"))
            .expect("telemetry address in the log");
        let at = line.find("127.0.0.1:").unwrap();
        let port: String = line[at + "127.0.0.1:".len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let r = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A namespace with an emulator and a ClusterOAuthProvider admitting it.
async fn world(prefix: &str) -> (Client, String, Emulator, String) {
    let client = client().await;
    let ns = namespace(&client, prefix).await;
    let emu = Emulator::start(&["--token", "test-token"]);
    let provider = format!("cf-{ns}");
    let objs = [
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cf-api", "namespace": ns},
            "stringData": {"token": "test-token"},
        }),
        json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
            "metadata": {"name": provider},
            "spec": {
                "cloudflare": {
                    "accountId": ACCOUNT,
                    "baseUrl": emu.api_url(),
                    "auth": {"apiTokenSecretRef": {"namespace": ns, "name": "cf-api", "key": "token"}},
                },
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
            },
        }),
    ];
    for o in objs {
        let o: DynamicObject = serde_json::from_value(o).unwrap();
        apply(&client, &o, &ns).await.unwrap();
    }
    (client, ns, emu, provider)
}

async fn apply_client(client: &Client, ns: &str, provider: &str, name: &str) {
    let o: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "providerRef": {"kind": "ClusterOAuthProvider", "name": provider},
            "clientName": format!("App {name}"),
            "redirectUris": [format!("https://{name}.example.com/callback")],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["account.read"],
        },
    }))
    .unwrap();
    apply(client, &o, ns).await.unwrap();
}

async fn holder(client: &Client, ns: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), ns)
        .get_opt("clientops")
        .await
        .ok()??
        .spec?
        .holder_identity
        .filter(|h| !h.is_empty())
}

async fn wait_all_ready(client: &Client, ns: &str, names: &[String], timeout: Duration) -> bool {
    let api: Api<OAuthClient> = Api::namespaced(client.clone(), ns);
    wait_for(timeout, || async {
        for n in names {
            if !is_ready(&api.get_opt(n).await.ok()??) {
                return None;
            }
        }
        Some(())
    })
    .await
    .is_some()
}

#[tokio::test]
async fn only_the_leader_reconciles_and_a_standby_takes_over_after_a_kill() {
    let (client, ns, emu, provider) = world("leader").await;
    let mut a = Instance::start(&ns, "ctl-a");
    let mut b = Instance::start(&ns, "ctl-b");

    let first = wait_for(Duration::from_secs(30), || holder(&client, &ns))
        .await
        .expect("nobody took the Lease");
    let (leader, standby) = if first == "ctl-a" {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };
    assert_eq!(leader.name, first);

    apply_client(&client, &ns, &provider, "one").await;
    assert!(
        wait_all_ready(&client, &ns, &["one".into()], Duration::from_secs(60)).await,
        "not Ready; leader log:\n{}",
        leader.logs()
    );
    assert!(leader.reconciled(), "the leader reconciles");
    assert!(
        !standby.reconciled(),
        "a standby must never reconcile; its log:\n{}",
        standby.logs()
    );
    assert!(standby.logs().contains("standing by"), "{}", standby.logs());
    // Both are ready (a standby that can read the Lease is doing its job); the
    // metrics say which one leads.
    // Readiness follows the watch's initial list, which may finish just after the
    // first reconcile: poll briefly instead of asking once.
    for (proc, role) in [(&leader, "leader"), (&standby, "standby")] {
        let mut last = (0, String::new());
        for _ in 0..50 {
            last = proc.http_get("/readyz").await;
            if last.0 == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            (last.0, last.1.contains(role)),
            (200, true),
            "{role}: {}",
            last.1
        );
    }
    assert!(
        leader
            .http_get("/metrics")
            .await
            .1
            .contains("clientops_leader 1")
    );
    assert!(
        standby
            .http_get("/metrics")
            .await
            .1
            .contains("clientops_leader 0")
    );

    // Pending work, then a node failure: the leader dies without releasing.
    let names: Vec<String> = (1..=4).map(|i| format!("pending-{i}")).collect();
    for n in &names {
        apply_client(&client, &ns, &provider, n).await;
    }
    let killed_at = Instant::now();
    leader.kill();

    let new_holder = wait_for(Duration::from_secs(40), || async {
        holder(&client, &ns).await.filter(|h| *h == standby.name)
    })
    .await;
    let takeover = killed_at.elapsed();
    assert!(
        new_holder.is_some(),
        "the standby never took the Lease; its log:\n{}",
        standby.logs()
    );
    eprintln!("takeover after SIGKILL: {takeover:?}");
    // client-go semantics: the standby counts the lease duration from when it last
    // saw the Lease change (at most one retry period after the last renewal), and
    // polls every retry period.
    assert!(
        takeover <= LEASE_DURATION + 2 * RETRY_PERIOD + Duration::from_secs(1),
        "takeover took {takeover:?}"
    );

    let mut all = names.clone();
    all.push("one".into());
    assert!(
        wait_all_ready(&client, &ns, &all, Duration::from_secs(60)).await,
        "the new leader did not finish the pending work; its log:\n{}",
        standby.logs()
    );
    assert!(standby.reconciled());
    let remote = emu.clients().await;
    assert_eq!(
        remote.len(),
        all.len(),
        "one remote client per OAuthClient, no duplicates: {remote:#?}"
    );
    let api: Api<OAuthClient> = Api::namespaced(client.clone(), &ns);
    let mut ids = vec![];
    for n in &all {
        let o = api.get(n).await.unwrap();
        ids.push(o.status.unwrap().client_id.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "distinct client ids");
    let lease = Api::<Lease>::namespaced(client.clone(), &ns)
        .get("clientops")
        .await
        .unwrap();
    assert!(
        lease.spec.unwrap().lease_transitions.unwrap_or(0) >= 1,
        "a takeover counts as a transition"
    );
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_exits_at_once() {
    let (client, ns, _emu, _provider) = world("leader-loss").await;
    let mut a = Instance::start(&ns, "ctl-solo");
    wait_for(Duration::from_secs(30), || async {
        holder(&client, &ns).await.filter(|h| h == "ctl-solo")
    })
    .await
    .expect("the only instance takes the Lease");

    // Someone else takes the Lease (as a new leader would after a partition).
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(
        k8s_openapi::jiff::Timestamp::now(),
    );
    Api::<Lease>::namespaced(client.clone(), &ns)
        .patch(
            "clientops",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": "intruder", "renewTime": now}})),
        )
        .await
        .unwrap();
    let status = a
        .wait_exit(RETRY_PERIOD * 3)
        .await
        .unwrap_or_else(|| panic!("still running after losing the Lease:\n{}", a.logs()));
    assert_eq!(status.code(), Some(1), "{}", a.logs());
    let logs = a.logs();
    assert!(logs.contains("lost leadership"), "{logs}");
    assert!(
        logs.contains("intruder"),
        "the log names the new holder: {logs}"
    );
}
