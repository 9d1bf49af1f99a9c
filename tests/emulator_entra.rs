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
