//! `clientops-bench`: the benchmark driver behind `bench/run`.
//!
//! Given a running control plane (admin kubeconfig, CRDs installed) and the release
//! `clientops` binary, it measures for each N in `--clients`:
//!
//! - **ideal**: an in-process minimal controller that makes only the unavoidable
//!   calls (one remote create, one Secret create, one status write per client) at
//!   `--workers` concurrency;
//! - **clientops**: `clientops run` as a separate process with the same workers;
//! - **steady state** of clientops over `--steady-periods` resync periods;
//! - a **rotation burst**: every client annotated with `clientops.dev/rotate`;
//!
//! and, unless `--skip-rate-limit`, creation and steady state against an emulator
//! that enforces `--rl-limit`. Both contenders run against the same apiserver and
//! the same emulator, one after the other. Everything goes to one JSON document
//! (`--out`).
//!
//! Latency is from the moment the apply (create) of an OAuthClient returned to the
//! moment the driver's Secret watch first sees that client's Secret with a client
//! id and a secret; "Ready" is the first watch event with `Ready=True` at the
//! current generation. A sample of the Secrets is checked against the emulator's
//! `/__emulator/credentials/check`.
//!
//! `--provider` chooses the emulator (Cloudflare by default, or Entra); what
//! differs per provider is in [`provider`] and its modules.

#![forbid(unsafe_code)]

mod cloudflare;
mod entra;
mod provider;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use clientops::api::{ClusterOAuthProvider, OAuthClient};

use provider::{IdealRemote, Provider};

const OPERATOR_NS: &str = "clientops-bench";
const CLIENT_LABEL: &str = "clientops.dev/client";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "clientops-bench",
    about = "The clientops benchmark driver (see bench/run)"
)]
struct Args {
    /// Admin kubeconfig of a control plane with the clientops CRDs installed.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// The clientops binary (release build).
    #[arg(long)]
    bin: PathBuf,
    /// The provider whose emulator both contenders use.
    #[arg(long, value_enum, default_value_t = Provider::Cloudflare)]
    provider: Provider,
    /// Numbers of OAuthClients, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    clients: Vec<usize>,
    /// `clientops run --workers`, and the ideal's concurrency.
    #[arg(long, default_value_t = 8)]
    workers: u16,
    /// `clientops run --resync` for the steady-state measurement (seconds).
    #[arg(long, default_value_t = 20)]
    resync_secs: u64,
    /// `clientops run --credential-check-interval` (seconds); 0: its default (a day).
    /// A short period measures what the credential checks cost per check.
    #[arg(long, default_value_t = 0)]
    credential_check_secs: u64,
    /// Resync periods observed in steady state.
    #[arg(long, default_value_t = 3)]
    steady_periods: u32,
    /// Clients in the rate-limited scenario.
    #[arg(long, default_value_t = 100)]
    rl_clients: usize,
    /// The rate-limited emulator's limit (requests, period seconds).
    #[arg(long, default_value_t = 60)]
    rl_requests: u32,
    #[arg(long, default_value_t = 30)]
    rl_period_secs: u64,
    #[arg(long)]
    skip_rate_limit: bool,
    #[arg(long)]
    skip_ideal: bool,
    #[arg(long)]
    skip_rotation: bool,
    /// Concurrent create calls used to apply the N objects.
    #[arg(long, default_value_t = 32)]
    apply_concurrency: usize,
    /// Credential checks against the emulator per phase (a random sample).
    #[arg(long, default_value_t = 200)]
    check_sample: usize,
    /// Where the controller logs go.
    #[arg(long, default_value = "/tmp")]
    log_dir: PathBuf,
    /// The JSON result file.
    #[arg(long)]
    out: PathBuf,
    /// Free text recorded in the result (e.g. "baseline").
    #[arg(long, default_value = "")]
    label: String,
    /// Give every OAuthClient an annotation of this many KiB that clientops never
    /// reads (a tenant making its objects fat), and measure a restarted
    /// controller too: the peak RSS of its first list and reconcile of them all.
    #[arg(long, default_value_t = 0)]
    fat_annotation_kib: usize,
}

/// The provider `rateLimit` of the unlimited phases (the client-side limiter
/// never waits).
const UNLIMITED: (u32, u64) = (1_000_000, 1);

/// The most provider calls a create makes (Entra: upsert, service principal,
/// password; Cloudflare: one): sizes the time-outs of rate-limited phases.
const MAX_CALLS_PER_CREATE: u64 = 3;

/// The annotation `--fat-annotation-kib` fills.
const FAT_ANNOTATION: &str = "bench.clientops.dev/unread-padding";

// ---------------------------------------------------------------- processes

