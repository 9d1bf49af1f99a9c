//! The Cloudflare emulator over real HTTP: started in-process on 127.0.0.1:0 (and
//! once as the built binary), driven with reqwest.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clientops::emulator::cloudflare::auth::AuthConfig;
use clientops::emulator::cloudflare::{Config, Emulator, RunningEmulator};
use clientops::emulator::core::RateLimit;
use clientops::secret::ClientSecret;
use proptest::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ACCT: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const TOKEN: &str = "test-token";

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
}

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Answer {
    fn result(&self) -> &Value {
        assert!(
            self.status.is_success(),
            "expected success, got {} {}",
            self.status,
            self.body
        );
        assert_eq!(self.body["success"], true);
        assert_eq!(self.body["errors"], json!([]));
        &self.body["result"]
    }

    /// Status, then the error codes (chains flattened after their parent).
    fn error(&self, status: StatusCode) -> Vec<i64> {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.body["success"], false, "{}", self.body);
        assert_eq!(self.body["result"], Value::Null);
        let mut codes = Vec::new();
        for e in self.body["errors"].as_array().expect("errors array") {
            assert!(e["message"].is_string(), "{e}");
            codes.push(e["code"].as_i64().unwrap());
            for c in e["error_chain"].as_array().into_iter().flatten() {
                codes.push(c["code"].as_i64().unwrap());
            }
        }
        assert!(!codes.is_empty());
        codes
    }

    fn pointers(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["source"]["pointer"].as_str().map(str::to_owned))
            .collect()
    }
}

async fn start(cfg: Config) -> Env {
    let run = Emulator::start(cfg, "127.0.0.1:0").await.unwrap();
    Env { run, http: http() }
}

async fn start_default() -> Env {
    start(Config::default()).await
}

impl Env {
    fn clients(&self) -> String {
        format!("{}/accounts/{ACCT}/oauth_clients", self.run.base_url())
    }

    fn client(&self, id: &str) -> String {
        format!("{}/{id}", self.clients())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("transport error");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text:?}"));
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, url: &str, body: Option<Value>) -> Answer {
        let mut req = self.http.request(method, url).bearer_auth(TOKEN);
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

    async fn create(&self, body: Value) -> Value {
        self.call(Method::POST, &self.clients(), Some(body))
            .await
            .result()
            .clone()
    }

    async fn check(&self, id: &str, secret: &str) -> bool {
        let a = self
            .admin(
                Method::POST,
                "/credentials/check",
                Some(json!({"client_id": id, "client_secret": secret})),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK);
        a.body["valid"].as_bool().unwrap()
    }
}

