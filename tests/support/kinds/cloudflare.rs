//! Cloudflare account OAuth clients, against the project's emulator: one emulator
//! per test binary, an account and an API token per test.

use std::sync::OnceLock;

use kube::Client;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Declared, TestKind, apply_cluster_provider, apply_json, declared, random_hex};
use crate::support::procs::Emulator;

/// One test's account at the shared Cloudflare emulator.
pub struct Cloudflare {
    emu: Emulator,
    account: String,
}

static BASE: OnceLock<String> = OnceLock::new();

impl Cloudflare {
    fn client_path(&self, id: &str) -> String {
        format!("accounts/{}/oauth_clients/{id}", self.account)
    }
}

impl TestKind for Cloudflare {
    const NAME: &'static str = "cloudflare";
    const GRACE: bool = true;

    async fn tenant(client: &Client, ns: &str, provider: &str) -> Option<Self> {
        // Without --token the emulator accepts any token: each test has its own,
        // and so its own rate-limit bucket.
        let base = BASE.get_or_init(|| Emulator::shared_base("cloudflare", &[]));
        let emu = Emulator::attach("cloudflare", base);
        let account = random_hex(32);
        apply_json(
            client,
            ns,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "cf-api", "namespace": ns},
                "stringData": {"token": format!("token-{ns}")},
            }),
        )
        .await;
        apply_cluster_provider(
            client,
            ns,
            provider,
            json!({"cloudflare": {
                "accountId": account,
                "baseUrl": emu.api_url(),
                "auth": {"apiTokenSecretRef": {"namespace": ns, "name": "cf-api", "key": "token"}},
            }}),
        )
        .await;
        Some(Cloudflare { emu, account })
    }

    fn spec(&self, name: &str) -> Value {
        json!({
            "clientName": format!("App {name}"),
            "redirectUris": [format!("https://{name}.example.com/callback")],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["user-details.read", "account.read"],
        })
    }

    fn provider_blocks(url: &str, secret: Value) -> Vec<Value> {
        let account = "0123456789abcdef0123456789abcdef";
        vec![
            json!({"accountId": account, "baseUrl": url, "auth": {"apiTokenSecretRef": secret}}),
            json!({"accountId": account, "baseUrl": url,
                "auth": {"apiKeySecretRef": secret, "email": "ops@example.com"}}),
        ]
    }

    fn reaching_client() -> Value {
        json!({
            "grantTypes": ["authorization_code", "refresh_token"],
            "redirectUris": ["https://app.example.com/callback"],
            "scopes": ["user-details.read"],
        })
    }

    fn edit(&self, name: &str) -> Value {
        json!({
            "clientName": format!("App {name} v2"),
            "redirectUris": [format!("https://{name}.example.com/new-callback")],
            "scopes": ["account.read"],
        })
    }

    fn shows_edit(&self, remote: &Value, name: &str) -> bool {
        remote["client_name"] == format!("App {name} v2")
            && remote["redirect_uris"]
                == json!([format!("https://{name}.example.com/new-callback")])
            && remote["scopes"].as_array().is_some_and(|s| {
                s.contains(&json!("account.read")) && !s.contains(&json!("user-details.read"))
            })
    }

    fn remote_name(remote: &Value) -> Option<String> {
        remote["client_name"].as_str().map(String::from)
    }

    async fn remote(&self, id: &str) -> Option<Value> {
        let v = self
            .emu
            .admin(Method::GET, &format!("clients/{id}"), None)
            .await;
        (v["client_id"] == id && v["account_id"] == self.account.as_str()).then_some(v)
    }

    async fn remote_ids(&self) -> Vec<String> {
        self.emu
            .clients()
            .await
            .iter()
            .filter(|c| c["account_id"] == self.account.as_str())
            .filter_map(|c| c["client_id"].as_str().map(String::from))
            .collect()
    }

    async fn accepts(&self, id: &str, secret: &str) -> bool {
        self.emu.check(id, secret).await
    }

    async fn rename_behind_the_back(&self, id: &str, name: &str) {
        let r = self
            .emu
            .api(
                Method::PATCH,
                &self.client_path(id),
                Some(json!({"client_name": name})),
            )
            .await;
        assert_eq!(r["success"], true, "rename {id} at the emulator: {r}");
    }

    async fn delete_behind_the_back(&self, id: &str) {
        let r = self
            .emu
            .api(Method::DELETE, &self.client_path(id), None)
            .await;
        assert_eq!(r["success"], true, "delete {id} at the emulator: {r}");
    }

    const GENERATES_SECRETS: bool = true;

    async fn change_secret_behind_the_back(&self, id: &str) {
        // As in the dashboard: rotate, then delete the previous secret at once.
        let path = format!("{}/rotate_secret", self.client_path(id));
        let r = self.emu.api(Method::POST, &path, None).await;
        assert_eq!(r["success"], true, "rotate {id} at the emulator: {r}");
        let r = self.emu.api(Method::DELETE, &path, None).await;
        assert_eq!(r["success"], true, "delete {id}'s previous secret: {r}");
    }

    async fn refuse_secret_changes(&self, id: &str, refuse: bool) {
        if refuse {
            let path = format!("{}/rotate_secret", self.client_path(id));
            self.emu
                .set_faults(json!({"p_500": 1.0, "methods": ["POST"], "path": path}))
                .await;
        } else {
            self.emu.clear_faults().await;
        }
    }

    async fn create_behind_the_back(&self, name: &str) -> (String, String) {
        let r = self
            .emu
            .api(
                Method::POST,
                &format!("accounts/{}/oauth_clients", self.account),
                Some(json!({
                    "client_name": format!("Legacy {name}"),
                    "grant_types": ["authorization_code"],
                    "redirect_uris": [format!("https://{name}.example.com/legacy")],
                    "response_types": ["code"],
                    "scopes": ["user-details.read"],
                    "token_endpoint_auth_method": "client_secret_basic",
                })),
            )
            .await;
        let field = |k: &str| {
            r["result"][k]
                .as_str()
                .unwrap_or_else(|| panic!("create at the emulator: {r}"))
                .to_string()
        };
        (field("client_id"), field("client_secret"))
    }

    async fn lose_create_responses(&self, lose: bool) {
        if lose {
            // Only this account's creates: other tests share the emulator.
            let path = format!("accounts/{}/oauth_clients", self.account);
            self.emu
                .set_faults(json!({"p_drop_after_commit": 1.0, "methods": ["POST"], "path": path}))
                .await;
        } else {
            self.emu.clear_faults().await;
        }
    }

    fn every_field(&self, name: &str) -> Value {
        json!({
            "postLogoutRedirectUris": [format!("https://{name}.example.com/bye")],
            "allowedCorsOrigins": [format!("https://{name}.example.com")],
            "responseTypes": ["code"],
            "tokenEndpointAuthMethod": "client_secret_basic",
            "clientUri": format!("https://{name}.example.com"),
            "logoUri": format!("https://{name}.example.com/logo.png"),
            "policyUri": format!("https://{name}.example.com/privacy"),
            "tosUri": format!("https://{name}.example.com/terms"),
            "cloudflare": {"optionalScopes": ["account.read"]},
        })
    }

    /// Edits are `PATCH` bodies of Cloudflare's API. `spec.cloudflare.visibility`
    /// has no row: `public` is permanent at Cloudflare, so there is nothing to
    /// revert (a private client the spec wants public is promoted, see
    /// `controller_lifecycle.rs`).
    #[rustfmt::skip]
    fn declared() -> Vec<Declared> {
        vec![
            declared("spec.clientName", json!({"client_name": "by hand"}), "/client_name"),
            declared("spec.redirectUris", json!({"redirect_uris": ["https://evil.example.com/cb"]}), "/redirect_uris"),
            declared("spec.postLogoutRedirectUris", json!({"post_logout_redirect_uris": []}), "/post_logout_redirect_uris"),
            declared("spec.grantTypes", json!({"grant_types": ["authorization_code"]}), "/grant_types"),
            declared("spec.responseTypes", json!({"response_types": ["code", "token"]}), "/response_types"),
            declared("spec.scopes", json!({"scopes": ["account.read"], "optional_scopes": ["account.read"]}), "/scopes"),
            declared("spec.tokenEndpointAuthMethod", json!({"token_endpoint_auth_method": "client_secret_post"}), "/token_endpoint_auth_method"),
            declared("spec.allowedCorsOrigins", json!({"allowed_cors_origins": ["https://evil.example.com"]}), "/allowed_cors_origins"),
            declared("spec.clientUri", json!({"client_uri": "https://evil.example.com"}), "/client_uri"),
            declared("spec.logoUri", json!({"logo_uri": "https://evil.example.com/logo.png"}), "/logo_uri"),
            declared("spec.policyUri", json!({"policy_uri": "https://evil.example.com/privacy"}), "/policy_uri"),
            declared("spec.tosUri", json!({"tos_uri": "https://evil.example.com/terms"}), "/tos_uri"),
            declared("spec.cloudflare.optionalScopes", json!({"optional_scopes": []}), "/optional_scopes"),
        ]
    }

    async fn edit_behind_the_back(&self, id: &str, edit: &Value) {
        let r = self
            .emu
            .api(Method::PATCH, &self.client_path(id), Some(edit.clone()))
            .await;
        assert_eq!(r["success"], true, "edit {id} at the emulator: {r}");
    }
}
