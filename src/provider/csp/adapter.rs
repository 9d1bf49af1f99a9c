//! [`Provider`] for VMware CSP: the calls to its IAM API that create, read,
//! update, delete and rotate an organisation's OAuth apps.
//!
//! **Secrets are chosen by clientops** ([`Secrets::Chosen`]): CSP
//! takes the new secret in `POST .../secret`, so the controller generates it
//! ([`ChosenSecrets::generate_secret`]), stores it, and only then calls
//! [`ChosenSecrets::rotate_to`]; and it creates apps with an id and secret of its
//! own choosing ([`Creation::Chosen`], [`ChosenIds::create_with`]), so a create
//! whose answer was lost is found again by that id. (CSP can also generate both;
//! clientops never asks it to.)
//!
//! **`has_rotated_secret`** is always `false`: CSP's GET and list do not say
//! whether an old secret is still valid after a rotation. The controller's status
//! is the source of truth instead: `rotate_to` sends the grace period as
//! `secretRotationExpirationInSeconds`, so CSP expires the old secret itself
//! exactly when status says the grace period ends, and `rotate_to` copes with a
//! rotation CSP still considers in progress (see there).
//!
//! The mapping itself (fields, defaults, refusals, drift, request bodies) is in
//! [`super::fields`]; this file holds the calls.

use std::time::Duration;

use async_trait::async_trait;

use super::client::{CspClient, Deleted};
use super::fields::{
    check_supported, create_body, created_remote, expiry_secs, to_remote, update_body,
};
use super::wire;
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::model::{
    ChosenIds, ChosenSecrets, ClientFields, Creation, Field, Provider, RemoteClient, SecretCheck,
    Secrets,
};
use crate::secret::ClientSecret;

/// A CSP organisation as a [`Provider`].
#[derive(Clone, Debug)]
pub struct CspProvider {
    client: CspClient,
    account_key: String,
}

impl CspProvider {
    pub fn new(client: CspClient) -> Self {
        let account_key = format!("vmwareCsp|{}|{}", client.base_url(), client.org_id());
        Self {
            client,
            account_key,
        }
    }

    /// The typed client.
    pub fn client(&self) -> &CspClient {
        &self.client
    }
}

fn with_note(e: ProviderError, note: &str) -> ProviderError {
    match e {
        ProviderError::Conflict { mut messages } => {
            messages.push(ProviderMessage::new(None, note, None));
            ProviderError::Conflict { messages }
        }
        other => other,
    }
}

#[async_trait]
impl Provider for CspProvider {
    fn kind(&self) -> &'static str {
        crate::api::provider::ProviderType::VmwareCsp.block_name()
    }

    fn account(&self) -> &str {
        &self.account_key
    }

    async fn check_credentials(&self) -> Result<(), ProviderError> {
        self.client.list_page(0, 1).await.map(|_| ())
    }

    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError> {
        Ok(self.client.list().await?.iter().map(to_remote).collect())
    }

    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError> {
        match self.client.get(id).await {
            Ok(app) => Ok(Some(to_remote(&app))),
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
        check_supported(fields)?;
        let current = self.client.get(id).await?;
        let body = update_body(fields, changed, &current)?;
        match self.client.update(id, &body).await? {
            Some(app) if app.id == id => Ok(to_remote(&app)),
            _ => Ok(to_remote(&self.client.get(id).await?)),
        }
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.client.delete(id).await.map(|_| ())
    }

    /// At the apps' token endpoint: see [`CspClient::verify_secret`].
    async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        self.client.verify_secret(id, secret).await
    }

    /// CSP's endpoints at the base URL, as VMware's and third-party tools use them
    /// (Kubeapps' CSP guide, VMware's Go clients; not in the IAM API reference):
    /// login at `/csp/gateway/discovery`, token, discovery document, JWKS and
    /// userinfo under `/csp/gateway/am/api`. The issuer is left unknown: the
    /// discovery document names a parent issuer (`gaz.csp-vidm-prod.com` in
    /// production) that depends on the environment, and an app's
    /// `useCspIssuerUrl` changes it; read it from `discoveryUrl`. Revocation and
    /// introspection are not known.
    fn endpoints(&self) -> crate::provider::endpoints::Endpoints {
        let base = self.client.base_url().as_str().to_string();
        let at = |path: &str| Some(crate::provider::endpoints::join(&base, path));
        crate::provider::endpoints::Endpoints {
            issuer: None,
            authorization: at("/csp/gateway/discovery"),
            token: at("/csp/gateway/am/api/auth/token"),
            discovery: at("/csp/gateway/am/api/.well-known/openid-configuration"),
            jwks: at("/csp/gateway/am/api/auth/token-public-key?format=jwks"),
            revocation: None,
            introspection: None,
            userinfo: at("/csp/gateway/am/api/userinfo"),
        }
    }

    /// clientops chooses the id (and the first secret).
    fn creation(&self) -> Creation<'_> {
        Creation::Chosen(self)
    }

    /// clientops chooses each new secret; CSP keeps the previous one for the
    /// grace period it is told.
    fn secrets(&self) -> Secrets<'_> {
        Secrets::Chosen(self)
    }
}

