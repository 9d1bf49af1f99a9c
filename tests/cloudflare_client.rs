//! The typed Cloudflare client against the emulator over real HTTP: the built
//! `clientops emulate cloudflare` binary on 127.0.0.1:0, one process per test,
//! inspected and steered through its admin API (`/__emulator/`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clientops::emulator::cloudflare::validation::MAX_URI_LEN;
use clientops::provider::cloudflare::fields::{to_remote, update_body};
use clientops::provider::cloudflare::kind::CloudflareFields;
use clientops::provider::cloudflare::wire::{CreateOAuthClient, UpdateOAuthClient};
use clientops::provider::cloudflare::{
    CloudflareClient, CloudflareConfig, CloudflareCredentials, Deleted,
};
use clientops::provider::http::{
    BodyLimits, DEFAULT_MAX_BODY_BYTES, HttpOptions, RequestHook, RequestRecord, build_client,
};
use clientops::provider::model::{ClientFields, OwnFields};
use clientops::provider::ratelimit::{RateLimitConfig, RateLimiterRegistry, WaitHook};
use clientops::provider::transport::{ClientConfig, ProviderClient};
use clientops::provider::{Operation, ProviderError, RetryPolicy};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

const ACCT: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const OTHER_ACCT: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "cf-test-token";
const EMAIL: &str = "ops@example.com";
const KEY: &str = "cf-test-global-key";

/// One emulator process.
struct Emu {
    _child: tokio::process::Child,
    addr: String,
    admin: reqwest::Client,
}

impl Emu {
    /// Start the binary with `--token TOKEN --api-key EMAIL:KEY --rate-limit off`
    /// plus `extra`.
    async fn start(extra: &[&str]) -> Self {
        let has_rate = extra.contains(&"--rate-limit");
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_clientops"));
        cmd.args(["emulate", "cloudflare", "--listen", "127.0.0.1:0"])
            .args(["--token", TOKEN, "--api-key", &format!("{EMAIL}:{KEY}")])
            .args(extra);
        if !has_rate {
            cmd.args(["--rate-limit", "off"]);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the clientops binary");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the emulator printed its address in time")
            .unwrap()
            .expect("a startup line");
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        // Keep reading stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let admin = build_client(&HttpOptions::default()).unwrap();
        Self {
            _child: child,
            addr,
            admin,
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }

    fn config(&self, credentials: CloudflareCredentials) -> CloudflareConfig {
        CloudflareConfig::new(ACCT, credentials)
            .with_base_url(self.base_url())
            .with_retry(fast_retry())
    }

    /// A client with the API token, its own registry and fast retries.
    fn client(&self) -> CloudflareClient {
        CloudflareClient::standalone(self.config(CloudflareCredentials::api_token(TOKEN))).unwrap()
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .admin
            .request(method, format!("http://{}/__emulator/{path}", self.addr));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "admin {path}: {status} {v}");
        v
    }

    async fn faults(&self, faults: Value) {
        self.admin(reqwest::Method::PUT, "faults", Some(faults))
            .await;
    }

