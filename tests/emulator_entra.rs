//! The Entra emulator over real HTTP: started in-process on 127.0.0.1:0 and
//! driven with reqwest exactly as a Graph client would drive Microsoft Graph
//! (the token endpoint, then bearer-authenticated Graph v1.0 calls).

use std::time::Duration;

use clientops::emulator::core::RateLimit;
use clientops::emulator::entra::server::{EntraServer, TlsOptions};
use clientops::emulator::entra::tls::CertSource;
use clientops::emulator::entra::{Config, DEFAULT_MAX_PASSWORDS};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const OWNED_BY: &str = "Application.ReadWrite.OwnedBy";
const READ_ALL: &str = "Application.Read.All";
const READ_WRITE_ALL: &str = "Application.ReadWrite.All";
const GRAPH: &str = "https://graph.microsoft.com/.default";

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
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

    /// Asserts a Graph error with `status` and `code`; returns its message.
    fn error(&self, status: StatusCode, code: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let e = &self.body["error"];
        assert_eq!(e["code"], code, "{}", self.body);
        assert!(e["innerError"]["request-id"].is_string(), "{}", self.body);
        assert!(e["innerError"]["date"].is_string(), "{}", self.body);
        e["message"].as_str().unwrap().to_string()
    }
}

/// An operator identity: its client credentials and a Graph token.
#[derive(Clone)]
struct Operator {
    app_id: String,
    secret: String,
    token: String,
}

struct Env {
    srv: EntraServer,
    http: reqwest::Client,
    base: String,
    tenant: String,
    op: Operator,
}

fn config() -> Config {
    Config {
        rate_limit: None,
        ..Config::default()
    }
}

async fn start(cfg: Config) -> Env {
    start_with(cfg, None).await
}

async fn start_with(cfg: Config, tls: Option<TlsOptions>) -> Env {
    let srv = EntraServer::start(cfg, "127.0.0.1:0", tls, std::future::pending())
        .await
        .unwrap();
    let http = http();
    let base = srv.http_url();
    let created: Value = http
        .post(format!("{base}/__emulator/tenants"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let tenant = created["tenantId"].as_str().unwrap().to_string();
    let mut env = Env {
        srv,
        http,
        base,
        tenant,
        op: Operator {
            app_id: created["operator"]["appId"].as_str().unwrap().into(),
            secret: created["operator"]["clientSecret"].as_str().unwrap().into(),
            token: String::new(),
        },
    };
    env.op.token = env.token_of(&env.op.app_id, &env.op.secret).await;
    env
}

impl Env {
    async fn admin(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}/__emulator{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn operator(&self, roles: &[&str]) -> Operator {
        let v = self
            .admin(
                Method::POST,
                &format!("/tenants/{}/operators", self.tenant),
                json!({ "roles": roles }),
            )
            .await;
        let app_id = v["appId"].as_str().unwrap().to_string();
        let secret = v["clientSecret"].as_str().unwrap().to_string();
        let token = self.token_of(&app_id, &secret).await;
        Operator {
            app_id,
            secret,
            token,
        }
    }

    async fn advance(&self, seconds: u64) {
        self.admin(
            Method::POST,
            "/clock/advance",
            json!({ "seconds": seconds }),
        )
        .await;
    }

    /// A token request with form credentials.
    async fn token_request(&self, form: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", self.base, self.tenant))
            .form_body(form)
            .send()
            .await
            .unwrap();
        Answer {
            status: r.status(),
            headers: r.headers().clone(),
            body: r.json().await.unwrap_or(Value::Null),
        }
    }

    async fn token_of(&self, app_id: &str, secret: &str) -> String {
        let a = self
            .token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", app_id),
                ("client_secret", secret),
                ("scope", GRAPH),
            ])
            .await;
        assert_eq!(a.body["token_type"], "Bearer", "{}", a.body);
        assert_eq!(a.body["expires_in"], 3599);
        a.ok()["access_token"].as_str().unwrap().to_string()
    }

    async fn call_as(
        &self,
        op: &Operator,
        method: Method,
        path: &str,
        body: Option<Value>,
        prefer: bool,
    ) -> Answer {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/v1.0{path}", self.base)
        };
        let mut req = self.http.request(method, url).bearer_auth(&op.token);
        if prefer {
            req = req.header("Prefer", "create-if-missing");
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Answer {
            status,
            headers,
            body: if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.call_as(&self.op, method, path, body, false).await
    }

    async fn upsert_as(&self, op: &Operator, name: &str, body: Value) -> Answer {
        self.call_as(
            op,
            Method::PATCH,
            &format!("/applications(uniqueName='{name}')"),
            Some(body),
            true,
        )
        .await
    }

    async fn upsert(&self, name: &str, body: Value) -> Answer {
        self.upsert_as(&self.op, name, body).await
    }

    /// Create an application and its service principal: (id, appId).
    async fn app_with_sp(&self, name: &str, extra: Value) -> (String, String) {
        let mut body = json!({ "displayName": name });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let a = self.upsert(name, body).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let id = a.body["id"].as_str().unwrap().to_string();
        let app_id = a.body["appId"].as_str().unwrap().to_string();
        let sp = self
            .call(
                Method::POST,
                "/servicePrincipals",
                Some(json!({ "appId": app_id })),
            )
            .await;
        assert_eq!(sp.status, StatusCode::CREATED, "{}", sp.body);
        (id, app_id)
    }

    async fn add_password(&self, id: &str, body: Value) -> Answer {
        self.call(
            Method::POST,
            &format!("/applications/{id}/addPassword"),
            Some(body),
        )
        .await
    }

    async fn client_credentials(&self, app_id: &str, secret: &str) -> Answer {
        self.token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", app_id),
            ("client_secret", secret),
            ("scope", GRAPH),
        ])
        .await
    }
}

/// A form body.
fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

trait Form {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self;
}

impl Form for reqwest::RequestBuilder {
    fn form_body(self, pairs: &[(&str, &str)]) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
    }
}

/// Asserts a token-endpoint error; returns its AADSTS code.
fn token_error(a: &Answer, status: StatusCode, error: &str) -> i64 {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["error"], error, "{}", a.body);
    let code = a.body["error_codes"][0].as_i64().unwrap();
    let description = a.body["error_description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")) && description.contains("Trace ID: "),
        "{description}"
    );
    assert!(a.body["trace_id"].is_string() && a.body["correlation_id"].is_string());
    assert_eq!(a.headers["cache-control"], "no-store, no-cache");
    code
}

