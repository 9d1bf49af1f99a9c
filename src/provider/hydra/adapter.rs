//! [`Provider`] for Ory Hydra: the calls to its admin API that create, read,
//! update, delete and rotate clients.
//!
//! **Ids** are assigned by Hydra ([`Creation::Assigned`]: v2 needs nothing from
//! us). The creating OAuthClient's UID
//! (the create marker) is stored in the client's `metadata` under
//! [`MARKER_KEY`](super::wire::MARKER_KEY) and reported back in
//! [`RemoteClient::marker`], so a create whose answer was lost is found again
//! exactly.
//!
//! **Secrets** are chosen by clientops on rotation ([`Secrets::Chosen`]):
//! Hydra accepts a `client_secret` in a PATCH, so the controller generates the new
//! secret, persists it, and only then calls [`ChosenSecrets::rotate_to`], which is
//! idempotent (setting the same secret again is harmless). **There is no grace
//! period** ([`ChosenSecrets::keeps_previous`] is false): Hydra v2 stores one secret
//! hash per client, so the previous secret stops working the moment the new one is
//! set; [`ChosenSecrets::retire`] has nothing to do. A spec that asks for a
//! `rotation.gracePeriod` is refused with that explanation
//! ([`check_grace`]).
//!
//! The mapping itself (fields, defaults, refusals, drift, update operations) is in
//! [`super::fields`]; this file holds the calls.

use std::time::Duration;

use async_trait::async_trait;

use super::client::HydraClient;
use super::fields::{check_supported, create_body, generate_secret, own, to_remote, update_ops};
use super::kind::HYDRA_BLOCK;
use super::wire::MIN_SECRET_LEN;
use crate::provider::error::ProviderError;
use crate::provider::model::{
    AssignedIds, ChosenSecrets, ClientFields, CreatedClient, Creation, Field, Provider,
    RemoteClient, SecretCheck, Secrets,
};
use crate::secret::ClientSecret;

/// A Hydra admin API as a [`Provider`].
#[derive(Clone, Debug)]
pub struct HydraProvider {
    client: HydraClient,
    account_key: String,
}

impl HydraProvider {
    pub fn new(client: HydraClient) -> Self {
        let account_key = format!("hydra|{}", client.base_url());
        Self {
            client,
            account_key,
        }
    }

    /// The typed client.
    pub fn client(&self) -> &HydraClient {
        &self.client
    }
}

#[async_trait]
impl Provider for HydraProvider {
    fn kind(&self) -> &'static str {
        crate::api::provider::ProviderType::Hydra.block_name()
    }

    fn account(&self) -> &str {
        &self.account_key
    }

    async fn check_credentials(&self) -> Result<(), ProviderError> {
        self.client.list_page(1, None).await.map(|_| ())
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

    /// PATCH exactly the changed fields. A metadata change reads the client first
    /// to keep its marker.
    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError> {
        check_supported(fields)?;
        let touches_metadata =
            changed.contains(&HYDRA_BLOCK) && own(fields).is_some_and(|h| h.metadata.is_some());
        let marker = if touches_metadata {
            self.client.get(id).await?.marker()
        } else {
            None
        };
        let ops = update_ops(fields, changed, marker.as_deref());
        Ok(to_remote(&self.client.patch(id, &ops).await?))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.client.delete(id).await.map(|_| ())
    }

    /// At Hydra's public token endpoint: see [`HydraClient::verify_secret`].
    async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        self.client.verify_secret(id, secret).await
    }

    /// Hydra's public endpoints under `spec.hydra.publicUrl` (none without it).
    /// The issuer is Hydra's default `urls.self.issuer`, the public URL with a
    /// trailing slash: a Hydra configured with another issuer needs it in
    /// `extraData`. Introspection is on Hydra's admin API, which workloads are
    /// not meant to reach: not published.
    fn endpoints(&self) -> crate::provider::endpoints::Endpoints {
        let Some(public) = self
            .client
            .public_token_url()
            .and_then(|u| u.as_str().strip_suffix("/oauth2/token"))
        else {
            return Default::default();
        };
        let at = |path: &str| Some(crate::provider::endpoints::join(public, path));
        crate::provider::endpoints::Endpoints {
            issuer: Some(format!("{public}/")),
            authorization: at("/oauth2/auth"),
            token: at("/oauth2/token"),
            discovery: at("/.well-known/openid-configuration"),
            jwks: at("/.well-known/jwks.json"),
            revocation: at("/oauth2/revoke"),
            introspection: None,
            userinfo: at("/userinfo"),
        }
    }

    /// Hydra assigns the id; the marker is kept in the client's metadata.
    fn creation(&self) -> Creation<'_> {
        Creation::Assigned(self)
    }

    /// clientops chooses each new secret (Hydra generates only the first).
    fn secrets(&self) -> Secrets<'_> {
        Secrets::Chosen(self)
    }
}

#[async_trait]
impl AssignedIds for HydraProvider {
    /// Create with a Hydra-assigned id and a Hydra-generated secret (returned only
    /// in this answer), `marker` in `metadata`.
    async fn create(
        &self,
        fields: &ClientFields,
        marker: &str,
    ) -> Result<CreatedClient, ProviderError> {
        check_supported(fields)?;
        let mut created = self.client.create(&create_body(fields, marker)).await?;
        let secret = created.client_secret.take();
        let public = fields.token_endpoint_auth_method == "none";
        if secret.is_none() && !public {
            return Err(ProviderError::outcome_unknown(
                crate::provider::Operation::Create,
                "Hydra answered success without a client_secret",
            ));
        }
        Ok(CreatedClient {
            client: to_remote(&created),
            secret: secret.filter(|_| !public),
        })
    }
}

#[async_trait]
impl ChosenSecrets for HydraProvider {
    fn generate_secret(&self) -> ClientSecret {
        generate_secret()
    }

    /// Hydra v2 stores one secret hash per client: no grace period.
    fn keeps_previous(&self) -> bool {
        false
    }

    /// Make `new` the only secret (`PATCH /client_secret`). `grace` is ignored:
    /// Hydra cannot keep the previous secret. Idempotent: setting the secret the
    /// client already has succeeds.
    async fn rotate_to(
        &self,
        id: &str,
        new: &ClientSecret,
        _grace: Duration,
    ) -> Result<(), ProviderError> {
        if new.expose().len() < MIN_SECRET_LEN {
            return Err(ProviderError::config(format!(
                "the new secret is refused: Hydra needs at least {MIN_SECRET_LEN} characters"
            )));
        }
        self.client.set_secret(id, new).await
    }

    /// Nothing to retire: Hydra never keeps a previous secret.
    async fn retire(&self, _id: &str) -> Result<(), ProviderError> {
        Ok(())
    }
}
