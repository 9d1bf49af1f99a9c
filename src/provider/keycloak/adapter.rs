//! [`Provider`] for Keycloak: the calls to its admin API that create, read,
//! update, delete and rotate the clients of one realm.
//!
//! **Ids and crash safety.** clientops chooses the OAuth `clientId`
//! (`clientops-<OAuthClient UID>`, [`Creation::Chosen`]) and the
//! secret ([`Secrets::Chosen`]), writes both to the Secret, and only
//! then creates the client; the creating OAuthClient's UID is kept in the client
//! attribute [`MARKER_KEY`]. A create whose answer was lost is found again by its
//! id (a repeat gets 409 and reads the client).
//!
//! **Rotation.** Keycloak keeps a second, rotated secret only under a realm
//! client policy whose profile has the `secret-rotation` executor (the preview
//! feature `client-secret-rotation`). clientops *requires* that policy for a grace
//! period and never sets it up itself: it is realm-wide security configuration,
//! and its `expiration-period` makes Keycloak refuse secrets older than that, a
//! decision for the realm's administrator. The provider reads the policy when it
//! is built ([`KeycloakProvider::connect`], remembered for a minute):
//! - with it, [`ChosenSecrets::rotate_to`] makes the chosen secret current and keeps
//!   the previous one: it records a fingerprint of the new secret in the client
//!   ([`ROTATING_TO_KEY`]), asks Keycloak to rotate (`POST .../client-secret`:
//!   the current secret becomes the rotated one), then sets the chosen secret
//!   (`PUT`). Each step is safe to repeat: a repeat after a lost answer sees the
//!   secret already current, or the fingerprint with a rotated secret present
//!   (Keycloak's half done), and finishes without rotating twice.
//!   [`ChosenSecrets::retire`] deletes the rotated secret.
//! - without it, rotation is one step, as at Ory Hydra: the chosen secret
//!   replaces the current one at once ([`ChosenSecrets::keeps_previous`] is false).
//!
//! An explicit `spec.rotation.gracePeriod` the realm cannot keep (no policy, or
//! longer than its `rotated-expiration-period`) is refused at create, naming the
//! field ([`check_grace`]); a realm policy that expires secrets within a year
//! makes the provider object not Ready ([`check_policy`]).
//!
//! The mapping itself (fields, defaults, refusals, drift, update bodies) is in
//! [`super::fields`]; this file holds the calls.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;

use super::client::{KeycloakClient, ScopeKind};
use super::fields::{
    DEFAULT_SCOPES, KEYCLOAK_BLOCK, KeycloakFields, SERVICE_ACCOUNT_SCOPE, attributes_body,
    check_grace, check_policy, check_supported, field_error, generate_secret, invalid,
    realm_endpoints, to_remote, to_wire, update_body,
};
use super::wire::{
    Attributes, ClientRepresentation, MARKER_KEY, ROTATING_TO_KEY, RotationPolicy,
    secret_fingerprint,
};
use crate::provider::endpoints::Endpoints;
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::model::{
    ChosenIds, ChosenSecrets, ClientFields, Creation, Field, Provider, RemoteClient, SecretCheck,
    Secrets,
};
use crate::secret::ClientSecret;

/// A realm of a Keycloak as a [`Provider`].
#[derive(Clone, Debug)]
pub struct KeycloakProvider {
    client: KeycloakClient,
    account_key: String,
    rotation: Option<RotationPolicy>,
}

impl KeycloakProvider {
    /// A provider for `client`'s realm; `rotation` is the realm's secret rotation
    /// policy (`None`: rotation replaces the secret in one step).
    pub fn new(client: KeycloakClient, rotation: Option<RotationPolicy>) -> Self {
        let account_key = format!("keycloak|{}|{}", client.base_url(), client.realm());
        Self {
            client,
            account_key,
            rotation,
        }
    }

    /// A provider for `client`'s realm with the realm's rotation policy as
    /// Keycloak reports it (remembered for a minute). Credentials that may not
    /// read client policies (no `view-realm`) give one-step rotation.
    pub async fn connect(client: KeycloakClient) -> Result<Self, ProviderError> {
        let rotation = match client.rotation_policy().await {
            Ok(p) => p,
            Err(ProviderError::Forbidden { .. }) => {
                tracing::debug!(
                    realm = client.realm(),
                    "the admin credentials may not read client policies; rotation is one step"
                );
                None
            }
            Err(e) => return Err(e),
        };
        Ok(Self::new(client, rotation))
    }

    /// The typed client.
    pub fn client(&self) -> &KeycloakClient {
        &self.client
    }

    /// The realm's rotation policy as this provider uses it.
    pub fn rotation_policy(&self) -> Option<RotationPolicy> {
        self.rotation
    }

