//! Keycloak as a provider kind: its client block (`spec.keycloak`), how the
//! shared spec maps onto Keycloak's own fields, and building a
//! [`KeycloakProvider`] from a provider object (with the realm's secret rotation
//! policy, read when the provider is built).

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::adapter::KeycloakProvider;
use super::fields::{KeycloakFields, apply_defaults, unsupported};
use super::{KeycloakClient, KeycloakConfig, KeycloakCredentials};
use crate::api::client::OAuthClientSpec;
use crate::api::common::{SpecError, parse_duration};
use crate::api::provider::{ProviderBlocks, ProviderType};
use crate::provider::error::ProviderError;
use crate::provider::model::{ClientFields, Field, OwnFields, ProviderFields, fields_as};
use crate::provider::registry::{Connect, ConnectError, Connected, Kind, digest, open_client};
use crate::provider::transport::ProviderClient;

/// The default client scopes of a new Keycloak realm: what a client whose spec
/// sets no `scopes` gets (a realm's administrator may have changed them).
pub const REALM_DEFAULT_SCOPES: [&str; 6] =
    ["web-origins", "acr", "profile", "roles", "basic", "email"];

impl ProviderFields for KeycloakFields {
    fn diff(&self, remote: Option<&dyn ProviderFields>) -> Vec<Field> {
        self.differs(fields_as::<KeycloakFields>(remote))
    }
}

/// The Keycloak kind.
pub struct KeycloakKind;

#[async_trait]
impl Kind for KeycloakKind {
    fn provider_type(&self) -> ProviderType {
        ProviderType::Keycloak
    }

    fn title(&self) -> &'static str {
        "Keycloak"
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &REALM_DEFAULT_SCOPES
    }

    /// `spec.keycloak`, and `spec.scopes` as the client's default scopes (managed
    /// only when set, so the realm's defaults are never drift), in the own
    /// fields; the auth method in Keycloak's normal form; what Keycloak cannot
    /// represent refused by field.
    fn desire(&self, spec: &OAuthClientSpec, fields: &mut ClientFields) -> Result<(), SpecError> {
        let scopes: BTreeSet<String> = std::mem::take(&mut fields.scopes);
        let grace = match spec
            .rotation
            .as_ref()
            .and_then(|r| r.grace_period.as_deref())
        {
            Some(g) => Some(parse_duration(g).ok_or_else(|| {
                SpecError::new("spec.rotation.gracePeriod", "not a duration; use e.g. 24h")
            })?),
            None => None,
        };
        fields.own = OwnFields::new(KeycloakFields {
            block: spec.keycloak.clone(),
            default_scopes: (!scopes.is_empty()).then_some(scopes),
            grace,
        });
        apply_defaults(fields);
        match unsupported(fields).into_iter().next() {
            Some((field, message)) => Err(SpecError::new(&field, message)),
            None => Ok(()),
        }
    }

    async fn connect(
        &self,
        blocks: &ProviderBlocks,
        env: &dyn Connect,
    ) -> Result<Connected, ConnectError> {
        let k = blocks
            .keycloak
            .as_ref()
            .expect("the registry picked this kind by its block");
        env.check_url("spec.keycloak.url", &k.url)?;
        let (credentials, credentials_digest) = match (&k.auth.client_credentials, &k.auth.password)
        {
            (Some(c), None) => {
                let secret = env
                    .credential(
                        &c.secret_ref,
                        "spec.keycloak.auth.clientCredentials.secretRef",
                    )
                    .await?;
                let d = digest(&["client_credentials", &c.client_id, &secret]);
                (
                    KeycloakCredentials::client_credentials(&c.client_id, secret),
                    d,
                )
            }
            (None, Some(p)) => {
                let password = env
                    .credential(
                        &p.password_secret_ref,
                        "spec.keycloak.auth.password.passwordSecretRef",
                    )
                    .await?;
                let d = digest(&["password", p.client_id(), &p.username, &password]);
                (
                    KeycloakCredentials::password(p.client_id(), &p.username, password),
                    d,
                )
            }
            _ => {
                return Err(ConnectError::invalid(
                    "spec.keycloak.auth: set exactly one of clientCredentials (recommended) or password",
                ));
            }
        };
        let config = KeycloakConfig::new(k.url.clone(), k.realm.clone(), credentials)
            .with_auth_realm(k.auth_realm());
        let client: KeycloakClient = open_client(self, config, blocks, env)?;
        let limiter = client.limiter().clone();
        let provider = KeycloakProvider::connect(client)
            .await
            .map_err(connect_error)?;
        Ok(Connected {
            provider: Box::new(provider),
            limiter,
            credentials_digest,
        })
    }
}

