//! What the controller knows about a provider, independent of which provider it is:
//! the client's fields, the remote client as observed, and the [`Provider`] trait each
//! provider client implements.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::ProviderError;
use crate::secret::ClientSecret;

/// The fields of an OAuth client that every provider shares, normalized: defaults
/// applied, order-insensitive lists as sets; and the provider's own fields
/// ([`OwnFields`]: its spec block, typed and compared by the provider itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientFields {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: BTreeSet<String>,
    pub response_types: BTreeSet<String>,
    /// Compared as a set, without the protocol scopes a provider manages itself.
    pub scopes: BTreeSet<String>,
    pub token_endpoint_auth_method: String,
    pub allowed_cors_origins: BTreeSet<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// The provider's own fields (`spec.<provider>`), absent when none are managed.
    pub own: OwnFields,
}

/// The fields of one provider's own block (`spec.cloudflare`, `spec.hydra`, ...),
/// as that provider types, defaults and compares them. The shared model never looks
/// inside; the provider's adapter reads them back with [`OwnFields::get`].
pub trait ProviderFields: Any + fmt::Debug + Send + Sync {
    /// The fields where `remote` (as observed) differs from `self` (as desired).
    /// Fields the spec leaves unset are not managed, so they never differ.
    fn diff(&self, remote: Option<&dyn ProviderFields>) -> Vec<Field>;
}

/// `fields` as the provider type `T`, if they are.
pub fn fields_as<T: ProviderFields>(fields: Option<&dyn ProviderFields>) -> Option<&T> {
    fields.and_then(|f| (f as &dyn Any).downcast_ref())
}

/// A provider's own fields of one client, or none.
#[derive(Clone, Debug, Default)]
pub struct OwnFields(Option<Arc<dyn ProviderFields>>);

impl OwnFields {
    pub fn new(fields: impl ProviderFields) -> Self {
        Self(Some(Arc::new(fields)))
    }

    /// The fields, when they are of the provider type `T`.
    pub fn get<T: ProviderFields>(&self) -> Option<&T> {
        fields_as(self.0.as_deref())
    }

    /// Where `remote` differs; nothing when no own field is managed.
    pub fn diff(&self, remote: &OwnFields) -> Vec<Field> {
        match &self.0 {
            Some(want) => want.diff(remote.0.as_deref()),
            None => vec![],
        }
    }
}

/// Equal when neither differs from the other (two providers' fields never are).
impl PartialEq for OwnFields {
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (None, None) => true,
            (Some(a), Some(b)) => a.diff(Some(&**b)).is_empty() && b.diff(Some(&**a)).is_empty(),
            _ => false,
        }
    }
}

impl Eq for OwnFields {}

/// One field of [`ClientFields`], for drift reports and minimal patches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Name,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    ResponseTypes,
    Scopes,
    TokenEndpointAuthMethod,
    AllowedCorsOrigins,
    ClientUri,
    LogoUri,
    PolicyUri,
    TosUri,
    /// A field of a provider's own block, by the spec path a user edits
    /// (e.g. `spec.cloudflare.optionalScopes`, or `spec.hydra` for the whole block).
    Own(&'static str),
}

impl Field {
    /// The spec path a user edits to change this field.
    pub fn spec_path(self) -> &'static str {
        match self {
            Field::Name => "spec.clientName",
            Field::RedirectUris => "spec.redirectUris",
            Field::PostLogoutRedirectUris => "spec.postLogoutRedirectUris",
            Field::GrantTypes => "spec.grantTypes",
            Field::ResponseTypes => "spec.responseTypes",
            Field::Scopes => "spec.scopes",
            Field::TokenEndpointAuthMethod => "spec.tokenEndpointAuthMethod",
            Field::AllowedCorsOrigins => "spec.allowedCorsOrigins",
            Field::ClientUri => "spec.clientUri",
            Field::LogoUri => "spec.logoUri",
            Field::PolicyUri => "spec.policyUri",
            Field::TosUri => "spec.tosUri",
            Field::Own(path) => path,
        }
    }
}

