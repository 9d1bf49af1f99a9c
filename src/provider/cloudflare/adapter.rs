//! [`Provider`] for Cloudflare: the calls to its API that create, read, update,
//! delete and rotate an account's OAuth clients. The mapping is in
//! [`super::fields`].

use async_trait::async_trait;

use super::client::CloudflareClient;
use super::fields::{create_body, to_remote, update_body};
use crate::provider::error::ProviderError;
use crate::provider::model::{
    AssignedIds, ClientFields, CreatedClient, Creation, Field, GeneratedSecrets, Provider,
    RemoteClient, SecretCheck, Secrets,
};
use crate::secret::ClientSecret;

/// A Cloudflare account as a [`Provider`].
#[derive(Clone, Debug)]
pub struct CloudflareProvider {
    client: CloudflareClient,
    account_key: String,
}

impl CloudflareProvider {
    pub fn new(client: CloudflareClient) -> Self {
        let account_key = format!("cloudflare|{}|{}", client.base_url(), client.account_id());
        Self {
            client,
            account_key,
        }
    }
}

#[async_trait]
impl Provider for CloudflareProvider {
    fn kind(&self) -> &'static str {
        crate::api::provider::ProviderType::Cloudflare.block_name()
    }

    fn account(&self) -> &str {
        &self.account_key
    }

    async fn check_credentials(&self) -> Result<(), ProviderError> {
        self.client.list().await.map(|_| ())
    }

    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError> {
        Ok(self.client.list().await?.iter().map(to_remote).collect())
    }

    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError> {
        match self.client.get(id).await {
            Ok(c) => Ok(Some(to_remote(&c))),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError> {
        let body = update_body(fields, changed);
        Ok(to_remote(&self.client.update(id, &body).await?))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.client.delete(id).await.map(|_| ())
    }

    /// At Cloudflare's OAuth token endpoint: see [`CloudflareClient::verify_secret`].
    async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        self.client.verify_secret(id, secret).await
    }

    /// The endpoints Cloudflare documents in "Integrate your OAuth client with
    /// Cloudflare" (developers.cloudflare.com/fundamentals/oauth/), at
    /// `dash.cloudflare.com` for Cloudflare's API and at the base URL's origin
    /// otherwise (the emulator; our rule, as for [`super::client::token_url`]).
    /// The issuer is a guess: the origin that serves the discovery document. No
    /// introspection endpoint is documented.
    fn endpoints(&self) -> crate::provider::endpoints::Endpoints {
        let base = self.client.base_url();
        let origin = match base.host_str() {
            Some("api.cloudflare.com") => "https://dash.cloudflare.com".to_string(),
            _ => base.origin().ascii_serialization(),
        };
        let at = |path: &str| Some(crate::provider::endpoints::join(&origin, path));
        crate::provider::endpoints::Endpoints {
            issuer: Some(origin.clone()),
            authorization: at("/oauth2/auth"),
            token: at("/oauth2/token"),
            discovery: at("/.well-known/openid-configuration"),
            jwks: at("/.well-known/jwks.json"),
            revocation: at("/oauth2/revoke"),
            introspection: None,
            userinfo: at("/oauth2/userinfo"),
        }
    }

    /// Cloudflare assigns the id.
    fn creation(&self) -> Creation<'_> {
        Creation::Assigned(self)
    }

    /// Cloudflare generates secrets and keeps the previous one until retired.
    fn secrets(&self) -> Secrets<'_> {
        Secrets::Generated(self)
    }
}

#[async_trait]
impl AssignedIds for CloudflareProvider {
    /// Cloudflare has no metadata field: the marker cannot be stored, and a lost
    /// create is matched by name, redirect URIs and creation time instead.
    async fn create(
        &self,
        fields: &ClientFields,
        _marker: &str,
    ) -> Result<CreatedClient, ProviderError> {
        let created = self.client.create(&create_body(fields)).await?;
        Ok(CreatedClient {
            client: to_remote(&created.client),
            secret: created.client_secret,
        })
    }
}

#[async_trait]
impl GeneratedSecrets for CloudflareProvider {
    async fn rotate(&self, id: &str) -> Result<ClientSecret, ProviderError> {
        self.client.rotate_secret(id).await
    }

    async fn retire(&self, id: &str) -> Result<(), ProviderError> {
        self.client.delete_rotated_secret(id).await.map(|_| ())
    }
}