fn valid_body() -> Value {
    json!({
        "client_name": "Grafana",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": ["https://grafana.example.com/login/generic_oauth"],
        "response_types": ["code"],
        "scopes": ["user-details.read", "account.read"],
        "token_endpoint_auth_method": "client_secret_basic",
    })
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

#[tokio::test]
async fn full_lifecycle_with_rotation() {
    let env = start_default().await;
    let created = env.create(valid_body()).await;
    let id = created["client_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(created["visibility"], "private");
    assert_eq!(created["client_name"], "Grafana");
    assert_eq!(
        created["scopes"],
        json!(["user-details.read", "account.read", "offline_access"])
    );
    assert_eq!(created["has_rotated_secret"], false);
    assert!(is_rfc3339(&created["created_at"]) && is_rfc3339(&created["updated_at"]));
    assert!(created.get("promoted_at").is_none());
    assert!(created.get("client_uri_verification").is_none());
    let secret1 = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret1.len() >= 32);
    assert!(env.check(&id, &secret1).await);
    assert!(!env.check(&id, "wrong").await);

    // get and list never show the secret
    let got = env.call(Method::GET, &env.client(&id), None).await;
    let got = got.result();
    assert!(got.get("client_secret").is_none());
    let mut expected = created.clone();
    expected.as_object_mut().unwrap().remove("client_secret");
    assert_eq!(*got, expected);
    let list = env.call(Method::GET, &env.clients(), None).await;
    assert_eq!(list.result(), &json!([expected]));
    assert_eq!(list.body["result_info"]["count"], 1);
    assert!(!list.body.to_string().contains(&secret1));

    // PATCH only what changes
    let upd = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(json!({"client_name": "Grafana 2", "grant_types": ["authorization_code"]})),
        )
        .await;
    let upd = upd.result();
    assert_eq!(upd["client_name"], "Grafana 2");
    assert_eq!(upd["scopes"], json!(["user-details.read", "account.read"]));
    assert_eq!(upd["redirect_uris"], created["redirect_uris"]);
    assert!(upd.get("client_secret").is_none());

    // rotate: both secrets work until the old one is deleted
    let rot = env
        .call(
            Method::POST,
            &format!("{}/rotate_secret", env.client(&id)),
            None,
        )
        .await;
    let secret2 = rot.result()["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(secret1, secret2);
    assert_eq!(rot.result().as_object().unwrap().len(), 1);
    assert!(env.check(&id, &secret1).await && env.check(&id, &secret2).await);
    let got = env.call(Method::GET, &env.client(&id), None).await;
    assert_eq!(got.result()["has_rotated_secret"], true);

    let again = env
        .call(
            Method::POST,
            &format!("{}/rotate_secret", env.client(&id)),
            None,
        )
        .await;
    assert_eq!(again.error(StatusCode::CONFLICT), [1004]);

    let del = env
        .call(
            Method::DELETE,
            &format!("{}/rotate_secret", env.client(&id)),
            None,
        )
        .await;
    assert_eq!(del.result(), &json!({"id": id}));
    assert!(!env.check(&id, &secret1).await);
    assert!(env.check(&id, &secret2).await);
    let got = env.call(Method::GET, &env.client(&id), None).await;
    assert_eq!(got.result()["has_rotated_secret"], false);
    let del_again = env
        .call(
            Method::DELETE,
            &format!("{}/rotate_secret", env.client(&id)),
            None,
        )
        .await;
    assert_eq!(del_again.error(StatusCode::CONFLICT), [1005]);

    // delete: gone, and its credentials with it
    let del = env.call(Method::DELETE, &env.client(&id), None).await;
    assert_eq!(del.result(), &json!({"id": id}));
    let gone = env.call(Method::GET, &env.client(&id), None).await;
    assert_eq!(gone.error(StatusCode::NOT_FOUND), [1003]);
    let gone = env.call(Method::DELETE, &env.client(&id), None).await;
    assert_eq!(gone.error(StatusCode::NOT_FOUND), [1003]);
    assert!(!env.check(&id, &secret2).await);
    assert_eq!(
        env.call(Method::GET, &env.clients(), None).await.result(),
        &json!([])
    );

    // the request log counted every operation
    let log = env.admin(Method::GET, "/requests", None).await;
    let ops = &log.body["operations"];
    assert_eq!(ops["create"]["by_status"]["200"], 1);
    assert_eq!(ops["rotate_secret"]["by_status"]["200"], 1);
    assert_eq!(ops["rotate_secret"]["by_status"]["409"], 1);
    assert_eq!(ops["delete_rotated_secret"]["total"], 2);
    assert_eq!(ops["get"]["by_status"]["404"], 1);
    env.run.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_is_one_page_in_creation_order_and_accounts_are_separate() {
    let env = start_default().await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let mut b = valid_body();
        b["client_name"] = json!(format!("client {i}"));
        ids.push(
            env.create(b).await["client_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let list = env
        .call(
            Method::GET,
            &format!("{}?page=2&per_page=5", env.clients()),
            None,
        )
        .await;
    let got: Vec<&str> = list
        .result()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids);
    let other = "f".repeat(32);
    let url = format!("{}/accounts/{other}/oauth_clients", env.run.base_url());
    assert_eq!(env.call(Method::GET, &url, None).await.result(), &json!([]));
    let cross = format!("{url}/{}", ids[0]);
    assert_eq!(
        env.call(Method::GET, &cross, None)
            .await
            .error(StatusCode::NOT_FOUND),
        [1003]
    );
    let all = env.admin(Method::GET, "/clients", None).await;
    assert_eq!(all.body["clients"].as_array().unwrap().len(), 25);
    assert_eq!(all.body["clients"][0]["account_id"], ACCT);
    assert_eq!(all.body["clients"][0]["secret_count"], 1);
    assert!(all.body["clients"][0].get("client_secret").is_none());
}

#[tokio::test]
async fn validation_errors_name_their_fields() {
    let env = start_default().await;
    let a = env
        .call(Method::POST, &env.clients(), Some(json!({})))
        .await;
    assert!(a.error(StatusCode::BAD_REQUEST).iter().all(|c| *c == 1002));
    let mut p = a.pointers();
    p.sort();
    assert_eq!(
        p,
        [
            "/client_name",
            "/grant_types",
            "/redirect_uris",
            "/response_types",
            "/scopes",
            "/token_endpoint_auth_method"
        ]
    );

    let cases: Vec<(Value, &str)> = vec![
        (json!({"grant_types": ["refresh_token"]}), "/grant_types"),
        (
            json!({"grant_types": ["client_credentials"]}),
            "/grant_types/0",
        ),
        (
            json!({"response_types": ["code", "device"]}),
            "/response_types/1",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "/token_endpoint_auth_method",
        ),
        (json!({"scopes": ["account:read"]}), "/scopes/0"),
        (
            json!({"scopes": ["account.read", "made-up.read"]}),
            "/scopes/1",
        ),
        (json!({"scopes": ["superpowers"]}), "/scopes/0"),
        (
            json!({"optional_scopes": ["teams.read"]}),
            "/optional_scopes",
        ),
        (
            json!({"optional_scopes": ["offline_access"]}),
            "/optional_scopes/0",
        ),
        (
            json!({"optional_scopes": ["offline"]}),
            "/optional_scopes/0",
        ),
        (json!({"redirect_uris": ["not a uri"]}), "/redirect_uris/0"),
        (json!({"redirect_uris": []}), "/redirect_uris"),
        (json!({"client_name": ""}), "/client_name"),
        (json!({"client_name": 7}), "/client_name"),
        (json!({"client_uri": "ftp://example.com"}), "/client_uri"),
        (
            json!({"allowed_cors_origins": ["https://a.example.com/path"]}),
            "/allowed_cors_origins/0",
        ),
        (json!({"scopes": "account.read"}), "/scopes"),
    ];
    for (patch, pointer) in cases {
        let mut body = valid_body();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let a = env.call(Method::POST, &env.clients(), Some(body)).await;
        assert_eq!(a.error(StatusCode::BAD_REQUEST), [1002], "{patch}");
        assert_eq!(a.pointers(), [pointer], "{patch}: {}", a.body);
    }

    // optional scopes that are in scopes are fine; openid comes with id_token
    let mut body = valid_body();
    body["optional_scopes"] = json!(["account.read"]);
    body["response_types"] = json!(["code", "id_token"]);
    body["scopes"] = json!(["account.read", "openid", "offline_access", "profile"]);
    body["grant_types"] = json!(["authorization_code"]);
    let c = env.create(body).await;
    assert_eq!(c["scopes"], json!(["account.read", "profile", "openid"]));
    assert_eq!(c["optional_scopes"], json!(["account.read"]));
    // a PATCH that drops an optional scope from scopes is refused
    let id = c["client_id"].as_str().unwrap();
    let a = env
        .call(
            Method::PATCH,
            &env.client(id),
            Some(json!({"scopes": ["teams.read"]})),
        )
        .await;
    assert_eq!(a.pointers(), ["/optional_scopes"]);
    // malformed bodies
    for raw in ["", "{", "[1,2]", "null", "\"x\""] {
        let a = env
            .send(
                env.http
                    .post(env.clients())
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(raw),
            )
            .await;
        assert_eq!(a.error(StatusCode::BAD_REQUEST), [1001], "{raw:?}");
    }
    // nothing was created by the failures
    let list = env.call(Method::GET, &env.clients(), None).await;
    assert_eq!(list.result().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn auth_schemes_and_account_paths() {
    let env = start(Config {
        auth: AuthConfig {
            tokens: vec![ClientSecret::new(TOKEN)],
            api_keys: vec![("ops@example.com".into(), ClientSecret::new("k3y"))],
        },
        accounts: vec![ACCT.into()],
        strict_accounts: true,
        ..Config::default()
    })
    .await;
    let url = env.clients();
    let none = env.send(env.http.get(&url)).await;
    assert_eq!(none.error(StatusCode::BAD_REQUEST), [9106]);
    let basic = env
        .send(
            env.http
                .get(&url)
                .header("authorization", "Basic Zm9vOmJhcg=="),
        )
        .await;
    assert_eq!(basic.error(StatusCode::BAD_REQUEST), [6003, 6111]);
    let wrong = env.send(env.http.get(&url).bearer_auth("other")).await;
    assert_eq!(wrong.error(StatusCode::FORBIDDEN), [10000]);
    assert!(wrong.headers.get("ratelimit").is_none());
    let key = env
        .send(
            env.http
                .get(&url)
                .header("x-auth-email", "ops@example.com")
                .header("x-auth-key", "k3y"),
        )
        .await;
    assert_eq!(key.result(), &json!([]));
    // the pair wins over a token sent alongside (as the TypeScript SDK does)
    let bad_key = env
        .send(
            env.http
                .get(&url)
                .bearer_auth(TOKEN)
                .header("x-auth-email", "ops@example.com")
                .header("x-auth-key", "nope"),
        )
        .await;
    assert_eq!(bad_key.error(StatusCode::FORBIDDEN), [9103]);
    let bad_email = env
        .send(
            env.http
                .get(&url)
                .header("x-auth-email", "ops")
                .header("x-auth-key", "k3y"),
        )
        .await;
    assert_eq!(bad_email.error(StatusCode::BAD_REQUEST), [6003, 6102]);
    // account paths
    let base = env.run.base_url();
    let short = env
        .call(
            Method::GET,
            &format!("{base}/accounts/{}/oauth_clients", &ACCT[1..]),
            None,
        )
        .await;
    assert_eq!(short.error(StatusCode::BAD_REQUEST), [7003, 7000]);
    let email = env
        .call(
            Method::GET,
            &format!("{base}/accounts/me@example.com/oauth_clients"),
            None,
        )
        .await;
    assert_eq!(email.error(StatusCode::BAD_REQUEST), [7003, 7000]);
    let unknown = env
        .call(
            Method::GET,
            &format!("{base}/accounts/{}/oauth_clients", "a".repeat(32)),
            None,
        )
        .await;
    assert_eq!(unknown.error(StatusCode::FORBIDDEN), [10000]);
    let no_route = env.call(Method::GET, &format!("{base}/zones"), None).await;
    assert_eq!(no_route.error(StatusCode::NOT_FOUND), [7000]);
    let method = env.call(Method::PUT, &url, Some(json!({}))).await;
    assert_eq!(method.error(StatusCode::METHOD_NOT_ALLOWED), [7001]);
    // the scope catalogue
    let scopes = env
        .call(Method::GET, &format!("{base}/oauth/scopes"), None)
        .await;
    let ids: Vec<&str> = scopes
        .result()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(s["name"].is_string());
            s["id"].as_str().unwrap()
        })
        .collect();
    for want in ["user-details.read", "account.read", "teams.read"] {
        assert!(ids.contains(&want), "{want}");
    }
}

#[tokio::test]
async fn public_clients_without_secrets() {
    let env = start_default().await;
    let mut body = valid_body();
    body["token_endpoint_auth_method"] = json!("none");
    let c = env.create(body).await;
    let id = c["client_id"].as_str().unwrap().to_owned();
    assert!(c.get("client_secret").is_none());
    let rot = env
        .call(
            Method::POST,
            &format!("{}/rotate_secret", env.client(&id)),
            None,
        )
        .await;
    assert_eq!(rot.error(StatusCode::BAD_REQUEST), [1006]);
    assert!(env.check(&id, "").await);
    assert!(!env.check(&id, "anything").await);
    // switching to a secret method: no secret until the first rotation
    let upd = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(json!({"token_endpoint_auth_method": "client_secret_post"})),
        )
        .await;
    assert!(upd.result().get("client_secret").is_none());
    let rot = env
        .call(
            Method::POST,
            &format!("{}/rotate_secret", env.client(&id)),
            None,
        )
        .await;
    let s = rot.result()["client_secret"].as_str().unwrap().to_owned();
    assert!(env.check(&id, &s).await);
    let got = env.call(Method::GET, &env.client(&id), None).await;
    assert_eq!(got.result()["has_rotated_secret"], false);
}

#[tokio::test]
async fn uri_verification_and_promotion_to_public() {
    let env = start_default().await;
    let mut body = valid_body();
    body["client_uri"] = json!("https://grafana.example.com/about");
    let c = env.create(body).await;
    let id = c["client_id"].as_str().unwrap().to_owned();
    let v = &c["client_uri_verification"];
    assert_eq!(v["status"], "pending");
    let text = v["text"].as_str().unwrap().to_owned();
    assert!(text.starts_with("cloudflare_oauth_client_publisher="));

    let promote = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(json!({"visibility": "public"})),
        )
        .await;
    assert_eq!(promote.error(StatusCode::BAD_REQUEST), [1002, 1002]);
    assert_eq!(promote.pointers(), ["/logo_uri", "/client_uri"]);

    // failed, then restarted by re-sending the unchanged client_uri
    let a = env
        .admin(
            Method::POST,
            &format!("/clients/{id}/uri_verification"),
            Some(json!({"status": "failed"})),
        )
        .await;
    assert_eq!(a.body["client_uri_verification"]["status"], "failed");
    let upd = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(json!({"client_uri": "https://grafana.example.com/about"})),
        )
        .await;
    assert_eq!(upd.result()["client_uri_verification"]["status"], "pending");
    assert_eq!(
        upd.result()["client_uri_verification"]["text"],
        text.as_str()
    );
    let bad = env
        .admin(
            Method::POST,
            &format!("/clients/{id}/uri_verification"),
            Some(json!({"status": "bogus"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    env.admin(
        Method::POST,
        &format!("/clients/{id}/uri_verification"),
        Some(json!({"status": "verified"})),
    )
    .await;

    // identity scopes alone are not enough
    let identity_only = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(
                json!({"visibility": "public", "logo_uri": "https://grafana.example.com/logo.png",
                        "scopes": ["user-details.read"], "grant_types": ["authorization_code"]}),
            ),
        )
        .await;
    assert_eq!(identity_only.pointers(), ["/scopes"]);

    let pubd = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(
                json!({"visibility": "public", "logo_uri": "https://grafana.example.com/logo.png"}),
            ),
        )
        .await;
    let pubd = pubd.result();
    assert_eq!(pubd["visibility"], "public");
    assert!(is_rfc3339(&pubd["promoted_at"]));
    // permanent: no demotion, the verified host is frozen, its path is not
    let demote = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(json!({"visibility": "private"})),
        )
        .await;
    assert_eq!(demote.pointers(), ["/visibility"]);
    let host = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(json!({"client_uri": "https://other.example.com/"})),
        )
        .await;
    assert_eq!(host.pointers(), ["/client_uri"]);
    let path = env
        .call(
            Method::PATCH,
            &env.client(&id),
            Some(json!({"client_uri": "https://grafana.example.com/new-about"})),
        )
        .await;
    assert_eq!(
        path.result()["client_uri_verification"]["status"],
        "verified"
    );
    assert_eq!(path.result()["visibility"], "public");
}