    /// Create `id` with `secret` and the fields of both blocks; `marker` goes into
    /// [`MARKER_KEY`]. 409 when the id is taken.
    pub async fn create_client(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
        marker: &str,
    ) -> Result<RemoteClient, ProviderError> {
        check_supported(fields)?;
        if let Some(grace) = KeycloakFields::of(fields).grace {
            check_grace(grace, self.rotation)
                .map_err(|(field, message)| invalid(vec![field_error(&field, message)]))?;
        }
        let own = KeycloakFields::of(fields);
        let optional = own.block().optional_client_scopes;
        if own.default_scopes.is_some() || optional.is_some() {
            // Refused before the client exists, not after.
            let catalogue = self.client.client_scopes().await?;
            let missing: Vec<ProviderMessage> = [
                (
                    "spec.scopes",
                    own.default_scopes.iter().flatten().collect::<Vec<_>>(),
                ),
                (
                    "spec.keycloak.optionalClientScopes",
                    optional.iter().flatten().collect(),
                ),
            ]
            .into_iter()
            .flat_map(|(field, names)| {
                names
                    .into_iter()
                    .filter(|n| !catalogue.iter().any(|s| &s.name == *n))
                    .map(move |n| self.unknown_scope(field, n))
            })
            .collect();
            if !missing.is_empty() {
                return Err(invalid(missing));
            }
        }
        let mut rep = to_wire(fields);
        rep.client_id = Some(id.to_string());
        if rep.public_client != Some(true) {
            rep.secret = Some(secret.clone());
        }
        rep.attributes
            .get_or_insert_with(Attributes::default)
            .plain
            .insert(MARKER_KEY.into(), marker.into());
        let uuid = self.client.create(&rep).await?;
        // Keycloak takes the default scopes of a new client from the realm (a
        // create's list is not honoured for every client): put them in place.
        if let Some(want) = &own.default_scopes {
            self.sync_scopes(id, Some(want), optional.as_ref()).await?;
            if let Some(c) = self.client.find(id).await? {
                return Ok(to_remote(&c));
            }
        }
        rep.id = Some(uuid);
        rep.secret = None;
        Ok(to_remote(&rep))
    }

    /// Change the `changed` fields (the default scopes and the optional ones
    /// through their own endpoints); then read the client back.
    pub async fn update_client(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError> {
        check_supported(fields)?;
        let own = KeycloakFields::of(fields);
        let kc = own.block();
        let body = update_body(fields, changed);
        if body != ClientRepresentation::default() {
            self.client.update(id, &body).await?;
        }
        let default_scopes = own
            .default_scopes
            .as_ref()
            .filter(|_| changed.contains(&DEFAULT_SCOPES));
        let optional = kc
            .optional_client_scopes
            .as_ref()
            .filter(|_| changed.contains(&KEYCLOAK_BLOCK));
        self.sync_scopes(id, default_scopes, optional).await?;
        let c = self.client.find(id).await?.ok_or_else(|| not_found(id))?;
        Ok(to_remote(&c))
    }

    fn unknown_scope(&self, field: &str, name: &str) -> ProviderMessage {
        field_error(
            field,
            format!(
                "{name:?} is not a client scope of realm {}: create it (Client scopes in the admin console) or remove it",
                self.client.realm()
            ),
        )
    }

    /// Make the client's default and optional client scopes the given ones
    /// (`None`: leave them), through the scope endpoints; Keycloak's own
    /// `service_account` scope stays. A scope the realm does not have is refused
    /// by field before anything changes.
    async fn sync_scopes(
        &self,
        id: &str,
        default_scopes: Option<&BTreeSet<String>>,
        optional: Option<&Vec<String>>,
    ) -> Result<(), ProviderError> {
        if default_scopes.is_none() && optional.is_none() {
            return Ok(());
        }
        let current = self.client.find(id).await?.ok_or_else(|| not_found(id))?;
        let catalogue = self.client.client_scopes().await?;
        let ids: BTreeMap<&str, &str> = catalogue
            .iter()
            .map(|s| (s.name.as_str(), s.id.as_str()))
            .collect();
        let mut plan: Vec<(ScopeKind, &str, bool)> = vec![];
        let mut missing: Vec<(String, String)> = vec![];
        let mut sync =
            |kind: ScopeKind, field: &str, want: &BTreeSet<String>, have: &Option<Vec<String>>| {
                let have: BTreeSet<&str> = have.iter().flatten().map(String::as_str).collect();
                for w in want {
                    if !have.contains(w.as_str()) {
                        match ids.get(w.as_str()) {
                            Some(sid) => plan.push((kind, sid, true)),
                            None => missing.push((field.to_string(), w.clone())),
                        }
                    }
                }
                for h in have {
                    let keep = want.contains(h)
                        || (kind == ScopeKind::Default && h == SERVICE_ACCOUNT_SCOPE);
                    if !keep && let Some(sid) = ids.get(h) {
                        plan.push((kind, sid, false));
                    }
                }
            };
        if let Some(want) = default_scopes {
            sync(
                ScopeKind::Default,
                "spec.scopes",
                want,
                &current.default_client_scopes,
            );
        }
        if let Some(want) = optional {
            let want: BTreeSet<String> = want.iter().cloned().collect();
            sync(
                ScopeKind::Optional,
                "spec.keycloak.optionalClientScopes",
                &want,
                &current.optional_client_scopes,
            );
        }
        if !missing.is_empty() {
            return Err(invalid(
                missing
                    .into_iter()
                    .map(|(field, name)| self.unknown_scope(&field, &name))
                    .collect(),
            ));
        }
        // Removals first: Keycloak refuses a scope that is default and optional
        // at once.
        plan.sort_by_key(|(_, _, add)| *add);
        for (kind, sid, add) in plan {
            self.client.set_scope(id, kind, sid, add).await?;
        }
        Ok(())
    }

    /// Make `new` the current secret, keeping the previous one valid for `grace`
    /// where the realm's policy allows (see the module documentation).
    pub async fn set_secret(
        &self,
        id: &str,
        new: &ClientSecret,
        grace: Duration,
    ) -> Result<(), ProviderError> {
        let current = self.client.find(id).await?.ok_or_else(|| not_found(id))?;
        if current.secret.as_ref() == Some(new) {
            return Ok(());
        }
        let with_grace = match self.rotation {
            Some(p) if !grace.is_zero() => {
                check_grace(grace, Some(p))
                    .map_err(|(field, m)| ProviderError::config(format!("{field}: {m}")))?;
                true
            }
            _ => false,
        };
        if with_grace {
            let fingerprint = secret_fingerprint(new);
            let rotated_here = current.attribute(ROTATING_TO_KEY) == Some(fingerprint.as_str())
                && current.rotated_secret().is_some();
            if !rotated_here {
                self.client
                    .update(
                        id,
                        &attributes_body([(ROTATING_TO_KEY, fingerprint.as_str())]),
                    )
                    .await?;
                // Keycloak's rotation: the current secret becomes the rotated one;
                // the secret it generates is replaced right after.
                let _generated = self.client.regenerate_secret(id).await?;
            }
        }
        self.client
            .update(
                id,
                &ClientRepresentation {
                    secret: Some(new.clone()),
                    ..Default::default()
                },
            )
            .await?;
        if with_grace {
            let after = self.client.find(id).await?.ok_or_else(|| not_found(id))?;
            if after.rotated_secret().is_none() {
                tracing::warn!(
                    client_id = %id,
                    "Keycloak kept no rotated secret: the realm's secret-rotation policy does not apply to this client (check its conditions); the previous secret stopped working"
                );
            }
        }
        Ok(())
    }
}

fn not_found(id: &str) -> ProviderError {
    ProviderError::NotFound {
        messages: vec![ProviderMessage::new(
            None,
            &format!("no Keycloak client {id}"),
            None,
        )],
    }
}

#[async_trait]
impl Provider for KeycloakProvider {
    fn kind(&self) -> &'static str {
        crate::api::provider::ProviderType::Keycloak.block_name()
    }

