//! A real Keycloak for the tests: one server per test binary, a realm per test.
//!
//! [`Keycloak::shared`] installs Keycloak once (`scripts/keycloak/install`:
//! Maven Central, cached under `$CLIENTOPS_CACHE/keycloak/`) and starts it with
//! `scripts/keycloak/run` (development mode on a free loopback port, the preview
//! feature `client-secret-rotation`, H2 in a temp dir), stopped when this test
//! process exits (`KEYCLOAK_OWNER_PID`). [`Keycloak::realm`] makes a fresh realm
//! with an admin client for clientops: a confidential client whose service
//! account has the `realm-management` roles `manage-clients`, `view-clients` and
//! `view-realm`, used through `client_credentials`; with
//! [`RealmSetup::rotation_policy`] the realm also gets the client policy that
//! keeps a rotated secret (clientops requires it and never sets it up).
//!
//! The helpers here talk to Keycloak's admin API as an administrator would (the
//! master realm's bootstrap admin), independently of clientops' own client.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use super::repo_root;

static SHARED: OnceLock<Result<Keycloak, String>> = OnceLock::new();
static REALMS: AtomicU32 = AtomicU32::new(0);

/// The admin client clientops uses in every test realm.
pub const ADMIN_CLIENT_ID: &str = "clientops-admin";

/// `rotated-expiration-period` of the test realms' rotation policy (1 day).
pub const ROTATED_EXPIRATION_SECS: i64 = 86_400;

/// A running Keycloak (killed when the test process exits).
pub struct Keycloak {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    admin_user: String,
    admin_password: String,
    dir: PathBuf,
}

/// How a test realm is set up.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealmSetup {
    /// Add the client policy with the `secret-rotation` executor.
    pub rotation_policy: bool,
}

/// A test realm and clientops' admin credentials in it.
#[derive(Clone, Debug)]
pub struct Realm {
    pub name: String,
    pub admin_client_id: String,
    pub admin_secret: String,
}

fn setting<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .next_back()
}