struct Emulator {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Emulator {
    fn start(bin: &Path, provider: Provider, rate_limit: &str) -> anyhow::Result<Self> {
        let mut child = Command::new(bin)
            .arg("emulate")
            .args(provider.emulator_args(rate_limit))
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("start the emulator")?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let base = loop {
            let line = lines
                .next()
                .ok_or_else(|| anyhow!("emulator exited before listening"))??;
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(Self {
            child,
            base,
            http: reqwest::Client::new(),
        })
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/__emulator/{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn reset_counters(&self) {
        self.admin(reqwest::Method::DELETE, "requests", None).await;
    }

    /// `operation -> status -> count`.
    async fn counters(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let v = self.admin(reqwest::Method::GET, "requests", None).await;
        let mut out = BTreeMap::new();
        if let Some(ops) = v["operations"].as_object() {
            for (op, c) in ops {
                let mut by = BTreeMap::new();
                if let Some(s) = c["by_status"].as_object() {
                    for (k, n) in s {
                        by.insert(k.clone(), n.as_u64().unwrap_or(0));
                    }
                }
                out.insert(op.clone(), by);
            }
        }
        out
    }

    async fn check(&self, client_id: &str, secret: &str) -> bool {
        let v = self
            .admin(
                reqwest::Method::POST,
                "credentials/check",
                Some(json!({"client_id": client_id, "client_secret": secret})),
            )
            .await;
        v["valid"].as_bool().unwrap_or(false)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Controller {
    child: Child,
    metrics: String,
}

impl Controller {
    fn start(args: &Args, ns: &str, log: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::File::create(log)?;
        let child = Command::new(&args.bin)
            .args([
                "run",
                "--namespace",
                ns,
                "--operator-namespace",
                OPERATOR_NS,
            ])
            .args(["--resync", &format!("{}s", args.resync_secs)])
            .args(["--workers", &args.workers.to_string()])
            .args(
                (args.credential_check_secs > 0)
                    .then(|| {
                        [
                            "--credential-check-interval".to_string(),
                            format!("{}s", args.credential_check_secs),
                        ]
                    })
                    .into_iter()
                    .flatten(),
            )
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .arg("--kubeconfig")
            .arg(&args.kubeconfig)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("start the controller")?;
        Ok(Self {
            child,
            metrics: format!("http://127.0.0.1:{port}"),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/readyz", self.metrics)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the controller did not become ready")
    }

    /// `clientops_reconciles_total` by result.
    async fn reconciles(&self) -> BTreeMap<String, f64> {
        let text = match reqwest::get(format!("{}/metrics", self.metrics)).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let mut out = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("clientops_reconciles_total{result=\"")
                && let Some((result, value)) = rest.split_once("\"} ")
            {
                out.insert(result.to_string(), value.trim().parse().unwrap_or(0.0));
            }
        }
        out
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Peak RSS (MiB), current RSS (MiB) and CPU seconds (user + system) of `pid`.
fn proc_stats(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, s)| s).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat, counted from `state` (field 3) as index 0.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let hz = clock_ticks();
    (
        kib("VmHWM:") / 1024.0,
        kib("VmRSS:") / 1024.0,
        (ticks(11) + ticks(12)) / hz,
    )
}

fn clock_ticks() -> f64 {
    static HZ: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *HZ.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------- apiserver

/// `apiserver_request_total` summed by `VERB resource[/subresource]`.
async fn apiserver_counts(client: &Client) -> BTreeMap<String, f64> {
    let req = http::Request::get("/metrics")
        .body(vec![])
        .expect("request");
    let text = client.request_text(req).await.unwrap_or_default();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let mut map = HashMap::new();
        for kv in labels.split("\",") {
            if let Some((k, v)) = kv.split_once("=\"") {
                map.insert(k.trim_matches(','), v.trim_end_matches('"'));
            }
        }
        let resource = map.get("resource").copied().unwrap_or("");
        if resource.is_empty() {
            continue;
        }
        let sub = map.get("subresource").copied().unwrap_or("");
        let key = format!(
            "{} {}{}",
            map.get("verb").copied().unwrap_or("?"),
            resource,
            if sub.is_empty() {
                String::new()
            } else {
                format!("/{sub}")
            }
        );
        *out.entry(key).or_insert(0.0) += value.trim().parse::<f64>().unwrap_or(0.0);
    }
    out
}

fn delta(after: &BTreeMap<String, f64>, before: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, v)| *v > 0.0)
        .collect()
}

fn counters_delta(
    after: &BTreeMap<String, BTreeMap<String, u64>>,
    before: &BTreeMap<String, BTreeMap<String, u64>>,
) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for (op, by) in after {
        let mut d = BTreeMap::new();
        for (status, n) in by {
            let prev = before
                .get(op)
                .and_then(|b| b.get(status))
                .copied()
                .unwrap_or(0);
            if *n > prev {
                d.insert(status.clone(), n - prev);
            }
        }
        if !d.is_empty() {
            out.insert(op.clone(), d);
        }
    }
    out
}

fn count_status(c: &BTreeMap<String, BTreeMap<String, u64>>, status: &str) -> u64 {
    c.values().filter_map(|by| by.get(status)).sum()
}

fn per_op_totals(c: &BTreeMap<String, BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    c.iter()
        .map(|(op, by)| (op.clone(), by.values().sum()))
        .collect()
}

// ---------------------------------------------------------------- objects

fn oauthclient_ar() -> ApiResource {
    ApiResource::erase::<OAuthClient>(&())
}

async fn apply_json(
    client: &Client,
    ar: &ApiResource,
    ns: Option<&str>,
    v: Value,
) -> anyhow::Result<()> {
    let obj: DynamicObject = serde_json::from_value(v)?;
    let api: Api<DynamicObject> = match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, ar),
        None => Api::all_with(client.clone(), ar),
    };
    api.patch(
        &obj.name_any(),
        &PatchParams::apply("clientops-bench").force(),
        &Patch::Apply(&obj),
    )
    .await?;
    Ok(())
}

/// A phase's namespace, and the ClusterOAuthProvider that admits it with its
/// `rateLimit`.
struct World {
    ns: String,
    provider: String,
    rate: (u32, u64),
}

/// A namespace and a ClusterOAuthProvider that admits it.
async fn setup_world(
    client: &Client,
    args: &Args,
    ns: &str,
    emu: &Emulator,
    rate: (u32, u64),
) -> anyhow::Result<World> {
    let ns_ar = ApiResource::erase::<Namespace>(&());
    apply_json(
        client,
        &ns_ar,
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"oauth-clients": "bench"}}}),
    )
    .await?;
    let provider = format!("bench-{ns}");
    let mut spec = json!({
        "rateLimit": {"requests": rate.0, "period": format!("{}s", rate.1)},
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
    });
    spec[args.provider.name()] = args.provider.provider_block(&emu.base, OPERATOR_NS);
    apply_json(
        client,
        &ApiResource::erase::<ClusterOAuthProvider>(&()),
        None,
        json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
            "metadata": {"name": provider},
            "spec": spec,
        }),
    )
    .await?;
    Ok(World {
        ns: ns.to_string(),
        provider,
        rate,
    })
}

