//! Ory Hydra as a provider kind: its client block (`spec.hydra`), its defaults and
//! refusals on the shared fields, and building a [`HydraProvider`] from a provider
//! object.

use async_trait::async_trait;

use super::adapter::HydraProvider;
use super::fields::{apply_defaults, check_grace, hydra_differs, unsupported};
use super::wire::DEFAULT_SCOPE;
use super::{HydraClient, HydraConfig};
use crate::api::client::OAuthClientSpec;
use crate::api::common::SpecError;
use crate::api::hydra::HydraClientFields;
use crate::api::provider::{ProviderBlocks, ProviderType};
use crate::provider::model::{ClientFields, Field, OwnFields, ProviderFields, fields_as};
use crate::provider::registry::{Connect, ConnectError, Connected, Kind, digest, open_client};
use crate::provider::transport::ProviderClient;
use crate::secret::ClientSecret;

/// `spec.hydra`, compared as a whole.
pub const HYDRA_BLOCK: Field = Field::Own(ProviderType::Hydra.spec_path());

impl ProviderFields for HydraClientFields {
    fn diff(&self, remote: Option<&dyn ProviderFields>) -> Vec<Field> {
        let have = fields_as::<HydraClientFields>(remote);
        if hydra_differs(Some(self), have) {
            vec![HYDRA_BLOCK]
        } else {
            vec![]
        }
    }
}

/// The Ory Hydra kind.
pub struct HydraKind;

#[async_trait]
impl Kind for HydraKind {
    fn provider_type(&self) -> ProviderType {
        ProviderType::Hydra
    }

    fn title(&self) -> &'static str {
        "Ory Hydra"
    }

    fn default_scopes(&self) -> &'static [&'static str] {
        &DEFAULT_SCOPE
    }

    /// Hydra's defaults in the desired state (no scopes: Hydra's default scope), so
    /// they are never drift; what Hydra cannot represent is refused by field.
    fn desire(&self, spec: &OAuthClientSpec, fields: &mut ClientFields) -> Result<(), SpecError> {
        if let Some(h) = &spec.hydra {
            fields.own = OwnFields::new(h.clone());
        }
        apply_defaults(fields);
        if let Some((field, message)) = unsupported(fields).into_iter().next() {
            return Err(SpecError::new(&field, message));
        }
        let grace = spec
            .rotation
            .as_ref()
            .and_then(|r| r.grace_period.as_deref());
        check_grace(grace).map_err(|(field, message)| SpecError::new(&field, message))
    }

    async fn connect(
        &self,
        blocks: &ProviderBlocks,
        env: &dyn Connect,
    ) -> Result<Connected, ConnectError> {
        let h = blocks
            .hydra
            .as_ref()
            .expect("the registry picked this kind by its block");
        env.check_url("spec.hydra.adminUrl", &h.admin_url)?;
        let mut config = HydraConfig::new(h.admin_url.clone());
        if let Some(public) = &h.public_url {
            env.check_url("spec.hydra.publicUrl", public)?;
            config = config.with_public_url(public.clone());
        }
        let mut credentials_digest = digest(&["none"]);
        if let Some(r) = h
            .auth
            .as_ref()
            .and_then(|a| a.bearer_token_secret_ref.as_ref())
        {
            let token = env
                .credential(r, "spec.hydra.auth.bearerTokenSecretRef")
                .await?;
            credentials_digest = digest(&["bearer", &token]);
            config = config.with_bearer_token(ClientSecret::new(token));
        }
        let client: HydraClient = open_client(self, config, blocks, env)?;
        let limiter = client.limiter().clone();
        Ok(Connected {
            provider: Box::new(HydraProvider::new(client)),
            limiter,
            credentials_digest,
        })
    }
}
