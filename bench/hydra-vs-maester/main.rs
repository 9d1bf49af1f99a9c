//! `hydra-vs-maester`: clientops and ory/hydra-maester v0.0.42 head to head on the
//! same work, behind `bench/hydra-vs-maester/run`.
//!
//! For each N and each contender, one after the other, against the same
//! kube-apiserver: a fresh Hydra v2.3.0 (SQLite file in WAL mode, migrated; request
//! log in JSON), a fresh namespace, the operator as a process scoped to that
//! namespace, then N custom resources created at `--apply-concurrency`. The work is
//! the same for both (hydra.md §6.3): a `client_credentials` client with one
//! scope, `client_secret_basic`, no pre-existing Secret, Hydra generates the id and
//! the secret.
//!
//! Measured per run: time from the first create to the last Ready and to the last
//! Secret; apply→Secret latency per object (create call returned → the driver's
//! Secret watch first sees the Secret with both credentials), p50/p99; the
//! operator's peak RSS (VmHWM) and CPU seconds, Hydra's CPU seconds, Hydra admin
//! requests per client by method (from Hydra's request log). Then, outside the
//! timed window: every Secret's credentials are tried at Hydra's token endpoint
//! (`client_credentials`, HTTP Basic), duplicates are counted; then all objects are
//! deleted and the clients left at Hydra (every page listed) are counted.
//!
//! The contender `ideal` is the physical limit of this setup: inside the driver,
//! at clientops' concurrency (8), only the unavoidable calls per object: one
//! Hydra create (Hydra generates the id and the secret), one Secret create, one
//! status write (`Ready=True`). No finalizer, no intent, no crash safety, no
//! cleanup on delete (its "left after delete" is N by design).

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

#[derive(Parser, Debug, Clone)]
#[command(name = "hydra-vs-maester")]
struct Args {
    /// Admin kubeconfig of a control plane with the clientops and hydra-maester
    /// CRDs installed.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// The clientops binary (release build).
    #[arg(long)]
    clientops: PathBuf,
    /// The Hydra binary (scripts/hydra/install).
    #[arg(long)]
    hydra: PathBuf,
    /// The hydra-maester binary.
    #[arg(long)]
    maester: PathBuf,
    /// Numbers of objects, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100,1000")]
    clients: Vec<usize>,
    /// Contenders, in order: ideal (the bare calls, at clientops' concurrency),
    /// clientops (default workers), clientops-1w (one worker, hydra-maester's
    /// shape), maester.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ideal,clientops,clientops-1w,maester"
    )]
    contenders: Vec<String>,
    /// Parallel create calls of the driver.
    #[arg(long, default_value_t = 16)]
    apply_concurrency: usize,
    /// Give up waiting for one run after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// Where to write the JSON result.
    #[arg(long)]
    out: PathBuf,
    /// Free text stored with the result.
    #[arg(long, default_value = "")]
    label: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// CPU seconds (user + system) and peak RSS (KiB) of a live process.
fn proc_usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields after the command: state is index 0, utime is field 14 → index 11.
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, hwm)
}

struct Proc {
    child: Child,
    what: String,
}

