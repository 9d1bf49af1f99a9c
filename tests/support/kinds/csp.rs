//! VMware Cloud Services Platform OAuth apps, against the project's emulator: one
//! emulator per test binary, an organisation and an API token per test.

use std::sync::OnceLock;

use kube::Client;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Declared, TestKind, apply_cluster_provider, apply_json, declared, random_hex};
use crate::support::hydra::urlencode;
use crate::support::procs::Emulator;

/// The API under the emulator's base URL.
const API: &str = "csp/gateway/am/api";

/// One test's organisation at the shared CSP emulator.
pub struct Csp {
    emu: Emulator,
    org: String,
    token: String,
    http: reqwest::Client,
}

static BASE: OnceLock<String> = OnceLock::new();

impl Csp {
    /// A call to the CSP API as a person with the organisation's API token would
    /// make it (the console): exchange the token, then call with the access token.
    async fn call(&self, method: Method, path: &str, body: Value) -> (u16, Value) {
        let auth: Value = self
            .http
            .post(format!("{}/{API}/auth/api-tokens/authorize", self.emu.base))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(format!("api_token={}", urlencode(&self.token)))
            .send()
            .await
            .expect("CSP token exchange")
            .json()
            .await
            .expect("CSP token exchange answer");
        let access = auth["access_token"].as_str().expect("an access token");
        let r = self
            .http
            .request(
                method,
                format!("{}/{API}/orgs/{}/{path}", self.emu.base, self.org),
            )
            .bearer_auth(access)
            .json(&body)
            .send()
            .await
            .expect("CSP API call");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl TestKind for Csp {
    const NAME: &'static str = "csp";
    const GRACE: bool = true;

    async fn tenant(client: &Client, ns: &str, provider: &str) -> Option<Self> {
        // Without --token the emulator accepts any API token: each test has its
        // own, and so its own rate-limit bucket.
        let base = BASE.get_or_init(|| Emulator::shared_base("csp", &[]));
        let emu = Emulator::attach("csp", base);
        let h = random_hex(32);
        let org = format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        );
        let token = format!("token-{ns}");
        apply_json(
            client,
            ns,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "csp-api", "namespace": ns},
                "stringData": {"token": token},
            }),
        )
        .await;
        apply_cluster_provider(
            client,
            ns,
            provider,
            json!({"vmwareCsp": {
                "orgId": org,
                "baseUrl": emu.api_url(),
                "auth": {"apiTokenSecretRef": {"namespace": ns, "name": "csp-api", "key": "token"}},
            }}),
        )
        .await;
        Some(Csp {
            emu,
            org,
            token,
            http: reqwest::Client::new(),
        })
    }

    fn spec(&self, name: &str) -> Value {
        json!({
            "clientName": format!("App {name}"),
            "grantTypes": ["client_credentials"],
            "vmwareCsp": {"description": format!("{name} service"), "organizationRoles": ["org_member"]},
        })
    }

    fn provider_blocks(url: &str, secret: Value) -> Vec<Value> {
        vec![
            json!({"orgId": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "baseUrl": url,
            "auth": {"apiTokenSecretRef": secret}}),
        ]
    }

    fn reaching_client() -> Value {
        json!({"vmwareCsp": {"organizationRoles": ["org_member"]}})
    }

    fn edit(&self, name: &str) -> Value {
        json!({
            "clientName": format!("App {name} v2"),
            "vmwareCsp": {"description": format!("{name} service, second edition")},
        })
    }

    fn shows_edit(&self, remote: &Value, name: &str) -> bool {
        remote["displayName"] == format!("App {name} v2")
            && remote["description"] == format!("{name} service, second edition")
    }

    fn remote_name(remote: &Value) -> Option<String> {
        remote["displayName"].as_str().map(String::from)
    }

    async fn remote(&self, id: &str) -> Option<Value> {
        let v = self
            .emu
            .admin(Method::GET, &format!("clients/{id}"), None)
            .await;
        (v["id"] == id && v["organizationId"] == self.org.as_str()).then_some(v)
    }

    async fn remote_ids(&self) -> Vec<String> {
        self.emu
            .clients()
            .await
            .iter()
            .filter(|c| c["organizationId"] == self.org.as_str())
            .filter_map(|c| c["id"].as_str().map(String::from))
            .collect()
    }

    async fn accepts(&self, id: &str, secret: &str) -> bool {
        self.emu.check(id, secret).await
    }

    async fn rename_behind_the_back(&self, id: &str, name: &str) {
        // CSP's update takes the required fields along with the change.
        let app = self.remote(id).await.expect("the app to rename");
        let body = json!({
            "displayName": name,
            "description": app["description"],
            "grantTypes": app["grantTypes"],
        });
        let (status, body) = self
            .call(Method::PATCH, &format!("oauth-apps/{id}"), body)
            .await;
        assert_eq!(status, 200, "rename {id} at the emulator: {body}");
    }

    async fn delete_behind_the_back(&self, id: &str) {
        let (status, body) = self
            .call(
                Method::DELETE,
                "oauth-apps",
                json!({"clientIdsToDelete": [id]}),
            )
            .await;
        assert_eq!(status, 200, "delete {id} at the emulator: {body}");
    }

    async fn change_secret_behind_the_back(&self, id: &str) {
        // As in the console: regenerate, which replaces every secret at once.
        let (status, v) = self
            .call(Method::PUT, &format!("oauth-apps/{id}/secret"), json!({}))
            .await;
        assert!(
            (200..300).contains(&status),
            "regenerate {id}'s secret: {status} {v}"
        );
    }

    async fn refuse_secret_changes(&self, id: &str, refuse: bool) {
        if refuse {
            let path = format!("oauth-apps/{id}/secret");
            self.emu
                .set_faults(json!({"p_500": 1.0, "methods": ["POST", "PUT"], "path": path}))
                .await;
        } else {
            self.emu.clear_faults().await;
        }
    }

    async fn create_behind_the_back(&self, name: &str) -> (String, String) {
        let (status, r) = self
            .call(
                Method::POST,
                "oauth-apps",
                json!({
                    "displayName": format!("Legacy {name}"),
                    "description": "made by hand",
                    "grantTypes": ["client_credentials"],
                    "allowedScopes": {"organizationScopes": {"roles": [{"name": "org_member"}]}},
                }),
            )
            .await;
        assert_eq!(status, 200, "create at the emulator: {r}");
        let field = |k: &str| {
            r[k].as_str()
                .unwrap_or_else(|| panic!("create at the emulator: {r}"))
                .to_string()
        };
        (field("clientId"), field("clientSecret"))
    }

    async fn lose_create_responses(&self, lose: bool) {
        if lose {
            // Only this organisation's creates: other tests share the emulator.
            let path = format!("orgs/{}/oauth-apps", self.org);
            self.emu
                .set_faults(json!({"p_drop_after_commit": 1.0, "methods": ["POST"], "path": path}))
                .await;
        } else {
            self.emu.clear_faults().await;
        }
    }

    fn every_field(&self, name: &str) -> Value {
        json!({
            "grantTypes": ["client_credentials", "authorization_code", "refresh_token"],
            "redirectUris": [format!("https://{name}.example.com/callback")],
            "postLogoutRedirectUris": [format!("https://{name}.example.com/bye")],
            "tokenEndpointAuthMethod": "client_secret_basic",
            "vmwareCsp": {
                "accessTokenTtl": "30m",
                "refreshTokenTtl": "720h",
                "forcePkce": true,
                "generalScopes": ["openid"],
                "allOrganizationRoles": false,
                "ownerOnlySecretRotation": true,
            },
        })
    }

    /// Edits are members of a `PATCH` body of CSP's API, merged into the app as
    /// it is (objects such as `allowedScopes` key by key), with the required
    /// `displayName`, `description` and `grantTypes`.
    #[rustfmt::skip]
    fn declared() -> Vec<Declared> {
        vec![
            declared("spec.clientName", json!({"displayName": "by hand"}), "/displayName"),
            declared("spec.redirectUris", json!({"redirectUris": ["https://evil.example.com/cb"]}), "/redirectUris"),
            declared("spec.postLogoutRedirectUris", json!({"postLogoutRedirectUris": ["https://evil.example.com/bye"]}), "/postLogoutRedirectUris"),
            declared("spec.grantTypes", json!({"grantTypes": ["client_credentials"]}), "/grantTypes"),
            declared("spec.vmwareCsp.description", json!({"description": "by hand"}), "/description"),
            declared("spec.vmwareCsp.accessTokenTtl", json!({"accessTokenTTL": 60}), "/accessTokenTTL"),
            declared("spec.vmwareCsp.refreshTokenTtl", json!({"refreshTokenTTL": 7200}), "/refreshTokenTTL"),
            declared("spec.vmwareCsp.forcePkce", json!({"forcePkce": false}), "/forcePkce"),
            declared("spec.vmwareCsp.ownerOnlySecretRotation", json!({"ownerOnlySecretRotation": false}), "/ownerOnlySecretRotation"),
            declared("spec.vmwareCsp.generalScopes", json!({"allowedScopes": {"generalScopes": ["openid", "email"]}}), "/allowedScopes/generalScopes"),
            declared("spec.vmwareCsp.organizationRoles", json!({"allowedScopes": {"organizationScopes": {"roles": [{"name": "org_owner"}]}}}), "/allowedScopes/organizationScopes/roles"),
            declared("spec.vmwareCsp.allOrganizationRoles", json!({"allowedScopes": {"organizationScopes": {"allRoles": true}}}), "/allowedScopes/organizationScopes/allRoles"),
        ]
    }

    async fn edit_behind_the_back(&self, id: &str, edit: &Value) {
        let app = self.remote(id).await.expect("the app to edit");
        let mut body = json!({
            "displayName": app["displayName"],
            "description": app["description"],
            "grantTypes": app["grantTypes"],
        });
        fn merge(into: &mut Value, edit: &Value) {
            match (into.as_object_mut(), edit.as_object()) {
                (Some(into), Some(edit)) => {
                    for (k, v) in edit {
                        merge(into.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
                _ => *into = edit.clone(),
            }
        }
        for (k, v) in edit.as_object().expect("PATCH members") {
            let mut member = app[k].clone();
            merge(&mut member, v);
            body[k] = member;
        }
        let (status, body) = self
            .call(Method::PATCH, &format!("oauth-apps/{id}"), body)
            .await;
        assert_eq!(status, 200, "edit {id} at the emulator: {body}");
    }
}