#[tokio::test]
async fn upsert_by_unique_name_creates_with_201_then_updates_with_204() {
    let env = start(config()).await;
    // Without Prefer, a missing application is 404.
    let a = env
        .call(
            Method::PATCH,
            "/applications(uniqueName='orders-api')",
            Some(json!({"displayName": "Orders"})),
        )
        .await;
    env.clone_error_check(&a);
    a.error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");

    let created = env
        .upsert(
            "orders-api",
            json!({
                "displayName": "Orders",
                "web": {"redirectUris": ["https://orders.example/cb"]},
                "spa": {"redirectUris": ["http://localhost:3000/cb"]},
                "tags": ["clientops.dev/managed"],
                "notes": "managed by clientops",
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let b = &created.body;
    assert_eq!(b["uniqueName"], "orders-api");
    assert_eq!(b["displayName"], "Orders");
    assert_eq!(b["signInAudience"], "AzureADMyOrg");
    assert_eq!(b["web"]["redirectUris"][0], "https://orders.example/cb");
    assert_eq!(
        b["web"]["implicitGrantSettings"]["enableIdTokenIssuance"],
        false
    );
    assert_eq!(b["spa"]["redirectUris"][0], "http://localhost:3000/cb");
    assert_eq!(b["passwordCredentials"], json!([]));
    assert!(
        b["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("#applications/$entity")
    );
    let id = b["id"].as_str().unwrap().to_string();
    let app_id = b["appId"].as_str().unwrap().to_string();
    assert_ne!(id, app_id);

    let updated = env
        .upsert(
            "orders-api",
            json!({"displayName": "Orders v2", "tags": []}),
        )
        .await;
    assert_eq!(updated.status, StatusCode::NO_CONTENT);
    assert_eq!(updated.body, Value::Null);

    for path in [
        format!("/applications/{id}"),
        "/applications(uniqueName='orders-api')".to_string(),
        format!("/applications(appId='{app_id}')"),
    ] {
        let got = env.call(Method::GET, &path, None).await;
        let g = got.ok();
        assert_eq!(g["displayName"], "Orders v2", "{path}");
        assert_eq!(g["tags"], json!([]));
        // Unchanged properties stay.
        assert_eq!(g["web"]["redirectUris"][0], "https://orders.example/cb");
        assert_eq!(g["createdDateTime"], b["createdDateTime"]);
    }
    let sel = env
        .call(
            Method::GET,
            &format!("/applications/{id}?$select=displayName,appId"),
            None,
        )
        .await;
    let keys: Vec<&String> = sel.ok().as_object().unwrap().keys().collect();
    assert_eq!(keys, ["@odata.context", "appId", "displayName"]);
}

impl Env {
    /// Every Graph error carries request ids and Graph's content type.
    fn clone_error_check(&self, a: &Answer) {
        assert!(
            a.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{:?}",
            a.headers
        );
    }
}

#[tokio::test]
async fn lists_page_through_absolute_next_links_with_select_and_filter() {
    let env = start(config()).await;
    for i in 0..5 {
        let a = env
            .upsert(
                &format!("paged-{i}"),
                json!({"displayName": format!("clientops-{i}"), "tags": [format!("n{}", i % 2)]}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED);
    }
    env.upsert("other", json!({"displayName": "unrelated"}))
        .await
        .ok();

    let mut url = "/applications?$top=2&$select=displayName,uniqueName".to_string();
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let a = env.call(Method::GET, &url, None).await;
        let body = a.ok().clone();
        pages += 1;
        for v in body["value"].as_array().unwrap() {
            assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
            names.push(v["displayName"].as_str().unwrap().to_string());
        }
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&format!("{}/v1.0/applications?", env.base)),
                    "{next}"
                );
                assert!(
                    next.contains("$top=2") && next.contains("$skiptoken="),
                    "{next}"
                );
                url = next.to_string();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        [
            "clientops-0",
            "clientops-1",
            "clientops-2",
            "clientops-3",
            "clientops-4",
            "unrelated"
        ]
    );

    let f = env
        .call(
            Method::GET,
            "/applications?$filter=startswith(displayName,'clientops-') and tags/any(t:t eq 'n1')",
            None,
        )
        .await;
    let got: Vec<&str> = f.ok()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["clientops-1", "clientops-3"]);

    let e = env
        .call(
            Method::GET,
            "/applications?$filter=uniqueName eq 'other'",
            None,
        )
        .await;
    e.error(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery");
    let e = env.call(Method::GET, "/applications?$top=1000", None).await;
    e.error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    let e = env
        .call(Method::GET, "/applications?$select=nonsense", None)
        .await;
    assert!(
        e.error(StatusCode::BAD_REQUEST, "Request_BadRequest")
            .contains("nonsense")
    );
}

#[tokio::test]
async fn owned_by_operators_see_only_the_applications_they_own() {
    let env = start(config()).await;
    let other = env.operator(&[OWNED_BY]).await;
    let mine = env.upsert("mine", json!({"displayName": "mine"})).await;
    let theirs = env
        .upsert_as(&other, "theirs", json!({"displayName": "theirs"}))
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let theirs_id = theirs.body["id"].as_str().unwrap();

    let list = env.call(Method::GET, "/applications", None).await;
    let names: Vec<&str> = list.ok()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mine"]);
    env.call(Method::GET, &format!("/applications/{theirs_id}"), None)
        .await
        .error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    // The name is taken by an application the caller cannot see.
    env.upsert("theirs", json!({"displayName": "x"}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");

    let all = env.operator(&[READ_WRITE_ALL]).await;
    let list = env
        .call_as(&all, Method::GET, "/applications", None, false)
        .await;
    // Every application of the tenant, the operator identities included.
    let names: Vec<&str> = list.ok()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["displayName"].as_str().unwrap())
        .filter(|n| !n.contains("operator"))
        .collect();
    assert_eq!(names, ["mine", "theirs"]);
    let reader = env.operator(&[READ_ALL]).await;
    env.call_as(
        &reader,
        Method::PATCH,
        &format!("/applications/{}", mine.body["id"].as_str().unwrap()),
        Some(json!({"displayName": "no"})),
        false,
    )
    .await
    .error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let none = env.operator(&[]).await;
    env.call_as(&none, Method::GET, "/applications", None, false)
        .await
        .error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
}

#[tokio::test]
async fn a_deleted_application_keeps_its_unique_name_until_restored_purged_or_expired() {
    let env = start(config()).await;
    let admin = env.operator(&[READ_WRITE_ALL]).await;
    let a = env.upsert("reused", json!({"displayName": "first"})).await;
    let id = a.body["id"].as_str().unwrap().to_string();
    let del = env
        .call(Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    env.call(Method::GET, &format!("/applications/{id}"), None)
        .await
        .error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    env.call(Method::GET, "/applications(uniqueName='reused')", None)
        .await
        .error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let again = env.upsert("reused", json!({"displayName": "second"})).await;
    let msg = again.error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(msg.contains("uniqueName already exists"), "{msg}");

    // Listing deleted items needs Application.Read.All: OwnedBy is refused.
    env.call(
        Method::GET,
        "/directory/deletedItems/microsoft.graph.application",
        None,
    )
    .await
    .error(StatusCode::FORBIDDEN, "Authorization_RequestDenied");
    let deleted = env
        .call_as(
            &admin,
            Method::GET,
            "/directory/deletedItems/microsoft.graph.application",
            None,
            false,
        )
        .await;
    let items = deleted.ok()["value"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["uniqueName"], "reused");
    assert!(items[0]["deletedDateTime"].is_string());

    // Restore frees the conflict: the upsert updates the restored application.
    let r = env
        .call(
            Method::POST,
            &format!("/directory/deletedItems/{id}/restore"),
            None,
        )
        .await;
    assert_eq!(r.ok()["id"], id.as_str());
    let u = env
        .upsert("reused", json!({"displayName": "restored"}))
        .await;
    assert_eq!(u.status, StatusCode::NO_CONTENT);

    // Purged: the name is free.
    env.call(Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    let p = env
        .call(
            Method::DELETE,
            &format!("/directory/deletedItems/{id}"),
            None,
        )
        .await;
    assert_eq!(p.status, StatusCode::NO_CONTENT);
    let c = env.upsert("reused", json!({"displayName": "third"})).await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);

    // Thirty days on the emulator's clock: gone from deleted items, name free.
    let id3 = c.body["id"].as_str().unwrap().to_string();
    env.call(Method::DELETE, &format!("/applications/{id3}"), None)
        .await;
    env.upsert("reused", json!({"displayName": "x"}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    env.advance(29 * 86_400).await;
    let op = Operator {
        token: env.token_of(&env.op.app_id, &env.op.secret).await,
        ..env.op.clone()
    };
    env.upsert_as(&op, "reused", json!({"displayName": "x"}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    env.advance(86_400).await;
    let op = Operator {
        token: env.token_of(&env.op.app_id, &env.op.secret).await,
        ..env.op.clone()
    };
    let c = env
        .upsert_as(&op, "reused", json!({"displayName": "fourth"}))
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
}

#[tokio::test]
async fn passwords_authenticate_until_removed_or_expired() {
    let env = start(config()).await;
    let a = env.upsert("pw", json!({"displayName": "pw"})).await;
    let id = a.body["id"].as_str().unwrap().to_string();
    let app_id = a.body["appId"].as_str().unwrap().to_string();

    let p = env
        .add_password(
            &id,
            json!({"passwordCredential": {"displayName": "clientops:gen-1"}}),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let secret = p.body["secretText"].as_str().unwrap().to_string();
    let key_id = p.body["keyId"].as_str().unwrap().to_string();
    assert!((16..=64).contains(&secret.len()));
    assert_eq!(p.body["hint"], &secret[..3]);
    assert_eq!(p.body["displayName"], "clientops:gen-1");
    let start =
        chrono::DateTime::parse_from_rfc3339(p.body["startDateTime"].as_str().unwrap()).unwrap();
    let end =
        chrono::DateTime::parse_from_rfc3339(p.body["endDateTime"].as_str().unwrap()).unwrap();
    assert_eq!((end - start).num_days(), 730);

    // No service principal yet: AADSTS7000229.
    let t = env.client_credentials(&app_id, &secret).await;
    assert_eq!(
        token_error(&t, StatusCode::UNAUTHORIZED, "invalid_client"),
        7000229
    );
    env.call(
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await
    .ok();

    let t = env.client_credentials(&app_id, &secret).await;
    assert!(t.ok()["access_token"].is_string());
    // HTTP Basic works as well.
    let r = env
        .http
        .post(format!("{}/{}/oauth2/v2.0/token", env.base, env.tenant))
        .basic_auth(&app_id, Some(&secret))
        .form_body(&[("grant_type", "client_credentials"), ("scope", GRAPH)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // A wrong secret: 401 invalid_client AADSTS7000215.
    let t = env.client_credentials(&app_id, "not-the-secret").await;
    assert_eq!(
        token_error(&t, StatusCode::UNAUTHORIZED, "invalid_client"),
        7000215
    );
    // An unknown client: 400 unauthorized_client AADSTS700016.
    let t = env
        .client_credentials("00000000-1111-4222-8333-444444444444", &secret)
        .await;
    assert_eq!(
        token_error(&t, StatusCode::BAD_REQUEST, "unauthorized_client"),
        700016
    );

    // Reads never show the value.
    let got = env
        .call(Method::GET, &format!("/applications/{id}"), None)
        .await;
    let creds = got.ok()["passwordCredentials"].as_array().unwrap().clone();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["keyId"], key_id.as_str());
    assert_eq!(creds[0]["secretText"], Value::Null);
    assert!(!got.body.to_string().contains(&secret));

    // PATCH cannot set passwords.
    env.call(
        Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({"passwordCredentials": creds})),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "Request_BadRequest");

    let rm = env
        .call(
            Method::POST,
            &format!("/applications/{id}/removePassword"),
            Some(json!({"keyId": key_id})),
        )
        .await;
    assert_eq!(rm.status, StatusCode::NO_CONTENT);
    let t = env.client_credentials(&app_id, &secret).await;
    assert_eq!(
        token_error(&t, StatusCode::UNAUTHORIZED, "invalid_client"),
        7000215
    );
    env.call(
        Method::POST,
        &format!("/applications/{id}/removePassword"),
        Some(json!({"keyId": key_id})),
    )
    .await
    .error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");

    // A password ending in an hour stops working when the clock passes it.
    let end = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let p = env
        .add_password(&id, json!({"passwordCredential": {"endDateTime": end}}))
        .await;
    let short = p.ok()["secretText"].as_str().unwrap().to_string();
    assert!(
        env.client_credentials(&app_id, &short)
            .await
            .status
            .is_success()
    );
    env.advance(2 * 3600).await;
    let t = env.client_credentials(&app_id, &short).await;
    assert_eq!(
        token_error(&t, StatusCode::UNAUTHORIZED, "invalid_client"),
        7000222
    );
}

#[tokio::test]
async fn personal_account_audiences_hold_two_passwords_others_the_configured_limit() {
    let env = start(Config {
        max_passwords: 3,
        ..config()
    })
    .await;
    assert_ne!(DEFAULT_MAX_PASSWORDS, 3);
    let personal = env
        .upsert(
            "personal",
            json!({"displayName": "p", "signInAudience": "AzureADandPersonalMicrosoftAccount"}),
        )
        .await;
    let pid = personal.body["id"].as_str().unwrap().to_string();
    for _ in 0..2 {
        env.add_password(&pid, json!({})).await.ok();
    }
    let msg = env
        .add_password(&pid, json!({}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert!(msg.contains("(2)"), "{msg}");

    let org = env.upsert("org", json!({"displayName": "o"})).await;
    let oid = org.body["id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        env.add_password(&oid, json!({})).await.ok();
    }
    env.add_password(&oid, json!({}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    // Three passwords: the audience cannot become a personal-account one.
    env.call(
        Method::PATCH,
        &format!("/applications/{oid}"),
        Some(json!({"signInAudience": "PersonalMicrosoftAccount"})),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
}

#[tokio::test]
async fn invalid_properties_are_refused_with_graph_errors() {
    let env = start(config()).await;
    let a = env.upsert("rules", json!({"displayName": "r"})).await;
    let id = a.body["id"].as_str().unwrap().to_string();
    let patch = |body: Value| {
        let env = &env;
        let id = id.clone();
        async move {
            env.call(Method::PATCH, &format!("/applications/{id}"), Some(body))
                .await
        }
    };
    let e = patch(json!({"web": {"redirectUris": ["http://app.example/cb"]}})).await;
    e.error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert_eq!(e.body["error"]["details"][0]["target"], "web.redirectUris");
    patch(json!({"tags": ["has space"]}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    patch(json!({"signInAudience": "Everyone"}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    patch(json!({"appId": "00000000-1111-4222-8333-444444444444"}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    patch(json!({"uniqueName": "renamed"}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    patch(json!({"requiredResourceAccess": [{"resourceAppId": "graph", "resourceAccess": []}]}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    // A valid change is 204, and the refused ones changed nothing.
    let ok = patch(json!({
        "requiredResourceAccess": [{
            "resourceAppId": "00000003-0000-0000-c000-000000000000",
            "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]
        }],
        "optionalClaims": {"idToken": [{"name": "email"}]},
        "appRoles": [{"id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "allowedMemberTypes": ["Application"], "value": "Orders.Read", "displayName": "Read"}]
    }))
    .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    let got = env
        .call(Method::GET, &format!("/applications/{id}"), None)
        .await;
    let g = got.ok();
    assert_eq!(g["signInAudience"], "AzureADMyOrg");
    assert_eq!(g["web"]["redirectUris"], json!([]));
    assert_eq!(g["optionalClaims"]["idToken"][0]["essential"], false);
    assert_eq!(g["appRoles"][0]["isEnabled"], true);
    // An enabled role cannot be removed.
    patch(json!({"appRoles": []}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    // No body displayName on create.
    env.upsert("nameless", json!({}))
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
}

#[tokio::test]
async fn graph_throttles_with_429_and_retry_after() {
    let env = start(Config {
        rate_limit: Some(RateLimit {
            requests: 3,
            period: Duration::from_secs(3600),
        }),
        ..config()
    })
    .await;
    for _ in 0..3 {
        env.call(Method::GET, "/applications", None).await.ok();
    }
    let a = env.call(Method::GET, "/applications", None).await;
    a.error(
        StatusCode::TOO_MANY_REQUESTS,
        "Request_ThrottledTemporarily",
    );
    let after: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(after >= 1, "{after}");
    // Another app has its own bucket.
    let other = env.operator(&[OWNED_BY]).await;
    env.call_as(&other, Method::GET, "/applications", None, false)
        .await
        .ok();
}

#[tokio::test]
async fn service_principals_are_created_once_and_found_by_app_id() {
    let env = start(config()).await;
    let a = env
        .upsert("sp", json!({"displayName": "sp", "tags": ["t1"]}))
        .await;
    let app_id = a.body["appId"].as_str().unwrap().to_string();
    let sp = env
        .call(
            Method::POST,
            "/servicePrincipals",
            Some(json!({"appId": app_id})),
        )
        .await;
    assert_eq!(sp.status, StatusCode::CREATED);
    assert_eq!(sp.body["appId"], app_id.as_str());
    assert_eq!(sp.body["tags"], json!(["t1"]));
    env.call(
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await
    .error(
        StatusCode::CONFLICT,
        "Request_MultipleObjectsWithSameKeyValue",
    );
    let e = env
        .call(
            Method::POST,
            "/servicePrincipals",
            Some(json!({"appId": "00000000-1111-4222-8333-444444444444"})),
        )
        .await;
    e.error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert_eq!(
        e.body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    let found = env
        .call(
            Method::GET,
            &format!("/servicePrincipals?$filter=appId eq '{app_id}'"),
            None,
        )
        .await;
    assert_eq!(found.ok()["value"].as_array().unwrap().len(), 1);
    let by_key = env
        .call(
            Method::GET,
            &format!("/servicePrincipals(appId='{app_id}')"),
            None,
        )
        .await;
    assert_eq!(by_key.ok()["id"], sp.body["id"]);
    // Deleting the application deletes its service principal.
    let id = a.body["id"].as_str().unwrap();
    env.call(Method::DELETE, &format!("/applications/{id}"), None)
        .await;
    env.call(
        Method::GET,
        &format!("/servicePrincipals(appId='{app_id}')"),
        None,
    )
    .await
    .error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test]
async fn the_replication_lag_fault_makes_new_applications_404_on_add_password() {
    let env = start(config()).await;
    let fresh = env.upsert("before", json!({"displayName": "b"})).await;
    env.admin(
        Method::PUT,
        "/consistency",
        json!({"add_password_not_found": 2, "service_principal_not_ready": 1}),
    )
    .await;
    let a = env.upsert("lagging", json!({"displayName": "l"})).await;
    let id = a.body["id"].as_str().unwrap().to_string();
    let app_id = a.body["appId"].as_str().unwrap().to_string();
    for _ in 0..2 {
        env.add_password(&id, json!({}))
            .await
            .error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    }
    env.add_password(&id, json!({})).await.ok();
    let e = env
        .call(
            Method::POST,
            "/servicePrincipals",
            Some(json!({"appId": app_id})),
        )
        .await;
    e.error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    assert_eq!(e.status, StatusCode::BAD_REQUEST);
    env.call(
        Method::POST,
        "/servicePrincipals",
        Some(json!({"appId": app_id})),
    )
    .await
    .ok();
    // Applications created before the fault was set are not affected.
    let fid = fresh.body["id"].as_str().unwrap();
    env.add_password(fid, json!({})).await.ok();
}

#[tokio::test]
async fn graph_refuses_missing_foreign_and_expired_tokens() {
    let env = start(config()).await;
    let r = env
        .http
        .get(format!("{}/v1.0/applications", env.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error"]["code"], "InvalidAuthenticationToken");

    // A token for another resource than Graph is refused by Graph.
    let (_, app_id) = env.app_with_sp("api", json!({})).await;
    let t = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &env.op.app_id),
            ("client_secret", &env.op.secret),
            ("scope", &format!("api://{app_id}/.default")),
        ])
        .await;
    let foreign = Operator {
        token: t.ok()["access_token"].as_str().unwrap().to_string(),
        ..env.op.clone()
    };
    env.call_as(&foreign, Method::GET, "/applications", None, false)
        .await
        .error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    // An unknown scope is invalid_scope.
    let t = env
        .token_request(&[
            ("grant_type", "client_credentials"),
            ("client_id", &env.op.app_id),
            ("client_secret", &env.op.secret),
            ("scope", "https://example.com/.default"),
        ])
        .await;
    assert_eq!(
        token_error(&t, StatusCode::BAD_REQUEST, "invalid_scope"),
        1002012
    );
    // An unknown tenant.
    let r = env
        .http
        .post(format!(
            "{}/00000000-0000-4000-8000-000000000000/oauth2/v2.0/token",
            env.base
        ))
        .form_body(&[
            ("grant_type", "client_credentials"),
            ("client_id", &env.op.app_id),
            ("client_secret", &env.op.secret),
            ("scope", GRAPH),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Tokens last 3599 s on the emulator's clock.
    env.call(Method::GET, "/applications", None).await.ok();
    env.advance(3600).await;
    let m = env
        .call(Method::GET, "/applications", None)
        .await
        .error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    assert!(m.contains("expired"), "{m}");
}

#[tokio::test]
async fn https_next_links_point_back_at_the_https_listener() {
    let dir = std::env::temp_dir().join(format!("clientops-entra-test-{}", std::process::id()));
    let ca_file = dir.join("ca.pem");
    let env = start_with(
        config(),
        Some(TlsOptions {
            listen: "127.0.0.1:0".into(),
            source: CertSource::Generate {
                ca_file: ca_file.clone(),
            },
        }),
    )
    .await;
    assert_eq!(env.srv.ca_file(), Some(ca_file.as_path()));
    let https = env.srv.https_url().unwrap();
    for i in 0..2 {
        env.upsert(&format!("tls-{i}"), json!({"displayName": "t"}))
            .await
            .ok();
    }
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_file).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let page: Value = client
        .get(format!("{https}/v1.0/applications?$top=1"))
        .bearer_auth(&env.op.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = page["@odata.nextLink"].as_str().unwrap();
    assert!(
        next.starts_with(&format!("{https}/v1.0/applications?")),
        "{next}"
    );
    let second: Value = client
        .get(next)
        .bearer_auth(&env.op.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["value"].as_array().unwrap().len(), 1);
    assert!(second.get("@odata.nextLink").is_none());
    // Without trusting the CA, the handshake fails.
    let untrusting = http();
    assert!(
        untrusting
            .get(format!("{https}/v1.0/applications"))
            .send()
            .await
            .is_err()
    );
    env.srv.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------
// Certificate client assertions.

/// A self-signed RSA-2048 certificate and its PKCS#8 key, a test fixture
/// generated once (openssl req -x509 -newkey rsa:2048, 100 years).
const ASSERTION_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIDOzCCAiOgAwIBAgIUdaB4+eR6pKWzyKzT4h/jKzYBGSMwDQYJKoZIhvcNAQEL
BQAwLDEqMCgGA1UEAwwhY2xpZW50b3BzLWVtdWxhdG9yLWFzc2VydGlvbi10ZXN0
MCAXDTI2MTIwNzE1Mjk1M1oYDzIxMjYxMTEzMTUyOTUzWjAsMSowKAYDVQQDDCFj
bGllbnRvcHMtZW11bGF0b3ItYXNzZXJ0aW9uLXRlc3QwggEiMA0GCSqGSIb3DQEB
AQUAA4IBDwAwggEKAoIBAQCdKAOsMAq5+DCxbbB8hL7Ir2UdPcn1lecLHE6SgldV
hDkKHSGMKpMAdI/xidYCb59VqT40nju2AZJWealrrbZE7Tu5i26v888zFoCUeEtF
/mIujNZ7XRYvnF+WR7TfEf3dnVQqFVrahfRj1JbMtA/VM3R0/Dq9KqFHbGN5d/EF
zkzMDq1MTRDowf1I0SBjlHn50+EwDAImdLU5LQ0a8qPOSqtgLKpYEST5VqK8fk7J
hVRr27iVfEuPsVdvt0v8BW1q5wJtnHpr36pRWXp6fNgUExg3kH5dF1ZeWRfo7fAq
+rsa+1cJScOHMvDXbZF9MS7QfG1ypnXxhwyC+06BatS7AgMBAAGjUzBRMB0GA1Ud
DgQWBBS+9zti/gmn0nAs/MmKkZHIirIoRzAfBgNVHSMEGDAWgBS+9zti/gmn0nAs
/MmKkZHIirIoRzAPBgNVHRMBAf8EBTADAQH/MA0GCSqGSIb3DQEBCwUAA4IBAQCO
x3x0XUTgH2Rpn0YYaUCWJOpxH/HD6pH6HjqpVQkYsD2rOrp/Udsww4xQW0NwGoQj
DQRpqpLqR6Ws1ZUA8i1ycgOXd92UqEyqHRyB0PR3mohD6qTXbTBqT4UuqT5ruzoz
pkcKP3ja5Ox4gUulXB6LqAUMPG69eYj8n344BrhHU+0VEAazmXjfAGN+aU+WYWLM
mvj8vVcfdKiGYAdqzLQMnqXWmaEIgWECFev8pi4g2GYcliQ1f9AJUyQ4hRBR5cpo
xNYFEC6kGRzzmFMUhjf0pP1VT1GwgpxZ728fl+x/mEwnLXdttf+Prld1FPsDbZ9B
KP77DbgVCwM/zBBk5uMf
-----END CERTIFICATE-----
";
const ASSERTION_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCdKAOsMAq5+DCx
bbB8hL7Ir2UdPcn1lecLHE6SgldVhDkKHSGMKpMAdI/xidYCb59VqT40nju2AZJW
ealrrbZE7Tu5i26v888zFoCUeEtF/mIujNZ7XRYvnF+WR7TfEf3dnVQqFVrahfRj
1JbMtA/VM3R0/Dq9KqFHbGN5d/EFzkzMDq1MTRDowf1I0SBjlHn50+EwDAImdLU5
LQ0a8qPOSqtgLKpYEST5VqK8fk7JhVRr27iVfEuPsVdvt0v8BW1q5wJtnHpr36pR
WXp6fNgUExg3kH5dF1ZeWRfo7fAq+rsa+1cJScOHMvDXbZF9MS7QfG1ypnXxhwyC
+06BatS7AgMBAAECggEAFC2DjzOZ5PfDVLyXKN2oWz791gvNZu1IvWn0gqYejXnN
EwnbeVIsDqZopuQCKMzpIcf5lyrr0roP7m9ve8ZRfTcScIfA/fFpXI9akfWCAKoh
NAXcMfmpNBK5SSPKystWE4K0QDT+tcj2MG0msYC6+a5CGRUbe5dCHtgBS6LFPO/k
8z7kCMCeDM79gV1r6leQt9O5EQhdPonai6t/LEXIg/RJjBe2jt3gt0GZVqUxwEjP
TToK8TWAjNUrIzpX4AjOdC2Nwe+IgLGsQ9knghcN3rxiprQODCSHWKh+z5X+qxxR
iK7FMBWuknUResD6mseW7y4vRVnnZryq6vu8EDejfQKBgQDMbdFadw+NzpreNN//
tkxsqwCqwOzZ50Xb0YiJWZXUUi3ERFkQu4DpVIZZ2H08EfaQmnnyXjk0RQb6wuW1
hQ4LbXXAGzaKc1ihmPn39GUMUVfmbhU/NsJ73QarwuLzhp2DsjC1UbVLk2RENMZJ
/Qu8KcSyAejJrQl45vq3jHMprwKBgQDEzUpxX71MLKoV9Igcn1z7TOUa4K4f9ZXM
5mbOFl4cJS7p3Z4QpEsAW/RdRF7EFnJ/qvJEMVDhVx4IogDwZpurxJSRVRy9ajsJ
dwaGZTfhALYxdwMFGGkKO/X3QiUkvLvgFAG3u6ki/XKF4YpZxv9Cd5Z7CEqG32AX
York7ypktQKBgBSTKPL18LbRCH08zR6rdl2piFOnPy9fO4S4Pgm03oOUEc8jIeOx
O3RAcZUxWMlm9W3wXj2qhg9gsych3oS6c4Nq7OL82ixtF4qMHvx5uIHY3gPvKGxI
UqKsyDMZVkY0Uj4i/QwCwUBuATVsKljgAwJZIdbYollJ9R4aATngBOc5AoGAOCna
F9bZv/ZzJ8bcXUbBk1oTfAMozigY8xvBtQi/HMsjw0wiwt8QJG8ZotBTNySs0nBn
qTxlt5lUEeSh3fl6bZ+xQnSGuiup436bVxllxAme9SjgrMCVoX0RKdovnXdbKoyr
HNMqZrjryPdfs1VOHZrhUAVCt5Dh7GqL9t+mOo0CgYAtxuVR4QkJChikt0497Rin
ZdBLw8//NExoQ/VY5V2ZsRKcjHW5t08GSdVkdI3LZxhOXEeHQtErV1KH8cg4qmj+
rpxVqurjL04LlbH7chRfr04wonBP+iBpIv4VWaIts63krsXH1gM7BXLZviBXVqic
BFU/KbL14asZtIgH+BDsag==
-----END PRIVATE KEY-----
";

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A client assertion JWT signed with the fixture key.
fn assertion(header: Value, claims: Value) -> String {
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;
    let key = PrivatePkcs8KeyDer::from_pem_slice(ASSERTION_KEY_PEM.as_bytes()).unwrap();
    let pair = ring::signature::RsaKeyPair::from_pkcs8(key.secret_pkcs8_der()).unwrap();
    let signing = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let scheme: &dyn ring::signature::RsaEncoding = if header["alg"] == "PS256" {
        &ring::signature::RSA_PSS_SHA256
    } else {
        &ring::signature::RSA_PKCS1_SHA256
    };
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        scheme,
        &ring::rand::SystemRandom::new(),
        signing.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{signing}.{}", b64url(&sig))
}

#[tokio::test]
async fn certificate_assertions_authenticate_with_a_registered_certificate() {
    use base64::Engine;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use sha2::Digest;
    let env = start(config()).await;
    let (id, app_id) = env.app_with_sp("cert", json!({})).await;
    let der = CertificateDer::from_pem_slice(ASSERTION_CERT_PEM.as_bytes()).unwrap();
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref());
    let x5t = b64url(sha1.as_ref());
    let x5t256 = b64url(&sha2::Sha256::digest(der.as_ref()));

    // Not a certificate: refused.
    env.call(
        Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": "bm90IGEgY2VydA=="}]})),
    )
    .await
    .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    let ok = env
        .call(
            Method::PATCH,
            &format!("/applications/{id}"),
            Some(json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": key_b64, "displayName": "CN=test"}]})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.body);
    let got = env
        .call(Method::GET, &format!("/applications/{id}"), None)
        .await;
    let k = &got.ok()["keyCredentials"][0];
    assert_eq!(k["key"], Value::Null);
    assert_eq!(
        k["customKeyIdentifier"],
        base64::engine::general_purpose::STANDARD.encode(sha1.as_ref())
    );

    let now = chrono::Utc::now().timestamp();
    let aud = format!(
        "https://login.microsoftonline.com/{}/oauth2/v2.0/token",
        env.tenant
    );
    let claims = |aud: &str, iss: &str, exp: i64| json!({"aud": aud, "iss": iss, "sub": iss, "jti": "7f1c0c8e-1111-4222-8333-444444444444", "nbf": now - 10, "iat": now - 10, "exp": exp});
    let request = |jwt: String| {
        let env = &env;
        let app_id = app_id.clone();
        async move {
            env.token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &jwt),
                ("scope", GRAPH),
            ])
            .await
        }
    };
    // RS256 + x5t (the older form) and PS256 + x5t#S256 (the current one).
    let rs = assertion(
        json!({"alg": "RS256", "typ": "JWT", "x5t": x5t}),
        claims(&aud, &app_id, now + 600),
    );
    assert!(request(rs).await.ok()["access_token"].is_string());
    let ps = assertion(
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": x5t256}),
        claims(&aud, &app_id, now + 600),
    );
    assert!(request(ps).await.ok()["access_token"].is_string());
    // The emulator's own token URL is an accepted audience too.
    let own = format!("{}/{}/oauth2/v2.0/token", env.base, env.tenant);
    let jwt = assertion(
        json!({"alg": "RS256", "x5t": x5t}),
        claims(&own, &app_id, now + 600),
    );
    assert!(request(jwt).await.status.is_success());

    let refused = |a: Answer| token_error(&a, StatusCode::UNAUTHORIZED, "invalid_client");
    let wrong_aud = assertion(
        json!({"alg": "RS256", "x5t": x5t}),
        claims(
            "https://login.microsoftonline.com/other/oauth2/v2.0/token",
            &app_id,
            now + 600,
        ),
    );
    assert_eq!(refused(request(wrong_aud).await), 700212);
    let wrong_iss = assertion(
        json!({"alg": "RS256", "x5t": x5t}),
        claims(&aud, &env.op.app_id, now + 600),
    );
    assert_eq!(refused(request(wrong_iss).await), 700021);
    let expired = assertion(
        json!({"alg": "RS256", "x5t": x5t}),
        claims(&aud, &app_id, now - 3600),
    );
    assert_eq!(refused(request(expired).await), 700024);
    let unknown = assertion(
        json!({"alg": "RS256", "x5t": b64url(&[7u8; 20])}),
        claims(&aud, &app_id, now + 600),
    );
    assert_eq!(refused(request(unknown).await), 700027);
    // A changed payload breaks the signature.
    let good = assertion(
        json!({"alg": "RS256", "x5t": x5t}),
        claims(&aud, &app_id, now + 600),
    );
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = b64url(claims(&aud, &app_id, now + 86_400).to_string().as_bytes());
    let forged = format!("{}.{forged_claims}.{}", parts[0], parts[2]);
    assert_eq!(refused(request(forged).await), 700027);
    // Once the certificate is removed, even a good assertion is refused.
    env.call(
        Method::PATCH,
        &format!("/applications/{id}"),
        Some(json!({"keyCredentials": []})),
    )
    .await;
    let good = assertion(
        json!({"alg": "RS256", "x5t": x5t}),
        claims(&aud, &app_id, now + 600),
    );
    assert_eq!(refused(request(good).await), 700027);
}

#[tokio::test]
async fn a_dropped_https_answer_still_commits_the_change() {
    let dir = std::env::temp_dir().join(format!("clientops-entra-drop-{}", std::process::id()));
    let ca_file = dir.join("ca.pem");
    let env = start_with(
        config(),
        Some(TlsOptions {
            listen: "127.0.0.1:0".into(),
            source: CertSource::Generate {
                ca_file: ca_file.clone(),
            },
        }),
    )
    .await;
    let https = env.srv.https_url().unwrap();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_file).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    env.admin(
        Method::PUT,
        "/faults",
        json!({"p_drop_after_commit": 1.0, "methods": ["PATCH"], "times": 1}),
    )
    .await;
    let sent = client
        .patch(format!("{https}/v1.0/applications(uniqueName='dropped')"))
        .bearer_auth(&env.op.token)
        .header("Prefer", "create-if-missing")
        .json(&json!({"displayName": "dropped"}))
        .send()
        .await;
    assert!(
        sent.is_err(),
        "the answer should have been dropped: {sent:?}"
    );
    // The create happened: the retried upsert updates (204).
    let again = env
        .upsert("dropped", json!({"displayName": "dropped"}))
        .await;
    assert_eq!(again.status, StatusCode::NO_CONTENT, "{}", again.body);
    env.srv.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn state_survives_a_restart_but_access_tokens_do_not() {
    let dir = std::env::temp_dir().join(format!("clientops-entra-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.json");
    let cfg = || Config {
        state_file: Some(file.clone()),
        ..config()
    };
    let env = start(cfg()).await;
    let (id, app_id) = env.app_with_sp("kept", json!({})).await;
    let secret = env.add_password(&id, json!({})).await.ok()["secretText"]
        .as_str()
        .unwrap()
        .to_string();
    let (tenant, op, old_token) = (env.tenant.clone(), env.op.clone(), env.op.token.clone());
    env.srv.shutdown().await.unwrap();

    let srv = EntraServer::start(cfg(), "127.0.0.1:0", None, std::future::pending())
        .await
        .unwrap();
    let env2 = Env {
        base: srv.http_url(),
        srv,
        http: http(),
        tenant,
        op: Operator {
            token: old_token,
            ..op.clone()
        },
    };
    // The old access token is gone; the operator's and the app's secrets work.
    env2.call(Method::GET, "/applications", None)
        .await
        .error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    let fresh = Operator {
        token: env2.token_of(&op.app_id, &op.secret).await,
        ..op
    };
    let got = env2
        .call_as(
            &fresh,
            Method::GET,
            "/applications(uniqueName='kept')",
            None,
            false,
        )
        .await;
    assert_eq!(got.ok()["appId"], app_id.as_str());
    assert!(
        env2.client_credentials(&app_id, &secret)
            .await
            .status
            .is_success()
    );
    env2.srv.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fixture key's public half as a JWK (`kid` "k1").
const ASSERTION_JWK_N: &str = "nSgDrDAKufgwsW2wfIS-yK9lHT3J9ZXnCxxOkoJXVYQ5Ch0hjCqTAHSP8YnWAm-fVak-NJ47tgGSVnmpa622RO07uYtur_PPMxaAlHhLRf5iLozWe10WL5xflke03xH93Z1UKhVa2oX0Y9SWzLQP1TN0dPw6vSqhR2xjeXfxBc5MzA6tTE0Q6MH9SNEgY5R5-dPhMAwCJnS1OS0NGvKjzkqrYCyqWBEk-VaivH5OyYVUa9u4lXxLj7FXb7dL_AVtaucCbZx6a9-qUVl6enzYFBMYN5B-XRdWXlkX6O3wKvq7GvtXCUnDhzLw122RfTEu0HxtcqZ18YcMgvtOgWrUuw";

#[tokio::test]
async fn federated_credentials_let_an_external_token_authenticate() {
    let env = start(config()).await;
    let (id, app_id) = env.app_with_sp("wif", json!({})).await;
    let issuer = "https://issuer.cluster.example";
    let subject = "system:serviceaccount:clientops:clientops";
    let fic = env
        .call(
            Method::POST,
            &format!("/applications/{id}/federatedIdentityCredentials"),
            Some(json!({"name": "clientops-k8s", "issuer": issuer, "subject": subject, "audiences": ["api://AzureADTokenExchange"]})),
        )
        .await;
    assert_eq!(fic.status, StatusCode::CREATED, "{}", fic.body);
    // Two audiences, a wildcard, a duplicate issuer+subject: refused.
    for bad in [
        json!({"name": "two", "issuer": issuer, "subject": "s", "audiences": ["a", "b"]}),
        json!({"name": "wild", "issuer": issuer, "subject": "system:serviceaccount:*", "audiences": ["a"]}),
        json!({"name": "dup", "issuer": issuer, "subject": subject, "audiences": ["a"]}),
    ] {
        env.call(
            Method::POST,
            &format!("/applications/{id}/federatedIdentityCredentials"),
            Some(bad),
        )
        .await
        .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    }
    // Upsert by name: 204 on the existing one, 201 for a new one.
    let up = env
        .call_as(
            &env.op,
            Method::PATCH,
            &format!("/applications/{id}/federatedIdentityCredentials(name='clientops-k8s')"),
            Some(json!({"description": "the operator's service account"})),
            true,
        )
        .await;
    assert_eq!(up.status, StatusCode::NO_CONTENT, "{}", up.body);
    let list = env
        .call(
            Method::GET,
            &format!("/applications(appId='{app_id}')/federatedIdentityCredentials"),
            None,
        )
        .await;
    assert_eq!(
        list.ok()["value"][0]["description"],
        "the operator's service account"
    );

    let now = chrono::Utc::now().timestamp();
    let sa_token = |sub: &str, aud: &str, kid: &str| {
        assertion(
            json!({"alg": "RS256", "kid": kid}),
            json!({"iss": issuer, "sub": sub, "aud": [aud], "iat": now - 5, "nbf": now - 5, "exp": now + 600}),
        )
    };
    let request = |jwt: String| {
        let env = &env;
        let app_id = app_id.clone();
        async move {
            env.token_request(&[
                ("grant_type", "client_credentials"),
                ("client_id", &app_id),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &jwt),
                ("scope", GRAPH),
            ])
            .await
        }
    };
    let refused = |a: Answer| token_error(&a, StatusCode::UNAUTHORIZED, "invalid_client");
    // The issuer's keys are not known yet.
    let good = sa_token(subject, "api://AzureADTokenExchange", "k1");
    assert_eq!(refused(request(good.clone()).await), 90061);
    env.admin(
        Method::PUT,
        "/issuers",
        json!({"issuer": issuer, "jwks": {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": ASSERTION_JWK_N, "e": "AQAB"}]}}),
    )
    .await;
    let t = request(good).await;
    assert_eq!(t.ok()["token_type"], "Bearer");
    assert_eq!(
        refused(
            request(sa_token(
                "system:serviceaccount:other:sa",
                "api://AzureADTokenExchange",
                "k1"
            ))
            .await
        ),
        700213
    );
    assert_eq!(
        refused(request(sa_token(subject, "api://other", "k1")).await),
        700212
    );
    assert_eq!(
        refused(request(sa_token(subject, "api://AzureADTokenExchange", "k2")).await),
        700027
    );
    // Removing the credential ends it.
    let fic_id = fic.body["id"].as_str().unwrap();
    let del = env
        .call(
            Method::DELETE,
            &format!("/applications/{id}/federatedIdentityCredentials/{fic_id}"),
            None,
        )
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        refused(request(sa_token(subject, "api://AzureADTokenExchange", "k1")).await),
        700211
    );
}

#[tokio::test]
async fn adding_an_owner_hands_an_application_to_an_owned_by_operator() {
    let env = start(config()).await;
    let other = env.operator(&[OWNED_BY]).await;
    let admin = env.operator(&[READ_WRITE_ALL]).await;
    let a = env.upsert("handed", json!({"displayName": "handed"})).await;
    let id = a.body["id"].as_str().unwrap().to_string();
    env.call_as(
        &other,
        Method::GET,
        &format!("/applications/{id}"),
        None,
        false,
    )
    .await
    .error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
    let sp = env
        .call_as(
            &admin,
            Method::GET,
            &format!("/servicePrincipals(appId='{}')", other.app_id),
            None,
            false,
        )
        .await;
    let sp_id = sp.ok()["id"].as_str().unwrap().to_string();
    let reference =
        json!({"@odata.id": format!("https://graph.microsoft.com/v1.0/directoryObjects/{sp_id}")});
    let add = env
        .call_as(
            &admin,
            Method::POST,
            &format!("/applications/{id}/owners/$ref"),
            Some(reference.clone()),
            false,
        )
        .await;
    assert_eq!(add.status, StatusCode::NO_CONTENT, "{}", add.body);
    env.call_as(
        &admin,
        Method::POST,
        &format!("/applications/{id}/owners/$ref"),
        Some(reference),
        false,
    )
    .await
    .error(StatusCode::BAD_REQUEST, "Request_BadRequest");
    let owners = env
        .call_as(
            &other,
            Method::GET,
            &format!("/applications/{id}/owners"),
            None,
            false,
        )
        .await;
    let ids: Vec<&str> = owners.ok()["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["appId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [env.op.app_id.as_str(), other.app_id.as_str()]);
    let patched = env
        .call_as(
            &other,
            Method::PATCH,
            &format!("/applications/{id}"),
            Some(json!({"notes": "mine now"})),
            false,
        )
        .await;
    assert_eq!(patched.status, StatusCode::NO_CONTENT);
    let rm = env
        .call_as(
            &admin,
            Method::DELETE,
            &format!("/applications/{id}/owners/{sp_id}/$ref"),
            None,
            false,
        )
        .await;
    assert_eq!(rm.status, StatusCode::NO_CONTENT);
    env.call_as(
        &other,
        Method::GET,
        &format!("/applications/{id}"),
        None,
        false,
    )
    .await
    .error(StatusCode::NOT_FOUND, "Request_ResourceNotFound");
}

#[tokio::test]
async fn basic_credentials_work_form_encoded_or_raw() {
    let env = start(config()).await;
    let secret = "s3cret+with%20odd~chars";
    let v = env
        .admin(
            Method::POST,
            &format!("/tenants/{}/operators", env.tenant),
            json!({"clientSecret": secret}),
        )
        .await;
    let app_id = v["appId"].as_str().unwrap().to_string();
    let basic = |user: String, pass: String| {
        let env = &env;
        async move {
            env.http
                .post(format!("{}/{}/oauth2/v2.0/token", env.base, env.tenant))
                .basic_auth(user, Some(pass))
                .form_body(&[("grant_type", "client_credentials"), ("scope", GRAPH)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    assert_ne!(encoded, secret);
    assert_eq!(basic(app_id.clone(), encoded).await, StatusCode::OK);
    assert_eq!(
        basic(app_id.clone(), secret.to_string()).await,
        StatusCode::OK
    );
    assert_eq!(
        basic(app_id, "s3cret with%20odd~chars".into()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn writes_to_personal_account_applications_have_their_own_limit() {
    let env = start(Config {
        personal_write_limit: Some(RateLimit {
            requests: 3,
            period: Duration::from_secs(3600),
        }),
        ..config()
    })
    .await;
    let p = env
        .upsert(
            "personal-writes",
            json!({"displayName": "p", "signInAudience": "PersonalMicrosoftAccount"}),
        )
        .await;
    let pid = p.body["id"].as_str().unwrap().to_string();
    env.add_password(&pid, json!({})).await.ok();
    env.call(
        Method::PATCH,
        &format!("/applications/{pid}"),
        Some(json!({"notes": "n"})),
    )
    .await;
    let a = env.add_password(&pid, json!({})).await;
    a.error(
        StatusCode::TOO_MANY_REQUESTS,
        "Request_ThrottledTemporarily",
    );
    assert!(a.headers.contains_key("retry-after"));
    // Reads and writes to work-or-school applications are not counted.
    env.call(Method::GET, &format!("/applications/{pid}"), None)
        .await
        .ok();
    for i in 0..5 {
        let o = env
            .upsert(&format!("org-{i}"), json!({"displayName": "o"}))
            .await;
        assert_eq!(o.status, StatusCode::CREATED);
    }
}
