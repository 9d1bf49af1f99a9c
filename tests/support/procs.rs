//! The clientops binary as the tests run it: an emulator and a controller, each a
//! real process talking real HTTP, killed when dropped.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The clientops binary cargo built for the integration tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_clientops"))
}

/// Start `program` so that it ends with this test process, for a backend that every
/// test of a binary shares (kept in a static, so never dropped): a small bash guard
/// runs it and kills it once this process is gone (checked every second) or when
/// it exits by itself. The returned child is the guard.
pub fn spawn_tied_to_this_process(
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdout: Stdio,
    stderr: Stdio,
) -> std::io::Result<Child> {
    const GUARD: &str = r#"owner=$1; shift
"$@" & child=$!
trap 'kill "$child" 2>/dev/null' EXIT
while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 1; done"#;
    Command::new("bash")
        .args(["-c", GUARD, "guard", &std::process::id().to_string()])
        .arg(program)
        .args(args.iter().map(OsStr::new))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
}

/// `clientops emulate cloudflare|csp` on a free loopback port: a process of its
/// own (killed when dropped), or a handle on one that all tests of the binary
/// share ([`Emulator::shared`], never killed by a test).
pub struct Emulator {
    child: Option<Child>,
    pub base: String,
    /// `cloudflare` or `csp`.
    pub kind: &'static str,
    http: reqwest::Client,
}

