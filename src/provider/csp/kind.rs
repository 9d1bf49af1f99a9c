//! VMware CSP as a provider kind: its client block (`spec.vmwareCsp`) and building a
//! [`CspProvider`] from a provider object. What CSP cannot represent is refused by
//! the adapter ([`super::fields::check_supported`]) before any request.

use async_trait::async_trait;

use super::adapter::CspProvider;
use super::fields::csp_differs;
use super::{CspClient, CspConfig, CspCredentials};
use crate::api::client::OAuthClientSpec;
use crate::api::common::SpecError;
use crate::api::csp::{CSP_DEFAULT_BASE_URL, CspClientFields};
use crate::api::provider::{ProviderBlocks, ProviderType};
use crate::provider::model::{ClientFields, Field, OwnFields, ProviderFields, fields_as};
use crate::provider::registry::{Connect, ConnectError, Connected, Kind, digest, open_client};
use crate::provider::transport::ProviderClient;

/// `spec.vmwareCsp`, compared as a whole.
pub const CSP_BLOCK: Field = Field::Own(ProviderType::VmwareCsp.spec_path());

impl ProviderFields for CspClientFields {
    fn diff(&self, remote: Option<&dyn ProviderFields>) -> Vec<Field> {
        let have = fields_as::<CspClientFields>(remote);
        if csp_differs(Some(self), have) {
            vec![CSP_BLOCK]
        } else {
            vec![]
        }
    }
}

/// The VMware CSP kind.
pub struct CspKind;

#[async_trait]
impl Kind for CspKind {
    fn provider_type(&self) -> ProviderType {
        ProviderType::VmwareCsp
    }

    fn title(&self) -> &'static str {
        "VMware CSP"
    }

    fn desire(&self, spec: &OAuthClientSpec, fields: &mut ClientFields) -> Result<(), SpecError> {
        if let Some(csp) = &spec.vmware_csp {
            fields.own = OwnFields::new(csp.clone());
        }
        Ok(())
    }

    async fn connect(
        &self,
        blocks: &ProviderBlocks,
        env: &dyn Connect,
    ) -> Result<Connected, ConnectError> {
        let c = blocks
            .vmware_csp
            .as_ref()
            .expect("the registry picked this kind by its block");
        env.check_url(
            "spec.vmwareCsp.baseUrl",
            c.base_url.as_deref().unwrap_or(CSP_DEFAULT_BASE_URL),
        )?;
        let token = env
            .credential(
                &c.auth.api_token_secret_ref,
                "spec.vmwareCsp.auth.apiTokenSecretRef",
            )
            .await?;
        let credentials_digest = digest(&["token", &token]);
        let mut config = CspConfig::new(c.org_id.clone(), CspCredentials::api_token(token));
        if let Some(url) = &c.base_url {
            config = config.with_base_url(url.clone());
        }
        let client: CspClient = open_client(self, config, blocks, env)?;
        let limiter = client.limiter().clone();
        Ok(Connected {
            provider: Box::new(CspProvider::new(client)),
            limiter,
            credentials_digest,
        })
    }
}
