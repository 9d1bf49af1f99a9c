//! Microsoft Entra ID app registrations, against the project's emulator
//! (`clientops emulate entra`): an emulator, a tenant and an operator identity
//! (`Application.ReadWrite.OwnedBy`) per test. One emulator per test, unlike the
//! other emulated kinds: Graph's paths do not name the tenant (the token does), so
//! a fault injected for one test's creates (`lose_create_responses`) could not be
//! kept from the others' on a shared one. Edits behind the controller's back are
//! Graph calls with the same operator's token (it owns the applications clientops
//! made), as a person with that app's secret would make them.

use kube::Client;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Declared, TestKind, apply_cluster_provider, apply_json, declared};
use crate::support::procs::Emulator;

/// One test's tenant at the shared Entra emulator.
pub struct Entra {
    emu: Emulator,
    tenant: String,
    operator_id: String,
    operator_secret: String,
    http: reqwest::Client,
}

impl Entra {
    /// A token for `client_id` (`client_credentials`, Graph's scope); `None`
    /// when Entra refuses the credentials.
    async fn token_for(&self, client_id: &str, secret: &str) -> Option<String> {
        let r = self
            .http
            .post(format!(
                "{}/{}/oauth2/v2.0/token",
                self.emu.base, self.tenant
            ))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", secret)
                    .append_pair("scope", "00000003-0000-0000-c000-000000000000/.default")
                    .finish(),
            )
            .send()
            .await
            .expect("token request to the emulator");
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().await.ok()?;
        v["access_token"].as_str().map(String::from)
    }

    /// A Graph call as the operator: the answer's status and body.
    async fn graph(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self
            .token_for(&self.operator_id, &self.operator_secret)
            .await
            .expect("the operator's token");
        let mut req = self
            .http
            .request(method, format!("{}/v1.0/{path}", self.emu.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("Graph call to the emulator");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    fn app(id: &str) -> String {
        format!("applications(appId='{id}')")
    }

    /// Every application of the tenant as the emulator's admin API shows it
    /// (live and deleted, the operator's own included).
    async fn applications(&self) -> Vec<Value> {
        self.emu
            .admin(
                Method::GET,
                &format!("tenants/{}/applications", self.tenant),
                None,
            )
            .await["applications"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The live applications that are clients (not an operator identity).
    async fn clients(&self) -> Vec<Value> {
        self.applications()
            .await
            .into_iter()
            .filter(|a| a["deleted"] != true)
            .filter(|a| a["roles"].as_array().is_none_or(|r| r.is_empty()))
            .collect()
    }
}

impl TestKind for Entra {
    const NAME: &'static str = "entra";
    const GRACE: bool = true;

    async fn tenant(client: &Client, ns: &str, provider: &str) -> Option<Self> {
        let emu = Emulator::start_kind("entra", &["--rate-limit", "off"]);
        let t = emu.admin(Method::POST, "tenants", Some(json!({}))).await;
        let field = |v: &Value| {
            v.as_str()
                .unwrap_or_else(|| panic!("a tenant at the emulator: {t}"))
                .to_string()
        };
        let tenant = field(&t["tenantId"]);
        let operator_id = field(&t["operator"]["appId"]);
        let operator_secret = field(&t["operator"]["clientSecret"]);
        apply_json(
            client,
            ns,
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "entra-operator", "namespace": ns},
                "stringData": {"secret": operator_secret},
            }),
        )
        .await;
        apply_cluster_provider(
            client,
            ns,
            provider,
            json!({"entra": {
                "tenantId": tenant,
                "authorityUrl": emu.base,
                "graphUrl": emu.base,
                "auth": {"clientId": operator_id,
                    "clientSecretSecretRef": {"namespace": ns, "name": "entra-operator", "key": "secret"}},
            }}),
        )
        .await;
        Some(Entra {
            emu,
            tenant,
            operator_id,
            operator_secret,
            http: reqwest::Client::new(),
        })
    }

    fn spec(&self, name: &str) -> Value {
        json!({
            "clientName": format!("App {name}"),
            "redirectUris": [format!("https://{name}.example.com/callback")],
            "grantTypes": ["authorization_code", "refresh_token"],
        })
    }

    fn provider_blocks(url: &str, secret: Value) -> Vec<Value> {
        let id = "00000000-0000-0000-0000-000000000001";
        vec![
            json!({"tenantId": "contoso.onmicrosoft.com", "authorityUrl": url, "graphUrl": url,
                "auth": {"clientId": id, "clientSecretSecretRef": secret}}),
            json!({"tenantId": "contoso.onmicrosoft.com", "authorityUrl": url, "graphUrl": url,
                "auth": {"clientId": id, "certificate": {"certificateSecretRef": secret,
                    "privateKeySecretRef": secret}}}),
            json!({"tenantId": "contoso.onmicrosoft.com", "authorityUrl": url, "graphUrl": url,
                "auth": {"clientId": id, "workloadIdentity": {}}}),
        ]
    }

    fn reaching_client() -> Value {
        json!({})
    }

    fn edit(&self, name: &str) -> Value {
        json!({
            "clientName": format!("App {name} v2"),
            "redirectUris": [format!("https://{name}.example.com/new-callback")],
            "entra": {"signInAudience": "AzureADMultipleOrgs"},
        })
    }

    fn shows_edit(&self, remote: &Value, name: &str) -> bool {
        remote["displayName"] == format!("App {name} v2")
            && remote["web"]["redirectUris"]
                == json!([format!("https://{name}.example.com/new-callback")])
            && remote["signInAudience"] == "AzureADMultipleOrgs"
    }

    fn remote_name(remote: &Value) -> Option<String> {
        remote["displayName"].as_str().map(String::from)
    }

    async fn remote(&self, id: &str) -> Option<Value> {
        self.clients().await.into_iter().find(|a| a["appId"] == id)
    }

    async fn remote_ids(&self) -> Vec<String> {
        self.clients()
            .await
            .iter()
            .filter_map(|a| a["appId"].as_str().map(String::from))
            .collect()
    }

    async fn accepts(&self, id: &str, secret: &str) -> bool {
        self.token_for(id, secret).await.is_some()
    }

    async fn rename_behind_the_back(&self, id: &str, name: &str) {
        let (s, r) = self
            .graph(
                Method::PATCH,
                &Self::app(id),
                Some(json!({"displayName": name})),
            )
            .await;
        assert_eq!(s, 204, "rename {id} at the emulator: {r}");
    }

    async fn delete_behind_the_back(&self, id: &str) {
        let (s, r) = self.graph(Method::DELETE, &Self::app(id), None).await;
        assert_eq!(s, 204, "delete {id} at the emulator: {r}");
    }

    const GENERATES_SECRETS: bool = true;

    /// As in the portal: a new secret, then every other one deleted.
    async fn change_secret_behind_the_back(&self, id: &str) {
        let (s, added) = self
            .graph(
                Method::POST,
                &format!("{}/addPassword", Self::app(id)),
                Some(json!({"passwordCredential": {"displayName": "added in the portal"}})),
            )
            .await;
        assert_eq!(s, 200, "addPassword {id} at the emulator: {added}");
        let (_, app) = self
            .graph(
                Method::GET,
                &format!("{}?$select=passwordCredentials", Self::app(id)),
                None,
            )
            .await;
        for p in app["passwordCredentials"].as_array().into_iter().flatten() {
            if p["keyId"] != added["keyId"] {
                let (s, r) = self
                    .graph(
                        Method::POST,
                        &format!("{}/removePassword", Self::app(id)),
                        Some(json!({"keyId": p["keyId"]})),
                    )
                    .await;
                assert_eq!(s, 204, "removePassword {id} at the emulator: {r}");
            }
        }
    }

    /// Made with the operator's identity (so clientops, which holds only
    /// `Application.ReadWrite.OwnedBy`, owns it), without clientops' marker.
    async fn create_behind_the_back(&self, name: &str) -> (String, String) {
        let (s, app) = self
            .graph(
                Method::POST,
                "applications",
                Some(json!({
                    "displayName": format!("Legacy {name}"),
                    "web": {"redirectUris": [format!("https://{name}.example.com/legacy")]},
                })),
            )
            .await;
        assert_eq!(s, 201, "create at the emulator: {app}");
        let id = app["appId"].as_str().expect("appId").to_string();
        let (s, sp) = self
            .graph(
                Method::POST,
                "servicePrincipals",
                Some(json!({"appId": id})),
            )
            .await;
        assert_eq!(s, 201, "service principal at the emulator: {sp}");
        let (s, p) = self
            .graph(
                Method::POST,
                &format!("{}/addPassword", Self::app(&id)),
                Some(json!({"passwordCredential": {"displayName": "legacy secret"}})),
            )
            .await;
        assert_eq!(s, 200, "addPassword at the emulator: {p}");
        (
            id,
            p["secretText"].as_str().expect("secretText").to_string(),
        )
    }

    /// Graph's answers to the upsert (`PATCH applications(uniqueName=…)`) and to
    /// `addPassword` are lost after Graph committed them.
    async fn lose_create_responses(&self, lose: bool) {
        if lose {
            self.emu
                .set_faults(json!({"p_drop_after_commit": 1.0, "methods": ["PATCH", "POST"], "path": "/v1.0/applications("}))
                .await;
        } else {
            self.emu.clear_faults().await;
        }
    }

    fn every_field(&self, name: &str) -> Value {
        json!({
            "responseTypes": ["code", "id_token"],
            "clientUri": format!("https://{name}.example.com"),
            "policyUri": format!("https://{name}.example.com/privacy"),
            "tosUri": format!("https://{name}.example.com/terms"),
            "entra": {
                "redirectPlatform": "web",
                "signInAudience": "AzureADMultipleOrgs",
                "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
                    "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}],
                "notes": format!("owned by {name}"),
                "tags": ["team-a"],
            },
        })
    }

    /// Edits are `PATCH` bodies of Graph's application. The shared fields Entra
    /// has no setting for (scopes, grant types, auth method, CORS origins,
    /// post-logout URIs, logo) are refused in a spec, so they have no row;
    /// `spec.grantTypes` shows as the implicit flags.
    #[rustfmt::skip]
    fn declared() -> Vec<Declared> {
        vec![
            declared("spec.clientName", json!({"displayName": "by hand"}), "/displayName"),
            declared("spec.redirectUris", json!({"web": {"redirectUris": ["https://evil.example.com/cb"], "implicitGrantSettings": {"enableIdTokenIssuance": true}}}), "/web/redirectUris"),
            declared("spec.responseTypes", json!({"web": {"implicitGrantSettings": {"enableIdTokenIssuance": true, "enableAccessTokenIssuance": true}}}), "/web/implicitGrantSettings"),
            declared("spec.clientUri", json!({"web": {"homePageUrl": "https://evil.example.com"}}), "/web/homePageUrl"),
            declared("spec.policyUri", json!({"info": {"privacyStatementUrl": "https://evil.example.com/privacy"}}), "/info/privacyStatementUrl"),
            declared("spec.tosUri", json!({"info": {"termsOfServiceUrl": "https://evil.example.com/terms"}}), "/info/termsOfServiceUrl"),
            declared("spec.entra.redirectPlatform", json!({"spa": {"redirectUris": ["https://evil.example.com/spa"]}}), "/spa/redirectUris"),
            declared("spec.entra.signInAudience", json!({"signInAudience": "AzureADandPersonalMicrosoftAccount"}), "/signInAudience"),
            declared("spec.entra.requiredResourceAccess", json!({"requiredResourceAccess": []}), "/requiredResourceAccess"),
            declared("spec.entra.notes", json!({"notes": "by hand"}), "/notes"),
            declared("spec.entra.tags", json!({"tags": ["by-hand"]}), "/tags"),
        ]
    }

    async fn edit_behind_the_back(&self, id: &str, edit: &Value) {
        let (s, r) = self
            .graph(Method::PATCH, &Self::app(id), Some(edit.clone()))
            .await;
        assert_eq!(s, 204, "edit {id} at the emulator: {r}");
    }
}
