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

use super::{TestKind, apply_cluster_provider, random_hex, tail};
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
}