impl Proc {
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
    fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A contender: an operator process, or the ideal running inside the driver.
enum Operator {
    Proc(Proc),
    Ideal(tokio::task::JoinHandle<()>),
}

impl Operator {
    /// The process whose CPU and memory are measured (the ideal: the driver's).
    fn pid(&self) -> u32 {
        match self {
            Operator::Proc(p) => p.pid(),
            Operator::Ideal(_) => std::process::id(),
        }
    }
    fn stop(self) {
        match self {
            Operator::Proc(p) => p.stop(),
            Operator::Ideal(task) => task.abort(),
        }
    }
    fn alive(&mut self) -> bool {
        match self {
            Operator::Proc(p) => p.alive(),
            Operator::Ideal(task) => !task.is_finished(),
        }
    }
    fn what(&self) -> &str {
        match self {
            Operator::Proc(p) => &p.what,
            Operator::Ideal(_) => "ideal",
        }
    }
}

/// The ideal: for every new OAuthClient, `workers` at a time, a Hydra create, a
/// Secret create and a status write, nothing else.
async fn ideal(kube: Client, ns: String, admin: String, workers: usize) {
    let objs: Api<DynamicObject> = Api::namespaced_with(kube.clone(), &ns, &resource(Kind::Ideal));
    let secrets: Api<Secret> = Api::namespaced(kube, &ns);
    let http = reqwest::Client::new();
    let done = watcher(objs.clone(), watcher::Config::default())
        .applied_objects()
        .try_filter(|o| futures::future::ready(o.data["status"]["conditions"].is_null()))
        .try_for_each_concurrent(workers, |o| {
            let (objs, secrets, http, admin) =
                (objs.clone(), secrets.clone(), http.clone(), admin.clone());
            async move {
                if let Err(e) = ideal_one(&objs, &secrets, &http, &admin, &o).await {
                    eprintln!("   ideal: {}: {e:#}", o.name_any());
                }
                Ok(())
            }
        })
        .await;
    if let Err(e) = done {
        eprintln!("   ideal: watch ended: {e}");
    }
}

async fn ideal_one(
    objs: &Api<DynamicObject>,
    secrets: &Api<Secret>,
    http: &reqwest::Client,
    admin: &str,
    o: &DynamicObject,
) -> anyhow::Result<()> {
    let name = o.name_any();
    let spec = &o.data["spec"];
    let created: Value = http
        .post(format!("{admin}/admin/clients"))
        .json(&json!({
            "client_name": spec["clientName"],
            "grant_types": spec["grantTypes"],
            "scope": "read",
            "token_endpoint_auth_method": spec["tokenEndpointAuthMethod"],
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name},
        "stringData": {"client_id": created["client_id"], "client_secret": created["client_secret"]},
    }))?;
    secrets.create(&PostParams::default(), &secret).await?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let status = json!({"status": {
        "observedGeneration": o.metadata.generation,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "", "lastTransitionTime": now}],
    }});
    objs.patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
        .await?;
    Ok(())
}

struct Hydra {
    proc: Proc,
    admin: String,
    public: String,
    admin_port: u16,
    log: PathBuf,
    dir: PathBuf,
}

async fn start_hydra(bin: &Path, dir: &Path) -> anyhow::Result<Hydra> {
    std::fs::create_dir_all(dir)?;
    let (admin_port, public_port) = (free_port(), free_port());
    let admin = format!("http://127.0.0.1:{admin_port}");
    let public = format!("http://127.0.0.1:{public_port}");
    let dsn = format!(
        "sqlite://{}/db.sqlite?_fk=true&_journal_mode=WAL&_busy_timeout=100000",
        dir.display()
    );
    let secret: String = (0..32)
        .map(|_| format!("{:x}", rand::random::<u8>() % 16))
        .collect();
    let env = |c: &mut Command| {
        c.env("DSN", &dsn)
            .env("SECRETS_SYSTEM", &secret)
            .env("SERVE_PUBLIC_HOST", "127.0.0.1")
            .env("SERVE_PUBLIC_PORT", public_port.to_string())
            .env("SERVE_ADMIN_HOST", "127.0.0.1")
            .env("SERVE_ADMIN_PORT", admin_port.to_string())
            .env("URLS_SELF_ISSUER", format!("{public}/"))
            .env("URLS_SELF_ADMIN", format!("{admin}/"))
            .env("LOG_LEVEL", "info")
            .env("LOG_FORMAT", "json");
    };
    let mut migrate = Command::new(bin);
    migrate.args(["migrate", "sql", "up", "-e", "--yes"]);
    env(&mut migrate);
    let out = migrate.output()?;
    if !out.status.success() {
        bail!(
            "hydra migrate failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let log = dir.join("hydra.log");
    let f = std::fs::File::create(&log)?;
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "all", "--dev", "--sqa-opt-out"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(f.try_clone()?))
        .stderr(Stdio::from(f));
    env(&mut cmd);
    let mut proc = Proc {
        child: cmd.spawn()?,
        what: "hydra".into(),
    };
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        if !proc.alive() {
            bail!(
                "hydra exited: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        let mut up = true;
        for u in [&admin, &public] {
            up &= http
                .get(format!("{u}/health/ready"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
        }
        if up {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("hydra not ready after 60s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Hydra {
        proc,
        admin,
        public,
        admin_port,
        log,
        dir: dir.to_path_buf(),
    })
}

/// Admin requests to `/admin/clients...` in Hydra's JSON request log, by method.
fn hydra_requests(log: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(f) = std::fs::File::open(log) else {
        return out;
    };
    for line in BufReader::new(f).lines().map_while(Result::ok) {
        if !line.contains("completed handling request") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let req = &v["http_request"];
        let path = req["path"].as_str().unwrap_or_default();
        if !path.starts_with("/admin/clients") && !path.starts_with("/clients") {
            continue;
        }
        let method = req["method"].as_str().unwrap_or("?").to_string();
        *out.entry(method).or_default() += 1;
    }
    out
}

/// Every client at Hydra, all pages.
async fn hydra_clients(http: &reqwest::Client, admin: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = vec![];
    let mut url = format!("{admin}/admin/clients?page_size=500");
    for _ in 0..1000 {
        let r = http.get(&url).send().await?;
        let next = clientops::provider::hydra::client::next_page_token(r.headers());
        let page: Vec<Value> = r.json().await?;
        let empty = page.is_empty();
        out.extend(page);
        match next {
            Some(t) if !empty => {
                let t: String = url::form_urlencoded::byte_serialize(t.as_bytes()).collect();
                url = format!("{admin}/admin/clients?page_size=500&page_token={t}");
            }
            _ => break,
        }
    }
    Ok(out)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Clientops {
        workers: u16,
    },
    /// The bare calls on clientops' objects (see the module doc).
    Ideal,
    Maester,
}

fn resource(kind: Kind) -> ApiResource {
    match kind {
        Kind::Clientops { .. } | Kind::Ideal => ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("clientops.dev", "v1alpha1", "OAuthClient"),
            "oauthclients",
        ),
        Kind::Maester => ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("hydra.ory.sh", "v1alpha1", "OAuth2Client"),
            "oauth2clients",
        ),
    }
}

fn manifest(kind: Kind, ns: &str, name: &str, provider: &str) -> Value {
    match kind {
        Kind::Clientops { .. } | Kind::Ideal => json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "providerRef": {"kind": "ClusterOAuthProvider", "name": provider},
                "clientName": name,
                "grantTypes": ["client_credentials"],
                "scopes": ["read"],
                "tokenEndpointAuthMethod": "client_secret_basic",
            },
        }),
        Kind::Maester => json!({
            "apiVersion": "hydra.ory.sh/v1alpha1", "kind": "OAuth2Client",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "clientName": name,
                "grantTypes": ["client_credentials"],
                "scopeArray": ["read"],
                "tokenEndpointAuthMethod": "client_secret_basic",
                "secretName": name,
            },
        }),
    }
}

