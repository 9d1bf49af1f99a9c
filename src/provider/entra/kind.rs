//! Entra ID as a provider kind: its client block (`spec.entra`), its rules on the
//! shared fields, and building an [`EntraProvider`] from a provider object.

use async_trait::async_trait;

use super::adapter::EntraProvider;
use super::auth::CertificateSigner;
use super::fields::{EntraFields, apply_defaults, unsupported};
use super::{EntraClient, EntraConfig, EntraCredentials};
use crate::api::client::OAuthClientSpec;
use crate::api::common::SpecError;
use crate::api::provider::{ProviderBlocks, ProviderType};
use crate::provider::model::{ClientFields, Field, ProviderFields, fields_as};
use crate::provider::registry::{Connect, ConnectError, Connected, Kind, digest, open_client};
use crate::provider::transport::ProviderClient;

impl ProviderFields for EntraFields {
    fn diff(&self, remote: Option<&dyn ProviderFields>) -> Vec<Field> {
        self.differs(fields_as::<EntraFields>(remote))
    }
}

/// The Entra kind.
pub struct EntraKind;

#[async_trait]
impl Kind for EntraKind {
    fn provider_type(&self) -> ProviderType {
        ProviderType::Entra
    }

    fn title(&self) -> &'static str {
        "Microsoft Entra ID"
    }

    /// What Entra cannot hold refused by field; then the shared fields in
    /// Entra's normal form and `spec.entra` (defaults applied) as the own
    /// fields, so that neither is ever drift.
    fn desire(&self, spec: &OAuthClientSpec, fields: &mut ClientFields) -> Result<(), SpecError> {
        let block = spec.entra.as_ref();
        if let Some((field, message)) = unsupported(fields, block).into_iter().next() {
            return Err(SpecError::new(&field, message));
        }
        apply_defaults(fields, block);
        Ok(())
    }

    async fn connect(
        &self,
        blocks: &ProviderBlocks,
        env: &dyn Connect,
    ) -> Result<Connected, ConnectError> {
        let e = blocks
            .entra
            .as_ref()
            .expect("the registry picked this kind by its block");
        env.check_url("spec.entra.authorityUrl", e.authority_url())?;
        env.check_url("spec.entra.graphUrl", e.graph_url())?;
        let auth = &e.auth;
        let (credentials, credentials_digest) = match (
            &auth.client_secret_secret_ref,
            &auth.certificate,
            &auth.workload_identity,
        ) {
            (None, None, Some(_)) => {
                let token = env.federated_token("spec.entra.auth.workloadIdentity")?;
                let d = digest(&[
                    "federated",
                    &auth.client_id,
                    &token.path().display().to_string(),
                ]);
                (
                    EntraCredentials::Federated {
                        client_id: auth.client_id.trim().to_string(),
                        token,
                    },
                    d,
                )
            }
            (Some(r), None, None) => {
                let secret = env
                    .credential(r, "spec.entra.auth.clientSecretSecretRef")
                    .await?;
                let d = digest(&["client_secret", &e.auth.client_id, &secret]);
                (
                    EntraCredentials::client_secret(&e.auth.client_id, secret),
                    d,
                )
            }
            (None, Some(c), None) => {
                let cert = env
                    .credential(
                        &c.certificate_secret_ref,
                        "spec.entra.auth.certificate.certificateSecretRef",
                    )
                    .await?;
                let key = env
                    .credential(
                        &c.private_key_secret_ref,
                        "spec.entra.auth.certificate.privateKeySecretRef",
                    )
                    .await?;
                let d = digest(&["certificate", &e.auth.client_id, &cert, &key]);
                let signer = CertificateSigner::from_pem(&cert, &key)
                    .map_err(|e| ConnectError::invalid(e.to_string()))?;
                (
                    EntraCredentials::Certificate {
                        client_id: e.auth.client_id.trim().to_string(),
                        signer: std::sync::Arc::new(signer),
                    },
                    d,
                )
            }
            _ => {
                return Err(ConnectError::invalid(
                    "spec.entra.auth: set exactly one of clientSecretSecretRef, certificate or workloadIdentity",
                ));
            }
        };
        let config = EntraConfig::new(
            e.tenant_id.clone(),
            e.authority_url(),
            e.graph_url(),
            credentials,
        );
        let client: EntraClient = open_client(self, config, blocks, env)?;
        let limiter = client.limiter().clone();
        Ok(Connected {
            provider: Box::new(EntraProvider::new(client)),
            limiter,
            credentials_digest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::entra::fields::{AUDIENCE, PLATFORM};

    fn spec(extra: serde_json::Value) -> OAuthClientSpec {
        let mut v = serde_json::json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "entra"},
            "redirectUris": ["https://app.example.com/cb"],
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn desired(s: &OAuthClientSpec) -> Result<ClientFields, SpecError> {
        let mut f = ClientFields {
            redirect_uris: s.redirect_uris.clone(),
            scopes: s.scopes.iter().flatten().cloned().collect(),
            grant_types: ["authorization_code".to_string()].into(),
            response_types: ["code".to_string()].into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            ..Default::default()
        };
        EntraKind.desire(s, &mut f)?;
        Ok(f)
    }

    #[test]
    fn the_block_becomes_entras_own_fields_with_defaults() {
        let f = desired(&spec(serde_json::json!({}))).unwrap();
        let own = EntraFields::of(&f);
        assert_eq!(own.sign_in_audience, "AzureADMyOrg");
        assert_eq!(own.web.len(), 1);
        let f = desired(&spec(serde_json::json!({
            "entra": {"redirectPlatform": "spa", "signInAudience": "AzureADMultipleOrgs"},
        })))
        .unwrap();
        let moved = EntraFields::of(&f);
        assert!(moved.web.is_empty() && moved.spa.len() == 1);
        assert_eq!(moved.differs(Some(&own)), [PLATFORM, AUDIENCE]);
    }

    #[test]
    fn what_entra_cannot_hold_is_refused_by_field() {
        let e = desired(&spec(serde_json::json!({"scopes": ["openid"]}))).unwrap_err();
        assert_eq!(e.field, "spec.scopes");
        assert!(
            e.message.contains("requiredResourceAccess"),
            "{}",
            e.message
        );
    }
}