fn client_manifest(kind: Provider, ns: &str, provider: &str, i: usize, fat_kib: usize) -> Value {
    let mut v = json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": format!("c-{i:05}"), "namespace": ns},
        "spec": {
            "providerRef": {"kind": "ClusterOAuthProvider", "name": provider},
            "clientName": format!("bench {i}"),
            "redirectUris": [format!("https://app{i}.example.com/callback")],
            "grantTypes": ["authorization_code", "refresh_token"],
            "responseTypes": ["code"],
            "tokenEndpointAuthMethod": "client_secret_basic",
        },
    });
    if let Value::Object(fields) = kind.client_fields() {
        v["spec"].as_object_mut().expect("spec").extend(fields);
    }
    if fat_kib > 0 {
        v["metadata"]["annotations"] = json!({ FAT_ANNOTATION: "x".repeat(fat_kib * 1024) });
    }
    v
}

// ---------------------------------------------------------------- observation

#[derive(Default)]
struct Seen {
    /// Apply returned.
    applied: HashMap<String, Instant>,
    /// First Secret with a client id and a secret.
    secret_at: HashMap<String, Instant>,
    /// Latest credentials per Secret.
    creds: HashMap<String, (String, String)>,
    /// Ready=True at the current generation, first time.
    ready_at: HashMap<String, Instant>,
    /// Objects seen Stalled=True at least once.
    stalled: HashSet<String>,
    /// For the rotation burst: the secrets before, and when each changed.
    baseline: HashMap<String, String>,
    rotated_at: HashMap<String, Instant>,
    rotation_requested: HashMap<String, Instant>,
    /// Rotation: Ready again with the rotation recorded.
    rotation_value: Option<String>,
    rotation_done: HashMap<String, Instant>,
}

type Shared = Arc<Mutex<Seen>>;

fn secret_str(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .filter(|v| !v.is_empty())
}

/// Watch the Secrets and OAuthClients of `ns` into `seen`.
fn observe(client: &Client, ns: &str, seen: Shared) -> Vec<tokio::task::JoinHandle<()>> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let s1 = seen.clone();
    let h1 = tokio::spawn(async move {
        let stream = watcher(secrets, watcher::Config::default().labels(CLIENT_LABEL))
            .default_backoff()
            .applied_objects();
        futures::pin_mut!(stream);
        while let Some(Ok(s)) = stream.next().await {
            let now = Instant::now();
            let (Some(id), Some(secret)) =
                (secret_str(&s, "client_id"), secret_str(&s, "client_secret"))
            else {
                continue;
            };
            let name = s.name_any();
            let mut g = s1.lock().unwrap();
            g.secret_at.entry(name.clone()).or_insert(now);
            if let Some(old) = g.baseline.get(&name)
                && *old != secret
            {
                g.rotated_at.entry(name.clone()).or_insert(now);
            }
            g.creds.insert(name, (id, secret));
        }
    });
    let clients: Api<OAuthClient> = Api::namespaced(client.clone(), ns);
    let h2 = tokio::spawn(async move {
        let stream = watcher(clients, watcher::Config::default())
            .default_backoff()
            .applied_objects();
        futures::pin_mut!(stream);
        while let Some(Ok(c)) = stream.next().await {
            let now = Instant::now();
            let name = c.name_any();
            let generation = c.metadata.generation;
            let status = c.status.clone().unwrap_or_default();
            let cond = |t: &str| {
                status
                    .conditions
                    .iter()
                    .find(|x| x.type_ == t)
                    .map(|x| x.status == "True")
                    .unwrap_or(false)
            };
            let ready = cond("Ready") && status.observed_generation == generation;
            let mut g = seen.lock().unwrap();
            if cond("Stalled") {
                g.stalled.insert(name.clone());
            }
            if ready {
                g.ready_at.entry(name.clone()).or_insert(now);
                let rotated = g.rotation_value.is_some()
                    && status
                        .rotation
                        .as_ref()
                        .and_then(|r| r.last_request.clone())
                        == g.rotation_value
                    && status.pending_rotation.is_none();
                if rotated {
                    g.rotation_done.entry(name).or_insert(now);
                }
            }
        }
    });
    vec![h1, h2]
}

