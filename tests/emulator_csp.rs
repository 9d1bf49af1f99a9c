//! The CSP emulator over real HTTP: started in-process on 127.0.0.1:0, driven
//! with reqwest exactly as a CSP client would be.

use std::path::PathBuf;
use std::time::Duration;

use clientops::emulator::core::RateLimit;
use clientops::emulator::csp::auth::AuthConfig;
use clientops::emulator::csp::{Config, Emulator, RunningEmulator};
use clientops::secret::ClientSecret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ORG: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const API_TOKEN: &str = "emulator-test-api-token";

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

struct Env {
    run: RunningEmulator,
    http: reqwest::Client,
    access: String,
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn ok(&self) -> &Value {
        assert!(
            self.status.is_success(),
            "expected success, got {} {}",
            self.status,
            self.body
        );
        &self.body
    }

    /// Asserts a `CspErrorResponse` with `status`; returns its message.
    fn error(&self, status: StatusCode) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["statusCode"], status.as_u16(), "{}", self.body);
        assert!(self.body["errorCode"].is_string(), "{}", self.body);
        assert!(self.body["cspErrorCode"].is_string(), "{}", self.body);
        assert!(self.body["requestId"].is_string(), "{}", self.body);
        assert!(self.body["moduleCode"].is_i64(), "{}", self.body);
        self.body["message"].as_str().unwrap().to_string()
    }
}

fn config() -> Config {
    Config {
        auth: AuthConfig {
            tokens: vec![ClientSecret::new(API_TOKEN)],
        },
        orgs: vec![ORG.into()],
        rate_limit: None,
        deletion_delay: Duration::ZERO,
        // Long enough that moving the clock by days keeps the test's token valid.
        access_token_ttl: Duration::from_secs(1000 * 86_400),
        ..Config::default()
    }
}

async fn start(cfg: Config) -> Env {
    let run = Emulator::start(cfg, "127.0.0.1:0").await.unwrap();
    let mut env = Env {
        run,
        http: http(),
        access: String::new(),
    };
    env.access = env.exchange(API_TOKEN).await.ok()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    env
}

impl Env {
    fn apps(&self) -> String {
        format!(
            "{}/csp/gateway/am/api/orgs/{ORG}/oauth-apps",
            self.run.base_url()
        )
    }

    fn app(&self, id: &str) -> String {
        format!("{}/{id}", self.apps())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("transport error");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text:?}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn exchange(&self, token: &str) -> Answer {
        self.send(
            self.http
                .post(format!(
                    "{}/csp/gateway/am/api/auth/api-tokens/authorize",
                    self.run.base_url()
                ))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("api_token={token}")),
        )
        .await
    }

    async fn call(&self, method: Method, url: &str, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, url).bearer_auth(&self.access);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.run.admin_url()));
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    async fn valid(&self, id: &str, secret: &str) -> bool {
        self.admin(
            Method::POST,
            "/credentials/check",
            Some(json!({"client_id": id, "client_secret": secret})),
        )
        .await
        .ok()["valid"]
            .as_bool()
            .unwrap()
    }

    async fn advance(&self, d: &str) {
        self.admin(Method::POST, "/clock/advance", Some(json!({"duration": d})))
            .await
            .ok();
    }

    async fn create(&self, id: &str, secret: &str) -> Answer {
        self.call(Method::POST, &self.apps(), Some(app_body(id, secret)))
            .await
    }

    async fn rotate(&self, id: &str, secret: &str, expiry: Option<i64>) -> Answer {
        let mut body = json!({ "newClientSecret": secret });
        if let Some(e) = expiry {
            body["secretRotationExpirationInSeconds"] = json!(e);
        }
        self.call(
            Method::POST,
            &format!("{}/secret", self.app(id)),
            Some(body),
        )
        .await
    }
}

fn app_body(id: &str, secret: &str) -> Value {
    json!({
        "id": id,
        "secret": secret,
        "displayName": format!("App {id}"),
        "description": "test app",
        "grantTypes": ["client_credentials"],
        "allowedScopes": {"generalScopes": ["openid"], "organizationScopes": {"roles": [{"name": "org_member"}]}},
        "accessTokenTTL": 1800,
    })
}