    async fn clients(&self) -> Vec<Value> {
        self.admin(reqwest::Method::GET, "clients", None).await["clients"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// How many requests of `operation` the emulator received.
    async fn count(&self, operation: &str) -> u64 {
        let v = self.admin(reqwest::Method::GET, "requests", None).await;
        v["operations"][operation]["total"].as_u64().unwrap_or(0)
    }

    async fn valid(&self, client_id: &str, secret: &str) -> bool {
        self.admin(
            reqwest::Method::POST,
            "credentials/check",
            Some(json!({"client_id": client_id, "client_secret": secret})),
        )
        .await["valid"]
            .as_bool()
            .unwrap()
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
    }
}

fn create_body(name: &str) -> CreateOAuthClient {
    CreateOAuthClient {
        client_name: name.into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris: vec!["https://grafana.example.com/login/generic_oauth".into()],
        response_types: vec!["code".into()],
        scopes: vec!["user-details.read".into(), "account.read".into()],
        token_endpoint_auth_method: "client_secret_basic".into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn every_operation_with_an_api_token() {
    let emu = Emu::start(&[]).await;
    let cf = emu.client();

    let scopes = cf.list_scopes().await.unwrap();
    assert!(scopes.iter().any(|s| s.id == "account.read"), "{scopes:?}");

    assert!(cf.list().await.unwrap().is_empty());
    let desired = create_body("Grafana");
    let created = cf.create(&desired).await.unwrap();
    let id = created.client.client_id.clone();
    let secret = created.client_secret.clone().expect("a secret on create");
    assert_eq!(created.client.client_name.as_deref(), Some("Grafana"));
    assert!(!format!("{created:?}").contains(secret.expose()));
    assert!(emu.valid(&id, secret.expose()).await);

    let got = cf.get(&id).await.unwrap();
    assert_eq!(got.client_id, id);
    assert_eq!(got.visibility, "private");
    let listed = cf.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].client_id, id);

    // No drift right after create, even with the protocol scopes the server adds.
    let want = fields_of(&desired);
    assert!(want.diff(&to_remote(&got).fields).is_empty());

    // Drift: PATCH only the changed fields.
    let mut changed = desired.clone();
    changed.client_name = "Grafana (prod)".into();
    changed.scopes.push("teams.read".into());
    let changed = fields_of(&changed);
    let patch = update_body(&changed, &changed.diff(&to_remote(&got).fields));
    assert_eq!(
        serde_json::to_value(&patch).unwrap(),
        json!({"client_name": "Grafana (prod)", "scopes": ["account.read", "teams.read", "user-details.read"]})
    );
    let updated = cf.update(&id, &patch).await.unwrap();
    assert_eq!(updated.client_name.as_deref(), Some("Grafana (prod)"));
    assert!(changed.diff(&to_remote(&updated).fields).is_empty());
    // An empty patch sends no PATCH.
    let before = emu.count("update").await;
    cf.update(&id, &UpdateOAuthClient::default()).await.unwrap();
    assert_eq!(emu.count("update").await, before);

    // Rotation: both secrets valid until the old one is retired.
    let new_secret = cf.rotate_secret(&id).await.unwrap();
    assert_ne!(new_secret, secret);
    assert!(emu.valid(&id, secret.expose()).await);
    assert!(emu.valid(&id, new_secret.expose()).await);
    assert_eq!(cf.get(&id).await.unwrap().has_rotated_secret, Some(true));
    let again = cf.rotate_secret(&id).await.unwrap_err();
    assert!(matches!(again, ProviderError::Conflict { .. }), "{again:?}");
    assert_eq!(
        cf.delete_rotated_secret(&id).await.unwrap(),
        Deleted::Deleted
    );
    assert!(!emu.valid(&id, secret.expose()).await);
    assert!(emu.valid(&id, new_secret.expose()).await);
    assert_eq!(cf.get(&id).await.unwrap().has_rotated_secret, Some(false));
    // Retiring again finds nothing to retire.
    assert_eq!(
        cf.delete_rotated_secret(&id).await.unwrap(),
        Deleted::AlreadyAbsent
    );

    assert_eq!(cf.delete(&id).await.unwrap(), Deleted::Deleted);
    assert!(matches!(
        cf.get(&id).await.unwrap_err(),
        ProviderError::NotFound { .. }
    ));
    assert_eq!(cf.delete(&id).await.unwrap(), Deleted::AlreadyAbsent);
    assert!(emu.clients().await.is_empty());
}

#[tokio::test]
async fn the_legacy_api_key_scheme_and_rejected_credentials() {
    let emu = Emu::start(&[]).await;
    let cf = CloudflareClient::standalone(emu.config(CloudflareCredentials::api_key(EMAIL, KEY)))
        .unwrap();
    let created = cf.create(&create_body("Legacy")).await.unwrap();
    assert_eq!(cf.list().await.unwrap().len(), 1);
    let rotated = cf.rotate_secret(&created.client.client_id).await.unwrap();
    assert!(emu.valid(&created.client.client_id, rotated.expose()).await);

    // Wrong credentials are typed errors that never show the credential.
    let wrong_key = CloudflareClient::standalone(
        emu.config(CloudflareCredentials::api_key(EMAIL, "wrong-key-value")),
    )
    .unwrap();
    let e = wrong_key.list().await.unwrap_err();
    assert!(matches!(e, ProviderError::Unauthorized { .. }), "{e:?}");
    assert!(!e.to_string().contains("wrong-key-value"));
    let wrong_token = CloudflareClient::standalone(
        emu.config(CloudflareCredentials::api_token("wrong-token-value")),
    )
    .unwrap();
    let e = wrong_token.list().await.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::Forbidden { .. } | ProviderError::Unauthorized { .. }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains("wrong-token-value"));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn statuses_map_to_typed_errors() {
    let emu = Emu::start(&[]).await;
    let cf = emu.client();

    // 404 with Cloudflare's code.
    match cf
        .get("a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4")
        .await
        .unwrap_err()
    {
        ProviderError::NotFound { messages } => assert!(messages[0].code.is_some()),
        e => panic!("{e:?}"),
    }

    // 400 with per-field messages, codes and pointers.
    let mut bad = create_body("Bad");
    bad.grant_types = vec!["refresh_token".into()];
    bad.scopes = vec!["account:read".into()];
    match cf.create(&bad).await.unwrap_err() {
        ProviderError::Invalid { status, messages } => {
            assert_eq!(status, 400);
            let pointers: Vec<_> = messages.iter().filter_map(|m| m.pointer.clone()).collect();
            assert!(
                pointers.iter().any(|p| p.contains("grant_types")),
                "{messages:?}"
            );
            assert!(
                pointers.iter().any(|p| p.contains("scopes")),
                "{messages:?}"
            );
            assert!(messages.iter().all(|m| m.code.is_some()));
        }
        e => panic!("{e:?}"),
    }
    assert!(emu.clients().await.is_empty());

    // 409: a second rotation while one is pending.
    let id = cf.create(&create_body("C")).await.unwrap().client.client_id;
    cf.rotate_secret(&id).await.unwrap();
    let e = cf.rotate_secret(&id).await.unwrap_err();
    assert!(matches!(e, ProviderError::Conflict { .. }), "{e:?}");
    assert!(e.to_string().starts_with("conflict: "), "{e}");

    // 429 with its Retry-After, when the policy does not retry.
    let no_retry = CloudflareClient::standalone(
        emu.config(CloudflareCredentials::api_token(TOKEN))
            .with_retry(RetryPolicy::never()),
    )
    .unwrap();
    emu.faults(json!({"p_429": 1.0, "times": 1})).await;
    match no_retry.list().await.unwrap_err() {
        ProviderError::RateLimited {
            retry_after,
            messages,
        } => {
            assert_eq!(retry_after, Some(Duration::from_secs(1)));
            assert_eq!(messages[0].code.as_deref(), Some("971"));
        }
        e => panic!("{e:?}"),
    }

    // 5xx, when the policy does not retry.
    emu.faults(json!({"p_500": 1.0, "times": 1})).await;
    // (The 429 above holds this client's limiter for its 1 s Retry-After first.)
    let e = no_retry.get(&id).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::Server { status: 500, .. }),
        "{e:?}"
    );
    assert!(e.is_retryable());
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let emu = Emu::start(&[]).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook: RequestHook = {
        let seen = seen.clone();
        Arc::new(move |r: &RequestRecord<'_>| {
            seen.lock()
                .unwrap()
                .push((r.operation, r.attempt, r.status, r.error));
        })
    };
    let cf = emu.client().with_request_hook(hook);
    emu.faults(json!({"p_429": 1.0, "times": 2, "methods": ["GET"]}))
        .await;
    let start = Instant::now();
    assert!(cf.list().await.unwrap().is_empty());
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (Operation::List, 0, Some(429), Some("rate_limited")),
            (Operation::List, 1, Some(429), Some("rate_limited")),
            (Operation::List, 2, Some(200), None),
        ]
    );
    let elapsed = start.elapsed();
    // Two 429s with `Retry-After: 1`, each waited for in full.
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert_eq!(emu.count("list").await, 3);

    // A Retry-After longer than the policy allows goes back to the caller at once,
    // and holds every caller of the account without another request.
    let emu = Emu::start(&["--rate-limit", "2/1m"]).await;
    let cf = emu.client();
    cf.list().await.unwrap();
    cf.list().await.unwrap();
    let start = Instant::now();
    let e = cf.list().await.unwrap_err();
    let after = e.retry_after().expect("a Retry-After");
    assert!(after > fast_retry().max_retry_after, "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    let other_caller = cf.clone();
    let e = other_caller.get("x1").await.unwrap_err();
    assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
    assert_eq!(emu.count("list").await, 3);
    assert_eq!(emu.count("get").await, 0);
}

