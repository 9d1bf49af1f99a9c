//! [`Provider`] for Entra ID: the Graph calls that create, read, update, delete
//! and rotate a tenant's app registrations. The mapping is in [`super::fields`].
//!
//! - **Create** ([`AssignedIds::create`]): the upsert by `uniqueName`
//!   (`clientops-<UID>`: a lost answer is found again by the marker in every
//!   LIST), then the service principal (409: it exists), then the first
//!   password. Each step can be repeated: a repeat finds the application, and
//!   a password left by an attempt whose answer was lost (nobody holds it) is
//!   removed before a new one is asked for. A `uniqueName` still held by a
//!   deleted application (deleted in the portal behind clientops' back) is
//!   freed by restoring that application.
//! - **Secrets** ([`GeneratedSecrets`]): `rotate` makes sure of the service
//!   principal and adds a password named with clientops' marker; `retire` removes every password but clientops' newest.
//!   Two or more passwords are `has_rotated_secret`.

use async_trait::async_trait;
use chrono::Utc;

use super::client::EntraClient;
use super::fields::{
    HAND_ADDED_PASSWORDS, create_body, hand_added, password_name, to_remote, to_retire,
    unique_names, update_body,
};
use super::wire::{Application, PasswordCredential};
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::model::{
    AssignedIds, ClientFields, CreatedClient, Creation, Field, GeneratedSecrets, Provider,
    RemoteClient, SecretCheck, Secrets,
};
use crate::secret::ClientSecret;

/// An Entra tenant as a [`Provider`].
#[derive(Clone, Debug)]
pub struct EntraProvider {
    client: EntraClient,
    account_key: String,
}

impl EntraProvider {
    pub fn new(client: EntraClient) -> Self {
        let account_key = format!("entra|{}|{}", client.graph_url(), client.tenant());
        Self {
            client,
            account_key,
        }
    }

    /// The typed Graph client.
    pub fn client(&self) -> &EntraClient {
        &self.client
    }

    async fn app(&self, id: &str) -> Result<Application, ProviderError> {
        self.client.get(id).await?.ok_or_else(|| not_found(id))
    }

    /// The application of `marker`, created or updated to `body`: the first of
    /// its [`unique_names`] not held by a deleted application. A deleted one
    /// (deleted in the portal behind clientops' back) is restored where
    /// clientops may list deleted items (`Application.Read.All`); otherwise
    /// the next name is used.
    async fn upsert(&self, marker: &str, body: &Application) -> Result<Application, ProviderError> {
        let names = unique_names(marker).ok_or_else(|| {
            ProviderError::config(format!(
                "the OAuthClient's UID {marker:?} cannot be part of an Entra uniqueName"
            ))
        })?;
        let mut last = None;
        for name in &names {
            match self.client.upsert(name, body).await {
                Err(ProviderError::Conflict { messages }) => {
                    match self.client.deleted_by_unique_name(name).await {
                        Ok(Some(deleted)) => {
                            tracing::info!(unique_name = %name, "restoring the deleted application that holds the uniqueName");
                            self.client.restore(&deleted.id.unwrap_or_default()).await?;
                            let updated = self.client.upsert(name, body).await?;
                            return self.created(name, updated).await;
                        }
                        Ok(None) | Err(ProviderError::Forbidden { .. }) => {
                            last = Some(ProviderError::Conflict { messages });
                        }
                        Err(e) => return Err(e),
                    }
                }
                other => return self.created(name, other?).await,
            }
        }
        Err(last.unwrap_or_else(|| ProviderError::config("no uniqueName left")))
    }

    /// The application an upsert of `name` answered (201) or, when it updated
    /// one (204), read back.
    async fn created(
        &self,
        name: &str,
        created: Option<Application>,
    ) -> Result<Application, ProviderError> {
        match created {
            Some(a) if a.app_id.is_some() => Ok(a),
            _ => self
                .client
                .get_by_unique_name(name)
                .await?
                .ok_or_else(|| not_found(name)),
        }
    }
}

fn not_found(id: &str) -> ProviderError {
    ProviderError::NotFound {
        messages: vec![ProviderMessage::new(
            None,
            &format!("no application {id} in the tenant"),
            None,
        )],
    }
}