impl ClientFields {
    /// The fields where `remote` differs from `self` (the desired state). Optional
    /// URIs that are absent from the spec are not managed, so they are never drift.
    pub fn diff(&self, remote: &ClientFields) -> Vec<Field> {
        let mut out = vec![];
        let mut check = |f: Field, differs: bool| {
            if differs {
                out.push(f)
            }
        };
        // Order carries no meaning in redirect URI lists: compare them as sets.
        let set = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<_>>();
        check(Field::Name, self.name != remote.name);
        check(
            Field::RedirectUris,
            set(&self.redirect_uris) != set(&remote.redirect_uris),
        );
        check(
            Field::PostLogoutRedirectUris,
            set(&self.post_logout_redirect_uris) != set(&remote.post_logout_redirect_uris),
        );
        check(Field::GrantTypes, self.grant_types != remote.grant_types);
        check(
            Field::ResponseTypes,
            self.response_types != remote.response_types,
        );
        check(Field::Scopes, self.scopes != remote.scopes);
        check(
            Field::TokenEndpointAuthMethod,
            self.token_endpoint_auth_method != remote.token_endpoint_auth_method,
        );
        check(
            Field::AllowedCorsOrigins,
            self.allowed_cors_origins != remote.allowed_cors_origins,
        );
        let managed = |want: &Option<String>, have: &Option<String>| want.is_some() && want != have;
        check(
            Field::ClientUri,
            managed(&self.client_uri, &remote.client_uri),
        );
        check(Field::LogoUri, managed(&self.logo_uri, &remote.logo_uri));
        check(
            Field::PolicyUri,
            managed(&self.policy_uri, &remote.policy_uri),
        );
        check(Field::TosUri, managed(&self.tos_uri, &remote.tos_uri));
        out.extend(self.own.diff(&remote.own));
        out
    }
}

/// A client as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteClient {
    pub id: String,
    pub fields: ClientFields,
    /// The provider holds a second (previous) secret after a rotation.
    pub has_rotated_secret: bool,
    pub created_at: Option<DateTime<Utc>>,
    /// The creating OAuthClient's marker, where the provider stores metadata.
    pub marker: Option<String>,
    /// When the provider says the client's secret last changed, where it says so
    /// (Keycloak's `client.secret.creation.time`): a change since the last
    /// credentials check is checked at once, for free from the drift LIST.
    pub secret_changed_at: Option<DateTime<Utc>>,
    /// When the provider says the client's current secret stops working, where
    /// secrets expire (Entra ID's `endDateTime`, Keycloak's
    /// `client.secret.expiration.time`): clientops rotates before then.
    pub secret_expires_at: Option<DateTime<Utc>>,
}

/// A client just created, with its secret (absent for public clients).
#[derive(Clone, Debug)]
pub struct CreatedClient {
    pub client: RemoteClient,
    pub secret: Option<ClientSecret>,
}

/// What a provider says about a client secret offered as proof of ownership
/// ([`Provider::verify_secret`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretCheck {
    /// The provider authenticated the client with this secret.
    Accepted,
    /// The provider refused it (`invalid_client`).
    Rejected,
    /// This provider (as configured) cannot check a secret; why, for the user.
    Unsupported(String),
}

/// What a provider can do to OAuth clients of one account.
///
/// The methods every provider has (read, update, delete, prove a secret) are here;
/// how it creates clients and issues secrets is its *mode*, stated once in
/// [`Provider::creation`] and [`Provider::secrets`] as the trait objects that mode
/// needs: a provider implements only the operations of its mode, and the
/// controller reaches an operation only through the mode that has it.
#[async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and metrics, e.g. `cloudflare`.
    fn kind(&self) -> &'static str;
    /// The account as the provider names it (base URL + account id), shared by
    /// every client of that account. The controller keys rate limits and the drift
    /// LIST by [`ScopedProvider::account_key`](super::scoped::ScopedProvider::account_key),
    /// which adds who configured the provider.
    fn account(&self) -> &str;
    /// A cheap authenticated call that proves the credentials work.
    async fn check_credentials(&self) -> Result<(), ProviderError>;
    /// Every client of the account.
    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError>;
    /// One client; `Ok(None)` when it does not exist.
    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError>;
    /// Change exactly `changed` fields to their values in `fields`.
    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError>;
    /// Delete a client; deleting a missing client is success.
    async fn delete(&self, id: &str) -> Result<(), ProviderError>;

    /// Whether the provider accepts `secret` as client `id`'s secret: proof that
    /// whoever holds it owns the client (an import). Checked the way the provider
    /// allows, at its token endpoint, without changing the client and without
    /// issuing a usable token where that can be avoided.
    async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        let _ = (id, secret);
        Ok(SecretCheck::Unsupported(format!(
            "{} cannot check a client secret",
            self.kind()
        )))
    }

    /// The account's public OAuth endpoints, as far as this provider knows them
    /// (`spec.secret.endpoints` and templates publish them). Default: none known.
    fn endpoints(&self) -> super::endpoints::Endpoints {
        super::endpoints::Endpoints::default()
    }

    /// How this provider creates clients: who chooses the id.
    fn creation(&self) -> Creation<'_>;

    /// How this provider issues secrets: who chooses a new one.
    fn secrets(&self) -> Secrets<'_>;
}

impl dyn Provider + '_ {
    /// The plain facts of the provider's modes, for the planner (derived here, never
    /// stated twice).
    pub fn capabilities(&self) -> Capabilities {
        let (secret_issuance, grace) = match self.secrets() {
            Secrets::Generated(_) => (SecretIssuance::ProviderGenerated, true),
            Secrets::Chosen(c) => (SecretIssuance::CallerChosen, c.keeps_previous()),
        };
        Capabilities {
            grace,
            chooses_client_id: matches!(self.creation(), Creation::Chosen(_)),
            secret_issuance,
        }
    }
}

