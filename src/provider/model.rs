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
}

/// A client just created, with its secret (absent for public clients).
#[derive(Clone, Debug)]
pub struct CreatedClient {
    pub client: RemoteClient,
    pub secret: Option<ClientSecret>,
}

/// How a provider issues a new client secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretIssuance {
    /// The provider generates it and returns it once; the previous one stays valid
    /// until retired (Cloudflare).
    ProviderGenerated,
    /// The caller chooses it ([`Provider::rotate_to`]): clientops generates it and
    /// persists it before the call, so no crash can lose it (VMware CSP).
    CallerChosen,
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
#[async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and metrics, e.g. `cloudflare`.
    fn kind(&self) -> &'static str;
    /// A stable key of the account (base URL + account id), shared by every client of
    /// that account: the unit of rate limiting and of the drift LIST.
    fn account_key(&self) -> &str;
    /// A cheap authenticated call that proves the credentials work.
    async fn check_credentials(&self) -> Result<(), ProviderError>;
    /// Every client of the account.
    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError>;
    /// One client; `Ok(None)` when it does not exist.
    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError>;
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
    /// Change exactly `changed` fields to their values in `fields`.
    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError>;
    /// Delete a client; deleting a missing client is success.
    async fn delete(&self, id: &str) -> Result<(), ProviderError>;
    /// Issue a new secret; the previous one stays valid until [`Provider::retire`].
    async fn rotate(&self, id: &str) -> Result<ClientSecret, ProviderError>;
    /// Retire the previous secret after a rotation.
    async fn retire(&self, id: &str) -> Result<(), ProviderError>;

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

    /// Whether a previous secret can stay valid after a rotation (false: rotation
    /// replaces the secret in one step, as at Ory Hydra).
    fn supports_grace(&self) -> bool {
        true
    }

    /// Whether clients are created with a caller-chosen id ([`Provider::create_with`]).
    fn chooses_client_id(&self) -> bool {
        false
    }

    /// How this provider issues secrets.
    fn secret_issuance(&self) -> SecretIssuance {
        SecretIssuance::ProviderGenerated
    }

    /// A new secret that meets the provider's rules, from a CSPRNG (for
    /// [`SecretIssuance::CallerChosen`] providers).
    fn generate_secret(&self) -> Option<ClientSecret> {
        None
    }

    /// Make `new` the client's secret; the previous one stays valid for `grace`
    /// (for [`SecretIssuance::CallerChosen`] providers). Idempotent: setting the
    /// secret the client already has succeeds.
    async fn rotate_to(
        &self,
        id: &str,
        new: &ClientSecret,
        grace: std::time::Duration,
    ) -> Result<(), ProviderError> {
        let _ = (id, new, grace);
        Err(ProviderError::config(format!(
            "{} does not accept a caller-chosen secret",
            self.kind()
        )))
    }

    /// Create a client with a caller-chosen id and secret (for providers that allow
    /// it): after a crash the client is found by that id. `None`: not supported.
    async fn create_with(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
    ) -> Option<Result<RemoteClient, ProviderError>> {
        let _ = (fields, id, secret);
        None
    }

    /// The account's public OAuth endpoints, as far as this provider knows them
    /// (`spec.secret.endpoints` and templates publish them). Default: none known.
    fn endpoints(&self) -> super::endpoints::Endpoints {
        super::endpoints::Endpoints::default()
    }
}
