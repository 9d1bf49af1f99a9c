//! Keycloak's admin API, against a real Keycloak (`scripts/keycloak/install`,
//! Maven Central, cached): one Keycloak per test binary, a realm per test, with
//! the client policy that keeps a rotated secret (clientops requires it for a
//! grace period) and clientops' admin client.
//!
//! When Keycloak cannot be installed here (no Maven and no Java >= 21), the kind
//! is skipped with a message, unless `CLIENTOPS_REQUIRE_KEYCLOAK=1` (`tests/run`
//! sets it, so CI fails instead). The provider-only tests in `tests/keycloak.rs`
//! never skip.

use std::io::Write;

use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::{Declared, TestKind, apply_cluster_provider, declared, random_hex, tail};
use crate::support::keycloak::{ADMIN_CLIENT_ID, Keycloak as KeycloakServer, Realm, RealmSetup};

/// The clients every new realm has.
const BUILT_IN: [&str; 6] = [
    "account",
    "account-console",
    "admin-cli",
    "broker",
    "realm-management",
    "security-admin-console",
];

/// One test's realm of the shared Keycloak.
pub struct Keycloak {
    pub server: &'static KeycloakServer,
    pub realm: Realm,
}

impl Keycloak {
    /// A realm set up as `setup` says, its admin credentials in a Secret of `ns`,
    /// and ClusterOAuthProvider `provider` for it that admits `ns`.
    pub async fn with_realm(
        server: &'static KeycloakServer,
        client: &Client,
        ns: &str,
        provider: &str,
        setup: RealmSetup,
    ) -> Self {
        let realm = server.realm("suite", setup).await;
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "keycloak-admin", "namespace": ns},
            "stringData": {"secret": realm.admin_secret},
        }))
        .unwrap();
        Api::<Secret>::namespaced(client.clone(), ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("the admin client's Secret");
        apply_cluster_provider(
            client,
            ns,
            provider,
            json!({"keycloak": {
                "url": server.url,
                "realm": realm.name,
                "auth": {"clientCredentials": {
                    "clientId": ADMIN_CLIENT_ID,
                    "secretRef": {"namespace": ns, "name": "keycloak-admin", "key": "secret"},
                }},
            }}),
        )
        .await;
        Keycloak { server, realm }
    }
}

impl TestKind for Keycloak {
    const NAME: &'static str = "keycloak";
    const GRACE: bool = true;

