//! VMware CSP as a provider kind: its client block (`spec.vmwareCsp`) and building a
//! [`CspProvider`] from a provider object. What CSP cannot represent is refused by
//! the adapter ([`super::fields::check_supported`]) before any request.

use async_trait::async_trait;

use super::adapter::CspProvider;
use super::client::DEFAULT_RATE_LIMIT;
use super::fields::csp_differs;
use super::{CspClient, CspConfig, CspCredentials};
use crate::api::client::{CspClientFields, OAuthClientSpec};
use crate::api::common::SpecError;
use crate::api::provider::{CSP_DEFAULT_BASE_URL, ProviderBlocks, ProviderType};
use crate::provider::model::{ClientFields, Field, OwnFields, ProviderFields, fields_as};
use crate::provider::registry::{Connect, ConnectError, Connected, Kind, digest, rate_limit};

/// `spec.vmwareCsp`, compared as a whole.
pub const CSP_BLOCK: Field = Field::Own("spec.vmwareCsp");

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

    fn block(&self) -> &'static str {
        "spec.vmwareCsp"
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
        let mut config = CspConfig::new(c.org_id.clone(), CspCredentials::api_token(token))
            .with_rate_limit(rate_limit(blocks, DEFAULT_RATE_LIMIT))
            .with_list_budget(env.list_budget());
        if let Some(url) = &c.base_url {
            config = config.with_base_url(url.clone());
        }
        let client = CspClient::new(config, env.http(), &env.limiters())
            .map_err(|e| ConnectError::invalid(format!("spec.vmwareCsp: {e}")))?
            .with_request_hook(env.request_hook("vmwareCsp"));
        let limiter = client.limiter().clone();
        Ok(Connected {
            provider: Box::new(CspProvider::new(client)),
            limiter,
            credentials_digest,
        })
    }
}