fn percentiles(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return json!(null);
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| {
        let idx = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        (v[idx] * 10.0).round() / 10.0
    };
    json!({
        "p50": p(0.50), "p95": p(0.95), "p99": p(0.99), "max": p(1.0),
        "mean": (v.iter().sum::<f64>() / v.len() as f64 * 10.0).round() / 10.0,
    })
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("bench: timed out waiting for {what}");
    false
}

/// Apply N OAuthClients with `apply_concurrency` concurrent creates.
async fn apply_all(
    client: &Client,
    args: &Args,
    ns: &str,
    provider: &str,
    n: usize,
    seen: &Shared,
) -> anyhow::Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &oauthclient_ar());
    futures::stream::iter(0..n)
        .map(|i| {
            let api = api.clone();
            let seen = seen.clone();
            let obj: DynamicObject = serde_json::from_value(client_manifest(
                args.provider,
                ns,
                provider,
                i,
                args.fat_annotation_kib,
            ))
            .expect("manifest");
            async move {
                let mut tries = 0;
                loop {
                    match api.create(&PostParams::default(), &obj).await {
                        Ok(_) => break,
                        Err(e) if tries < 5 => {
                            tries += 1;
                            eprintln!("bench: create {}: {e}; retrying", obj.name_any());
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => return Err(anyhow!(e)),
                    }
                }
                seen.lock()
                    .unwrap()
                    .applied
                    .insert(obj.name_any(), Instant::now());
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(args.apply_concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Check up to `sample` Secrets' credentials with the emulator.
async fn verify(emu: &Emulator, seen: &Shared, sample: usize) -> Value {
    let creds: Vec<(String, String)> = {
        let g = seen.lock().unwrap();
        let mut all: Vec<_> = g.creds.values().cloned().collect();
        use rand::seq::SliceRandom;
        all.shuffle(&mut rand::rng());
        all.truncate(sample);
        all
    };
    let mut valid = 0;
    for (id, secret) in &creds {
        if emu.check(id, secret).await {
            valid += 1;
        }
    }
    json!({"checked": creds.len(), "valid": valid})
}

/// The creation measurement common to both contenders, after the world is set up
/// and the contender is listening.
struct CreationResult {
    json: Value,
    seen: Shared,
    watchers: Vec<tokio::task::JoinHandle<()>>,
}

async fn measure_creation(
    client: &Client,
    args: &Args,
    emu: &Emulator,
    world: &World,
    n: usize,
    controller: Option<&Controller>,
) -> anyhow::Result<CreationResult> {
    let (ns, provider, rate) = (world.ns.as_str(), world.provider.as_str(), world.rate);
    let seen: Shared = Arc::default();
    let watchers = observe(client, ns, seen.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    emu.reset_counters().await;
    let api_before = apiserver_counts(client).await;
    let cpu_before = controller.map(|c| proc_stats(c.pid()).2);
    let emu_cpu_before = proc_stats(emu.pid()).2;
    let load_before = loadavg();
    let t0 = Instant::now();
    apply_all(client, args, ns, provider, n, &seen).await?;
    let applied_s = t0.elapsed().as_secs_f64();
    // Under a provider rate limit, the least time it allows for up to
    // `MAX_CALLS_PER_CREATE` calls per client comes on top.
    let limited = (n as u64 * MAX_CALLS_PER_CREATE)
        .checked_div(rate.0 as u64)
        .unwrap_or(0)
        * rate.1;
    let timeout = Duration::from_secs(120 + n as u64 / 2 + limited);
    let complete = wait_until("every client Ready with its Secret", timeout, || {
        let g = seen.lock().unwrap();
        g.ready_at.len() >= n && g.secret_at.len() >= n
    })
    .await;
    let total_s = t0.elapsed().as_secs_f64();
    let load_after = loadavg();
    let emu_cpu = proc_stats(emu.pid()).2 - emu_cpu_before;
    let api_after = apiserver_counts(client).await;
    let provider_reqs = emu.counters().await;
    let api_delta = delta(&api_after, &api_before);
    let proc = controller.map(|c| {
        let (hwm, rss, cpu) = proc_stats(c.pid());
        json!({"peak_rss_mib": (hwm * 10.0).round() / 10.0, "rss_mib": (rss * 10.0).round() / 10.0,
               "cpu_s": ((cpu - cpu_before.unwrap_or(0.0)) * 100.0).round() / 100.0})
    });
    let verified = verify(emu, &seen, args.check_sample).await;
    let g = seen.lock().unwrap();
    let latency: Vec<f64> = g
        .secret_at
        .iter()
        .filter_map(|(k, t)| Some(t.duration_since(*g.applied.get(k)?).as_secs_f64() * 1000.0))
        .collect();
    let ready_latency: Vec<f64> = g
        .ready_at
        .iter()
        .filter_map(|(k, t)| Some(t.duration_since(*g.applied.get(k)?).as_secs_f64() * 1000.0))
        .collect();
    let mut ready_times: Vec<f64> = g
        .ready_at
        .values()
        .map(|t| (t.duration_since(t0).as_secs_f64() * 1000.0).round() / 1000.0)
        .collect();
    ready_times.sort_by(|a, b| a.total_cmp(b));
    let last_ready = ready_times.last().copied().unwrap_or(total_s);
    let api_total: f64 = api_delta.values().sum();
    // The driver's own requests: one create per object.
    let own = n as f64;
    let per_op = per_op_totals(&provider_reqs);
    let json = json!({
        "n": n,
        "complete": complete,
        "ready": g.ready_at.len(),
        "secrets": g.secret_at.len(),
        "stalled": g.stalled.len(),
        "apply_s": (applied_s * 1000.0).round() / 1000.0,
        "all_ready_s": last_ready,
        "clients_per_s": ((n as f64 / last_ready) * 10.0).round() / 10.0,
        "latency_ms": percentiles(latency.clone()),
        "ready_latency_ms": percentiles(ready_latency),
        "verified": verified,
        "provider_requests": provider_reqs,
        "provider_requests_per_client": per_op.iter().map(|(k, v)| (k.clone(), json!(((*v as f64 / n as f64) * 1000.0).round() / 1000.0))).collect::<serde_json::Map<_, _>>(),
        "provider_429": count_status(&provider_reqs, "429"),
        "apiserver_requests": api_delta,
        "apiserver_requests_per_client": (((api_total - own) / n as f64) * 100.0).round() / 100.0,
        "controller": proc,
        "emulator_cpu_s": (emu_cpu * 100.0).round() / 100.0,
        "load_before": load_before,
        "load_after": load_after,
        "latencies_ms": latency.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
        "ready_times_s": ready_times,
    });
    drop(g);
    Ok(CreationResult {
        json,
        seen,
        watchers,
    })
}

// ---------------------------------------------------------------- the ideal

/// The ideal controller: for every new OAuthClient in `ns`, the provider's least
/// remote calls ([`IdealRemote`]: one create for Cloudflare), one Secret create,
/// one status write; `workers` at a time. With `safe`, it also makes
/// the two writes crash safety needs before a create (a finalizer, so a deletion
/// cannot lose the remote client; a recorded intent, so a lost response cannot
/// lead to a second client): the least any controller that keeps those promises
/// can do.
fn spawn_ideal(
    client: &Client,
    ns: &str,
    remote: IdealRemote,
    workers: usize,
    safe: bool,
) -> tokio::task::JoinHandle<()> {
    let remote = Arc::new(remote);
    let clients: Api<OAuthClient> = Api::namespaced(client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        let mut queued = HashSet::new();
        let stream = watcher(clients.clone(), watcher::Config::default())
            .default_backoff()
            .applied_objects()
            .filter_map(|r| async move { r.ok() })
            .filter(move |c| futures::future::ready(queued.insert(c.name_any())));
        stream
            .for_each_concurrent(workers, |c| {
                let (http, clients, secrets, remote) = (
                    http.clone(),
                    clients.clone(),
                    secrets.clone(),
                    remote.clone(),
                );
                async move {
                    if let Err(e) = ideal_one(&http, &clients, &secrets, &remote, &c, safe).await {
                        eprintln!("bench: ideal {}: {e}", c.name_any());
                    }
                }
            })
            .await;
    })
}

async fn ideal_one(
    http: &reqwest::Client,
    clients: &Api<OAuthClient>,
    secrets: &Api<Secret>,
    remote: &IdealRemote,
    c: &OAuthClient,
    safe: bool,
) -> anyhow::Result<()> {
    let name = c.name_any();
    if safe {
        let pp = PatchParams::default();
        clients
            .patch(
                &name,
                &pp,
                &Patch::Merge(json!({"metadata": {"finalizers": ["bench.clientops.dev/ideal"]}})),
            )
            .await?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        clients
            .patch_status(
                &name,
                &pp,
                &Patch::Merge(json!({"status": {"pendingCreate": {"startedAt": now}}})),
            )
            .await?;
    }
    let (id, secret) = remote.create(http, c).await?;
    let obj: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {
            "name": name,
            "labels": {CLIENT_LABEL: name},
            "ownerReferences": [{"apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
                "name": name, "uid": c.uid().unwrap_or_default(), "controller": true}],
        },
        "stringData": {"client_id": id, "client_secret": secret},
    }))?;
    secrets.create(&PostParams::default(), &obj).await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    clients
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "observedGeneration": c.metadata.generation,
                "clientId": id,
                "pendingCreate": null,
                "conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                    "message": "", "lastTransitionTime": now, "observedGeneration": c.metadata.generation}],
            }})),
        )
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- phases

