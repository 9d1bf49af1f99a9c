//! Cloudflare as a provider kind: its client block (`spec.cloudflare`), its rules on
//! the shared fields, and building a [`CloudflareProvider`] from a provider object.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::adapter::CloudflareProvider;
use super::{CloudflareClient, CloudflareConfig, CloudflareCredentials};
use crate::api::client::OAuthClientSpec;
use crate::api::cloudflare::{CLOUDFLARE_DEFAULT_BASE_URL, Visibility};
use crate::api::common::SpecError;
use crate::api::provider::{ProviderBlocks, ProviderType};
use crate::provider::model::{ClientFields, Field, OwnFields, ProviderFields, fields_as};
use crate::provider::registry::{Connect, ConnectError, Connected, Kind, digest, open_client};
use crate::provider::transport::ProviderClient;

/// `spec.cloudflare.optionalScopes`.
pub const OPTIONAL_SCOPES: Field = Field::Own("spec.cloudflare.optionalScopes");
/// `spec.cloudflare.visibility`.
pub const VISIBILITY: Field = Field::Own("spec.cloudflare.visibility");

/// Cloudflare's own fields of a client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloudflareFields {
    pub optional_scopes: BTreeSet<String>,
    /// `Some(true)` asks for a public client (a one-way promotion at Cloudflare).
    pub public: Option<bool>,
}

impl ProviderFields for CloudflareFields {
    fn diff(&self, remote: Option<&dyn ProviderFields>) -> Vec<Field> {
        let empty = CloudflareFields::default();
        let have = fields_as::<CloudflareFields>(remote).unwrap_or(&empty);
        let mut out = vec![];
        if self.optional_scopes != have.optional_scopes {
            out.push(OPTIONAL_SCOPES);
        }
        if self.public == Some(true) && have.public != Some(true) {
            out.push(VISIBILITY);
        }
        out
    }
}

/// The Cloudflare kind.
pub struct CloudflareKind;

#[async_trait]
impl Kind for CloudflareKind {
    fn provider_type(&self) -> ProviderType {
        ProviderType::Cloudflare
    }

    fn title(&self) -> &'static str {
        "Cloudflare"
    }

    fn desire(&self, spec: &OAuthClientSpec, fields: &mut ClientFields) -> Result<(), SpecError> {
        let cf = spec.cloudflare.clone().unwrap_or_default();
        let own = CloudflareFields {
            optional_scopes: cf.optional_scopes.unwrap_or_default().into_iter().collect(),
            public: cf.visibility.map(|v| v == Visibility::Public),
        };
        check_rules(fields, &own)?;
        fields.own = OwnFields::new(own);
        Ok(())
    }

    async fn connect(
        &self,
        blocks: &ProviderBlocks,
        env: &dyn Connect,
    ) -> Result<Connected, ConnectError> {
        let cf = blocks
            .cloudflare
            .as_ref()
            .expect("the registry picked this kind by its block");
        env.check_url(
            "spec.cloudflare.baseUrl",
            cf.base_url
                .as_deref()
                .unwrap_or(CLOUDFLARE_DEFAULT_BASE_URL),
        )?;
        let a = &cf.auth;
        let (creds, credentials_digest) = match (
            &a.api_token_secret_ref,
            &a.api_key_secret_ref,
            &a.email,
        ) {
            (Some(t), _, _) => {
                let token = env
                    .credential(t, "spec.cloudflare.auth.apiTokenSecretRef")
                    .await?;
                let d = digest(&["token", &token]);
                (CloudflareCredentials::api_token(token), d)
            }
            (None, Some(k), Some(email)) => {
                let key = env
                    .credential(k, "spec.cloudflare.auth.apiKeySecretRef")
                    .await?;
                let d = digest(&["key", email, &key]);
                (CloudflareCredentials::api_key(email.clone(), key), d)
            }
            _ => {
                return Err(ConnectError::invalid(
                    "spec.cloudflare.auth: set apiTokenSecretRef, or apiKeySecretRef with email",
                ));
            }
        };
        let mut config = CloudflareConfig::new(cf.account_id.clone(), creds);
        if let Some(url) = &cf.base_url {
            config = config.with_base_url(url.clone());
        }
        let client: CloudflareClient = open_client(self, config, blocks, env)?;
        let limiter = client.limiter().clone();
        Ok(Connected {
            provider: Box::new(CloudflareProvider::new(client)),
            limiter,
            credentials_digest,
        })
    }
}

/// Cloudflare's own rules (provider-contracts.md A.3) on the shared fields, for
/// manifests without a `spec.cloudflare` block (with it, the CRD's CEL rules
/// already enforced them).
fn check_rules(f: &ClientFields, own: &CloudflareFields) -> Result<(), SpecError> {
    if !f.grant_types.contains("authorization_code")
        || f.grant_types
            .iter()
            .any(|g| g != "authorization_code" && g != "refresh_token")
    {
        return Err(SpecError::new(
            "spec.grantTypes",
            "Cloudflare requires authorization_code and accepts only authorization_code and refresh_token; set grantTypes: [authorization_code] or [authorization_code, refresh_token]",
        ));
    }
    if let Some(s) = f.scopes.iter().find(|s| s.contains(':')) {
        return Err(SpecError::new(
            "spec.scopes",
            format!(
                "Cloudflare rejects colon-delimited scopes such as {s:?}; use the dot form from GET /oauth/scopes, such as account.read"
            ),
        ));
    }
    if f.redirect_uris.is_empty() {
        return Err(SpecError::new(
            "spec.redirectUris",
            "Cloudflare requires at least one redirect URI; add the callback URL of your application",
        ));
    }
    if let Some(s) = own.optional_scopes.iter().find(|s| !f.scopes.contains(*s)) {
        return Err(SpecError::new(
            "spec.cloudflare.optionalScopes",
            format!("{s:?} must also be listed in spec.scopes; add it there or remove it here"),
        ));
    }
    Ok(())
}