#[tokio::test]
async fn token_exchange_and_access_tokens() {
    let env = start(Config {
        access_token_ttl: Duration::from_secs(1800),
        ..config()
    })
    .await;
    let a = env.exchange(API_TOKEN).await;
    let body = a.ok();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 1800);
    // Unknown API tokens and missing ones.
    env.exchange("wrong").await.error(StatusCode::BAD_REQUEST);
    let a = env
        .send(env.http.post(format!(
            "{}/csp/gateway/am/api/auth/api-tokens/authorize",
            env.run.base_url()
        )))
        .await;
    assert!(a.error(StatusCode::BAD_REQUEST).contains("api_token"));
    // The deprecated refresh_token query parameter still works.
    let a = env
        .send(env.http.post(format!(
            "{}/csp/gateway/am/api/auth/api-tokens/authorize?refresh_token={API_TOKEN}",
            env.run.base_url()
        )))
        .await;
    let access = a.ok()["access_token"].as_str().unwrap().to_string();
    // csp-auth-token works as well as Authorization: Bearer.
    let a = env
        .send(env.http.get(env.apps()).header("csp-auth-token", &access))
        .await;
    a.ok();
    // No token, a wrong one, an expired one: 401.
    env.send(env.http.get(env.apps()))
        .await
        .error(StatusCode::UNAUTHORIZED);
    env.send(env.http.get(env.apps()).bearer_auth("nope"))
        .await
        .error(StatusCode::UNAUTHORIZED);
    env.advance("31m").await;
    let msg = env
        .call(Method::GET, &env.apps(), None)
        .await
        .error(StatusCode::UNAUTHORIZED);
    assert!(msg.contains("expired"), "{msg}");
}