async fn steady_state(client: &Client, args: &Args, emu: &Emulator, ctl: &Controller) -> Value {
    emu.reset_counters().await;
    let period = Duration::from_secs(args.resync_secs);
    let mut periods = vec![];
    let mut prev = BTreeMap::new();
    let mut api_prev = apiserver_counts(client).await;
    let mut cpu_prev = proc_stats(ctl.pid()).2;
    for _ in 0..args.steady_periods {
        tokio::time::sleep(period).await;
        let now = emu.counters().await;
        let d = counters_delta(&now, &prev);
        let api_now = apiserver_counts(client).await;
        let api_d = delta(&api_now, &api_prev);
        let cpu_now = proc_stats(ctl.pid()).2;
        periods.push(json!({
            "provider_requests": per_op_totals(&d),
            "provider_429": count_status(&d, "429"),
            "apiserver_requests": api_d.values().sum::<f64>(),
            "apiserver_by_kind": api_d,
            "controller_cpu_s": ((cpu_now - cpu_prev) * 100.0).round() / 100.0,
        }));
        prev = now;
        api_prev = api_now;
        cpu_prev = cpu_now;
    }
    let total = emu.counters().await;
    let lists = total
        .get("list")
        .map(|b| b.values().sum::<u64>())
        .unwrap_or(0);
    json!({
        "resync_s": args.resync_secs,
        "periods": periods,
        "list_per_period": lists as f64 / args.steady_periods as f64,
        "provider_requests_per_period": per_op_totals(&total).values().sum::<u64>() as f64 / args.steady_periods as f64,
        "provider_429": count_status(&total, "429"),
    })
}