#[tokio::test]
async fn rate_limit_per_credential_with_headers() {
    let env = start(Config {
        rate_limit: Some("3/60s".parse::<RateLimit>().unwrap()),
        ..Config::default()
    })
    .await;
    for i in 0..3 {
        let a = env.call(Method::GET, &env.clients(), None).await;
        a.result();
        // r: remaining; t: seconds until the bucket is full again (20 s a token)
        let rl = a.headers["ratelimit"].to_str().unwrap().to_owned();
        let (r, t) = rl
            .strip_prefix("\"default\";r=")
            .and_then(|x| x.split_once(";t="))
            .unwrap_or_else(|| panic!("{rl}"));
        assert_eq!(r, (2 - i).to_string(), "{rl}");
        let t: u64 = t.parse().unwrap();
        assert!((20 * (i + 1) - 1..=20 * (i + 1)).contains(&t), "{rl}");
        assert_eq!(a.headers["ratelimit-policy"], "\"default\";q=3;w=60");
    }
    let limited = env.call(Method::GET, &env.clients(), None).await;
    assert_eq!(limited.error(StatusCode::TOO_MANY_REQUESTS), [971]);
    let retry: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert!(limited.headers.contains_key("ratelimit"));
    // another credential has its own bucket
    let other = env
        .send(env.http.get(env.clients()).bearer_auth("someone-else"))
        .await;
    other.result();
    // time heals
    env.admin(
        Method::POST,
        "/clock/advance",
        Some(json!({"duration": "20s"})),
    )
    .await;
    env.call(Method::GET, &env.clients(), None).await.result();
    let log = env.admin(Method::GET, "/requests", None).await;
    assert_eq!(log.body["operations"]["list"]["by_status"]["429"], 1);
}