#[async_trait]
impl ChosenSecrets for CspProvider {
    fn generate_secret(&self) -> ClientSecret {
        wire::generate_secret()
    }

    fn keeps_previous(&self) -> bool {
        true
    }

    /// `POST .../secret` with `new` and the grace period as
    /// `secretRotationExpirationInSeconds` (a grace under a second retires the old
    /// secret at once). Idempotent: when CSP refuses (409: a rotation is still in
    /// progress; 400) the token endpoint is asked whether `new` already works; if
    /// so, this is a repeat of a rotation that happened and succeeds. If CSP says
    /// the pair is wrong, the rotation in progress is an older one: its old secret
    /// is retired (the app keeps its current secret, which becomes the previous one
    /// now) and the rotation made. When the token endpoint cannot tell (an app
    /// without the client_credentials grant), the refusal is returned.
    async fn rotate_to(
        &self,
        id: &str,
        new: &ClientSecret,
        grace: Duration,
    ) -> Result<(), ProviderError> {
        wire::check_secret(new.expose())
            .map_err(|m| ProviderError::config(format!("the new secret is refused: {m}")))?;
        let expiry = Some(expiry_secs(grace));
        match self.client.rotate_secret(id, new, expiry).await {
            Ok(()) => {}
            Err(e @ (ProviderError::Conflict { .. } | ProviderError::Invalid { .. })) => {
                match self.client.check_client_secret(id, new).await? {
                    Some(true) => {
                        tracing::debug!(client_id = %id, "the secret is already in place");
                    }
                    Some(false) if matches!(e, ProviderError::Conflict { .. }) => {
                        tracing::info!(client_id = %id, "an older rotation is in progress at CSP; retiring its old secret first");
                        self.client.delete_old_secret(id).await?;
                        self.client.rotate_secret(id, new, expiry).await?;
                    }
                    _ => {
                        return Err(with_note(
                            e,
                            "CSP refuses a new rotation while the old secret of the previous one is valid; it ends when that secret expires or is retired",
                        ));
                    }
                }
            }
            Err(e) => return Err(e),
        }
        if grace < Duration::from_secs(1) {
            self.client.delete_old_secret(id).await?;
        }
        Ok(())
    }

    async fn retire(&self, id: &str) -> Result<(), ProviderError> {
        match self.client.delete_old_secret(id).await? {
            Deleted::Deleted | Deleted::AlreadyAbsent => Ok(()),
        }
    }
}

#[async_trait]
impl ChosenIds for CspProvider {
    /// Create the app with id `id` and secret `secret` (none for a public app).
    /// Idempotent: when CSP answers 409 and the app exists and takes `secret`, it
    /// is the app an earlier attempt created. A 409 for an id that does not exist
    /// (yet) means CSP is still deleting an app of that id: the `Conflict` is
    /// returned, to be retried later.
    async fn create_with(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<RemoteClient, ProviderError> {
        self.create_with_id(fields, id, secret).await
    }
}

impl CspProvider {
    async fn create_with_id(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<RemoteClient, ProviderError> {
        wire::check_client_id(id)
            .map_err(|m| ProviderError::config(format!("client id {id:?}: {m}")))?;
        let public = fields.token_endpoint_auth_method == "none";
        if !public {
            wire::check_secret(secret.expose())
                .map_err(|m| ProviderError::config(format!("the new secret is refused: {m}")))?;
        }
        let body = create_body(fields, Some(id), Some(secret))?;
        match self.client.create(&body).await {
            Ok(answer) => match answer.client_id {
                Some(got) if got != id => Err(ProviderError::decode(format!(
                    "CSP created the app under id {got:?}, not the requested {id:?}"
                ))),
                _ => Ok(created_remote(id, fields)),
            },
            Err(e @ ProviderError::Conflict { .. }) => match self.client.get(id).await {
                Ok(app) if !public => match self.client.check_client_secret(id, secret).await? {
                    Some(true) => Ok(to_remote(&app)),
                    _ => Err(with_note(
                        e,
                        &format!(
                            "an OAuth app with id {id} already exists and does not take this secret"
                        ),
                    )),
                },
                Ok(_) => Err(with_note(
                    e,
                    &format!("an OAuth app with id {id} already exists"),
                )),
                Err(ProviderError::NotFound { .. }) => Err(with_note(
                    e,
                    &format!("an OAuth app with id {id} is still being deleted; retry later"),
                )),
                Err(other) => Err(other),
            },
            Err(e) => Err(e),
        }
    }
}