    async fn tenant(client: &Client, ns: &str, provider: &str) -> Option<Self> {
        let server = match KeycloakServer::try_shared() {
            Ok(s) => s,
            Err(e) if std::env::var_os("CLIENTOPS_REQUIRE_KEYCLOAK").is_none() => {
                // Straight to stderr: the test harness hides eprintln! of a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n!!!!! SKIPPED: the keycloak kind of the behaviour suite: Keycloak cannot \
                     run here ({e}). Install Maven and a Java >= 21, or run tests/run, which \
                     requires it.\n"
                );
                return None;
            }
            Err(e) => panic!("CLIENTOPS_REQUIRE_KEYCLOAK is set and Keycloak is missing: {e}"),
        };
        Some(
            Self::with_realm(
                server,
                client,
                ns,
                provider,
                RealmSetup {
                    rotation_policy: true,
                },
            )
            .await,
        )
    }

    fn spec(&self, name: &str) -> Value {
        // A machine client: the client_credentials grant proves the secret.
        json!({
            "clientName": format!("App {name}"),
            "grantTypes": ["client_credentials"],
        })
    }

    fn provider_blocks(url: &str, secret: Value) -> Vec<Value> {
        vec![
            json!({"url": url, "realm": "apps", "authRealm": "master",
                "auth": {"clientCredentials": {"clientId": "clientops", "secretRef": secret}}}),
            json!({"url": url, "realm": "apps", "authRealm": "master",
                "auth": {"password": {"clientId": "admin-cli", "username": "admin",
                    "passwordSecretRef": secret}}}),
        ]
    }

    fn reaching_client() -> Value {
        json!({})
    }

    fn edit(&self, name: &str) -> Value {
        json!({
            "clientName": format!("App {name} v2"),
            "keycloak": {"description": "edited", "fullScopeAllowed": false},
        })
    }

    fn shows_edit(&self, remote: &Value, name: &str) -> bool {
        remote["name"] == format!("App {name} v2")
            && remote["description"] == "edited"
            && remote["fullScopeAllowed"] == false
    }

    fn remote_name(remote: &Value) -> Option<String> {
        remote["name"].as_str().map(String::from)
    }

    async fn remote(&self, id: &str) -> Option<Value> {
        self.server.client(&self.realm.name, id).await
    }

    async fn remote_ids(&self) -> Vec<String> {
        self.server
            .clients(&self.realm.name)
            .await
            .iter()
            .filter_map(|c| c["clientId"].as_str().map(String::from))
            .filter(|id| id != ADMIN_CLIENT_ID && !BUILT_IN.contains(&id.as_str()))
            .collect()
    }

    async fn accepts(&self, id: &str, secret: &str) -> bool {
        self.server.accepts(&self.realm.name, id, secret).await
    }

    async fn rename_behind_the_back(&self, id: &str, name: &str) {
        self.server
            .edit(&self.realm.name, id, json!({"name": name}))
            .await;
    }

    async fn delete_behind_the_back(&self, id: &str) {
        self.server.delete_client(&self.realm.name, id).await;
    }

    async fn change_secret_behind_the_back(&self, id: &str) {
        self.server.regenerate_secret(&self.realm.name, id).await;
    }

    async fn create_behind_the_back(&self, name: &str) -> (String, String) {
        let id = format!("legacy-{name}-{}", random_hex(6));
        let secret = format!("held-{}", random_hex(32));
        self.server
            .create_client(
                &self.realm.name,
                json!({
                    "clientId": id,
                    "name": format!("Legacy {name}"),
                    "secret": secret,
                    "publicClient": false,
                    "serviceAccountsEnabled": true,
                    "standardFlowEnabled": false,
                }),
            )
            .await;
        (id, secret)
    }

    fn log_tail(&self) -> String {
        tail(&self.server.logs(), 20)
    }

    fn every_field(&self, _name: &str) -> Value {
        json!({
            "grantTypes": ["client_credentials", "authorization_code", "refresh_token"],
            "redirectUris": ["https://app.example.com/callback"],
            "postLogoutRedirectUris": ["https://app.example.com/bye"],
            "allowedCorsOrigins": ["https://app.example.com"],
            "scopes": ["profile", "email", "roles"],
            "tokenEndpointAuthMethod": "client_secret_basic",
            "clientUri": "https://app.example.com",
            "logoUri": "https://app.example.com/logo.png",
            "policyUri": "https://app.example.com/privacy",
            "tosUri": "https://app.example.com/terms",
            "keycloak": {
                "description": "as declared",
                "optionalClientScopes": ["phone"],
                "pkceMethod": "S256",
                "consentRequired": true,
                "frontChannelLogout": true,
                "frontChannelLogoutUrl": "https://app.example.com/fc-logout",
                "backChannelLogoutUrl": "https://app.example.com/bc-logout",
                "fullScopeAllowed": false,
                "accessTokenLifespan": "5m",
                "attributes": {"display.on.consent.screen": "true"},
            },
        })
    }

    #[rustfmt::skip]
    fn declared() -> Vec<Declared> {
        let attr = |k: &str, v: &str| json!({"attributes": {k: v}});
        vec![
            declared("spec.clientName", json!({"name": "by hand"}), "/name"),
            declared("spec.redirectUris", json!({"redirectUris": ["https://evil.example.com/*"]}), "/redirectUris"),
            declared("spec.postLogoutRedirectUris", attr("post.logout.redirect.uris", "https://evil.example.com/bye"), "/attributes/post.logout.redirect.uris"),
            declared("spec.grantTypes", json!({"directAccessGrantsEnabled": true}), "/directAccessGrantsEnabled"),
            declared("spec.grantTypes", attr("use.refresh.tokens", "false"), "/attributes/use.refresh.tokens"),
            declared("spec.scopes", json!({"removeDefaultClientScope": "email"}), "/defaultClientScopes"),
            declared("spec.tokenEndpointAuthMethod", json!({"clientAuthenticatorType": "client-secret-jwt"}), "/clientAuthenticatorType"),
            declared("spec.allowedCorsOrigins", json!({"webOrigins": ["*"]}), "/webOrigins"),
            declared("spec.clientUri", json!({"baseUrl": "https://evil.example.com"}), "/baseUrl"),
            declared("spec.logoUri", attr("logoUri", "https://evil.example.com/logo.png"), "/attributes/logoUri"),
            declared("spec.policyUri", attr("policyUri", "https://evil.example.com/privacy"), "/attributes/policyUri"),
            declared("spec.tosUri", attr("tosUri", "https://evil.example.com/terms"), "/attributes/tosUri"),
            declared("spec.keycloak.description", json!({"description": "by hand"}), "/description"),
            declared("spec.keycloak.optionalClientScopes", json!({"removeOptionalClientScope": "phone"}), "/optionalClientScopes"),
            declared("spec.keycloak.pkceMethod", attr("pkce.code.challenge.method", "plain"), "/attributes/pkce.code.challenge.method"),
            declared("spec.keycloak.consentRequired", json!({"consentRequired": false}), "/consentRequired"),
            declared("spec.keycloak.frontChannelLogout", json!({"frontchannelLogout": false}), "/frontchannelLogout"),
            declared("spec.keycloak.frontChannelLogoutUrl", attr("frontchannel.logout.url", "https://evil.example.com/fc"), "/attributes/frontchannel.logout.url"),
            declared("spec.keycloak.backChannelLogoutUrl", attr("backchannel.logout.url", "https://evil.example.com/bc"), "/attributes/backchannel.logout.url"),
            declared("spec.keycloak.fullScopeAllowed", json!({"fullScopeAllowed": true}), "/fullScopeAllowed"),
            declared("spec.keycloak.accessTokenLifespan", attr("access.token.lifespan", "3600"), "/attributes/access.token.lifespan"),
            declared("spec.keycloak.attributes", attr("display.on.consent.screen", "false"), "/attributes/display.on.consent.screen"),
        ]
    }

    /// A `PUT` of `edit` as the admin console makes it; `removeDefaultClientScope`
    /// and `removeOptionalClientScope` through the client's scope endpoints.
    async fn edit_behind_the_back(&self, id: &str, edit: &Value) {
        let realm = &self.realm.name;
        for (key, kind) in [
            ("removeDefaultClientScope", "default-client-scopes"),
            ("removeOptionalClientScope", "optional-client-scopes"),
        ] {
            let Some(name) = edit[key].as_str() else {
                continue;
            };
            let uuid = self.server.uuid(realm, id).await.expect("client exists");
            let (_, scopes) = self
                .server
                .admin(
                    reqwest::Method::GET,
                    &format!("/{realm}/client-scopes"),
                    None,
                )
                .await;
            let scope = scopes
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["name"] == name)
                .and_then(|s| s["id"].as_str())
                .unwrap_or_else(|| panic!("no client scope {name} in realm {realm}"))
                .to_string();
            let (status, body) = self
                .server
                .admin(
                    reqwest::Method::DELETE,
                    &format!("/{realm}/clients/{uuid}/{kind}/{scope}"),
                    None,
                )
                .await;
            assert!(status < 300, "{key} {name}: {status} {body}");
            return;
        }
        self.server.edit(realm, id, edit.clone()).await;
    }

    async fn disable_behind_the_back(&self, id: &str) {
        self.server
            .edit(&self.realm.name, id, json!({"enabled": false}))
            .await;
    }

    fn is_enabled(remote: &Value) -> bool {
        remote["enabled"] != false
    }

    fn disabled_in_spec() -> Value {
        json!({"keycloak": {"enabled": false}})
    }
}