fn ready(o: &DynamicObject, kind: Kind) -> bool {
    let status = &o.data["status"];
    let conds = status["conditions"].as_array().cloned().unwrap_or_default();
    let is_ready = conds
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    match kind {
        Kind::Clientops { .. } | Kind::Ideal => {
            is_ready && status["observedGeneration"].as_i64() == o.metadata.generation
        }
        Kind::Maester => is_ready,
    }
}

fn secret_creds(s: &Secret, kind: Kind) -> Option<(String, String)> {
    let (id_key, secret_key) = match kind {
        Kind::Clientops { .. } | Kind::Ideal => ("client_id", "client_secret"),
        Kind::Maester => ("CLIENT_ID", "CLIENT_SECRET"),
    };
    let data = s.data.as_ref()?;
    let get = |k: &str| {
        data.get(k)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .filter(|v| !v.is_empty())
    };
    Some((get(id_key)?, get(secret_key)?))
}

/// First-seen times, shared with the watch tasks.
#[derive(Default)]
struct Seen {
    secret: HashMap<String, Instant>,
    ready: HashMap<String, Instant>,
}

async fn run_one(
    args: &Args,
    kube: &Client,
    kind: Kind,
    label: &str,
    n: usize,
    work: &Path,
) -> anyhow::Result<Value> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let ns = format!("hvm-{label}-{n}-{}", stamp % 100000);
    eprintln!("== {label} N={n} in {ns}");
    let hydra = start_hydra(&args.hydra, &work.join(&ns)).await?;
    let nsapi: Api<Namespace> = Api::all(kube.clone());
    nsapi
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}}))?,
        )
        .await?;
    let provider = format!("hydra-{ns}");
    let op_log = work.join(format!("{ns}-operator.log"));
    let op_log_f = std::fs::File::create(&op_log)?;
    let metrics_port = free_port();
    let mut op = match kind {
        Kind::Ideal => Operator::Ideal(tokio::spawn(ideal(
            kube.clone(),
            ns.clone(),
            hydra.admin.clone(),
            8,
        ))),
        Kind::Clientops { workers } => {
            let cop = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("clientops.dev", "v1alpha1", "ClusterOAuthProvider"),
                "clusteroauthproviders",
            );
            let api: Api<DynamicObject> = Api::all_with(kube.clone(), &cop);
            let p: DynamicObject = serde_json::from_value(json!({
                "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
                "metadata": {"name": provider},
                "spec": {
                    "hydra": {"adminUrl": hydra.admin},
                    // No client-side limit in the way: measure the operators.
                    "rateLimit": {"requests": 100000, "period": "1s"},
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                },
            }))?;
            api.patch(
                &provider,
                &PatchParams::apply("hydra-vs-maester").force(),
                &Patch::Apply(&p),
            )
            .await?;
            Operator::Proc(Proc {
                child: Command::new(&args.clientops)
                    .args(["run", "--namespace", &ns, "--operator-namespace", &ns])
                    .args(["--resync", "10h", "--workers", &workers.to_string()])
                    .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
                    .arg("--kubeconfig")
                    .arg(&args.kubeconfig)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::from(op_log_f.try_clone()?))
                    .stderr(Stdio::from(op_log_f))
                    .spawn()
                    .context("start clientops")?,
                what: label.into(),
            })
        }
        Kind::Maester => Operator::Proc(Proc {
            child: Command::new(&args.maester)
                .arg(format!("--kubeconfig={}", args.kubeconfig.display()))
                .arg("--hydra-url=http://127.0.0.1")
                .arg(format!("--hydra-port={}", hydra.admin_port))
                .arg("--endpoint=/admin/clients")
                .arg(format!("--namespace={ns}"))
                .arg(format!("--metrics-addr=127.0.0.1:{metrics_port}"))
                .arg("--sync-period=10h")
                .env("NAMESPACE", &ns)
                .stdout(Stdio::from(op_log_f.try_clone()?))
                .stderr(Stdio::from(op_log_f))
                .spawn()
                .context("start hydra-maester")?,
            what: label.into(),
        }),
    };
    // Let the operator start its watches (same grace for both).
    tokio::time::sleep(Duration::from_secs(3)).await;
    if !op.alive() {
        bail!(
            "{} exited: {}",
            op.what(),
            std::fs::read_to_string(&op_log).unwrap_or_default()
        );
    }

    let seen = Arc::new(Mutex::new(Seen::default()));
    let secrets: Api<Secret> = Api::namespaced(kube.clone(), &ns);
    let ar = resource(kind);
    let objs: Api<DynamicObject> = Api::namespaced_with(kube.clone(), &ns, &ar);
    let s2 = seen.clone();
    let secret_watch = tokio::spawn(
        watcher(secrets.clone(), watcher::Config::default())
            .applied_objects()
            .try_for_each(move |s: Secret| {
                let seen = s2.clone();
                async move {
                    if secret_creds(&s, kind).is_some() {
                        seen.lock()
                            .unwrap()
                            .secret
                            .entry(s.name_any())
                            .or_insert_with(Instant::now);
                    }
                    Ok(())
                }
            }),
    );
    let s3 = seen.clone();
    let ready_watch = tokio::spawn(
        watcher(objs.clone(), watcher::Config::default())
            .applied_objects()
            .try_for_each(move |o: DynamicObject| {
                let seen = s3.clone();
                async move {
                    if ready(&o, kind) {
                        seen.lock()
                            .unwrap()
                            .ready
                            .entry(o.name_any())
                            .or_insert_with(Instant::now);
                    }
                    Ok(())
                }
            }),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Create the N objects.
    let names: Vec<String> = (0..n).map(|i| format!("c{i:05}")).collect();
    let (cpu0, _) = proc_usage(op.pid());
    let (hcpu0, _) = proc_usage(hydra.proc.pid());
    let t0 = Instant::now();
    let applied: Vec<(String, Instant)> = futures::stream::iter(names.clone())
        .map(|name| {
            let objs = objs.clone();
            let m = manifest(kind, &ns, &name, &provider);
            async move {
                let o: DynamicObject = serde_json::from_value(m)?;
                objs.create(&PostParams::default(), &o).await?;
                Ok::<_, anyhow::Error>((name, Instant::now()))
            }
        })
        .buffer_unordered(args.apply_concurrency)
        .try_collect()
        .await?;
    let applied: HashMap<String, Instant> = applied.into_iter().collect();
    let apply_secs = t0.elapsed().as_secs_f64();

    // Wait until every object has its Secret and is Ready (or time out).
    let deadline = t0 + Duration::from_secs(args.timeout_secs);
    let timed_out = loop {
        let (s, r) = {
            let g = seen.lock().unwrap();
            (g.secret.len(), g.ready.len())
        };
        if s >= n && r >= n {
            break false;
        }
        if Instant::now() > deadline || !op.alive() {
            eprintln!("   timed out / operator gone: {s} Secrets, {r} Ready of {n}");
            break true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (cpu1, rss_kib) = proc_usage(op.pid());
    let (hcpu1, _) = proc_usage(hydra.proc.pid());
    let (lat, secret_last, ready_last, n_secret, n_ready) = {
        let g = seen.lock().unwrap();
        let mut lat: Vec<f64> = applied
            .iter()
            .filter_map(|(name, at)| {
                g.secret
                    .get(name)
                    .map(|s| s.saturating_duration_since(*at).as_secs_f64() * 1000.0)
            })
            .collect();
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let last = |m: &HashMap<String, Instant>| {
            m.values()
                .map(|t| t.duration_since(t0).as_secs_f64())
                .fold(0.0, f64::max)
        };
        (
            lat,
            last(&g.secret),
            last(&g.ready),
            g.secret.len(),
            g.ready.len(),
        )
    };
    let requests = hydra_requests(&hydra.log);
    let total_requests: u64 = requests.values().sum();
    eprintln!(
        "   all Ready {ready_last:.1}s, all Secrets {secret_last:.1}s, p50 {:.0} ms, p99 {:.0} ms, cpu {:.1}s, rss {} MiB, hydra {:.2} req/client",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        cpu1 - cpu0,
        rss_kib / 1024,
        total_requests as f64 / n as f64
    );

    // Outside the timed window: do the Secrets' credentials work? Duplicates?
    let http = reqwest::Client::new();
    let mut working = 0usize;
    let mut failing = 0usize;
    let listed = secrets.list(&Default::default()).await?;
    let creds: Vec<(String, String)> = listed
        .items
        .iter()
        .filter(|s| applied.contains_key(&s.name_any()))
        .filter_map(|s| secret_creds(s, kind))
        .collect();
    let results: Vec<bool> = futures::stream::iter(creds)
        .map(|(id, secret)| {
            let http = http.clone();
            let url = format!("{}/oauth2/token", hydra.public);
            async move {
                let enc = |s: &str| -> String {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
                };
                http.post(url)
                    .basic_auth(enc(&id), Some(enc(&secret)))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    for ok in results {
        if ok { working += 1 } else { failing += 1 }
    }
    let at_hydra = hydra_clients(&http, &hydra.admin).await?;
    let unique: std::collections::HashSet<&str> = at_hydra
        .iter()
        .filter_map(|c| c["client_id"].as_str())
        .collect();
    let remote_after_create = unique.len();
    // Both contenders name the remote client after the object.
    let mut per_name: HashMap<&str, usize> = HashMap::new();
    for c in &at_hydra {
        *per_name
            .entry(c["client_name"].as_str().unwrap_or(""))
            .or_default() += 1;
    }
    let duplicates: usize = per_name.values().map(|k| k.saturating_sub(1)).sum();
    eprintln!(
        "   credentials: {working} work, {failing} fail, {} missing; {remote_after_create} clients at Hydra, {duplicates} duplicates",
        n.saturating_sub(working + failing)
    );

    // Delete everything; count what is left at Hydra.
    let requests_before_delete = total_requests;
    let td = Instant::now();
    futures::stream::iter(names.clone())
        .map(|name| {
            let objs = objs.clone();
            async move {
                let _ = objs.delete(&name, &DeleteParams::default()).await;
            }
        })
        .buffer_unordered(args.apply_concurrency)
        .collect::<Vec<_>>()
        .await;
    let del_deadline = Instant::now() + Duration::from_secs(args.timeout_secs.min(600));
    let remaining = loop {
        let left = objs.list(&Default::default()).await?.items.len();
        if left == 0 || Instant::now() > del_deadline || !op.alive() {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let delete_secs = td.elapsed().as_secs_f64();
    let left_at_hydra = hydra_clients(&http, &hydra.admin).await?.len();
    let delete_requests = hydra_requests(&hydra.log).values().sum::<u64>() - requests_before_delete;
    eprintln!(
        "   delete: {delete_secs:.1}s, {remaining} objects stuck, {left_at_hydra} clients left at Hydra"
    );

    secret_watch.abort();
    ready_watch.abort();
    let (hcpu_end, hydra_rss) = proc_usage(hydra.proc.pid());
    op.stop();
    hydra.proc.stop();
    // Remove stuck finalizers so the namespace can go.
    for o in objs.list(&Default::default()).await?.items {
        let _ = objs
            .patch(
                &o.name_any(),
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": null}})),
            )
            .await;
    }
    let _ = nsapi.delete(&ns, &DeleteParams::default()).await;
    if matches!(kind, Kind::Clientops { .. }) {
        let cop = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("clientops.dev", "v1alpha1", "ClusterOAuthProvider"),
            "clusteroauthproviders",
        );
        let api: Api<DynamicObject> = Api::all_with(kube.clone(), &cop);
        let _ = api.delete(&provider, &DeleteParams::default()).await;
    }
    let _ = std::fs::remove_dir_all(&hydra.dir);

    Ok(json!({
        "contender": label,
        "n": n,
        "timed_out": timed_out,
        "apply_secs": apply_secs,
        "all_ready_secs": ready_last,
        "all_secrets_secs": secret_last,
        "ready": n_ready,
        "secrets": n_secret,
        "apply_to_secret_ms": {
            "p50": percentile(&lat, 50.0),
            "p90": percentile(&lat, 90.0),
            "p99": percentile(&lat, 99.0),
            "max": lat.last().copied().unwrap_or(f64::NAN),
        },
        "operator_cpu_secs": cpu1 - cpu0,
        "operator_peak_rss_mib": rss_kib as f64 / 1024.0,
        "hydra_cpu_secs": hcpu1 - hcpu0,
        "hydra_cpu_secs_incl_verify_and_delete": hcpu_end - hcpu0,
        "hydra_peak_rss_mib": hydra_rss as f64 / 1024.0,
        "hydra_requests": requests,
        "hydra_requests_per_client": total_requests as f64 / n as f64,
        "credentials_working": working,
        "credentials_failing": failing,
        "clients_at_hydra_after_create": remote_after_create,
        "duplicate_clients": duplicates,
        "delete_secs": delete_secs,
        "objects_stuck_after_delete": remaining,
        "clients_left_at_hydra_after_delete": left_at_hydra,
        "hydra_requests_during_delete": delete_requests,
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    clientops::tls::install_crypto_provider();
    let args = Args::parse();
    let kc = kube::config::Kubeconfig::read_from(&args.kubeconfig)?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await?;
    let kube = Client::try_from(cfg)?;
    let work = std::env::temp_dir().join(format!("hydra-vs-maester-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let mut runs = vec![];
    for &n in &args.clients {
        for c in &args.contenders {
            let kind = match c.as_str() {
                "clientops" => Kind::Clientops { workers: 8 },
                "clientops-1w" => Kind::Clientops { workers: 1 },
                "ideal" => Kind::Ideal,
                "maester" => Kind::Maester,
                other => return Err(anyhow!("unknown contender {other}")),
            };
            let r = run_one(&args, &kube, kind, c, n, &work)
                .await
                .with_context(|| format!("{c} N={n}"))?;
            runs.push(r);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let result = json!({
        "label": args.label,
        "hydra": "v2.3.0 (SQLite file, WAL, busy_timeout 100s)",
        "maester": "v0.0.42",
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "loadavg_after": load.trim(),
        "apply_concurrency": args.apply_concurrency,
        "runs": runs,
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&result)?)?;
    let md = args.out.with_extension("md");
    std::fs::write(&md, markdown(&result))?;
    let _ = std::fs::remove_dir_all(&work);
    eprintln!("wrote {} and {}", args.out.display(), md.display());
    Ok(())
}

/// The result as a Markdown table, with clientops/hydra-maester ratios per N.
fn markdown(result: &Value) -> String {
    let runs = result["runs"].as_array().cloned().unwrap_or_default();
    let f = |v: &Value, d: usize| match v.as_f64() {
        Some(x) if x.is_finite() => format!("{x:.d$}"),
        _ => "–".into(),
    };
    let mut out = String::new();
    out.push_str(&format!(
        "Hydra {}, hydra-maester {}, {} CPUs, load after the run: {}\n\n",
        result["hydra"].as_str().unwrap_or(""),
        result["maester"].as_str().unwrap_or(""),
        result["cpus"],
        result["loadavg_after"].as_str().unwrap_or("")
    ));
    out.push_str("| N | contender | all Ready (s) | all Secrets (s) | apply→Secret p50 (ms) | p99 (ms) | operator CPU (s) | operator peak RSS (MiB) | Hydra CPU (s) | Hydra requests/client | working credentials | clients at Hydra | duplicates | left after delete | delete (s) |\n");
    out.push_str("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &runs {
        let timed_out = if r["timed_out"].as_bool() == Some(true) {
            " (timed out)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| {} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} | {} | {} | {} |\n",
            r["n"],
            r["contender"].as_str().unwrap_or(""),
            timed_out,
            f(&r["all_ready_secs"], 1),
            f(&r["all_secrets_secs"], 1),
            f(&r["apply_to_secret_ms"]["p50"], 0),
            f(&r["apply_to_secret_ms"]["p99"], 0),
            f(&r["operator_cpu_secs"], 1),
            f(&r["operator_peak_rss_mib"], 0),
            f(&r["hydra_cpu_secs"], 1),
            f(&r["hydra_requests_per_client"], 2),
            r["credentials_working"],
            r["n"],
            r["clients_at_hydra_after_create"],
            r["duplicate_clients"],
            r["clients_left_at_hydra_after_delete"],
            f(&r["delete_secs"], 1),
        ));
    }
    // Ratios: hydra-maester / clientops (default workers), per N.
    let mut ratios = String::new();
    let ns: std::collections::BTreeSet<u64> = runs.iter().filter_map(|r| r["n"].as_u64()).collect();
    for n in ns {
        let pick = |c: &str| {
            runs.iter()
                .find(|r| r["n"].as_u64() == Some(n) && r["contender"] == c)
                .cloned()
        };
        let (Some(co), Some(hm)) = (pick("clientops"), pick("maester")) else {
            continue;
        };
        let ratio = |k: &[&str]| {
            let get = |v: &Value| k.iter().fold(v.clone(), |v, k| v[*k].clone()).as_f64();
            match (get(&hm), get(&co)) {
                (Some(a), Some(b)) if b > 0.0 => format!("{:.1}×", a / b),
                _ => "–".into(),
            }
        };
        ratios.push_str(&format!(
            "| {n} | {} | {} | {} | {} | {} | {} |\n",
            ratio(&["all_ready_secs"]),
            ratio(&["apply_to_secret_ms", "p50"]),
            ratio(&["apply_to_secret_ms", "p99"]),
            ratio(&["operator_cpu_secs"]),
            ratio(&["operator_peak_rss_mib"]),
            ratio(&["hydra_requests_per_client"]),
        ));
    }
    // clientops against the physical limit of this setup.
    let mut over_ideal = String::new();
    for n in runs
        .iter()
        .filter_map(|r| r["n"].as_u64())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let pick = |c: &str| {
            runs.iter()
                .find(|r| r["n"].as_u64() == Some(n) && r["contender"] == c)
        };
        let (Some(co), Some(id)) = (pick("clientops"), pick("ideal")) else {
            continue;
        };
        let ratio = |a: &Value, b: &Value| match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
            _ => "–".into(),
        };
        over_ideal.push_str(&format!(
            "| {n} | {} | {} | {} |\n",
            ratio(&co["all_ready_secs"], &id["all_ready_secs"]),
            ratio(
                &co["apply_to_secret_ms"]["p50"],
                &id["apply_to_secret_ms"]["p50"]
            ),
            ratio(
                &co["apply_to_secret_ms"]["p99"],
                &id["apply_to_secret_ms"]["p99"]
            ),
        ));
    }
    if !over_ideal.is_empty() {
        out.push_str("\nclientops (8 workers) ÷ ideal (the bare Hydra create + Secret + status, 8 at a time); 1× is the limit:\n\n");
        out.push_str("| N | time to all Ready | p50 | p99 |\n|---:|---:|---:|---:|\n");
        out.push_str(&over_ideal);
    }
    if !ratios.is_empty() {
        out.push_str(
            "\nhydra-maester ÷ clientops (8 workers); above 1× means clientops is better:\n\n",
        );
        out.push_str("| N | time to all Ready | p50 | p99 | CPU | peak RSS | Hydra requests/client |\n|---:|---:|---:|---:|---:|---:|---:|\n");
        out.push_str(&ratios);
    }
    out
}