async fn rotation_burst(
    client: &Client,
    args: &Args,
    emu: &Emulator,
    ctl: &Controller,
    ns: &str,
    n: usize,
    seen: &Shared,
) -> anyhow::Result<Value> {
    let value = format!("bench-{}", chrono::Utc::now().timestamp_millis());
    {
        let mut g = seen.lock().unwrap();
        g.baseline = g
            .creds
            .iter()
            .map(|(k, (_, s))| (k.clone(), s.clone()))
            .collect();
        g.rotated_at.clear();
        g.rotation_value = Some(value.clone());
    }
    emu.reset_counters().await;
    let api_before = apiserver_counts(client).await;
    let cpu_before = proc_stats(ctl.pid()).2;
    let api: Api<OAuthClient> = Api::namespaced(client.clone(), ns);
    let names: Vec<String> = seen.lock().unwrap().applied.keys().cloned().collect();
    let t0 = Instant::now();
    futures::stream::iter(names)
        .map(|name| {
            let (api, seen, value) = (api.clone(), seen.clone(), value.clone());
            async move {
                api.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(
                        json!({"metadata": {"annotations": {"clientops.dev/rotate": value}}}),
                    ),
                )
                .await?;
                seen.lock()
                    .unwrap()
                    .rotation_requested
                    .insert(name, Instant::now());
                Ok::<(), anyhow::Error>(())
            }
        })
        .buffer_unordered(args.apply_concurrency)
        .try_collect::<Vec<()>>()
        .await?;
    let timeout = Duration::from_secs(120 + n as u64 / 2);
    let complete = wait_until("every Secret rotated", timeout, || {
        let g = seen.lock().unwrap();
        g.rotated_at.len() >= n && g.rotation_done.len() >= n
    })
    .await;
    let total_s = t0.elapsed().as_secs_f64();
    let provider_reqs = emu.counters().await;
    let api_delta = delta(&apiserver_counts(client).await, &api_before);
    let cpu = proc_stats(ctl.pid()).2 - cpu_before;
    let verified = verify(emu, seen, args.check_sample).await;
    let g = seen.lock().unwrap();
    let latency: Vec<f64> = g
        .rotated_at
        .iter()
        .filter_map(|(k, t)| {
            Some(
                t.duration_since(*g.rotation_requested.get(k)?)
                    .as_secs_f64()
                    * 1000.0,
            )
        })
        .collect();
    let last = g
        .rotated_at
        .values()
        .chain(g.rotation_done.values())
        .map(|t| t.duration_since(t0).as_secs_f64())
        .fold(0.0, f64::max);
    Ok(json!({
        "complete": complete,
        "rotated": g.rotated_at.len(),
        "all_rotated_s": (if complete { last } else { total_s } * 1000.0).round() / 1000.0,
        "latency_ms": percentiles(latency),
        "provider_requests": provider_reqs,
        "provider_429": count_status(&provider_reqs, "429"),
        "apiserver_requests_per_client": ((api_delta.values().sum::<f64>() - n as f64) / n as f64 * 100.0).round() / 100.0,
        "apiserver_requests": api_delta,
        "controller_cpu_s": (cpu * 100.0).round() / 100.0,
        "verified": verified,
    }))
}