#[tokio::test]
async fn create_rules_ids_and_secrets() {
    let env = start(config()).await;
    let a = env.create("my-app_01", "Str0ng-secret").await;
    assert_eq!(a.ok()["clientId"], "my-app_01");
    assert_eq!(a.ok()["clientSecret"], "Str0ng-secret");
    assert!(env.valid("my-app_01", "Str0ng-secret").await);
    // The same id again: 409.
    let msg = env
        .create("my-app_01", "Str0ng-secret")
        .await
        .error(StatusCode::CONFLICT);
    assert!(msg.contains("already exists"), "{msg}");
    // Id rules.
    for bad in ["abcd", "has space", "a/b/c/d/e", &"x".repeat(257)] {
        let msg = env
            .create(bad, "Str0ng-secret")
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(msg.contains("id:"), "{bad}: {msg}");
    }
    // Secret rules; the message never repeats the secret.
    for (bad, why) in [
        ("Sh0rt-", "at least 8"),
        ("nouppercase1-", "upper-case"),
        ("NoDigits-here", "digit"),
        ("NoSpecial123", "special"),
    ] {
        let msg = env
            .create("secret-rules", bad)
            .await
            .error(StatusCode::BAD_REQUEST);
        assert!(msg.contains(why), "{bad}: {msg}");
        assert!(!msg.contains(bad), "{msg}");
    }
    // Required fields and other rules, all at once.
    let msg = env
        .call(
            Method::POST,
            &env.apps(),
            Some(json!({"displayName": "Bad<name>", "grantTypes": ["implicit"]})),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
    for part in [
        "description is required",
        "allowedScopes is required",
        "displayName may contain",
        "\"implicit\"",
    ] {
        assert!(msg.contains(part), "{part}: {msg}");
    }
    // No id and no secret: both generated; the secret meets the rules.
    let mut body = app_body("x", "x");
    body.as_object_mut().unwrap().remove("id");
    body.as_object_mut().unwrap().remove("secret");
    let a = env.call(Method::POST, &env.apps(), Some(body)).await;
    let id = a.ok()["clientId"].as_str().unwrap().to_string();
    let secret = a.ok()["clientSecret"].as_str().unwrap().to_string();
    clientops::provider::csp::wire::check_client_id(&id).unwrap();
    clientops::provider::csp::wire::check_secret(&secret).unwrap();
    // Get never shows a secret; it shows the app in CSP's shape.
    let a = env.call(Method::GET, &env.app("my-app_01"), None).await;
    let app = a.ok();
    assert_eq!(app["organizationId"], ORG);
    assert_eq!(app["accessTokenTTL"], 1800);
    assert_eq!(app["refreshTokenTTL"], 7_776_000);
    assert!(app["createdAt"].as_i64().unwrap() > 1_000_000_000_000, "ms");
    assert!(!a.body.to_string().contains("Str0ng-secret"));
    env.call(Method::GET, &env.app("missing-app"), None)
        .await
        .error(StatusCode::NOT_FOUND);
    // Not a JSON object: 400; wrong method: 405.
    let a = env
        .send(
            env.http
                .post(env.apps())
                .bearer_auth(&env.access)
                .body("[1]"),
        )
        .await;
    a.error(StatusCode::BAD_REQUEST);
    env.call(Method::PUT, &env.apps(), Some(json!({})))
        .await
        .error(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn patch_requires_the_three_fields() {
    let env = start(config()).await;
    env.create("patch-app", "Str0ng-secret").await.ok();
    let msg = env
        .call(
            Method::PATCH,
            &env.app("patch-app"),
            Some(json!({"displayName": "New"})),
        )
        .await
        .error(StatusCode::BAD_REQUEST);
    assert!(msg.contains("description is required") && msg.contains("grantTypes is required"));
    let a = env
        .call(
            Method::PATCH,
            &env.app("patch-app"),
            Some(json!({"displayName": "New", "description": "d", "grantTypes": ["client_credentials"], "forcePkce": true})),
        )
        .await;
    assert_eq!(a.ok()["displayName"], "New");
    assert_eq!(a.ok()["forcePkce"], true);
    assert_eq!(a.ok()["accessTokenTTL"], 1800, "unchanged");
    // A secret in a PATCH replaces every secret (and ends a rotation).
    env.rotate("patch-app", "Second-secret1", None).await.ok();
    env.call(
        Method::PATCH,
        &env.app("patch-app"),
        Some(json!({"displayName": "New", "description": "d", "grantTypes": ["client_credentials"], "secret": "Third-secret1"})),
    )
    .await
    .ok();
    assert!(!env.valid("patch-app", "Str0ng-secret").await);
    assert!(!env.valid("patch-app", "Second-secret1").await);
    assert!(env.valid("patch-app", "Third-secret1").await);
}

#[tokio::test]
async fn list_pages_with_links_and_search() {
    let env = start(config()).await;
    for i in 0..5 {
        env.create(&format!("page-app-{i}"), "Str0ng-secret")
            .await
            .ok();
    }
    let e = &env;
    let page = move |q: &str| {
        let url = format!("{}?{q}", e.apps());
        async move { e.call(Method::GET, &url, None).await }
    };
    let a = page("pageStart=0&pageLimit=2").await;
    let b = a.ok();
    assert_eq!(b["totalResults"], 5);
    assert_eq!(b["results"].as_array().unwrap().len(), 2);
    assert_eq!(b["results"][0]["id"], "page-app-0");
    assert_eq!(
        b["nextLink"],
        format!("/csp/gateway/am/api/orgs/{ORG}/oauth-apps?pageStart=2&pageLimit=2")
    );
    assert!(b.get("prevLink").is_none());
    let a = page("pageStart=4&pageLimit=2").await;
    let b = a.ok();
    assert_eq!(b["results"][0]["id"], "page-app-4");
    assert!(b.get("nextLink").is_none());
    assert!(b["prevLink"].as_str().unwrap().contains("pageStart=2"));
    // Defaults: everything from 0.
    let a = env.call(Method::GET, &env.apps(), None).await;
    assert_eq!(a.ok()["results"].as_array().unwrap().len(), 5);
    let a = page("searchTerm=APP-3").await;
    assert_eq!(a.ok()["totalResults"], 1);
    page("pageLimit=0").await.error(StatusCode::BAD_REQUEST);
    page("pageStart=-1").await.error(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bulk_delete_and_deletion_in_progress() {
    let env = start(Config {
        deletion_delay: Duration::from_secs(60),
        ..config()
    })
    .await;
    for id in ["del-one", "del-two", "del-fixed"] {
        env.create(id, "Str0ng-secret").await.ok();
    }
    env.admin(
        Method::POST,
        "/clients/del-fixed/immutable",
        Some(json!({"immutable": true})),
    )
    .await
    .ok();
    let e = &env;
    let del = move |ids: Value| {
        let url = e.apps();
        async move {
            e.call(
                Method::DELETE,
                &url,
                Some(json!({ "clientIdsToDelete": ids })),
            )
            .await
        }
    };
    let a = del(json!(["del-one", "del-fixed", "del-unknown"])).await;
    assert_eq!(
        a.ok(),
        &json!({"succeeded": ["del-one"], "failed": ["del-fixed", "del-unknown"]})
    );
    // None exists: 404.
    let msg = del(json!(["del-one"])).await.error(StatusCode::NOT_FOUND);
    assert!(msg.contains("not found"), "{msg}");
    del(json!([])).await.error(StatusCode::BAD_REQUEST);
    let many: Vec<String> = (0..16).map(|i| format!("id-{i:03}")).collect();
    del(json!(many)).await.error(StatusCode::BAD_REQUEST);
    env.call(Method::DELETE, &env.apps(), None)
        .await
        .error(StatusCode::BAD_REQUEST);
    // While the deletion runs, the id is reserved: 409; the app is gone.
    env.call(Method::GET, &env.app("del-one"), None)
        .await
        .error(StatusCode::NOT_FOUND);
    let deleting = env.admin(Method::GET, "/deleting", None).await;
    assert_eq!(deleting.ok()["deleting"][0]["client_id"], "del-one");
    let msg = env
        .create("del-one", "Str0ng-secret")
        .await
        .error(StatusCode::CONFLICT);
    assert!(msg.contains("in progress"), "{msg}");
    env.advance("61s").await;
    env.create("del-one", "Str0ng-secret").await.ok();
}

#[tokio::test]
async fn rotation_expiry_and_retirement() {
    let env = start(config()).await;
    env.create("rot-app", "First-secret1").await.ok();
    // Retiring with no rotation in progress: 400.
    let url = format!("{}/secret", env.app("rot-app"));
    env.call(Method::DELETE, &url, None)
        .await
        .error(StatusCode::BAD_REQUEST);
    // Rotate with a one-hour overlap.
    let a = env.rotate("rot-app", "Second-secret1", Some(3600)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(env.valid("rot-app", "First-secret1").await);
    assert!(env.valid("rot-app", "Second-secret1").await);
    let admin = env.admin(Method::GET, "/clients/rot-app", None).await;
    assert_eq!(admin.ok()["secret_count"], 2);
    assert!(admin.ok()["previous_secret_expires_at"].is_string());
    // The same secret again is an idempotent repeat; another one is 409.
    env.rotate("rot-app", "Second-secret1", Some(3600))
        .await
        .ok();
    let msg = env
        .rotate("rot-app", "Third-secret1", None)
        .await
        .error(StatusCode::CONFLICT);
    assert!(msg.contains("in progress"), "{msg}");
    env.rotate("rot-app", "weak", None)
        .await
        .error(StatusCode::BAD_REQUEST);
    // The overlap ends on the emulator's clock.
    env.advance("3601s").await;
    assert!(!env.valid("rot-app", "First-secret1").await);
    assert!(env.valid("rot-app", "Second-secret1").await);
    env.call(Method::DELETE, &url, None)
        .await
        .error(StatusCode::BAD_REQUEST);
    // The app's own default overlap, then early retirement.
    env.rotate("rot-app", "Third-secret1", None).await.ok();
    env.advance("47h").await;
    assert!(env.valid("rot-app", "Second-secret1").await);
    env.call(Method::DELETE, &url, None).await.ok();
    assert!(!env.valid("rot-app", "Second-secret1").await);
    // Overlap 0: the old secret stops at once.
    env.rotate("rot-app", "Fourth-secret1", Some(0)).await.ok();
    assert!(!env.valid("rot-app", "Third-secret1").await);
    // PUT regenerates (no overlap) and needs a JSON object.
    env.call(Method::PUT, &url, None)
        .await
        .error(StatusCode::BAD_REQUEST);
    let a = env.call(Method::PUT, &url, Some(json!({}))).await;
    let s = a.ok()["clientSecret"].as_str().unwrap().to_string();
    assert!(env.valid("rot-app", &s).await);
    assert!(!env.valid("rot-app", "Fourth-secret1").await);
    env.rotate("missing-app", "Fifth-secret1", None)
        .await
        .error(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_apps_own_token_endpoint() {
    let env = start(config()).await;
    env.create("cc-app", "Client-secret1").await.ok();
    let mut body = app_body("code-app", "Client-secret1");
    body["grantTypes"] = json!(["authorization_code"]);
    body["redirectUris"] = json!(["https://app.example.com/cb"]);
    env.call(Method::POST, &env.apps(), Some(body)).await.ok();
    let token = |id: &str, secret: &str| {
        env.send(
            env.http
                .post(format!(
                    "{}/csp/gateway/am/api/auth/token",
                    env.run.base_url()
                ))
                .basic_auth(id, Some(secret))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials"),
        )
    };
    let a = token("cc-app", "Client-secret1").await;
    assert_eq!(a.ok()["expires_in"], 1800);
    let a = token("cc-app", "Wrong-secret1").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body["error"], "invalid_client");
    let a = token("code-app", "Client-secret1").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body["error"], "unauthorized_client");
    let app = env.call(Method::GET, &env.app("cc-app"), None).await;
    assert!(app.ok()["lastUsedAt"].is_i64());
}

#[tokio::test]
async fn faults_rate_limits_and_strict_orgs() {
    let env = start(Config {
        rate_limit: Some("3/60s".parse::<RateLimit>().unwrap()),
        strict_orgs: true,
        ..config()
    })
    .await;
    // Drop after commit: the app exists, the caller saw no answer.
    env.admin(
        Method::PUT,
        "/faults",
        Some(json!({"p_drop_after_commit": 1.0, "times": 1, "methods": ["POST"], "path": "oauth-apps"})),
    )
    .await
    .ok();
    let r = env
        .http
        .post(env.apps())
        .bearer_auth(&env.access)
        .json(&app_body("dropped-app", "Str0ng-secret"))
        .send()
        .await;
    assert!(r.is_err(), "the connection was dropped");
    assert!(env.valid("dropped-app", "Str0ng-secret").await);
    // Injected 503 in CSP's error shape.
    env.admin(
        Method::PUT,
        "/faults",
        Some(json!({"p_503": 1.0, "times": 1})),
    )
    .await
    .ok();
    env.call(Method::GET, &env.apps(), None)
        .await
        .error(StatusCode::SERVICE_UNAVAILABLE);
    // Strict organisations: unknown ones are 404.
    let other = env
        .call(
            Method::GET,
            &format!(
                "{}/csp/gateway/am/api/orgs/00000000-0000-0000-0000-000000000000/oauth-apps",
                env.run.base_url()
            ),
            None,
        )
        .await;
    assert!(other.error(StatusCode::NOT_FOUND).contains("Organization"));
    // The budget (3/60s, the exchange included) runs out: 429 with Retry-After.
    let mut limited = None;
    for _ in 0..5 {
        let a = env.call(Method::GET, &env.apps(), None).await;
        if a.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(a);
            break;
        }
        assert!(a.headers.contains_key("ratelimit"));
    }
    let a = limited.expect("rate limited");
    a.error(StatusCode::TOO_MANY_REQUESTS);
    assert!(a.headers.contains_key("retry-after"));
    let req = env.admin(Method::GET, "/requests", None).await;
    assert!(
        req.ok()["operations"]["list"]["by_status"]["429"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[tokio::test]
async fn state_survives_a_restart_and_reset_clears_it() {
    let dir = std::env::temp_dir().join(format!("clientops-csp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join("state.json");
    let _ = std::fs::remove_file(&path);
    let cfg = Config {
        state_file: Some(path.clone()),
        ..config()
    };
    let env = start(cfg.clone()).await;
    env.create("durable-app", "Str0ng-secret").await.ok();
    env.rotate("durable-app", "Second-secret1", Some(3600))
        .await
        .ok();
    env.run.shutdown().await.unwrap();
    let env = start(cfg).await;
    assert!(env.valid("durable-app", "Str0ng-secret").await);
    assert!(env.valid("durable-app", "Second-secret1").await);
    let a = env.admin(Method::GET, "/clients", None).await;
    assert_eq!(a.ok()["clients"][0]["id"], "durable-app");
    assert_eq!(
        env.admin(Method::GET, "/orgs", None).await.ok()["orgs"],
        json!([ORG])
    );
    env.admin(Method::POST, "/reset", None).await.ok();
    assert!(!env.valid("durable-app", "Str0ng-secret").await);
    // Access tokens do not survive a reset.
    env.call(Method::GET, &env.apps(), None)
        .await
        .error(StatusCode::UNAUTHORIZED);
    let a = env.admin(Method::GET, "/no-such-endpoint", None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    std::fs::remove_dir_all(&dir).unwrap();
}