/// How a provider creates clients.
#[derive(Clone, Copy)]
pub enum Creation<'a> {
    /// The provider assigns the id; a create whose answer was lost is found again
    /// by its marker (Hydra's metadata, Entra ID's `uniqueName`) or by what it sent
    /// (Cloudflare).
    Assigned(&'a dyn AssignedIds),
    /// clientops chooses the id (and the first secret) and persists both before
    /// the call: a lost answer is found again by that id (VMware CSP, Keycloak).
    Chosen(&'a dyn ChosenIds),
}

/// Creating clients whose id the provider assigns.
#[async_trait]
pub trait AssignedIds: Send + Sync {
    /// Create a client. Never retried blindly: a lost response is
    /// `ProviderError::OutcomeUnknown`.
    /// `marker` identifies the OAuthClient that asks (its UID); a provider that can
    /// store metadata with the client stores it, and reports it back in
    /// [`RemoteClient::marker`], so a create whose response was lost is found again
    /// unambiguously.
    async fn create(
        &self,
        fields: &ClientFields,
        marker: &str,
    ) -> Result<CreatedClient, ProviderError>;
}

/// Creating clients with an id clientops chooses. The first secret is chosen too,
/// so such a provider also takes chosen secrets.
#[async_trait]
pub trait ChosenIds: ChosenSecrets {
    /// Create a client with id `id` and secret `secret` (ignored for a public
    /// client). Idempotent where the provider lets it be: a repeat after a lost
    /// answer finds the client it made; a `Conflict` means the id is taken (or
    /// still being deleted).
    async fn create_with(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<RemoteClient, ProviderError>;
}

/// How a provider issues secrets.
#[derive(Clone, Copy)]
pub enum Secrets<'a> {
    /// The provider generates each new secret and returns it once; the previous
    /// one stays valid until retired (Cloudflare; Entra ID's `addPassword`).
    Generated(&'a dyn GeneratedSecrets),
    /// clientops chooses each new secret and persists it before the call, so no
    /// crash can lose it (VMware CSP, Ory Hydra, Keycloak).
    Chosen(&'a dyn ChosenSecrets),
}

impl Secrets<'_> {
    /// Retire the previous secret after a rotation, in either mode.
    pub async fn retire(&self, id: &str) -> Result<(), ProviderError> {
        match self {
            Secrets::Generated(g) => g.retire(id).await,
            Secrets::Chosen(c) => c.retire(id).await,
        }
    }
}

/// Secrets the provider generates.
#[async_trait]
pub trait GeneratedSecrets: Send + Sync {
    /// Issue a new secret; the previous one stays valid until
    /// [`GeneratedSecrets::retire`].
    async fn rotate(&self, id: &str) -> Result<ClientSecret, ProviderError>;
    /// Retire the previous secret after a rotation.
    async fn retire(&self, id: &str) -> Result<(), ProviderError>;
}

/// Secrets clientops chooses.
#[async_trait]
pub trait ChosenSecrets: Send + Sync {
    /// A new secret that meets the provider's rules, from a CSPRNG.
    fn generate_secret(&self) -> ClientSecret;
    /// Whether the previous secret stays valid after [`ChosenSecrets::rotate_to`]
    /// (a grace period). False: the new secret replaces it in one step (Ory Hydra;
    /// Keycloak without the realm's rotation policy).
    fn keeps_previous(&self) -> bool;
    /// Make `new` the client's secret; the previous one stays valid for `grace`
    /// where the provider keeps one. Idempotent: setting the secret the client
    /// already has succeeds.
    async fn rotate_to(
        &self,
        id: &str,
        new: &ClientSecret,
        grace: std::time::Duration,
    ) -> Result<(), ProviderError>;
    /// Retire the previous secret after a rotation (nothing to do where none is
    /// kept).
    async fn retire(&self, id: &str) -> Result<(), ProviderError>;
}

/// Who chooses a new client secret, as the planner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretIssuance {
    /// [`Secrets::Generated`].
    ProviderGenerated,
    /// [`Secrets::Chosen`].
    CallerChosen,
}

/// What the provider can do, as far as the plan depends on it: the plain facts of
/// its modes (`<dyn Provider>::capabilities`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// A previous secret stays valid after a rotation (Cloudflare, CSP); false for
    /// Hydra, which replaces the secret in one step.
    pub grace: bool,
    /// Clients are created with an id clientops chooses (CSP, Keycloak).
    pub chooses_client_id: bool,
    /// Who chooses a new secret: the provider (Cloudflare) or clientops (CSP, Hydra,
    /// Keycloak).
    pub secret_issuance: SecretIssuance,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            grace: true,
            chooses_client_id: false,
            secret_issuance: SecretIssuance::ProviderGenerated,
        }
    }
}