/// Why reading the realm's rotation policy (or the admin token before it) failed,
/// as a provider condition: a setting to fix, or Keycloak not answering
/// (retried). Keycloak's answer stays apart from our words
/// ([`ConnectError::far_end`]), so that a tenant's provider never shows it.
fn connect_error(e: ProviderError) -> ConnectError {
    let context = "spec.keycloak: reading the realm's client policies";
    match e {
        ProviderError::Unauthorized { .. }
        | ProviderError::NotFound { .. }
        | ProviderError::Config { .. } => {
            ConnectError::far_end("InvalidProvider", context, false, e)
        }
        _ => ConnectError::far_end("ProviderUnavailable", context, true, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::keycloak::KeycloakClientFields;
    use crate::provider::keycloak::fields::{DEFAULT_SCOPES, KEYCLOAK_BLOCK};

    fn spec(extra: serde_json::Value) -> OAuthClientSpec {
        let mut v = serde_json::json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "kc"},
            "grantTypes": ["client_credentials"],
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn desired(s: &OAuthClientSpec) -> Result<ClientFields, SpecError> {
        let mut f = ClientFields {
            scopes: s.scopes.iter().flatten().cloned().collect(),
            grant_types: s.grant_types.iter().flatten().cloned().collect(),
            response_types: match &s.response_types {
                Some(r) => r
                    .iter()
                    .map(|r| {
                        serde_json::to_value(r)
                            .unwrap()
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                    .collect(),
                None => ["code".to_string()].into(),
            },
            token_endpoint_auth_method: "client_secret_post".into(),
            ..Default::default()
        };
        KeycloakKind.desire(s, &mut f)?;
        Ok(f)
    }

    #[test]
    fn scopes_and_the_block_become_keycloaks_own_fields() {
        let f = desired(&spec(serde_json::json!({
            "scopes": ["profile"],
            "keycloak": {"consentRequired": true},
            "rotation": {"gracePeriod": "1h"},
        })))
        .unwrap();
        assert!(f.scopes.is_empty(), "the realm's defaults are never drift");
        assert_eq!(f.token_endpoint_auth_method, "client_secret_basic");
        let own = KeycloakFields::of(&f);
        assert_eq!(own.default_scopes, Some(["profile".to_string()].into()));
        assert_eq!(own.grace, Some(std::time::Duration::from_secs(3600)));
        let remote = KeycloakFields {
            block: Some(KeycloakClientFields::default()),
            default_scopes: Some(["profile".to_string(), "email".into()].into()),
            grace: None,
        };
        assert_eq!(own.differs(Some(&remote)), [DEFAULT_SCOPES, KEYCLOAK_BLOCK]);
        // Nothing set: nothing managed.
        let f = desired(&spec(serde_json::json!({}))).unwrap();
        assert!(KeycloakFields::of(&f).differs(Some(&remote)).is_empty());
    }

    #[test]
    fn what_keycloak_cannot_hold_is_refused_by_field() {
        let e = desired(&spec(serde_json::json!({
            "responseTypes": ["code", "token"],
        })))
        .unwrap_err();
        assert_eq!(e.field, "spec.responseTypes");
        let e = desired(&spec(serde_json::json!({
            "keycloak": {"attributes": {"use.refresh.tokens": "false"}},
        })))
        .unwrap_err();
        assert_eq!(e.field, "spec.keycloak.attributes.use.refresh.tokens");
        assert!(e.message.contains("spec.grantTypes"), "{}", e.message);
    }
}