impl Emulator {
    /// The Cloudflare emulator.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_kind("cloudflare", extra)
    }

    /// `clientops emulate <kind>` (`cloudflare` or `csp`).
    pub fn start_kind(kind: &'static str, extra: &[&str]) -> Self {
        let child = Command::new(binary())
            .args(["emulate", kind, "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        Self::listening(child, kind, true)
    }

    /// The base URL of an emulator of `kind` shared by every test of this binary,
    /// started on first use with `extra` arguments and stopped when the binary
    /// exits. Each test makes its own handle with [`Emulator::attach`].
    pub fn shared_base(kind: &'static str, extra: &[&str]) -> String {
        let mut args = vec!["emulate", kind, "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let child =
            spawn_tied_to_this_process(&binary(), &args, &[], Stdio::piped(), Stdio::null())
                .expect("start the shared emulator");
        // Not owned: dropping the handle leaves the guard (and the emulator) running.
        Self::listening(child, kind, false).base.clone()
    }

    /// A handle on the emulator of `kind` at `base` that this test does not own.
    pub fn attach(kind: &'static str, base: &str) -> Self {
        clientops::tls::install_crypto_provider();
        Emulator {
            child: None,
            base: base.to_string(),
            kind,
            http: reqwest::Client::new(),
        }
    }

    /// Wait for the "listening on" line of a started emulator.
    fn listening(mut child: Child, kind: &'static str, owned: bool) -> Self {
        clientops::tls::install_crypto_provider();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("emulator exited before listening")
                .unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Emulator {
            child: owned.then_some(child),
            base,
            kind,
            http: reqwest::Client::new(),
        }
    }

    /// The provider's API base URL as a provider object names it (Cloudflare:
    /// `.../client/v4`; CSP: the host).
    pub fn api_url(&self) -> String {
        match self.kind {
            "cloudflare" => format!("{}/client/v4", self.base),
            _ => self.base.clone(),
        }
    }

    /// Advance the emulator's clock.
    pub async fn advance_clock(&self, duration: &str) {
        self.admin(
            reqwest::Method::POST,
            "clock/advance",
            Some(json!({"duration": duration})),
        )
        .await;
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/__emulator/{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("emulator admin call");
        resp.json().await.unwrap_or(Value::Null)
    }

    /// Every client the emulator holds, across accounts.
    pub async fn clients(&self) -> Vec<Value> {
        self.admin(reqwest::Method::GET, "clients", None).await["clients"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Does the emulator accept these credentials right now?
    pub async fn check(&self, client_id: &str, secret: &str) -> bool {
        let v = self
            .admin(
                reqwest::Method::POST,
                "credentials/check",
                Some(json!({"client_id": client_id, "client_secret": secret})),
            )
            .await;
        v["valid"].as_bool().unwrap_or(false)
    }

    pub async fn set_faults(&self, faults: Value) {
        self.admin(reqwest::Method::PUT, "faults", Some(faults))
            .await;
    }

    pub async fn clear_faults(&self) {
        self.admin(reqwest::Method::DELETE, "faults", None).await;
    }

    /// A call to the Cloudflare API as a user would make it (dashboard edits).
    pub async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/{path}", self.api_url()))
            .bearer_auth("test-token");
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
            .await
            .expect("emulator API call")
            .json()
            .await
            .unwrap_or(Value::Null)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `clientops run`, scoped to one test namespace (which is also its operator
/// namespace), with a short resync (3s) unless the extra arguments set `--resync`.
pub struct Controller {
    child: Option<Child>,
    pub namespace: String,
    /// Watch every namespace, only OAuthClients with these labels (instead of
    /// `--namespace`): for tests of several tenants.
    label_selector: Option<String>,
    pub log: PathBuf,
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl Controller {
    pub fn start(namespace: &str, env: &[(&str, &str)]) -> Self {
        Self::start_with_args(namespace, env, &[])
    }

    /// Start with extra `clientops run` arguments, e.g. `["--resync", "10m"]`.
    pub fn start_with_args(namespace: &str, env: &[(&str, &str)], args: &[&str]) -> Self {
        Self::start_watching(namespace, None, env, args)
    }

    /// Start a controller that watches every namespace, but only OAuthClients
    /// matching `label_selector`; `operator_namespace` is its own.
    #[allow(dead_code)]
    pub fn start_cluster_wide(
        operator_namespace: &str,
        label_selector: &str,
        args: &[&str],
    ) -> Self {
        Self::start_watching(operator_namespace, Some(label_selector), &[], args)
    }

    fn start_watching(
        namespace: &str,
        label_selector: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Self {
        let log = std::env::temp_dir().join(format!(
            "clientops-controller-{namespace}{}.log",
            if label_selector.is_some() { "-all" } else { "" }
        ));
        let mut c = Controller {
            child: None,
            namespace: namespace.into(),
            label_selector: label_selector.map(String::from),
            log,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let resync: &[&str] = if self.args.iter().any(|a| a.starts_with("--resync")) {
            &[]
        } else {
            &["--resync", "3s"]
        };
        // Namespaced OAuthProviders of the tests point at emulators and hostile
        // servers on loopback over plain HTTP, which the shipped URL policy refuses:
        // allow loopback unless the test sets the policy itself.
        let url_policy: &[&str] = if self
            .args
            .iter()
            .any(|a| a.starts_with("--namespaced-provider-"))
        {
            &[]
        } else {
            &[
                "--namespaced-provider-hosts",
                "127.0.0.1:*,localhost:*",
                "--namespaced-provider-cidrs",
                "127.0.0.0/8",
                "--namespaced-provider-allow-http",
            ]
        };
        let watch = match &self.label_selector {
            Some(sel) => ["--label-selector", sel.as_str()],
            None => ["--namespace", self.namespace.as_str()],
        };
        let child = Command::new(binary())
            .arg("run")
            .args(watch)
            .args([
                "--operator-namespace",
                &self.namespace,
                // Many controllers run at once: never the default :8080.
                "--metrics-addr",
                "127.0.0.1:0",
            ])
            .args(resync)
            .args(url_policy)
            .args(&self.args)
            .arg("--kubeconfig")
            .arg(super::kubeconfig())
            .env("RUST_LOG", "info,clientops=debug")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start the controller");
        self.child = Some(child);
    }

    /// Restart with a different environment (e.g. without failpoints).
    pub fn restart(&mut self, env: &[(&str, &str)]) {
        self.kill();
        self.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.spawn();
    }

    /// SIGKILL, as a node failure would.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Wait until the process exits by itself (a failpoint), up to `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && c.try_wait().ok().flatten().is_some()
            {
                self.child = None;
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        self.kill();
    }
}
