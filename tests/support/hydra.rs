//! A real Ory Hydra for the tests.
//!
//! [`Hydra::start`] builds Hydra from its Go module once (`scripts/hydra/install`,
//! cached across runs under `$CLIENTOPS_CACHE/hydra/<version>-<hash>/`), then runs
//! `hydra serve all --dev --sqa-opt-out` on two free loopback ports with
//! `DSN=memory`: a fresh, empty server, killed when dropped. [`shared`] is one
//! such server for every test of a binary (the behaviour suite's hydra kind,
//! [`super::kinds::hydra`]).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::repo_root;

static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The Hydra binary, built on first use by `scripts/hydra/install` (a no-op when
/// cached). Never skipped: a missing Go toolchain fails the test.
pub fn binary() -> &'static PathBuf {
    try_binary().unwrap_or_else(|e| panic!("{e}"))
}

/// As [`binary`], with the failure as a message (for a caller that may skip).
pub fn try_binary() -> Result<&'static PathBuf, String> {
    BINARY
        .get_or_init(|| {
            let install = repo_root().join("scripts/hydra/install");
            let started = Instant::now();
            let out = Command::new(&install)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run {}: {e}", install.display()))?;
            if !out.status.success() {
                return Err(format!(
                    "{} failed ({}); Hydra is built from its Go module and needs go and gcc",
                    install.display(),
                    out.status
                ));
            }
            let path = PathBuf::from(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .ok_or("scripts/hydra/install printed nothing")?
                    .trim(),
            );
            eprintln!(
                "hydra binary {} ready after {:?}",
                path.display(),
                started.elapsed()
            );
            Ok(path)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Where the Hydra shared by every test of this binary listens.
#[derive(Clone, Debug)]
pub struct SharedHydra {
    pub admin: String,
    pub public: String,
    pub log: PathBuf,
}

static SHARED: OnceLock<Result<SharedHydra, String>> = OnceLock::new();

/// The Hydra every test of this binary shares, started on first use (on a runtime
/// of its own: each test has its own) and stopped when the binary exits. An error
/// when Hydra cannot be installed here.
pub fn shared() -> Result<&'static SharedHydra, String> {
    SHARED
        .get_or_init(|| {
            try_binary()?;
            std::thread::spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap()
                    .block_on(async {
                        let mut h = Hydra::launch(true).await;
                        // Not owned by a test: dropping the handle leaves it running.
                        h.child = None;
                        SharedHydra {
                            admin: h.admin.clone(),
                            public: h.public.clone(),
                            log: h.log.clone(),
                        }
                    })
            })
            .join()
            .map_err(|_| "starting the shared Hydra failed (see the panic above)".to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `hydra serve all` with an in-memory database, killed when dropped.
pub struct Hydra {
    /// `None` for a handle on the shared Hydra ([`Hydra::attach`]).
    child: Option<Child>,
    /// The admin API's base URL (`spec.hydra.adminUrl`).
    pub admin: String,
    /// The public API's base URL (`spec.hydra.publicUrl`), where `/oauth2/token` is.
    pub public: String,
    pub log: PathBuf,
    http: reqwest::Client,
}

impl Hydra {
    /// A Hydra of this test's own, killed when dropped.
    pub async fn start() -> Self {
        Self::launch(false).await
    }

    /// A handle on the shared Hydra ([`shared`]); dropping it stops nothing.
    pub fn attach(shared: &SharedHydra) -> Self {
        clientops::tls::install_crypto_provider();
        Hydra {
            child: None,
            admin: shared.admin.clone(),
            public: shared.public.clone(),
            log: shared.log.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// Start Hydra; `tied`: under a guard that stops it when this process exits
    /// (for the shared one, which is never dropped).
    async fn launch(tied: bool) -> Self {
        // reqwest is built without a default TLS provider: a test that starts
        // Hydra first (or alone) must not depend on another having installed one.
        clientops::tls::install_crypto_provider();
        let bin = binary().clone();
        for attempt in 0..3 {
            let (admin_port, public_port) = (free_port(), free_port());
            if admin_port == public_port {
                continue;
            }
            let admin = format!("http://127.0.0.1:{admin_port}");
            let public = format!("http://127.0.0.1:{public_port}");
            let log = std::env::temp_dir().join(format!(
                "clientops-hydra-{}-{admin_port}.log",
                std::process::id()
            ));
            let log_file = std::fs::File::create(&log).unwrap();
            let secret: String = (0..32)
                .map(|_| format!("{:x}", rand::random::<u8>() % 16))
                .collect();
            let env = [
                ("DSN", "memory".to_string()),
                ("SECRETS_SYSTEM", secret),
                ("SERVE_PUBLIC_HOST", "127.0.0.1".into()),
                ("SERVE_PUBLIC_PORT", public_port.to_string()),
                ("SERVE_ADMIN_HOST", "127.0.0.1".into()),
                ("SERVE_ADMIN_PORT", admin_port.to_string()),
                ("URLS_SELF_ISSUER", format!("{public}/")),
                ("URLS_SELF_ADMIN", format!("{admin}/")),
                ("LOG_LEVEL", "warn".into()),
            ];
            let args = ["serve", "all", "--dev", "--sqa-opt-out"];
            let out = Stdio::from(log_file.try_clone().unwrap());
            let child = if tied {
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
                super::procs::spawn_tied_to_this_process(
                    &bin,
                    &args,
                    &env,
                    out,
                    Stdio::from(log_file),
                )
            } else {
                Command::new(&bin)
                    .args(args)
                    .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                    .stdin(Stdio::null())
                    .stdout(out)
                    .stderr(Stdio::from(log_file))
                    .spawn()
            }
            .expect("start hydra");
            let mut h = Hydra {
                child: Some(child),
                admin,
                public,
                log,
                http: reqwest::Client::new(),
            };
            let started = Instant::now();
            let mut ready = None;
            while started.elapsed() < Duration::from_secs(30) {
                if let Some(c) = h.child.as_mut()
                    && c.try_wait().ok().flatten().is_some()
                {
                    ready = Some(false);
                    break;
                }
                let mut up = true;
                for u in [&h.admin, &h.public] {
                    up &= h
                        .http
                        .get(format!("{u}/health/ready"))
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                }
                if up {
                    ready = Some(true);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            match ready {
                Some(true) => {
                    eprintln!("hydra ready in {:?} at {}", started.elapsed(), h.admin);
                    return h;
                }
                _ => {
                    let log = std::fs::read_to_string(&h.log).unwrap_or_default();
                    if let Some(mut c) = h.child.take() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                    if log.contains("address already in use") && attempt < 2 {
                        continue;
                    }
                    panic!("hydra did not become ready; log:\n{log}");
                }
            }
        }
        panic!("hydra: no free port pair");
    }

    /// `GET /admin/clients` across all pages (Hydra v2.3.0: offset tokens).
    pub async fn clients(&self) -> Vec<Value> {
        let mut out = vec![];
        let mut url = format!("{}/admin/clients?page_size=500", self.admin);
        loop {
            let r = self.http.get(&url).send().await.expect("list clients");
            let next = clientops::provider::hydra::client::next_page_token(r.headers());
            let page: Vec<Value> = r.json().await.expect("client list");
            let empty = page.is_empty();
            out.extend(page);
            match next {
                Some(t) if !empty => {
                    url = format!(
                        "{}/admin/clients?page_size=500&page_token={}",
                        self.admin,
                        urlencode(&t)
                    )
                }
                _ => return out,
            }
        }
    }

    /// `POST /admin/clients` with `body`: the created client, with its secret.
    pub async fn create_client(&self, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}/admin/clients", self.admin))
            .json(&body)
            .send()
            .await
            .expect("create client");
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "POST client: {status} {v}");
        v
    }

    /// One client as Hydra holds it, `None` on 404.
    pub async fn client(&self, id: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/admin/clients/{id}", self.admin))
            .send()
            .await
            .expect("get client");
        if r.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(r.status().is_success(), "GET client {id}: {}", r.status());
        Some(r.json().await.unwrap())
    }

    /// A JSON Patch made by hand at the admin API (drift).
    pub async fn patch(&self, id: &str, ops: Value) {
        let r = self
            .http
            .patch(format!("{}/admin/clients/{id}", self.admin))
            .json(&ops)
            .send()
            .await
            .expect("patch client");
        assert!(r.status().is_success(), "PATCH client {id}: {}", r.status());
    }

    /// Delete a client by hand.
    pub async fn delete(&self, id: &str) {
        let r = self
            .http
            .delete(format!("{}/admin/clients/{id}", self.admin))
            .send()
            .await
            .expect("delete client");
        assert!(
            r.status().is_success(),
            "DELETE client {id}: {}",
            r.status()
        );
    }

    /// THE PROOF: a `client_credentials` token request at Hydra's public
    /// `/oauth2/token`, with HTTP Basic credentials (form-encoded, as Hydra
    /// URL-decodes them). Returns the status and the body.
    pub async fn token(&self, client_id: &str, secret: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/oauth2/token", self.public))
            .basic_auth(urlencode(client_id), Some(urlencode(secret)))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("grant_type=client_credentials")
            .send()
            .await
            .expect("token request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Whether the credentials get an access token now.
    pub async fn accepts(&self, client_id: &str, secret: &str) -> bool {
        let (status, body) = self.token(client_id, secret).await;
        status == 200 && body["access_token"].as_str().is_some_and(|t| !t.is_empty())
    }

    /// Hydra's own log (for failure messages).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Hydra {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