#[tokio::test]
async fn injected_errors_latency_and_times() {
    let env = start_default().await;
    let set = env
        .admin(
            Method::PUT,
            "/faults",
            Some(json!({"p_503": 1.0, "methods": ["POST"], "times": 1})),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK);
    assert_eq!(set.body["p_503"], 1.0);
    let a = env
        .call(Method::POST, &env.clients(), Some(valid_body()))
        .await;
    assert_eq!(a.error(StatusCode::SERVICE_UNAVAILABLE), [10503]);
    // times: 1 used up; the GET was never affected
    assert_eq!(
        env.admin(Method::GET, "/faults", None).await.body["p_503"],
        0.0
    );
    env.create(valid_body()).await;
    assert_eq!(
        env.call(Method::GET, &env.clients(), None)
            .await
            .result()
            .as_array()
            .unwrap()
            .len(),
        1,
        "the injected 503 must not have created anything"
    );

    env.admin(
        Method::PUT,
        "/faults",
        Some(json!({"p_500": 1.0, "path": "/oauth/scopes"})),
    )
    .await;
    let a = env
        .call(
            Method::GET,
            &format!("{}/oauth/scopes", env.run.base_url()),
            None,
        )
        .await;
    assert_eq!(a.error(StatusCode::INTERNAL_SERVER_ERROR), [10001]);
    env.call(Method::GET, &env.clients(), None).await.result();

    env.admin(Method::PUT, "/faults", Some(json!({"p_429": 1.0})))
        .await;
    let a = env.call(Method::GET, &env.clients(), None).await;
    assert_eq!(a.error(StatusCode::TOO_MANY_REQUESTS), [971]);
    assert_eq!(a.headers["retry-after"], "1");

    env.admin(
        Method::PUT,
        "/faults",
        Some(json!({"latency_ms": 300, "latency_jitter_ms": 50})),
    )
    .await;
    let t = Instant::now();
    env.call(Method::GET, &env.clients(), None).await.result();
    assert!(t.elapsed() >= Duration::from_millis(300));
    // the admin API is never slowed down or failed
    let t = Instant::now();
    env.admin(Method::DELETE, "/faults", None).await;
    assert!(t.elapsed() < Duration::from_millis(300));

    for bad in [
        json!({"p_500": 2.0}),
        json!({"p_500": 0.7, "p_503": 0.7}),
        json!({"nope": 1}),
    ] {
        let a = env.admin(Method::PUT, "/faults", Some(bad.clone())).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(a.body["error"].is_string());
    }
    let log = env.admin(Method::GET, "/requests", None).await;
    assert_eq!(log.body["operations"]["create"]["injected"], 1);
    assert_eq!(log.body["operations"]["list_scopes"]["by_status"]["500"], 1);
}