async fn run_clientops(
    client: &Client,
    args: &Args,
    emu: &Emulator,
    n: usize,
    tag: &str,
    rate: (u32, u64),
    rotation: bool,
) -> anyhow::Result<Value> {
    let ns = format!("bench-{tag}-{n}-{}", suffix());
    let world = setup_world(client, args, &ns, emu, rate).await?;
    let log = args.log_dir.join(format!("clientops-bench-{ns}.log"));
    let ctl = Controller::start(args, &ns, &log)?;
    ctl.wait_ready().await?;
    eprintln!(
        "bench: clientops, N={n} ({tag}), namespace {ns}, log {}",
        log.display()
    );
    let created = measure_creation(client, args, emu, &world, n, Some(&ctl)).await?;
    let mut out = created.json;
    eprintln!(
        "bench:   all Ready in {}s, latency {}",
        out["all_ready_s"], out["latency_ms"]
    );
    eprintln!(
        "bench:   steady state over {} periods of {}s",
        args.steady_periods, args.resync_secs
    );
    out["steady"] = steady_state(client, args, emu, &ctl).await;
    eprintln!("bench:   steady: {}", out["steady"]["periods"]);
    if rotation {
        eprintln!("bench:   rotation burst");
        out["rotation"] = rotation_burst(client, args, emu, &ctl, &ns, n, &created.seen).await?;
        eprintln!(
            "bench:   all rotated in {}s, latency {}",
            out["rotation"]["all_rotated_s"], out["rotation"]["latency_ms"]
        );
    }
    let (hwm, _, cpu) = proc_stats(ctl.pid());
    out["controller_total"] = json!({"peak_rss_mib": (hwm * 10.0).round() / 10.0, "cpu_s": (cpu * 100.0).round() / 100.0});
    out["reconciles"] = json!(ctl.reconciles().await);
    out["namespace"] = json!(ns);
    for w in created.watchers {
        w.abort();
    }
    drop(ctl);
    if args.fat_annotation_kib > 0 {
        out["restart"] = restart(args, &ns, n).await?;
        eprintln!("bench:   restarted: {}", out["restart"]);
    }
    remove_provider(client, &world.provider).await;
    Ok(out)
}

/// A new controller on the N objects already there (a restart, a crash loop): the
/// peak RSS of its first list of them and of reconciling them all once.
async fn restart(args: &Args, ns: &str, n: usize) -> anyhow::Result<Value> {
    let log = args
        .log_dir
        .join(format!("clientops-bench-{ns}-restart.log"));
    let ctl = Controller::start(args, ns, &log)?;
    let t0 = Instant::now();
    ctl.wait_ready().await?;
    let synced_s = t0.elapsed().as_secs_f64();
    let (synced_hwm, _, _) = proc_stats(ctl.pid());
    // Every object is reconciled once after the first list; wait for that.
    let reconciled = async {
        loop {
            let r = ctl.reconciles().await;
            if r.values().sum::<f64>() >= n as f64 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let complete = tokio::time::timeout(Duration::from_secs(120 + n as u64 / 2), reconciled)
        .await
        .is_ok();
    let all_s = t0.elapsed().as_secs_f64();
    let (hwm, rss, cpu) = proc_stats(ctl.pid());
    Ok(json!({
        "complete": complete,
        "synced_s": (synced_s * 1000.0).round() / 1000.0,
        "peak_rss_mib_at_sync": (synced_hwm * 10.0).round() / 10.0,
        "reconciled_s": (all_s * 1000.0).round() / 1000.0,
        "peak_rss_mib": (hwm * 10.0).round() / 10.0,
        "rss_mib": (rss * 10.0).round() / 10.0,
        "cpu_s": (cpu * 100.0).round() / 100.0,
    }))
}

async fn run_ideal(
    client: &Client,
    args: &Args,
    emu: &Emulator,
    n: usize,
    safe: bool,
) -> anyhow::Result<Value> {
    let who = if safe { "ideal-safe" } else { "ideal" };
    let ns = format!("bench-{who}-{n}-{}", suffix());
    let world = setup_world(client, args, &ns, emu, UNLIMITED).await?;
    eprintln!("bench: {who}, N={n}, namespace {ns}");
    let remote = args.provider.ideal(&emu.base);
    let worker = spawn_ideal(client, &ns, remote, args.workers as usize, safe);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let created = measure_creation(client, args, emu, &world, n, None).await?;
    worker.abort();
    for w in created.watchers {
        w.abort();
    }
    remove_provider(client, &world.provider).await;
    eprintln!(
        "bench:   all Ready in {}s, latency {}",
        created.json["all_ready_s"], created.json["latency_ms"]
    );
    Ok(created.json)
}

/// The apiserver's first OAuthClient writes are slow (CEL and schema set-up): make
/// one before anything is timed.
async fn warm_up(client: &Client, kind: Provider) -> anyhow::Result<()> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), OPERATOR_NS, &oauthclient_ar());
    let mut obj: DynamicObject =
        serde_json::from_value(client_manifest(kind, OPERATOR_NS, "warm-up", 0, 0))?;
    obj.metadata.name = Some(format!("warm-up-{}", suffix()));
    api.create(&PostParams::default(), &obj).await?;
    api.patch_status(
        &obj.name_any(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"observedGeneration": 1}})),
    )
    .await?;
    api.delete(&obj.name_any(), &Default::default()).await?;
    Ok(())
}