#[tokio::test]
async fn create_is_not_retried_after_a_dropped_connection() {
    let emu = Emu::start(&[]).await;
    let cf = emu.client();
    emu.faults(json!({"p_drop_after_commit": 1.0, "methods": ["POST"], "times": 1}))
        .await;
    match cf.create(&create_body("Dropped")).await.unwrap_err() {
        ProviderError::OutcomeUnknown { operation, .. } => {
            assert_eq!(operation, Operation::Create)
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(emu.count("create").await, 1);
    let clients = emu.clients().await;
    assert_eq!(clients.len(), 1, "exactly one client: {clients:?}");
    // The reconciler resolves the unknown outcome by listing.
    let listed = cf.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].client_name.as_deref(), Some("Dropped"));
}

#[tokio::test]
async fn create_and_rotate_are_not_retried_on_5xx_but_are_on_429() {
    let emu = Emu::start(&[]).await;
    let cf = emu.client();
    emu.faults(json!({"p_503": 1.0, "methods": ["POST"], "times": 1}))
        .await;
    let e = cf.create(&create_body("A")).await.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::OutcomeUnknown {
                operation: Operation::Create,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(emu.count("create").await, 1);

    // A 429 proves nothing was done: create is retried.
    emu.faults(json!({"p_429": 1.0, "methods": ["POST"], "times": 1}))
        .await;
    let id = cf.create(&create_body("B")).await.unwrap().client.client_id;
    assert_eq!(emu.count("create").await, 3);
    assert_eq!(emu.clients().await.len(), 1);

    // Rotate: a dropped connection after the rotation happened is OutcomeUnknown,
    // and the rotation is not repeated.
    emu.faults(json!({"p_drop_after_commit": 1.0, "path": "rotate_secret", "times": 1}))
        .await;
    let e = cf.rotate_secret(&id).await.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::OutcomeUnknown {
                operation: Operation::RotateSecret,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(emu.count("rotate_secret").await, 1);
    assert_eq!(cf.get(&id).await.unwrap().has_rotated_secret, Some(true));
}

#[tokio::test]
async fn patch_and_delete_are_retried() {
    let emu = Emu::start(&[]).await;
    let cf = emu.client();
    let id = cf.create(&create_body("P")).await.unwrap().client.client_id;

    emu.faults(json!({"p_503": 1.0, "methods": ["PATCH"], "times": 2}))
        .await;
    let patch = UpdateOAuthClient {
        client_name: Some("P2".into()),
        ..Default::default()
    };
    let updated = cf.update(&id, &patch).await.unwrap();
    assert_eq!(updated.client_name.as_deref(), Some("P2"));
    assert_eq!(emu.count("update").await, 3);

    // A PATCH whose answer is lost is simply repeated.
    emu.faults(json!({"p_drop_after_commit": 1.0, "methods": ["PATCH"], "times": 1}))
        .await;
    let patch = UpdateOAuthClient {
        client_name: Some("P3".into()),
        ..Default::default()
    };
    assert_eq!(
        cf.update(&id, &patch).await.unwrap().client_name.as_deref(),
        Some("P3")
    );

    // A DELETE whose answer is lost: the retry finds the client gone.
    emu.faults(json!({"p_drop_after_commit": 1.0, "methods": ["DELETE"], "times": 1}))
        .await;
    assert_eq!(cf.delete(&id).await.unwrap(), Deleted::AlreadyAbsent);
    assert_eq!(emu.count("delete").await, 2);
    assert!(emu.clients().await.is_empty());
}

#[tokio::test]
async fn one_rate_limiter_per_account_shared_by_every_caller() {
    let emu = Emu::start(&[]).await;
    let waits = Arc::new(AtomicU64::new(0));
    let hook: WaitHook = {
        let waits = waits.clone();
        Arc::new(move |_key, _waited| {
            waits.fetch_add(1, Ordering::SeqCst);
        })
    };
    let registry = RateLimiterRegistry::with_wait_hook(hook);
    let http = build_client(&HttpOptions::default()).unwrap();
    let limit = RateLimitConfig::new(3, Duration::from_secs(1));
    let make = |account: &str| {
        CloudflareClient::new(
            CloudflareConfig::new(account, CloudflareCredentials::api_token(TOKEN))
                .with_base_url(format!("{}/", emu.base_url()))
                .with_rate_limit(limit),
            http.clone(),
            &registry,
        )
        .unwrap()
    };
    let (a, b) = (make(ACCT), make(ACCT));
    let other = make(OTHER_ACCT);
    assert!(Arc::ptr_eq(a.limiter(), b.limiter()));
    assert!(!Arc::ptr_eq(a.limiter(), other.limiter()));

    let start = Instant::now();
    let calls = (0..6).map(|i| {
        let c = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move { c.list().await.unwrap() }
    });
    futures::future::join_all(calls).await;
    let elapsed = start.elapsed();
    // 3 calls at once, the next 3 one period later.
    assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(waits.load(Ordering::SeqCst), 3);

    // The other account has its own budget.
    let start = Instant::now();
    for _ in 0..3 {
        other.list().await.unwrap();
    }
    assert!(start.elapsed() < Duration::from_millis(500));
    assert_eq!(emu.count("list").await, 9);
}

#[tokio::test]
async fn timeouts_and_connect_errors() {
    let emu = Emu::start(&[]).await;
    let registry = RateLimiterRegistry::new();
    let http = build_client(&HttpOptions {
        timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    })
    .unwrap();
    let cf = CloudflareClient::new(
        emu.config(CloudflareCredentials::api_token(TOKEN)),
        http,
        &registry,
    )
    .unwrap();
    emu.faults(json!({"latency_ms": 1000})).await;
    let e = cf.list().await.unwrap_err();
    assert!(matches!(e, ProviderError::Transport { .. }), "{e:?}");
    assert!(e.to_string().contains("timed out"), "{e}");
    let e = cf.create(&create_body("Slow")).await.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::OutcomeUnknown {
                operation: Operation::Create,
                ..
            }
        ),
        "{e:?}"
    );
    emu.faults(json!({})).await;

    // Nothing listens: a connect error, retried, and never "outcome unknown".
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cf = CloudflareClient::standalone(
        CloudflareConfig::new(ACCT, CloudflareCredentials::api_token(TOKEN))
            .with_base_url(format!("http://{closed}/client/v4"))
            .with_retry(fast_retry()),
    )
    .unwrap();
    let e = cf.create(&create_body("Nowhere")).await.unwrap_err();
    assert!(matches!(e, ProviderError::Transport { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn oversized_responses_are_refused() {
    let emu = Emu::start(&[]).await;
    let cf = emu.client();
    cf.create(&create_body("Big")).await.unwrap();
    let mut cfg = emu.config(CloudflareCredentials::api_token(TOKEN));
    cfg.transport.body_limits = BodyLimits {
        object: 64,
        list: 128,
    };
    let small = CloudflareClient::standalone(cfg).unwrap();
    let e = small.list().await.unwrap_err();
    assert!(matches!(e, ProviderError::Decode { .. }), "{e:?}");
    assert!(e.to_string().contains("larger than 128 bytes"), "{e}");
    // A create whose answer cannot be read did happen: outcome unknown.
    let e = small.create(&create_body("Big2")).await.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::OutcomeUnknown {
                operation: Operation::Create,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(emu.clients().await.len(), 2);
}

/// Cloudflare's LIST is a single page holding every client of the account, so it
/// may be far larger than any one object: the default limits read a LIST over the
/// object cap (here ~9 MiB from 46 clients with 100 long redirect URIs each).
#[tokio::test]
async fn a_list_larger_than_the_object_cap_is_read() {
    let emu = Emu::start(&[]).await;
    let cf = emu.client();
    let long_uri = |c: usize, i: usize| {
        format!(
            "https://app.example.com/{}/{c}/{i}",
            "p".repeat(MAX_URI_LEN - 40)
        )
    };
    let count = 46;
    let mut bytes = 0;
    for c in 0..count {
        let mut body = create_body(&format!("Big {c}"));
        body.redirect_uris = (0..100).map(|i| long_uri(c, i)).collect();
        bytes += body.redirect_uris.iter().map(String::len).sum::<usize>();
        cf.create(&body).await.unwrap();
    }
    assert!(bytes > DEFAULT_MAX_BODY_BYTES, "{bytes} bytes of URIs");
    let listed = cf.list().await.unwrap();
    assert_eq!(listed.len(), count);
    assert!(
        listed
            .iter()
            .all(|c| c.redirect_uris.as_ref().is_some_and(|u| u.len() == 100))
    );
}

#[tokio::test]
async fn request_headers_and_redirects_are_not_followed() {
    // A base URL that redirects, simulated with a tiny raw HTTP server that also
    // hands back what it received.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let n = s.read(&mut buf).await.unwrap_or(0);
            let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
            let _ = s
                .write_all(
                    b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://elsewhere.example/client/v4\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
        }
    });
    let cf = CloudflareClient::standalone(
        CloudflareConfig::new(ACCT, CloudflareCredentials::api_token(TOKEN))
            .with_base_url(format!("http://{addr}/client/v4"))
            .with_retry(fast_retry()),
    )
    .unwrap();
    match cf.list().await.unwrap_err() {
        ProviderError::UnexpectedStatus { status, message } => {
            assert_eq!(status, 301);
            assert!(message.contains("elsewhere.example"), "{message}");
        }
        e => panic!("{e:?}"),
    }
    let request = rx.recv().await.unwrap().to_ascii_lowercase();
    assert!(
        request.starts_with(&format!("get /client/v4/accounts/{ACCT}/oauth_clients ")),
        "{request}"
    );
    let ua = format!("user-agent: clientops/{}\r\n", env!("CARGO_PKG_VERSION"));
    assert!(request.contains(&ua), "{request}");
    assert!(request.contains(&format!("authorization: bearer {TOKEN}\r\n")));
    assert!(request.contains("accept: application/json\r\n"));
    // Exactly one request: a redirect is neither followed nor retried.
    assert!(rx.try_recv().is_err());

    // rotate_secret is a bodyless POST with Content-Length: 0, like the SDKs.
    let _ = cf.rotate_secret("c1").await.unwrap_err();
    let request = rx.recv().await.unwrap().to_ascii_lowercase();
    assert!(
        request.starts_with("post /client/v4/accounts/"),
        "{request}"
    );
    assert!(request.contains("content-length: 0\r\n"), "{request}");
}

/// The neutral fields a create body asks for (what the controller derives from a spec).
fn fields_of(c: &clientops::provider::cloudflare::wire::CreateOAuthClient) -> ClientFields {
    ClientFields {
        name: c.client_name.clone(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone().unwrap_or_default(),
        grant_types: c.grant_types.iter().cloned().collect(),
        response_types: c.response_types.iter().cloned().collect(),
        scopes: c.scopes.iter().cloned().collect(),
        token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
        allowed_cors_origins: c.allowed_cors_origins.iter().flatten().cloned().collect(),
        client_uri: c.client_uri.clone(),
        logo_uri: c.logo_uri.clone(),
        policy_uri: c.policy_uri.clone(),
        tos_uri: c.tos_uri.clone(),
        own: OwnFields::new(CloudflareFields {
            optional_scopes: c.optional_scopes.iter().flatten().cloned().collect(),
            public: None,
        }),
    }
}

/// Proof of ownership: the emulator's token endpoint authenticates the client by
/// its registered method; nothing changes and no token is issued.
#[tokio::test]
async fn verify_secret_asks_the_token_endpoint() {
    use clientops::provider::cloudflare::adapter::CloudflareProvider;
    use clientops::provider::model::{Provider, SecretCheck};
    use clientops::secret::ClientSecret;

    let emu = Emu::start(&[]).await;
    let cf = emu.client();
    assert_eq!(
        cf.token_url().as_str(),
        format!("http://{}/oauth2/token", emu.addr)
    );
    let provider = CloudflareProvider::new(cf.clone());
    let basic = cf.create(&create_body("Basic")).await.unwrap();
    let mut post_body = create_body("Post");
    post_body.token_endpoint_auth_method = "client_secret_post".into();
    let post = cf.create(&post_body).await.unwrap();
    let mut public_body = create_body("Public");
    public_body.token_endpoint_auth_method = "none".into();
    let public = cf.create(&public_body).await.unwrap();
    let wrong = ClientSecret::new("wr0ng+/%:&=Secret");
    let before = emu.clients().await;

    for c in [&basic, &post] {
        let id = &c.client.client_id;
        let right = c.client_secret.clone().unwrap();
        assert_eq!(
            provider.verify_secret(id, &right).await.unwrap(),
            SecretCheck::Accepted,
            "{id}"
        );
        assert_eq!(
            provider.verify_secret(id, &wrong).await.unwrap(),
            SecretCheck::Rejected,
            "{id}"
        );
    }
    match provider
        .verify_secret(&public.client.client_id, &wrong)
        .await
        .unwrap()
    {
        SecretCheck::Unsupported(why) => assert!(why.contains("public client"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(emu.count("token").await, 4);
    // Nothing changed.
    assert_eq!(emu.clients().await, before);

    // The previous secret proves ownership until it is deleted.
    let id = &basic.client.client_id;
    let old = basic.client_secret.clone().unwrap();
    let new = cf.rotate_secret(id).await.unwrap();
    assert_eq!(
        provider.verify_secret(id, &old).await.unwrap(),
        SecretCheck::Accepted
    );
    cf.delete_rotated_secret(id).await.unwrap();
    assert_eq!(
        provider.verify_secret(id, &old).await.unwrap(),
        SecretCheck::Rejected
    );
    assert_eq!(
        provider.verify_secret(id, &new).await.unwrap(),
        SecretCheck::Accepted
    );

    // An unknown client is NotFound; a failing token endpoint is an error that
    // never holds the secret.
    let e = provider
        .verify_secret("0".repeat(32).as_str(), &new)
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");
    emu.faults(json!({"p_503": 1.0, "path": "oauth2/token"}))
        .await;
    let e = provider.verify_secret(id, &new).await.unwrap_err();
    assert!(
        matches!(e, ProviderError::Server { status: 503, .. }),
        "{e:?}"
    );
    assert!(e.is_retryable());
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(new.expose()), "{text}");
    }
    // 4 checks, 3 after the rotation, none for the unknown client (its GET
    // fails), and the failing one retried like any idempotent call: 4 attempts.
    assert_eq!(emu.count("token").await, 4 + 3 + 4);
}

/// Cloudflare's LIST is one page: the LIST budget's bytes bound it; an account
/// within the budget lists.
#[tokio::test]
async fn the_list_budget_bounds_the_single_page() {
    use clientops::provider::list_budget::ListBudget;

    let emu = Emu::start(&[]).await;
    let cf = emu.client();
    for i in 0..5 {
        cf.create(&create_body(&format!("App {i}"))).await.unwrap();
    }
    let budget = |max_bytes| ListBudget {
        max_pages: 1000,
        max_bytes,
    };
    let small = CloudflareClient::standalone(
        emu.config(CloudflareCredentials::api_token(TOKEN))
            .with_list_budget(budget(1000)),
    )
    .unwrap();
    let e = small.list().await.unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::ListTooLarge {
                pages: 0,
                bytes: 0,
                max_bytes: 1000,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("--list-max-bytes"), "{e}");
    assert!(!e.is_retryable());
    // Not retried: one LIST reached the emulator.
    assert_eq!(emu.count("list").await, 1);
    let enough = CloudflareClient::standalone(
        emu.config(CloudflareCredentials::api_token(TOKEN))
            .with_list_budget(budget(100_000)),
    )
    .unwrap();
    assert_eq!(enough.list().await.unwrap().len(), 5);
}