#[tokio::test]
async fn drop_after_commit_applies_the_change_and_sends_nothing() {
    let env = start_default().await;
    env.admin(
        Method::PUT,
        "/faults",
        Some(json!({"p_drop_after_commit": 1.0, "methods": ["POST"]})),
    )
    .await;
    // a fresh client without pooled connections
    let err = http()
        .post(env.clients())
        .bearer_auth(TOKEN)
        .json(&valid_body())
        .send()
        .await
        .expect_err("the caller must see a transport error");
    assert!(err.status().is_none(), "{err:?}");
    assert!(!err.is_timeout(), "{err:?}");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    // ... and the client exists
    let all = env.admin(Method::GET, "/clients", None).await;
    let clients = all.body["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 1);
    let id = clients[0]["client_id"].as_str().unwrap().to_owned();

    // rotation too: the new secret is committed, the caller never saw it
    let err = http()
        .post(format!("{}/rotate_secret", env.client(&id)))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect_err("transport error");
    assert!(err.status().is_none());
    env.admin(Method::DELETE, "/faults", None).await;
    let got = env.call(Method::GET, &env.client(&id), None).await;
    assert_eq!(got.result()["has_rotated_secret"], true);
    let log = env.admin(Method::GET, "/requests", None).await;
    assert_eq!(log.body["operations"]["create"]["by_status"]["dropped"], 1);
    assert_eq!(
        log.body["operations"]["rotate_secret"]["by_status"]["dropped"],
        1
    );
    let recent = log.body["recent"].as_array().unwrap();
    assert_eq!(recent[0]["fault"], "dropped");
    // the server is fine afterwards
    env.call(Method::GET, &env.clients(), None).await.result();
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "clientops-emu-{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = temp_dir("state");
    let file = dir.join("state.json");
    let cfg = Config {
        state_file: Some(file.clone()),
        ..Config::default()
    };
    let env = start(cfg.clone()).await;
    let c = env.create(valid_body()).await;
    let id = c["client_id"].as_str().unwrap().to_owned();
    let s1 = c["client_secret"].as_str().unwrap().to_owned();
    let rot = env
        .call(
            Method::POST,
            &format!("{}/rotate_secret", env.client(&id)),
            None,
        )
        .await;
    let s2 = rot.result()["client_secret"].as_str().unwrap().to_owned();
    let before = env
        .call(Method::GET, &env.client(&id), None)
        .await
        .result()
        .clone();
    env.run.shutdown().await.unwrap();
    // only the state file remains (no temporary files)
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, [std::ffi::OsString::from("state.json")]);

    let env = start(cfg).await;
    let after = env.call(Method::GET, &env.client(&id), None).await;
    assert_eq!(after.result(), &before);
    assert!(env.check(&id, &s1).await && env.check(&id, &s2).await);
    // a new client after the restart does not reuse anything
    let c2 = env.create(valid_body()).await;
    assert_ne!(c2["client_id"], json!(id));
    let list = env.call(Method::GET, &env.clients(), None).await;
    assert_eq!(list.result()[0]["client_id"], json!(id));
    // reset empties the persisted state too
    env.admin(Method::POST, "/reset", None).await;
    env.run.shutdown().await.unwrap();
    let env = start(Config {
        state_file: Some(file),
        ..Config::default()
    })
    .await;
    assert_eq!(
        env.call(Method::GET, &env.clients(), None).await.result(),
        &json!([])
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn admin_clock_reset_and_unknown_endpoints() {
    let env = start_default().await;
    let c0 = env.admin(Method::GET, "/clock", None).await;
    let t0 = chrono::DateTime::parse_from_rfc3339(c0.body["now"].as_str().unwrap()).unwrap();
    let c1 = env
        .admin(
            Method::POST,
            "/clock/advance",
            Some(json!({"seconds": 172800})),
        )
        .await;
    assert_eq!(c1.body["offset_seconds"], 172800.0);
    let t1 = chrono::DateTime::parse_from_rfc3339(c1.body["now"].as_str().unwrap()).unwrap();
    assert!(t1 - t0 >= chrono::Duration::hours(48));
    // timestamps follow the emulated clock
    let c = env.create(valid_body()).await;
    let created = chrono::DateTime::parse_from_rfc3339(c["created_at"].as_str().unwrap()).unwrap();
    assert!(created - t0 >= chrono::Duration::hours(47));
    let bad = env
        .admin(Method::POST, "/clock/advance", Some(json!({"seconds": -1})))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let nope = env.admin(Method::GET, "/nope", None).await;
    assert_eq!(nope.status, StatusCode::NOT_FOUND);
    let missing = env
        .admin(Method::GET, &format!("/clients/{}", "0".repeat(32)), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let check = env
        .admin(
            Method::POST,
            "/credentials/check",
            Some(json!({"client_id": "x", "client_secret": "y"})),
        )
        .await;
    assert_eq!(check.body, json!({"valid": false}));
    let r = env.admin(Method::POST, "/reset", None).await;
    assert_eq!(r.body, json!({"reset": true}));
    assert_eq!(
        env.admin(Method::GET, "/clients", None).await.body,
        json!({"clients": []})
    );
    assert_eq!(
        env.admin(Method::GET, "/clock", None).await.body["offset_seconds"],
        0.0
    );
    assert_eq!(
        env.admin(Method::GET, "/requests", None).await.body["total"],
        0
    );
}

#[tokio::test]
async fn the_binary_prints_its_address_and_serves() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clientops"))
        .args([
            "emulate",
            "cloudflare",
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
        ])
        .args(["--account", ACCT, "--strict-accounts"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("startup line in time")
        .unwrap()
        .expect("a startup line");
    let addr = line
        .split("listening on http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(!addr.ends_with(":0"), "{line}");
    let resp = http()
        .get(format!(
            "http://{addr}/client/v4/accounts/{ACCT}/oauth_clients"
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http()
        .get(format!(
            "http://{addr}/client/v4/accounts/{ACCT}/oauth_clients"
        ))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
        prop::sample::select(vec![
            "authorization_code",
            "refresh_token",
            "code",
            "id_token",
            "none",
            "client_secret_basic",
            "account.read",
            "account:read",
            "openid",
            "public",
            "private",
            "https://x.example.com/cb",
            "",
            "offline_access",
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field_name(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "client_name",
            "grant_types",
            "redirect_uris",
            "response_types",
            "scopes",
            "token_endpoint_auth_method",
            "optional_scopes",
            "client_uri",
            "logo_uri",
            "policy_uri",
            "tos_uri",
            "allowed_cors_origins",
            "post_logout_redirect_uris",
            "visibility",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,10}",
    ]
}

fn body_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| {
            // a valid body with one field replaced
            let mut b = valid_body();
            if let Some(o) = v.as_object() {
                for (k, val) in o {
                    b[k] = val.clone();
                }
            }
            serde_json::to_vec(&b).unwrap()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the body, create and update answer (no panic, no dropped
    /// connection) with either success or a 4xx Cloudflare error envelope.
    #[test]
    fn random_bodies_get_an_envelope(bodies in prop::collection::vec(body_bytes(), 1..4)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let env = start_default().await;
            let seed = env.create(valid_body()).await;
            let id = seed["client_id"].as_str().unwrap().to_owned();
            for body in bodies {
                for (method, url) in [(Method::POST, env.clients()), (Method::PATCH, env.client(&id))] {
                    let a = env
                        .send(
                            env.http
                                .request(method, url)
                                .bearer_auth(TOKEN)
                                .header("content-type", "application/json")
                                .body(body.clone()),
                        )
                        .await;
                    if a.status.is_success() {
                        assert_eq!(a.body["success"], true);
                        assert!(a.body["result"]["client_id"].is_string());
                    } else {
                        assert!(a.status.is_client_error(), "{} {}", a.status, a.body);
                        a.error(a.status);
                    }
                }
            }
            env.run.shutdown().await.unwrap();
        });
    }
}

/// The token endpoint authenticates a client the way Hydra does (only its
/// registered method; current or not-yet-deleted previous secret; every failure
/// `401 invalid_client`), and only then fails on the grant: it never issues a
/// token.
#[tokio::test]
async fn the_token_endpoint_authenticates_clients_before_the_grant() {
    let env = start_default().await;
    let origin = format!("http://{}", env.run.addr());
    let token_url = format!("{origin}/oauth2/token");
    let basic = env.create(valid_body()).await;
    let (bid, bsecret) = (
        basic["client_id"].as_str().unwrap().to_owned(),
        basic["client_secret"].as_str().unwrap().to_owned(),
    );
    let mut body = valid_body();
    body["token_endpoint_auth_method"] = json!("client_secret_post");
    body["grant_types"] = json!(["authorization_code"]);
    let post = env.create(body).await;
    let (pid, psecret) = (
        post["client_id"].as_str().unwrap().to_owned(),
        post["client_secret"].as_str().unwrap().to_owned(),
    );
    let mut body = valid_body();
    body["token_endpoint_auth_method"] = json!("none");
    let public = env.create(body).await;
    let public_id = public["client_id"].as_str().unwrap().to_owned();

    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let code = "grant_type=authorization_code&code=made-up";
    // (request, status, OAuth error)
    let basic_req = |id: &str, secret: &str, form: &str| {
        env.http
            .post(&token_url)
            .basic_auth(enc(id), Some(enc(secret)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
    };
    let post_req = |form: String| {
        env.http
            .post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
    };
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "basic, right secret",
            basic_req(&bid, &bsecret, code),
            400,
            "invalid_grant",
        ),
        (
            "basic, wrong secret",
            basic_req(&bid, "wr0ng+/%:&=", code),
            401,
            "invalid_client",
        ),
        (
            "basic, unknown client",
            basic_req("nobody", &bsecret, code),
            401,
            "invalid_client",
        ),
        (
            "basic client, secret in the form",
            post_req(format!("{code}&client_id={bid}&client_secret={bsecret}")),
            401,
            "invalid_client",
        ),
        (
            "post, right secret",
            post_req(format!("{code}&client_id={pid}&client_secret={psecret}")),
            400,
            "invalid_grant",
        ),
        (
            "post, wrong secret",
            post_req(format!("{code}&client_id={pid}&client_secret=nope")),
            401,
            "invalid_client",
        ),
        (
            "post client, Basic",
            basic_req(&pid, &psecret, code),
            401,
            "invalid_client",
        ),
        (
            "post client, refresh_token grant it lacks",
            post_req(format!(
                "grant_type=refresh_token&refresh_token=x&client_id={pid}&client_secret={psecret}"
            )),
            400,
            "unauthorized_client",
        ),
        (
            "basic, client_credentials",
            basic_req(&bid, &bsecret, "grant_type=client_credentials"),
            400,
            "unauthorized_client",
        ),
        (
            "basic, unknown grant",
            basic_req(&bid, &bsecret, "grant_type=password&username=a&password=b"),
            400,
            "unsupported_grant_type",
        ),
        (
            "no grant_type",
            basic_req(&bid, &bsecret, "code=x"),
            400,
            "invalid_request",
        ),
        (
            "both methods at once",
            basic_req(&bid, &bsecret, &format!("{code}&client_secret={bsecret}")),
            400,
            "invalid_request",
        ),
        (
            "public client by id",
            post_req(format!("{code}&client_id={public_id}")),
            400,
            "invalid_grant",
        ),
        (
            "public client with a secret",
            post_req(format!("{code}&client_id={public_id}&client_secret=x")),
            401,
            "invalid_client",
        ),
        (
            "no credentials",
            post_req(code.to_string()),
            401,
            "invalid_client",
        ),
    ];
    for (what, req, status, error) in cases {
        let a = env.send(req).await;
        assert_eq!(a.status.as_u16(), status, "{what}: {}", a.body);
        assert_eq!(a.body["error"], error, "{what}: {}", a.body);
        assert!(a.body["error_description"].is_string(), "{what}");
        assert!(a.body.get("access_token").is_none(), "{what}");
        assert_eq!(a.headers["cache-control"], "no-store", "{what}");
        let text = a.body.to_string();
        assert!(
            !text.contains(&bsecret) && !text.contains(&psecret),
            "{what}: {text}"
        );
    }
    // A failed Basic authentication asks for Basic.
    let a = env.send(basic_req(&bid, "nope", code)).await;
    assert!(a.headers.contains_key("www-authenticate"));

    // After a rotation both secrets authenticate, until the old one is deleted.
    let rot = env
        .call(
            Method::POST,
            &format!("{}/rotate_secret", env.client(&bid)),
            None,
        )
        .await;
    let new = rot.result()["client_secret"].as_str().unwrap().to_owned();
    for s in [&bsecret, &new] {
        assert_eq!(
            env.send(basic_req(&bid, s, code)).await.body["error"],
            "invalid_grant"
        );
    }
    env.call(
        Method::DELETE,
        &format!("{}/rotate_secret", env.client(&bid)),
        None,
    )
    .await
    .result();
    assert_eq!(
        env.send(basic_req(&bid, &bsecret, code)).await.body["error"],
        "invalid_client"
    );
    assert_eq!(
        env.send(basic_req(&bid, &new, code)).await.body["error"],
        "invalid_grant"
    );

    // Only POST; and the request log names the operation.
    let a = env.send(env.http.get(&token_url)).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    let log = env.admin(Method::GET, "/requests", None).await;
    assert!(
        log.body["operations"]["token"]["total"].as_u64().unwrap() >= 20,
        "{}",
        log.body
    );
}