/// Delete a phase's provider: later controllers would otherwise keep checking it
/// against an emulator that is gone.
async fn remove_provider(client: &Client, name: &str) {
    let api: Api<ClusterOAuthProvider> = Api::all(client.clone());
    let _ = api.delete(name, &Default::default()).await;
}

fn suffix() -> String {
    format!("{:04x}", rand::random::<u16>())
}

fn git(args: &[&str]) -> String {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    clientops::tls::install_crypto_provider();
    let args = Args::parse();
    let kc = kube::config::Kubeconfig::read_from(&args.kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    let client = Client::try_from(cfg)?;

    apply_json(
        &client,
        &ApiResource::erase::<Namespace>(&()),
        None,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NS}}),
    )
    .await?;
    apply_json(
        &client,
        &ApiResource::erase::<Secret>(&()),
        Some(OPERATOR_NS),
        args.provider.credentials_secret(OPERATOR_NS),
    )
    .await?;

    warm_up(&client, args.provider).await?;

    let started = chrono::Utc::now();
    let mut runs = vec![];
    for &n in &args.clients {
        let emu = Emulator::start(&args.bin, args.provider, "off")?;
        let ideal = if args.skip_ideal {
            Value::Null
        } else {
            run_ideal(&client, &args, &emu, n, false).await?
        };
        emu.admin(reqwest::Method::POST, "reset", None).await;
        let ideal_safe = if args.skip_ideal {
            Value::Null
        } else {
            run_ideal(&client, &args, &emu, n, true).await?
        };
        emu.admin(reqwest::Method::POST, "reset", None).await;
        let cops = run_clientops(
            &client,
            &args,
            &emu,
            n,
            "cops",
            UNLIMITED,
            !args.skip_rotation,
        )
        .await?;
        let ratios = |base: &Value| {
            let ratio = |k: &str, sub: Option<&str>| {
                let get = |v: &Value| match sub {
                    Some(s) => v[k][s].as_f64(),
                    None => v[k].as_f64(),
                };
                match (get(&cops), get(base)) {
                    (Some(a), Some(b)) if b > 0.0 => json!((a / b * 100.0).round() / 100.0),
                    _ => Value::Null,
                }
            };
            json!({
                "time": ratio("all_ready_s", None),
                "p50": ratio("latency_ms", Some("p50")),
                "p95": ratio("latency_ms", Some("p95")),
                "p99": ratio("latency_ms", Some("p99")),
            })
        };
        let (over_ideal, over_safe) = (ratios(&ideal), ratios(&ideal_safe));
        eprintln!("bench: N={n}: clientops/ideal {over_ideal}; clientops/ideal-safe {over_safe}");
        runs.push(json!({
            "n": n, "ideal": ideal, "ideal_safe": ideal_safe, "clientops": cops,
            "clientops_over_ideal": over_ideal, "clientops_over_ideal_safe": over_safe,
        }));
        drop(emu);
    }

    let rate_limited = if args.skip_rate_limit {
        Value::Null
    } else {
        let limit = format!("{}/{}s", args.rl_requests, args.rl_period_secs);
        let emu = Emulator::start(&args.bin, args.provider, &limit)?;
        let n = args.rl_clients;
        eprintln!("bench: rate-limited emulator ({limit}), N={n}");
        let mut r = run_clientops(
            &client,
            &args,
            &emu,
            n,
            "rl",
            (args.rl_requests, args.rl_period_secs),
            false,
        )
        .await?;
        // The least time the limit allows: the first `requests` at once, then one
        // batch of `requests` per period (the controller's sliding window).
        let reqs = r["provider_requests"]
            .as_object()
            .map(|o| {
                o.values()
                    .flat_map(|by| by.as_object().into_iter().flat_map(|m| m.values()))
                    .filter_map(|v| v.as_u64())
                    .sum::<u64>()
            })
            .unwrap_or(0);
        let min_s =
            (reqs.saturating_sub(1) / args.rl_requests as u64) as f64 * args.rl_period_secs as f64;
        r["limit"] = json!(limit);
        r["min_time_at_limit_s"] = json!(min_s);
        r
    };

    let doc = json!({
        "label": args.label,
        "started_at": started.to_rfc3339(),
        "git": {"commit": git(&["rev-parse", "--short", "HEAD"]), "dirty": !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty()},
        "machine": {"nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "load_at_end": loadavg()},
        "settings": {"provider": args.provider.name(), "workers": args.workers, "resync_s": args.resync_secs, "steady_periods": args.steady_periods, "credential_check_s": args.credential_check_secs,
                      "apply_concurrency": args.apply_concurrency, "emulator_rate_limit": "off",
                      "fat_annotation_kib": args.fat_annotation_kib,
                      "provider_rate_limit": "1000000/1s"},
        "runs": runs,
        "rate_limited": rate_limited,
    });
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&doc)?)?;
    eprintln!("bench: wrote {}", args.out.display());
    Ok(())
}