#[async_trait]
impl Provider for EntraProvider {
    fn kind(&self) -> &'static str {
        crate::api::provider::ProviderType::Entra.block_name()
    }

    fn account(&self) -> &str {
        &self.account_key
    }

    async fn check_credentials(&self) -> Result<(), ProviderError> {
        self.client.check().await
    }

    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError> {
        Ok(self.client.list().await?.iter().map(to_remote).collect())
    }

    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError> {
        Ok(self.client.get(id).await?.as_ref().map(to_remote))
    }

    /// The changed fields in one `PATCH`; passwords added by hand (drift of
    /// [`HAND_ADDED_PASSWORDS`]) removed one by one.
    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError> {
        let body = update_body(fields, changed);
        if body != Application::default() {
            self.client.update(id, &body).await?;
        }
        let mut app = self.app(id).await?;
        if changed.contains(&HAND_ADDED_PASSWORDS) {
            let ps = app.password_credentials.clone().unwrap_or_default();
            for key in hand_added(&ps) {
                tracing::info!(
                    client = id,
                    "removing a client secret added outside clientops"
                );
                self.client.remove_password(id, &key).await?;
            }
            app = self.app(id).await?;
        }
        Ok(to_remote(&app))
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.client.delete(id).await
    }

    /// A `client_credentials` token request: see [`EntraClient::verify_secret`].
    async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        self.client.verify_secret(id, secret).await
    }

    /// The tenant's Microsoft identity platform (v2.0) endpoints at the
    /// authority, and Graph's OIDC userinfo. Entra has no revocation or
    /// introspection endpoint.
    fn endpoints(&self) -> crate::provider::endpoints::Endpoints {
        let authority = self.client.authority_url().as_str().trim_end_matches('/');
        let tenant = self.client.tenant();
        let at = |path: &str| Some(format!("{authority}/{tenant}{path}"));
        let graph = self.client.graph_url().as_str().trim_end_matches('/');
        crate::provider::endpoints::Endpoints {
            issuer: at("/v2.0"),
            authorization: at("/oauth2/v2.0/authorize"),
            token: at("/oauth2/v2.0/token"),
            discovery: at("/v2.0/.well-known/openid-configuration"),
            jwks: at("/discovery/v2.0/keys"),
            revocation: None,
            introspection: None,
            userinfo: Some(format!("{graph}/oidc/userinfo")),
        }
    }

    /// Entra assigns the id (`appId`); clientops chooses the `uniqueName`.
    fn creation(&self) -> Creation<'_> {
        Creation::Assigned(self)
    }

    /// Entra generates each password and keeps the previous ones until removed.
    fn secrets(&self) -> Secrets<'_> {
        Secrets::Generated(self)
    }
}

#[async_trait]
impl AssignedIds for EntraProvider {
    async fn create(
        &self,
        fields: &ClientFields,
        marker: &str,
    ) -> Result<CreatedClient, ProviderError> {
        let mut app = self.upsert(marker, &create_body(fields)).await?;
        let id = app.app_id.clone().unwrap_or_default();
        self.client.ensure_service_principal(&id).await?;
        // Passwords of an earlier attempt whose answer was lost, or of a
        // restored application: nobody holds them.
        for p in app.password_credentials.take().unwrap_or_default() {
            if let Some(key) = &p.key_id {
                self.client.remove_password(&id, key).await?;
            }
        }
        let mut p = self
            .client
            .add_password(&id, &password_name(Utc::now()))
            .await?;
        let secret = p.secret_text.take();
        app.password_credentials = Some(vec![p]);
        Ok(CreatedClient {
            client: to_remote(&app),
            secret,
        })
    }
}

#[async_trait]
impl GeneratedSecrets for EntraProvider {
    /// `addPassword`, named with clientops' marker and the time; the service
    /// principal first (409 when it exists), since a secret of an application
    /// without one gets no token: a create whose answer was lost after the
    /// upsert, or an adopted application, may have none yet.
    async fn rotate(&self, id: &str) -> Result<ClientSecret, ProviderError> {
        self.client.ensure_service_principal(id).await?;
        let p: PasswordCredential = self
            .client
            .add_password(id, &password_name(Utc::now()))
            .await?;
        p.secret_text
            .ok_or_else(|| ProviderError::decode("Graph answered addPassword without a secretText"))
    }

    /// `removePassword` of every password but clientops' newest.
    async fn retire(&self, id: &str) -> Result<(), ProviderError> {
        let app = self.app(id).await?;
        for key in to_retire(app.password_credentials.as_deref().unwrap_or_default()) {
            self.client.remove_password(id, &key).await?;
        }
        Ok(())
    }
}