    fn account(&self) -> &str {
        &self.account_key
    }

    /// A client lookup (needs `view-clients`) and a fresh read of the realm's
    /// rotation policy, refused when it would expire secrets.
    async fn check_credentials(&self) -> Result<(), ProviderError> {
        self.client.find("clientops-credentials-check").await?;
        match self.client.read_rotation_policy().await {
            Ok(p) => check_policy(p),
            Err(ProviderError::Forbidden { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError> {
        Ok(self.client.list().await?.iter().map(to_remote).collect())
    }

    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError> {
        Ok(self.client.find(id).await?.as_ref().map(to_remote))
    }

    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError> {
        self.update_client(id, fields, changed).await
    }

    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.client.delete(id).await
    }

    async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        self.client.verify_secret(id, secret).await
    }

    /// The realm's OpenID Connect endpoints, under `{url}/realms/{realm}`.
    fn endpoints(&self) -> Endpoints {
        realm_endpoints(self.client.base_url().as_str(), self.client.realm())
    }

    /// clientops chooses the id (`clientops-<OAuthClient UID>`) and the first
    /// secret.
    fn creation(&self) -> Creation<'_> {
        Creation::Chosen(self)
    }

    /// clientops chooses each new secret; the previous one is kept only under the
    /// realm's rotation policy.
    fn secrets(&self) -> Secrets<'_> {
        Secrets::Chosen(self)
    }
}

#[async_trait]
impl ChosenSecrets for KeycloakProvider {
    fn generate_secret(&self) -> ClientSecret {
        generate_secret()
    }

    fn keeps_previous(&self) -> bool {
        self.rotation.is_some()
    }

    async fn rotate_to(
        &self,
        id: &str,
        new: &ClientSecret,
        grace: Duration,
    ) -> Result<(), ProviderError> {
        self.set_secret(id, new, grace).await
    }

    /// Delete the rotated secret (nothing to do without the rotation policy).
    async fn retire(&self, id: &str) -> Result<(), ProviderError> {
        if self.rotation.is_none() {
            return Ok(());
        }
        self.client.delete_rotated_secret(id).await
    }
}

#[async_trait]
impl ChosenIds for KeycloakProvider {
    async fn create_with(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<RemoteClient, ProviderError> {
        let marker = id.strip_prefix("clientops-").unwrap_or(id);
        self.create_client(fields, id, secret, marker).await
    }
}