impl Keycloak {
    /// This test binary's Keycloak, started on first use. Never skipped: without
    /// Maven or a Java >= 21 the install fails and so does the test.
    pub fn shared() -> &'static Keycloak {
        Self::try_shared().unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Keycloak::shared`], or why Keycloak cannot run here.
    /// `CLIENTOPS_TEST_KEYCLOAK=<dir>` reuses one that `scripts/keycloak/run <dir>`
    /// started (while working on these tests: it saves the start-up).
    pub fn try_shared() -> Result<&'static Keycloak, String> {
        SHARED
            .get_or_init(|| match std::env::var_os("CLIENTOPS_TEST_KEYCLOAK") {
                Some(dir) => Self::attach(PathBuf::from(dir)),
                None => Self::start(),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The Keycloak `scripts/keycloak/run <dir>` started.
    fn attach(dir: PathBuf) -> Result<Keycloak, String> {
        let env = std::fs::read_to_string(dir.join("env"))
            .map_err(|e| format!("{}/env: {e}", dir.display()))?;
        let get = |k: &str| {
            setting(&env, k)
                .map(String::from)
                .ok_or_else(|| format!("{}/env has no {k}", dir.display()))
        };
        Ok(Keycloak {
            url: get("KEYCLOAK_URL")?,
            admin_user: get("KEYCLOAK_ADMIN_USER")?,
            admin_password: get("KEYCLOAK_ADMIN_PASSWORD")?,
            dir,
        })
    }

    /// Install and start Keycloak, stopped when this process exits.
    fn start() -> Result<Keycloak, String> {
        let run = repo_root().join("scripts/keycloak/run");
        let dir = std::env::temp_dir().join(format!(
            "clientops-keycloak-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let started = Instant::now();
        let out = Command::new(&run)
            .arg(&dir)
            .env("KEYCLOAK_OWNER_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", run.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}); Keycloak needs Maven (or the distribution in ~/.m2) and Java >= 21",
                run.display(),
                out.status
            ));
        }
        let kc = Self::attach(dir)?;
        eprintln!("keycloak ready at {} after {:?}", kc.url, started.elapsed());
        Ok(kc)
    }

    /// The master realm's bootstrap admin (user name, password), for the
    /// password grant.
    pub fn bootstrap_admin(&self) -> (&str, &str) {
        (&self.admin_user, &self.admin_password)
    }

    /// Keycloak's log (for failure messages).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.join("keycloak.log")).unwrap_or_default()
    }

    fn http() -> reqwest::Client {
        clientops::provider::http::build_client(&Default::default()).expect("an HTTP client")
    }

    /// A fresh admin token of the master realm (they live 60 s).
    pub async fn admin_token(&self) -> String {
        let r = Self::http()
            .post(format!(
                "{}/realms/master/protocol/openid-connect/token",
                self.url
            ))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", self.admin_user.as_str()),
                ("password", self.admin_password.as_str()),
            ]))
            .send()
            .await
            .expect("admin token request");
        assert!(r.status().is_success(), "admin token: {}", r.status());
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    /// An admin API call as the master admin; returns the status and the JSON
    /// body (`Null` when there is none).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let token = self.admin_token().await;
        let mut req = Self::http()
            .request(method.clone(), format!("{}/admin/realms{path}", self.url))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("admin call");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.admin(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {v}"
        );
        v
    }

    /// A new realm `<prefix>-<n>` with clientops' admin client (see the module
    /// documentation).
    pub async fn realm(&self, prefix: &str, setup: RealmSetup) -> Realm {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id() % 10_000,
            REALMS.fetch_add(1, Ordering::SeqCst)
        );
        use reqwest::Method;
        self.ok(
            Method::POST,
            "",
            Some(json!({"realm": name, "enabled": true})),
        )
        .await;
        let secret = format!("admin-secret-{:032x}", rand::random::<u128>());
        self.ok(
            Method::POST,
            &format!("/{name}/clients"),
            Some(json!({
                "clientId": ADMIN_CLIENT_ID,
                "secret": secret,
                "publicClient": false,
                "serviceAccountsEnabled": true,
                "standardFlowEnabled": false,
            })),
        )
        .await;
        let admin_uuid = self.uuid(&name, ADMIN_CLIENT_ID).await.unwrap();
        let user = self
            .ok(
                Method::GET,
                &format!("/{name}/clients/{admin_uuid}/service-account-user"),
                None,
            )
            .await;
        let user_id = user["id"].as_str().unwrap().to_string();
        let rm = self.uuid(&name, "realm-management").await.unwrap();
        let mut roles = vec![];
        for role in ["manage-clients", "view-clients", "view-realm"] {
            roles.push(
                self.ok(
                    Method::GET,
                    &format!("/{name}/clients/{rm}/roles/{role}"),
                    None,
                )
                .await,
            );
        }
        self.ok(
            Method::POST,
            &format!("/{name}/users/{user_id}/role-mappings/clients/{rm}"),
            Some(Value::Array(roles)),
        )
        .await;
        if setup.rotation_policy {
            self.add_rotation_policy(&name).await;
        }
        Realm {
            name,
            admin_client_id: ADMIN_CLIENT_ID.into(),
            admin_secret: secret,
        }
    }

    /// The client policy that keeps a rotated secret for
    /// [`ROTATED_EXPIRATION_SECS`], for confidential clients, with secrets that
    /// expire only after 10 years (clientops schedules rotations itself).
    pub async fn add_rotation_policy(&self, realm: &str) {
        use reqwest::Method;
        self.ok(
            Method::PUT,
            &format!("/{realm}/client-policies/profiles"),
            Some(json!({"profiles": [{
                "name": "secret-rotation",
                "description": "keep the previous secret while workloads move to the new one",
                "executors": [{"executor": "secret-rotation", "configuration": {
                    "expiration-period": "315360000",
                    "rotated-expiration-period": ROTATED_EXPIRATION_SECS.to_string(),
                    "remaining-rotation-period": "0",
                }}],
            }]})),
        )
        .await;
        self.ok(
            Method::PUT,
            &format!("/{realm}/client-policies/policies"),
            Some(json!({"policies": [{
                "name": "secret-rotation",
                "enabled": true,
                "conditions": [{"condition": "client-access-type", "configuration": {"type": ["confidential"]}}],
                "profiles": ["secret-rotation"],
            }]})),
        )
        .await;
    }

    /// Every client of `realm` (Keycloak's own included).
    pub async fn clients(&self, realm: &str) -> Vec<Value> {
        let v = self
            .ok(
                reqwest::Method::GET,
                &format!("/{realm}/clients?first=0&max=10000"),
                None,
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Delete a client by hand.
    pub async fn delete_client(&self, realm: &str, client_id: &str) {
        if let Some(uuid) = self.uuid(realm, client_id).await {
            self.ok(
                reqwest::Method::DELETE,
                &format!("/{realm}/clients/{uuid}"),
                None,
            )
            .await;
        }
    }

    /// Keycloak's UUID of `client_id` in `realm`.
    pub async fn uuid(&self, realm: &str, client_id: &str) -> Option<String> {
        self.client(realm, client_id)
            .await
            .map(|c| c["id"].as_str().unwrap().to_string())
    }

    /// The client as Keycloak holds it (`None` when absent).
    pub async fn client(&self, realm: &str, client_id: &str) -> Option<Value> {
        let v = self
            .ok(
                reqwest::Method::GET,
                &format!("/{realm}/clients?clientId={}", urlencode(client_id)),
                None,
            )
            .await;
        v.as_array()?
            .iter()
            .find(|c| c["clientId"] == client_id)
            .cloned()
    }

    /// An edit as made in the admin console: `PUT` of the fields in `patch`.
    pub async fn edit(&self, realm: &str, client_id: &str, patch: Value) {
        let uuid = self.uuid(realm, client_id).await.expect("client exists");
        self.ok(
            reqwest::Method::PUT,
            &format!("/{realm}/clients/{uuid}"),
            Some(patch),
        )
        .await;
    }

    /// Regenerate a client's secret as the admin console's "Regenerate" does
    /// (`POST .../client-secret`), then invalidate the previous one where the
    /// realm's rotation policy kept it (`DELETE .../client-secret/rotated`): the
    /// old secret stops working at once.
    pub async fn regenerate_secret(&self, realm: &str, client_id: &str) {
        let uuid = self.uuid(realm, client_id).await.expect("client exists");
        let path = format!("/{realm}/clients/{uuid}/client-secret");
        self.ok(reqwest::Method::POST, &path, None).await;
        let (status, v) = self
            .admin(reqwest::Method::DELETE, &format!("{path}/rotated"), None)
            .await;
        assert!(
            (200..300).contains(&status) || status == 404,
            "DELETE {path}/rotated: {status} {v}"
        );
    }

    /// Create a client by hand.
    pub async fn create_client(&self, realm: &str, body: Value) {
        self.ok(
            reqwest::Method::POST,
            &format!("/{realm}/clients"),
            Some(body),
        )
        .await;
    }

    /// THE PROOF: a `client_credentials` token request at the realm's token
    /// endpoint with HTTP Basic credentials. Returns the status and the body.
    pub async fn token(&self, realm: &str, client_id: &str, secret: &str) -> (u16, Value) {
        let r = Self::http()
            .post(format!(
                "{}/realms/{realm}/protocol/openid-connect/token",
                self.url
            ))
            .basic_auth(urlencode(client_id), Some(urlencode(secret)))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form(&[("grant_type", "client_credentials")]))
            .send()
            .await
            .expect("token request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Whether the credentials get an access token now.
    pub async fn accepts(&self, realm: &str, client_id: &str, secret: &str) -> bool {
        let (status, body) = self.token(realm, client_id, secret).await;
        status == 200 && body["access_token"].as_str().is_some_and(|t| !t.is_empty())
    }
}

/// An `application/x-www-form-urlencoded` body.
fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
